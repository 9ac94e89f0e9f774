/**
 * The prober's contract with its construct: its name, its settings, the CIDR format both accept, and its
 * metrics. Imports neither CDK nor the SDK, so both sides can load it.
 */

/** The function's name in its folder, in the `CloudMapProber` construct and as its Powertools service name. */
export const PROBER_SERVICE_NAME = 'cloud-map-prober';

/** Environment variables the construct sets on the prober. */
export const ProberEnv = {
  /** The HTTP name of the Cloud Map namespace to discover instances in. */
  namespaceName: 'NAMESPACE_NAME',
  /** The name of the Cloud Map service whose instances are probed. */
  serviceName: 'SERVICE_NAME',
  /** Optional: per-probe budget in milliseconds, covering connect, request and the whole response. */
  probeTimeoutMs: 'PROBE_TIMEOUT_MS',
  /** Optional: the path each probe requests, starting with `/`. */
  probePath: 'PROBE_PATH',
  /** Optional: budget in milliseconds for the whole discovery call, SDK retries and back-off included. */
  discoveryTimeoutMs: 'DISCOVERY_TIMEOUT_MS',
  /** The IPv4 CIDR blocks, comma-separated, that an instance's address must be in to be probed. */
  allowedCidrs: 'ALLOWED_CIDRS',
  /** Optional: the ECS cluster of the service's tasks; when set, each run counts them by capacity provider. */
  clusterName: 'CLUSTER_NAME',
} as const;

/** What the prober uses when the construct leaves a setting out. */
export const PROBER_DEFAULTS = {
  probeTimeoutMs: 3_000,
  probePath: '/',
  discoveryTimeoutMs: 10_000,
} as const;

/**
 * The prober's metrics. The counts have one value per run, zeros included; `ProbeLatency` one per probe that
 * got a complete HTTP response, whatever its status.
 */
export const ProberMetric = {
  /** Instances DiscoverInstances returned, rejected ones included. */
  InstancesDiscovered: 'InstancesDiscovered',
  /** Probes answered with a 2xx status. */
  ProbeSuccess: 'ProbeSuccess',
  /** Instances that failed: another status, a refused or reset connection, a timeout, or rejected. */
  ProbeFailure: 'ProbeFailure',
  /** Instances never sent a request: unusable attributes, an address outside the allowed blocks or a foreign AZ. */
  RejectedInstances: 'RejectedInstances',
  /** Milliseconds from the start of a probe to the end of its response. */
  ProbeLatency: 'ProbeLatency',
  /**
   * With a cluster only, per `CapacityProvider`: the instances not rejected whose ECS task is RUNNING. Absent
   * in a run whose count failed.
   */
  Tasks: 'Tasks',
  /** With a cluster only: 1 when this run could not count `Tasks` (DescribeTasks failed or ran out of time), else 0. */
  TaskCountFailures: 'TaskCountFailures',
} as const;
export type ProberMetric = (typeof ProberMetric)[keyof typeof ProberMetric];

/** Dimensions of the prober's metrics, beside Powertools' own `service`. */
export const ProberDimension = {
  /** The Cloud Map service name, on every metric. */
  ServiceName: 'ServiceName',
  /**
   * The Availability Zone of the instances probed, on the per-zone `ProbeSuccess`, `ProbeFailure` and
   * `ProbeLatency`; only the function's own Region's zones, so at most 26 values. Rejected instances have none.
   */
  AvailabilityZone: 'AvailabilityZone',
  /**
   * The ECS capacity provider, on `Tasks` only: `FARGATE` and `FARGATE_SPOT` in every run, any other name ECS
   * gives that matches `CAPACITY_PROVIDER_PATTERN`, and `OTHER` for the rest, a task without one included.
   */
  CapacityProvider: 'CapacityProvider',
} as const;

/** The capacity providers whose `Tasks` count is published in every run, zero or not. */
export const CAPACITY_PROVIDERS = ['FARGATE', 'FARGATE_SPOT'] as const;
/** What a capacity provider name outside `CAPACITY_PROVIDER_PATTERN` is counted as, so names cannot add dimensions freely. */
export const OTHER_CAPACITY_PROVIDER = 'OTHER';
export const CAPACITY_PROVIDER_PATTERN = /^[A-Z0-9_]{1,32}$/;

const OCTET = '(?:25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)';
const IPV4 = `${OCTET}(?:\\.${OCTET}){3}`;
const IPV4_PATTERN = new RegExp(`^${IPV4}$`);
const CIDR_PATTERN = new RegExp(`^(${IPV4})/(3[0-2]|[12]?\\d)$`);

/** An IPv4 CIDR block: its first address, as an unsigned 32-bit number, and how many addresses it holds. */
export interface Ipv4Block {
  readonly cidr: string;
  readonly first: number;
  readonly size: number;
}

/** A dotted-quad IPv4 address as an unsigned 32-bit number; undefined for anything else, leading zeros included. */
export function ipv4ToNumber(text: string): number | undefined {
  if (!IPV4_PATTERN.test(text)) return undefined;
  return text.split('.').reduce((n, octet) => n * 256 + Number(octet), 0);
}

/** `a.b.c.d/n` with its host bits zero, as the construct and the handler both accept it; undefined for anything else. */
export function parseIpv4Cidr(text: string): Ipv4Block | undefined {
  const match = CIDR_PATTERN.exec(text);
  if (match === null) return undefined;
  const first = ipv4ToNumber(match[1] ?? '') ?? Number.NaN;
  const size = 2 ** (32 - Number(match[2]));
  return first % size === 0 ? { cidr: text, first, size } : undefined;
}
