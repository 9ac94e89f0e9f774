import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import type { Stack } from 'aws-cdk-lib/core';
import { Template } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { InlineNodeFunction } from '../lib/constructs/inline-node-function';
import { addSpotwiseStacks } from '../lib/spotwise-app';
import { newApp } from './support/app';

/**
 * What Lambda runs is the template's `ZipFile`, written to `index.js` and loaded as CommonJS with the
 * runtime's SDK and the Powertools layer on the module path. Load every one of them that way.
 */
describe('the inline Lambda code in the templates', () => {
  const { spotAutoScalingWebApp, spotFleetWebApp, fargateService } = addSpotwiseStacks(newApp());
  const constructs = (stack: Stack) =>
    new Map(
      stack.node
        .findAll()
        .filter((c): c is InlineNodeFunction => c instanceof InlineNodeFunction)
        .map((fn) => [stack.getLogicalId(fn.node.defaultChild as never), fn]),
    );
  const functions = [spotAutoScalingWebApp, spotFleetWebApp, fargateService].flatMap((stack) => {
    const byId = constructs(stack);
    return Object.entries(Template.fromStack(stack).findResources('AWS::Lambda::Function')).map(([id, fn]) => ({
      name: `${stack.stackName}/${id}`,
      construct: byId.get(id),
      props: fn.Properties as { Handler: string; Code: { ZipFile: string } },
    }));
  });

  it('covers every function of every stack', () => {
    expect(functions.map((fn) => fn.construct?.node.path).sort()).toEqual([
      'FargateService/CapacityFallback/Handler',
      'FargateService/Prober/Handler',
      'FargateService/Service/ServiceLinkedRole/Handler',
      'SpotAutoScalingWebApp/Drainer/Handler',
      'SpotAutoScalingWebApp/Drainer/Notifier/Handler',
      'SpotAutoScalingWebApp/Image/Handler',
      'SpotFleetWebApp/Drainer/Handler',
      'SpotFleetWebApp/Drainer/Notifier/Handler',
      'SpotFleetWebApp/FleetHandover/Handler',
      'SpotFleetWebApp/SpotFleet/ServiceLinkedRoles/Handler',
    ]);
  });

  it.each(functions.map((fn) => [fn.name, fn] as const))('%s carries its bundle as it is, for people to read in the Lambda console', (_name, fn) => {
    const { construct, props } = fn;
    if (construct === undefined) throw new Error(`${fn.name} is not an InlineNodeFunction`);
    expect(props.Code.ZipFile).toBe(construct.bundle);
  });

  it.each(functions.map((fn) => [fn.name, fn] as const))('%s loads as index.js and exports the handler of its bundle', (_name, fn) => {
    // Inside the project, so that the external @aws-sdk and Powertools imports resolve from node_modules.
    const dir = join(__dirname, '..', '.test-build', 'inline', fn.name.replace(/\W/g, '-'));
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'index.js'), fn.props.Code.ZipFile);
    expect(fn.props.Handler).toBe('index.handler');
    const loaded = createRequire(join(dir, 'index.js'))('./index.js') as Record<string, unknown>;
    expect(typeof loaded.handler).toBe('function');
    // The handler's own name, not a minified one: what a stack trace shows.
    expect((loaded.handler as () => unknown).name).toMatch(/^handler\d?$/);
  });
});
