import type { Logger } from '@aws-lambda-powertools/logger';
import type { Metrics } from '@aws-lambda-powertools/metrics';
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { ProberDimension, ProberMetric } from './contract';
import type { ProbeOutcome } from './probe';
import type { InstanceIdentity } from './targets';

export type ProbeResult = InstanceIdentity & ProbeOutcome & { readonly address?: string };

export function logProbeResult(logger: Logger, result: ProbeResult): void {
  const fields = {
    instanceId: result.instanceId,
    address: result.address,
    availabilityZone: result.availabilityZone,
    status: result.ok ? 'success' : 'failure',
    httpStatus: result.httpStatus,
    latencyMs: result.latencyMs,
    reason: result.ok ? undefined : result.reason,
  };
  if (result.ok) logger.info('probe succeeded', fields);
  else logger.warn('probe failed', fields);
}

/**
 * Publishes one run's EMF metrics, all under the `ServiceName` default dimension (set once per process, see
 * the handler), beside Powertools' own `service` dimension:
 *
 * - `InstancesDiscovered`, `ProbeSuccess`, `ProbeFailure`: one value each per run, zeros included, so that
 *   alarms see 0 rather than missing data.
 * - `ProbeLatency`: one value per probe that got a complete HTTP response, whatever its status. Refused
 *   connections have no meaningful latency and timeouts would only pin the percentiles at the timeout;
 *   both are already counted in `ProbeFailure`.
 * - `ProbeSuccess`/`ProbeFailure` again per `AvailabilityZone`: one extra EMF line per AZ.
 *
 * EMF allows 100 values per metric in one blob. Powertools 2.35 publishes the stored metrics on its own when
 * an array reaches 100 values, and that publish clears request-level dimensions but keeps default ones:
 * that is why `ServiceName` must be a default dimension, or latency blobs after the first 100 values
 * (up to 1000 instances) would lose it.
 */
export function publishRunMetrics(metrics: Metrics, discovered: number, results: readonly ProbeResult[]): void {
  const byZone = new Map<string, { success: number; failure: number }>();
  let success = 0;
  for (const result of results) {
    const zone = byZone.get(result.availabilityZone) ?? { success: 0, failure: 0 };
    if (result.ok) zone.success += 1;
    else zone.failure += 1;
    byZone.set(result.availabilityZone, zone);
    if (result.ok) success += 1;
  }

  metrics.addMetric(ProberMetric.InstancesDiscovered, MetricUnit.Count, discovered);
  metrics.addMetric(ProberMetric.ProbeSuccess, MetricUnit.Count, success);
  metrics.addMetric(ProberMetric.ProbeFailure, MetricUnit.Count, results.length - success);
  for (const result of results) {
    if (result.latencyMs !== undefined) metrics.addMetric(ProberMetric.ProbeLatency, MetricUnit.Milliseconds, result.latencyMs);
  }
  flushMetrics(metrics);

  for (const [availabilityZone, counts] of byZone) {
    metrics.addDimension(ProberDimension.AvailabilityZone, availabilityZone);
    metrics.addMetric(ProberMetric.ProbeSuccess, MetricUnit.Count, counts.success);
    metrics.addMetric(ProberMetric.ProbeFailure, MetricUnit.Count, counts.failure);
    metrics.publishStoredMetrics();
  }
}

/** Publishes what is stored, skipping the "no metrics" warning Powertools logs when a 100-value flush left nothing. */
export function flushMetrics(metrics: Metrics): void {
  if (metrics.hasStoredMetrics()) metrics.publishStoredMetrics();
}
