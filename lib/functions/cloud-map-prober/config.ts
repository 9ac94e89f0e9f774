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

export class ConfigurationError extends Error {
  override readonly name = 'ConfigurationError';
}

const DEFAULT_PROBE_TIMEOUT_MS = 3000;
const DEFAULT_DISCOVERY_TIMEOUT_MS = 10_000;

export function loadConfig(env: NodeJS.ProcessEnv): ProberConfig {
  const probePath = optional(env, 'PROBE_PATH') ?? '/';
  if (!probePath.startsWith('/')) {
    throw new ConfigurationError(`PROBE_PATH must start with "/"; got ${JSON.stringify(probePath)}.`);
  }
  return {
    namespaceName: required(env, 'NAMESPACE_NAME', 'the Cloud Map namespace name'),
    serviceName: required(env, 'SERVICE_NAME', 'the Cloud Map service name'),
    probeTimeoutMs: positiveInteger(env, 'PROBE_TIMEOUT_MS', DEFAULT_PROBE_TIMEOUT_MS),
    probePath,
    discoveryTimeoutMs: positiveInteger(env, 'DISCOVERY_TIMEOUT_MS', DEFAULT_DISCOVERY_TIMEOUT_MS),
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
