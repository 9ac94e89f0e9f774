import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AppProps } from 'aws-cdk-lib/core';
import { App, CfnResource, Stack } from 'aws-cdk-lib/core';
import { DockerImageAsset } from 'aws-cdk-lib/aws-ecr-assets';
import { Asset } from 'aws-cdk-lib/aws-s3-assets';
import { describe, expect, it } from 'vitest';
import { PlainCloudFormationSynthesizer } from '../lib/plain-cloudformation-synthesizer';

/** CloudFormation's schema validation is the app test's to run; starting it here would cost seconds per App. */
function newTestApp(props: AppProps = {}): App {
  return new App({ builtinCloudFormationValidation: false, ...props });
}

/** A stack with one plain resource, so that its template is not empty. */
function stackIn(app: App, id: string, props: { synthesizer?: PlainCloudFormationSynthesizer } = {}): Stack {
  const stack = new Stack(app, id, props);
  new CfnResource(stack, 'Topic', { type: 'AWS::SNS::Topic' });
  return stack;
}

describe('PlainCloudFormationSynthesizer', () => {
  it('synthesizes a template with no BootstrapVersion parameter or rule, and no asset manifest', () => {
    const app = newTestApp();
    stackIn(app, 'Host', { synthesizer: new PlainCloudFormationSynthesizer() });
    const assembly = app.synth();
    const artifact = assembly.getStackByName('Host');
    const template = artifact.template as { Parameters?: object; Rules?: object; Resources: object };
    expect(Object.keys(template.Parameters ?? {})).not.toContain('BootstrapVersion');
    expect(template.Rules).toBeUndefined();
    expect(Object.keys(template.Resources)).toEqual(['Topic']);
    expect(assembly.artifacts.filter((a) => a.id.endsWith('.assets'))).toEqual([]);
  });

  it('lets cdk deploy use the caller\'s credentials: no bootstrap roles, no staged template, no bootstrap version', () => {
    const app = newTestApp();
    stackIn(app, 'Host', { synthesizer: new PlainCloudFormationSynthesizer() });
    const artifact = app.synth().getStackByName('Host');
    expect(artifact.assumeRoleArn).toBeUndefined();
    expect(artifact.cloudFormationExecutionRoleArn).toBeUndefined();
    expect(artifact.lookupRole).toBeUndefined();
    expect(artifact.stackTemplateAssetObjectUrl).toBeUndefined();
    expect(artifact.requiresBootstrapStackVersion).toBeUndefined();
  });

  it('serves as an App\'s defaultStackSynthesizer, one instance bound afresh to each of two stacks', () => {
    const synthesizer = new PlainCloudFormationSynthesizer();
    const app = newTestApp({ defaultStackSynthesizer: synthesizer });
    const first = stackIn(app, 'First');
    const second = stackIn(app, 'Second');
    expect(first.synthesizer).toBeInstanceOf(PlainCloudFormationSynthesizer);
    expect(second.synthesizer).toBeInstanceOf(PlainCloudFormationSynthesizer);
    expect(first.synthesizer).not.toBe(second.synthesizer);
    expect(first.synthesizer).not.toBe(synthesizer);
    const assembly = app.synth();
    for (const name of ['First', 'Second']) {
      const artifact = assembly.getStackByName(name);
      expect(Object.keys((artifact.template as { Parameters?: object }).Parameters ?? {})).not.toContain('BootstrapVersion');
      expect(artifact.templateFile).toBe(`${name}.template.json`);
      expect(artifact.assumeRoleArn).toBeUndefined();
    }
    // Each copy names its own stack in its errors.
    expect(() => new Asset(second, 'Code', { path: __filename })).toThrow(/^Second must deploy as plain CloudFormation/);
  });

  it('fails when a construct adds a file asset, with a message naming the stack and the asset', () => {
    const stack = stackIn(newTestApp(), 'Host', { synthesizer: new PlainCloudFormationSynthesizer() });
    expect(() => new Asset(stack, 'Code', { path: __filename })).toThrow(
      /^Host must deploy as plain CloudFormation, without an asset bucket, but something added the file asset asset\.[0-9a-f]{64}\.ts\. Inline the code \(InlineNodeFunction\) or drop the construct that needs it\.$/,
    );
  });

  it('fails when a construct adds a Docker image asset, with a message naming the stack and the asset', () => {
    const dir = mkdtempSync(join(tmpdir(), 'spotwise-docker-'));
    try {
      writeFileSync(join(dir, 'Dockerfile'), 'FROM public.ecr.aws/nginx/nginx:1.28\n');
      const stack = stackIn(newTestApp(), 'Host', { synthesizer: new PlainCloudFormationSynthesizer() });
      expect(() => new DockerImageAsset(stack, 'Image', { directory: dir })).toThrow(
        /^Host must deploy as plain CloudFormation, without an image repository, but something added the Docker image asset asset\.[0-9a-f]{64}\. Use an image from a registry instead\.$/,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
