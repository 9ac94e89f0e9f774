import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { App } from 'aws-cdk-lib';
import type { Template } from 'aws-cdk-lib/assertions';

const cdkJson = JSON.parse(readFileSync(join(__dirname, '..', '..', 'cdk.json'), 'utf8')) as {
  context: Record<string, unknown>;
};

/** An App with the same feature flags as `cdk synth`, so tests see what users deploy. */
export function newApp(): App {
  return new App({ context: cdkJson.context });
}

/** Resolves a template to plain JSON for assertions that walk it by hand. */
export function templateJson(template: Template): {
  Resources: Record<string, { Type: string; Properties?: Record<string, unknown>; Condition?: string; DependsOn?: string[] }>;
  Outputs?: Record<string, unknown>;
  Parameters?: Record<string, unknown>;
  Conditions?: Record<string, unknown>;
} {
  return template.toJSON() as ReturnType<typeof templateJson>;
}

/** Resources of one type, by logical id. */
export function resourcesOfType(template: Template, type: string): [string, Record<string, unknown>][] {
  return Object.entries(templateJson(template).Resources)
    .filter(([, r]) => r.Type === type)
    .map(([id, r]) => [id, r.Properties ?? {}]);
}
