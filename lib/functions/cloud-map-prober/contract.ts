/**
 * The prober's contract with its construct: its name, its settings and its metrics. Imports neither CDK nor
 * the SDK, so both sides can load it.
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
} as const;

/** What the prober uses when the construct leaves a setting out. */
export const PROBER_DEFAULTS = {
  probeTimeoutMs: 3_000,
  probePath: '/',
  discoveryTimeoutMs: 10_000,
} as const;

/**
 * The prober's metrics. `InstancesDiscovered`, `ProbeSuccess` and `ProbeFailure` have one value per run,
 * zeros included; `ProbeLatency` one per probe that got a complete HTTP response, whatever its status.
 */
export const ProberMetric = {
  /** Instances DiscoverInstances returned. */
  InstancesDiscovered: 'InstancesDiscovered',
  /** Probes answered with a 2xx status. */
  ProbeSuccess: 'ProbeSuccess',
  /** Probes that failed: another status, a refused or reset connection, a timeout, or unusable attributes. */
  ProbeFailure: 'ProbeFailure',
  /** Milliseconds from the start of a probe to the end of its response. */
  ProbeLatency: 'ProbeLatency',
} as const;
export type ProberMetric = (typeof ProberMetric)[keyof typeof ProberMetric];

/** Dimensions of the prober's metrics, beside Powertools' own `service`. */
export const ProberDimension = {
  /** The Cloud Map service name, on every metric. */
  ServiceName: 'ServiceName',
  /** The instance's Availability Zone, on the per-zone `ProbeSuccess` and `ProbeFailure`. */
  AvailabilityZone: 'AvailabilityZone',
} as const;
