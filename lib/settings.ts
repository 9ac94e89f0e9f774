import { Duration } from 'aws-cdk-lib';
import { InstanceType } from 'aws-cdk-lib/aws-ec2';
import { ContainerImage } from 'aws-cdk-lib/aws-ecs';
import { Schedule } from 'aws-cdk-lib/aws-events';
import type { FargateServiceStackProps } from './fargate-service-stack';
import { SpotAllocationStrategy } from './constructs/spot-fleet';
import type { SpotFleetWebAppStackProps } from './spot-fleet-web-app-stack';

/** The context key that holds the app's settings, in cdk.json or as `-c spotwise='{…}'`. */
export const SETTINGS_CONTEXT_KEY = 'spotwise';

/** Both stacks' settings, as typed props: what `addSpotwiseStacks` takes. */
export interface SpotwiseSettings {
  /**
   * Synth-time settings of the SpotFleetWebApp stack.
   * @default - the stack's defaults
   */
  readonly spotFleetWebApp?: SpotFleetWebAppStackProps;
  /**
   * Synth-time settings of the FargateService stack.
   * @default - the stack's defaults
   */
  readonly fargateService?: FargateServiceStackProps;
}

type Reader<T> = (value: unknown, path: string) => T;

/** A setting that cannot be read, named by its path in the context and with what it must be. */
export class SettingsError extends Error {
  override readonly name = 'SettingsError';
}

const whole: Reader<number> = (value, path) => {
  if (typeof value === 'number' && Number.isInteger(value)) return value;
  throw new SettingsError(`${path} must be a whole number; got ${JSON.stringify(value)}.`);
};
const text: Reader<string> = (value, path) => {
  if (typeof value === 'string' && value.trim() !== '') return value.trim();
  throw new SettingsError(`${path} must be a non-empty string; got ${JSON.stringify(value)}.`);
};
const flag: Reader<boolean> = (value, path) => {
  if (typeof value === 'boolean') return value;
  throw new SettingsError(`${path} must be true or false; got ${JSON.stringify(value)}.`);
};
const seconds: Reader<Duration> = (value, path) => Duration.seconds(whole(value, path));
const list: Reader<string[]> = (value, path) => {
  const items = typeof value === 'string' ? value.split(',') : value;
  if (Array.isArray(items)) return items.map((item, i) => text(item, `${path}[${i}]`));
  throw new SettingsError(`${path} must be a list of strings, or one comma-separated string; got ${JSON.stringify(value)}.`);
};
const oneOf = <T extends string>(allowed: readonly T[]): Reader<T> => (value, path) => {
  if (allowed.includes(value as T)) return value as T;
  throw new SettingsError(`${path} must be one of ${allowed.join(', ')}; got ${JSON.stringify(value)}.`);
};

/** Reads `value` as an object of known keys only, each through its reader; an unknown key is an error, never ignored. */
function object<T>(readers: { readonly [K in keyof T]: Reader<T[K]> }): Reader<Partial<T>> {
  return (value, path) => {
    if (value === undefined) return {};
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      throw new SettingsError(`${path} must be an object; got ${JSON.stringify(value)}.`);
    }
    const result: Partial<T> = {};
    for (const [key, raw] of Object.entries(value)) {
      const read = (readers as Record<string, Reader<unknown> | undefined>)[key];
      if (read === undefined) {
        throw new SettingsError(`${path}.${key} is not a setting; the settings here are ${Object.keys(readers).join(', ')}.`);
      }
      (result as Record<string, unknown>)[key] = read(raw, `${path}.${key}`);
    }
    return result;
  };
}

const drainer = object({
  timeoutSeconds: whole,
  batchSize: whole,
  maxBatchingWindowSeconds: whole,
  maxReceiveCount: whole,
  notificationIntervalMinutes: whole,
});

const spotFleetWebApp = object({
  instanceTypes: list,
  allocationStrategy: oneOf(Object.values(SpotAllocationStrategy)),
  minCapacity: whole,
  maxCapacity: whole,
  requestsPerTarget: whole,
  capacityRebalance: flag,
  operations: flag,
  terminationDelaySeconds: seconds,
  deregistrationDelaySeconds: seconds,
  drainer,
});

const fargateService = object({
  image: text,
  minCapacity: whole,
  maxCapacity: whole,
  targetCpuUtilization: whole,
  requestsPerTarget: whole,
  deregistrationDelaySeconds: seconds,
  stopTimeoutSeconds: seconds,
  namespaceName: text,
  probeIntervalMinutes: whole,
  probeTimeoutMillis: whole,
});

const settings = object({ spotFleetWebApp, fargateService });

/**
 * The settings in the `spotwise` context value, as stack props. The context is JSON: an object in cdk.json,
 * or a JSON string from `-c spotwise='{…}'`. Every key is checked; values then meet the constructs' own checks.
 */
export function settingsFromContext(context: unknown): SpotwiseSettings {
  let value = context;
  if (typeof value === 'string') {
    try {
      value = JSON.parse(value) as unknown;
    } catch {
      throw new SettingsError(`The ${SETTINGS_CONTEXT_KEY} context value is not JSON: ${String(value).slice(0, 80)}`);
    }
  }
  const read = settings(value, SETTINGS_CONTEXT_KEY);
  const fleet = read.spotFleetWebApp;
  const fargate = read.fargateService;
  const drain = fleet?.drainer;
  return {
    ...(fleet && {
      spotFleetWebApp: {
        ...(fleet.instanceTypes && { instanceTypes: fleet.instanceTypes.map((name) => new InstanceType(name)) }),
        ...(fleet.allocationStrategy && { allocationStrategy: fleet.allocationStrategy }),
        ...(fleet.minCapacity !== undefined && { minCapacity: fleet.minCapacity }),
        ...(fleet.maxCapacity !== undefined && { maxCapacity: fleet.maxCapacity }),
        ...(fleet.requestsPerTarget !== undefined && { requestsPerTarget: fleet.requestsPerTarget }),
        ...(fleet.capacityRebalance !== undefined && { capacityRebalance: fleet.capacityRebalance }),
        ...(fleet.operations !== undefined && { operations: fleet.operations }),
        ...(fleet.terminationDelaySeconds && { terminationDelay: fleet.terminationDelaySeconds }),
        ...(fleet.deregistrationDelaySeconds && { deregistrationDelay: fleet.deregistrationDelaySeconds }),
        ...(drain && {
          drainer: {
            ...(drain.timeoutSeconds !== undefined && { timeout: Duration.seconds(drain.timeoutSeconds) }),
            ...(drain.batchSize !== undefined && { batchSize: drain.batchSize }),
            ...(drain.maxBatchingWindowSeconds !== undefined && { maxBatchingWindow: Duration.seconds(drain.maxBatchingWindowSeconds) }),
            ...(drain.maxReceiveCount !== undefined && { maxReceiveCount: drain.maxReceiveCount }),
            ...(drain.notificationIntervalMinutes !== undefined && { notificationInterval: Duration.minutes(drain.notificationIntervalMinutes) }),
          },
        }),
      },
    }),
    ...(fargate && {
      fargateService: {
        ...(fargate.image && { image: ContainerImage.fromRegistry(fargate.image) }),
        ...(fargate.minCapacity !== undefined && { minCapacity: fargate.minCapacity }),
        ...(fargate.maxCapacity !== undefined && { maxCapacity: fargate.maxCapacity }),
        ...(fargate.targetCpuUtilization !== undefined && { targetCpuUtilization: fargate.targetCpuUtilization }),
        ...(fargate.requestsPerTarget !== undefined && { requestsPerTarget: fargate.requestsPerTarget }),
        ...(fargate.deregistrationDelaySeconds && { deregistrationDelay: fargate.deregistrationDelaySeconds }),
        ...(fargate.stopTimeoutSeconds && { stopTimeout: fargate.stopTimeoutSeconds }),
        ...(fargate.namespaceName && { namespaceName: fargate.namespaceName }),
        ...(fargate.probeIntervalMinutes !== undefined && { probeSchedule: Schedule.rate(Duration.minutes(fargate.probeIntervalMinutes)) }),
        ...(fargate.probeTimeoutMillis !== undefined && { probeTimeout: Duration.millis(fargate.probeTimeoutMillis) }),
      },
    }),
  };
}
