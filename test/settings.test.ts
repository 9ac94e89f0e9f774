import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Aws, Duration } from 'aws-cdk-lib/core';
import { Template } from 'aws-cdk-lib/assertions';
import { InstanceType } from 'aws-cdk-lib/aws-ec2';
import { FARGATE_SERVICE_SETTINGS } from '../lib/fargate-service-stack';
import type { SettingsSchema } from '../lib/settings';
import { checkSettings } from '../lib/settings';
import { SPOT_AUTO_SCALING_WEB_APP_SETTINGS } from '../lib/spot-auto-scaling-web-app-stack';
import { SPOT_FLEET_WEB_APP_SETTINGS } from '../lib/spot-fleet-web-app-stack';
import { describe, expect, it } from 'vitest';
import { SpotAllocationStrategy } from '../lib/constructs/spot-fleet';
import { addSpotwiseStacks, settingsFromContext } from '../lib/spotwise-app';
import { SettingError } from '../lib/validation';
import { newApp } from './support/app';

describe('settings from context', () => {
  it('gives no props when the context has no spotwise value', () => {
    expect(settingsFromContext(undefined)).toEqual({});
  });

  it('reads every documented knob of both stacks into typed props', () => {
    const settings = settingsFromContext({
      spotFleetWebApp: {
        instanceTypes: ['m6i.large', 'm5.large'],
        allocationStrategy: 'capacityOptimized',
        minCapacity: 4,
        maxCapacity: 12,
        requestsPerTarget: 600,
        capacityRebalance: false,
        operations: false,
        terminationDelaySeconds: 300,
        deregistrationDelaySeconds: 60,
        drainer: { timeoutSeconds: 20, batchSize: 500, maxBatchingWindowSeconds: 2, maxReceiveCount: 2, notificationIntervalMinutes: 5 },
      },
      fargateService: {
        image: 'public.ecr.aws/nginx/nginx:1.28',
        minCapacity: 4,
        maxCapacity: 30,
        targetCpuUtilization: 70,
        requestsPerTarget: 800,
        deregistrationDelaySeconds: 20,
        stopTimeoutSeconds: 40,
        namespaceName: 'shop.internal',
        probeIntervalMinutes: 5,
        probeTimeoutMillis: 1500,
      },
    });
    const fleet = settings.spotFleetWebApp;
    expect(fleet?.instanceTypes?.map(String)).toEqual(['m6i.large', 'm5.large']);
    expect(fleet?.allocationStrategy).toBe(SpotAllocationStrategy.CAPACITY_OPTIMIZED);
    expect(fleet).toMatchObject({ minCapacity: 4, maxCapacity: 12, requestsPerTarget: 600, capacityRebalance: false, operations: false });
    expect(fleet?.terminationDelay?.toSeconds()).toBe(300);
    expect(fleet?.deregistrationDelay?.toSeconds()).toBe(60);
    expect(fleet?.drainer?.timeout?.toSeconds()).toBe(20);
    expect(fleet?.drainer).toMatchObject({ batchSize: 500, maxReceiveCount: 2 });
    expect(fleet?.drainer?.maxBatchingWindow?.toSeconds()).toBe(2);
    expect(fleet?.drainer?.notificationInterval?.toMinutes()).toBe(5);
    const fargate = settings.fargateService;
    expect(fargate).toMatchObject({ minCapacity: 4, maxCapacity: 30, targetCpuUtilization: 70, requestsPerTarget: 800, namespaceName: 'shop.internal' });
    expect(fargate?.deregistrationDelay?.toSeconds()).toBe(20);
    expect(fargate?.stopTimeout?.toSeconds()).toBe(40);
    expect(fargate?.probeTimeout?.toMilliseconds()).toBe(1500);
    expect(fargate?.probeSchedule?.expressionString).toBe('rate(5 minutes)');
    expect(fargate?.image).toBeDefined();
  });

  it('takes a JSON string from -c, and a comma-separated list', () => {
    const settings = settingsFromContext('{"spotFleetWebApp":{"instanceTypes":"c6i.large, m6i.large"}}');
    expect(settings.spotFleetWebApp?.instanceTypes?.map(String)).toEqual(['c6i.large', 'm6i.large']);
  });

  it.each<[string, unknown, RegExp]>([
    ['a key is unknown', { spotFleetWebApp: { instanceType: 'm6i.large' } }, /^spotwise\.spotFleetWebApp\.instanceType: is not a setting; the settings here are deregistrationDelaySeconds, /],
    ['a stack is unknown', { spotFleet: {} }, /^spotwise\.spotFleet: is not a setting; the settings here are spotAutoScalingWebApp, spotFleetWebApp, fargateService\.$/],
    ['a drainer key is unknown', { spotFleetWebApp: { drainer: { timeout: 20 } } }, /^spotwise\.spotFleetWebApp\.drainer\.timeout: is not a setting; the settings here are timeoutSeconds, batchSize, /],
    ['a number is a string', { spotFleetWebApp: { minCapacity: '4' } }, /^spotwise\.spotFleetWebApp\.minCapacity: must be a whole number; got "4"\.$/],
    ['a number is fractional', { fargateService: { maxCapacity: 1.5 } }, /^spotwise\.fargateService\.maxCapacity: must be a whole number; got 1\.5\.$/],
    [
      'the minimum capacity is negative',
      { spotFleetWebApp: { minCapacity: -1 } },
      /^spotwise\.spotFleetWebApp\.minCapacity: must be a whole number from 1 to 1000; got -1\. At least one instance must run; to stop them all, delete the stack\.$/,
    ],
    ['a flag is a string', { spotFleetWebApp: { capacityRebalance: 'yes' } }, /^spotwise\.spotFleetWebApp\.capacityRebalance: must be true or false; got "yes"\.$/],
    ['an allocation strategy is unknown', { spotFleetWebApp: { allocationStrategy: 'cheapest' } }, /must be one of diversified, capacityOptimized, priceCapacityOptimized, lowestPrice; got "cheapest"\.$/],
    [
      'an instance type names no family',
      { spotFleetWebApp: { instanceTypes: ['m6i.large', 'm6.large'] } },
      /^spotwise\.spotFleetWebApp\.instanceTypes\[1\]: "m6\.large" names no EC2 instance family: there is no m6 \(such as m6i, c7i, r6a\)\.$/,
    ],
    ['an instance type names no size', { spotFleetWebApp: { instanceTypes: 'm6i.huge' } }, /^spotwise\.spotFleetWebApp\.instanceTypes\[0\]: "m6i\.huge" names no EC2 instance size: there is no huge/],
    ['an instance type has no size', { spotFleetWebApp: { instanceTypes: ['m6i'] } }, /^spotwise\.spotFleetWebApp\.instanceTypes\[0\]: "m6i" is not of the form <family>\.<size>, such as m6i\.large\.$/],
    ['the instance types are empty', { spotFleetWebApp: { instanceTypes: [] } }, /^spotwise\.spotFleetWebApp\.instanceTypes: is empty; give at least one\.$/],
    [
      'a namespace is not a DNS name',
      { fargateService: { namespaceName: 'not a dns name!' } },
      /^spotwise\.fargateService\.namespaceName: "not a dns name!" is not a DNS name: use dot-separated labels of letters, digits and hyphens, such as app\.internal\.$/,
    ],
    ['the probe interval is zero', { fargateService: { probeIntervalMinutes: 0 } }, /^spotwise\.fargateService\.probeIntervalMinutes: must be a whole number of minutes, at least 1; got 0\.$/],
    ['the probe timeout is zero', { fargateService: { probeTimeoutMillis: 0 } }, /^spotwise\.fargateService\.probeTimeoutMillis: must be whole milliseconds, at least 100; got 0 milliseconds\.$/],
    ['a drain timeout is zero', { spotFleetWebApp: { drainer: { timeoutSeconds: 0 } } }, /^spotwise\.spotFleetWebApp\.drainer\.timeoutSeconds: must be whole seconds, at least 1; got 0 seconds\.$/],
    ['a notification interval is zero', { spotFleetWebApp: { drainer: { notificationIntervalMinutes: 0 } } }, /notificationIntervalMinutes: must be whole minutes, from 1 to 60; got 0 minutes\.$/],
    ['a duration is text', { fargateService: { stopTimeoutSeconds: '30s' } }, /^spotwise\.fargateService\.stopTimeoutSeconds: must be a whole number of seconds; got "30s"\.$/],
    ['the value is not JSON', '{nope', /^spotwise: is not JSON: \{nope$/],
    ['the value is a list', [], /^spotwise: must be an object; got \[\]\.$/],
  ])('fails when %s, naming the key', (_name, context, message) => {
    expect(() => settingsFromContext(context)).toThrow(SettingError);
    expect(() => settingsFromContext(context)).toThrow(message);
  });

  it('reaches the templates, and values the constructs reject still fail, naming the construct', () => {
    const app = newApp();
    const { spotFleetWebApp } = addSpotwiseStacks(app, settingsFromContext({ spotFleetWebApp: { minCapacity: 6, maxCapacity: 8, drainer: { batchSize: 200 } } }));
    const template = Template.fromStack(spotFleetWebApp);
    expect(template.toJSON().Parameters).toMatchObject({ MinCapacity: { Default: 6 }, MaxCapacity: { Default: 8 } });
    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', { BatchSize: 200 });

    expect(() => addSpotwiseStacks(newApp(), settingsFromContext({ spotFleetWebApp: { minCapacity: 9, maxCapacity: 8 } }))).toThrow(
      /^SpotFleetWebApp: minCapacity \(9\) is above maxCapacity \(8\)/,
    );
    expect(() => addSpotwiseStacks(newApp(), settingsFromContext({ spotFleetWebApp: { drainer: { timeoutSeconds: 300 } } }))).toThrow(
      /^SpotFleetWebApp\/Drainer: .*timeout/,
    );
  });

  it('reaches the SpotAutoScalingWebApp template, and a bad On-Demand base, equal bounds or a misspelt key fail at synth, named', () => {
    const { spotAutoScalingWebApp } = addSpotwiseStacks(
      newApp(),
      settingsFromContext({ spotAutoScalingWebApp: { onDemandBaseCapacity: 1, signalTimeoutMinutes: 15, instanceTypes: 'm7i.large, m6i.large, c6i.large, c7i.large' } }),
    );
    const group = Object.values(Template.fromStack(spotAutoScalingWebApp).findResources('AWS::AutoScaling::AutoScalingGroup'))[0] as {
      Properties: { MixedInstancesPolicy: { InstancesDistribution: { OnDemandBaseCapacity: number }; LaunchTemplate: { Overrides: unknown[] } } };
      UpdatePolicy: { AutoScalingRollingUpdate: { PauseTime: string } };
    };
    expect(group.Properties.MixedInstancesPolicy.InstancesDistribution.OnDemandBaseCapacity).toBe(1);
    expect(group.Properties.MixedInstancesPolicy.LaunchTemplate.Overrides).toHaveLength(4);
    expect(group.UpdatePolicy.AutoScalingRollingUpdate.PauseTime).toBe('PT15M');
    expect(() => addSpotwiseStacks(newApp(), settingsFromContext({ spotAutoScalingWebApp: { onDemandBaseCapacity: 11 } }))).toThrow(
      /^SpotAutoScalingWebApp: onDemandBaseCapacity \(11\) is above maxCapacity \(10\)/,
    );
    expect(() => addSpotwiseStacks(newApp(), settingsFromContext({ spotAutoScalingWebApp: { minCapacity: 4, maxCapacity: 4 } }))).toThrow(
      /^SpotAutoScalingWebApp: minCapacity and maxCapacity are both 4\./,
    );
    expect(() => settingsFromContext({ spotAutoScalingWebApp: { onDemandBase: 1 } })).toThrow(/^spotwise\.spotAutoScalingWebApp\.onDemandBase: is not a setting; /);
    expect(() => settingsFromContext({ spotAutoScalingWebApp: { maxCapacity: 1 } })).toThrow(
      /^spotwise\.spotAutoScalingWebApp\.maxCapacity: must be a whole number from 2 to 1000; got 1\. A rolling update needs room/,
    );
  });

  it('reports a notification interval in the unit it was written in', () => {
    expect(() => settingsFromContext({ spotFleetWebApp: { drainer: { notificationIntervalMinutes: 90 } } })).toThrow(
      /^spotwise\.spotFleetWebApp\.drainer\.notificationIntervalMinutes: must be whole minutes, from 1 to 60; got 90 minutes\.$/,
    );
    expect(() => addSpotwiseStacks(newApp(), { spotFleetWebApp: { drainer: { notificationInterval: Duration.minutes(90) } } })).toThrow(
      /^SpotFleetWebApp: drainer\.notificationInterval must be whole minutes, from 1 to 60; got 90 minutes\.$/,
    );
  });
});

describe('settings given in code', () => {
  it('meet the same checks as the context\'s, with errors that name the stack and the prop', () => {
    expect(() => addSpotwiseStacks(newApp(), { spotFleetWebApp: { instanceTypes: [new InstanceType('m6.large')] } })).toThrow(
      /^SpotFleetWebApp: instanceTypes\[0\]: "m6\.large" names no EC2 instance family: there is no m6/,
    );
    expect(() => addSpotwiseStacks(newApp(), { fargateService: { namespaceName: 'not a dns name!' } })).toThrow(
      /^FargateService: namespaceName "not a dns name!" is not a DNS name/,
    );
    expect(() => addSpotwiseStacks(newApp(), { spotFleetWebApp: { drainer: { timeout: Duration.seconds(0) } } })).toThrow(
      /^SpotFleetWebApp: drainer\.timeout must be whole seconds, at least 1; got 0 seconds\.$/,
    );
  });

  it('pass when tokens stand for values only known at deploy time', () => {
    const app = newApp();
    const { fargateService } = addSpotwiseStacks(app);
    expect(() => checkSettings(fargateService, FARGATE_SERVICE_SETTINGS, { namespaceName: Aws.STACK_NAME })).not.toThrow();
  });
});

describe('the settings schema', () => {
  it('declares each stack prop once: every prop a stack reads from the context is a key of its schema, and the reverse', () => {
    expect(Object.keys(SPOT_FLEET_WEB_APP_SETTINGS).sort()).toEqual(
      ['allocationStrategy', 'capacityRebalance', 'deregistrationDelay', 'drainer', 'instanceTypes', 'maxCapacity', 'minCapacity', 'operations', 'requestsPerTarget', 'terminationDelay'],
    );
    expect(Object.keys(SPOT_AUTO_SCALING_WEB_APP_SETTINGS).sort()).toEqual(
      ['capacityRebalance', 'deregistrationDelay', 'drainer', 'instanceTypes', 'maxCapacity', 'minCapacity', 'onDemandBaseCapacity', 'operations', 'requestsPerTarget', 'signalTimeout'],
    );
    expect(Object.keys(FARGATE_SERVICE_SETTINGS).sort()).toEqual(
      ['capacityFallback', 'capacityFallbackCoolOff', 'deregistrationDelay', 'image', 'maxCapacity', 'minCapacity', 'namespaceName', 'probeSchedule', 'probeTimeout', 'requestsPerTarget', 'stopTimeout', 'targetCpuUtilization'],
    );
  });

  it('documents every context key in docs/settings.md', () => {
    const doc = readFileSync(join(__dirname, '..', 'docs', 'settings.md'), 'utf8');
    const keys = (prefix: string, schema: SettingsSchema): string[] =>
      Object.entries(schema).flatMap(([prop, s]) => {
        const key = `${prefix}.${s.contextKey ?? `${prop}${s.contextKeySuffix ?? ''}`}`;
        return s.schema === undefined ? [key] : keys(key, s.schema);
      });
    for (const key of [
      ...keys('spotAutoScalingWebApp', SPOT_AUTO_SCALING_WEB_APP_SETTINGS),
      ...keys('spotFleetWebApp', SPOT_FLEET_WEB_APP_SETTINGS),
      ...keys('fargateService', FARGATE_SERVICE_SETTINGS),
    ]) {
      expect(doc, key).toContain(`\`${key}\``);
    }
  });
});
