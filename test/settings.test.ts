import { Template } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { SpotAllocationStrategy } from '../lib/constructs/spot-fleet';
import { settingsFromContext, SettingsError } from '../lib/settings';
import { addSpotwiseStacks } from '../lib/spotwise-app';
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
    ['a key is unknown', { spotFleetWebApp: { instanceType: 'm6i.large' } }, /spotwise\.spotFleetWebApp\.instanceType is not a setting; the settings here are instanceTypes, /],
    ['a stack is unknown', { spotFleet: {} }, /spotwise\.spotFleet is not a setting; the settings here are spotFleetWebApp, fargateService/],
    ['a number is a string', { spotFleetWebApp: { minCapacity: '4' } }, /spotwise\.spotFleetWebApp\.minCapacity must be a whole number; got "4"/],
    ['a number is fractional', { fargateService: { maxCapacity: 1.5 } }, /maxCapacity must be a whole number; got 1\.5/],
    ['a flag is a string', { spotFleetWebApp: { capacityRebalance: 'yes' } }, /spotwise\.spotFleetWebApp\.capacityRebalance must be true or false; got "yes"/],
    ['an allocation strategy is unknown', { spotFleetWebApp: { allocationStrategy: 'cheapest' } }, /must be one of diversified, capacityOptimized, priceCapacityOptimized, lowestPrice/],
    ['the value is not JSON', '{nope', /The spotwise context value is not JSON/],
    ['the value is a list', [], /spotwise must be an object/],
  ])('fails when %s', (_name, context, message) => {
    expect(() => settingsFromContext(context)).toThrow(SettingsError);
    expect(() => settingsFromContext(context)).toThrow(message);
  });

  it('reaches the templates, and values the constructs reject still fail with their errors', () => {
    const app = newApp();
    const { spotFleetWebApp } = addSpotwiseStacks(app, settingsFromContext({ spotFleetWebApp: { minCapacity: 6, maxCapacity: 8, drainer: { batchSize: 200 } } }));
    const template = Template.fromStack(spotFleetWebApp);
    expect(template.toJSON().Parameters).toMatchObject({ MinCapacity: { Default: 6 }, MaxCapacity: { Default: 8 } });
    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', { BatchSize: 200 });

    expect(() => addSpotwiseStacks(newApp(), settingsFromContext({ spotFleetWebApp: { instanceTypes: ['m6i.larg'] } }))).toThrow(
      /SpotFleetWebApp\/SpotFleet: instanceTypes m6i\.larg are not EC2 instance types/,
    );
    expect(() => addSpotwiseStacks(newApp(), settingsFromContext({ spotFleetWebApp: { minCapacity: 9, maxCapacity: 8 } }))).toThrow(
      /^SpotFleetWebApp: minCapacity \(9\) is above maxCapacity \(8\)/,
    );
    expect(() => addSpotwiseStacks(newApp(), settingsFromContext({ spotFleetWebApp: { drainer: { timeoutSeconds: 300 } } }))).toThrow(
      /SpotFleetWebApp\/Drainer: .*timeout/,
    );
  });
});
