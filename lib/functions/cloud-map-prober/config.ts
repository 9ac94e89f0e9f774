import { ConfigurationError } from '../common/configuration-error';
import { PROBER_DEFAULTS, ProberEnv } from './contract';

/** The prober's settings, read from the environment that the CDK construct sets. */
export interface ProberConfig {
  readonly namespaceName: string;
  readonly serviceName: string;
  /** Per-probe budget covering connect, request and the whole response. */
  readonly probeTimeoutMs: number;
  /** Request path, starting with `/`. */
  readonly probePath: string;
  /** Budget for the whole discovery call, SDK retries and back-off included. */
  readonly discoveryTimeoutMs: number;
}

export function loadConfig(env: NodeJS.ProcessEnv): ProberConfig {
  const probePath = optional(env, ProberEnv.probePath) ?? PROBER_DEFAULTS.probePath;
  if (!probePath.startsWith('/')) {
    throw new ConfigurationError(`${ProberEnv.probePath} must start with "/"; got ${JSON.stringify(probePath)}.`);
  }
  return {
    namespaceName: required(env, ProberEnv.namespaceName, 'the Cloud Map namespace name'),
    serviceName: required(env, ProberEnv.serviceName, 'the Cloud Map service name'),
    probeTimeoutMs: positiveInteger(env, ProberEnv.probeTimeoutMs, PROBER_DEFAULTS.probeTimeoutMs),
    probePath,
    discoveryTimeoutMs: positiveInteger(env, ProberEnv.discoveryTimeoutMs, PROBER_DEFAULTS.discoveryTimeoutMs),
  };
}

function optional(env: NodeJS.ProcessEnv, key: string): string | undefined {
  const value = env[key]?.trim();
  return value === undefined || value === '' ? undefined : value;
}

function required(env: NodeJS.ProcessEnv, key: string, what: string): string {
  const value = optional(env, key);
  if (value === undefined) {
    throw new ConfigurationError(`${key} is not set: it must hold ${what} to probe (the CloudMapProber construct sets it).`);
  }
  return value;
}

function positiveInteger(env: NodeJS.ProcessEnv, key: string, fallback: number): number {
  const raw = optional(env, key);
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (!Number.isSafeInteger(value) || value <= 0) {
    throw new ConfigurationError(`${key} must be a positive whole number of milliseconds; got ${JSON.stringify(raw)}.`);
  }
  return value;
}
