import { ConfigurationError } from '../common/configuration-error';
import type { Ipv4Block } from './contract';
import { parseIpv4Cidr, PROBER_DEFAULTS, ProberEnv } from './contract';

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
  /** The only blocks whose addresses are probed. */
  readonly allowedBlocks: readonly Ipv4Block[];
  /** The function's own Region: an instance's zone must be this followed by one lowercase letter. */
  readonly region: string;
  /** The ECS cluster whose tasks are counted by capacity provider; undefined turns the count off. */
  readonly clusterName?: string;
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
    allowedBlocks: allowedBlocks(required(env, ProberEnv.allowedCidrs, 'the IPv4 CIDR blocks, comma-separated, of the instances')),
    region: region(env),
    clusterName: optional(env, ProberEnv.clusterName),
  };
}

function region(env: NodeJS.ProcessEnv): string {
  const value = optional(env, 'AWS_REGION');
  if (value === undefined) throw new ConfigurationError('AWS_REGION is not set: Lambda sets it, and only its Availability Zones are accepted.');
  return value;
}

function allowedBlocks(raw: string): Ipv4Block[] {
  return raw.split(',').map((cidr) => {
    const block = parseIpv4Cidr(cidr.trim());
    if (block === undefined) {
      throw new ConfigurationError(
        `${ProberEnv.allowedCidrs} must list IPv4 CIDR blocks with their host bits zero, such as 10.0.0.0/16, comma-separated; got ${JSON.stringify(raw)}.`,
      );
    }
    return block;
  });
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
