import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { Template } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { addSpotwiseStacks } from '../lib/spotwise-app';
import { newApp } from './support/app';

/**
 * What Lambda runs is the template's `ZipFile`, written to `index.js` and loaded as CommonJS with the
 * runtime's SDK and the Powertools layer on the module path. Load every one of them that way.
 */
describe('the inline Lambda code in the templates', () => {
  const { spotFleetWebApp, fargateService } = addSpotwiseStacks(newApp());
  const functions = [spotFleetWebApp, fargateService].flatMap((stack) =>
    Object.entries(Template.fromStack(stack).findResources('AWS::Lambda::Function')).map(([id, fn]) => ({
      name: `${stack.stackName}/${id}`,
      props: fn.Properties as { Handler: string; Code: { ZipFile: string } },
    })),
  );

  it('covers the drainer, the notifier, the prober and both stacks\' service-linked role resources', () => {
    expect(functions).toHaveLength(5);
  });

  it.each(functions.map((fn) => [fn.name, fn] as const))('%s loads as index.js and exports its handler', (_name, fn) => {
    // Inside the project, so that the external @aws-sdk and Powertools imports resolve from node_modules.
    const dir = join(__dirname, '..', '.test-build', 'inline', fn.name.replace(/\W/g, '-'));
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'index.js'), fn.props.Code.ZipFile);
    expect(fn.props.Handler).toBe('index.handler');
    const loaded = createRequire(join(dir, 'index.js'))('./index.js') as { handler?: unknown };
    expect(typeof loaded.handler).toBe('function');
  });
});
