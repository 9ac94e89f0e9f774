import type { Logger } from '@aws-lambda-powertools/logger';
import type { Metrics } from '@aws-lambda-powertools/metrics';
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { ProberDimension, ProberMetric } from './contract';
import type { ProbeOutcome } from './probe';
import type { TaskCount } from './tasks';
import type { InstanceIdentity } from './targets';

/** One instance's outcome; `rejected` when it was never sent a request. */
export type ProbeResult = InstanceIdentity & ProbeOutcome & { readonly address?: string; readonly rejected?: true };

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

/** EMF allows 100 values per metric in one blob; Powertools publishes the stored metrics when one reaches it. */
const MAX_VALUES = 100;

/**
 * Publishes one run's EMF metrics, all under the `ServiceName` default dimension (set once per process, see
 * the handler), beside Powertools' own `service` dimension:
 *
 * - `InstancesDiscovered`, `ProbeSuccess`, `ProbeFailure`, `RejectedInstances`: one value each per run,
 *   zeros included, so that alarms see 0 rather than missing data. `ProbeFailure` includes the rejected.
 * - `ProbeLatency`: one value per probe that got a complete HTTP response, whatever its status. Refused
 *   connections have no meaningful latency and timeouts would only pin the percentiles at the timeout;
 *   both are already counted in `ProbeFailure`.
 * - `ProbeSuccess`, `ProbeFailure` and `ProbeLatency` again per `AvailabilityZone`, for the probes sent:
 *   one extra EMF line per zone. Rejected instances have no zone dimension, so a registration cannot add one.
 *
 * - With `taskCount` (a cluster is configured): `TaskCountFailures`, 0 or 1, beside the run's counts, and when
 *   the count succeeded `Tasks` per `CapacityProvider`, one EMF line per capacity provider.
 *
 * When a metric reaches 100 values, Powertools 2.35 publishes on its own, and that clears request-level
 * dimensions but keeps default ones: that is why `ServiceName` must be a default dimension, and why the zone
 * is added again after every 100 latency values of one zone (up to 1000 instances).
 */
export function publishRunMetrics(metrics: Metrics, discovered: number, results: readonly ProbeResult[], taskCount?: TaskCount): void {
  const byZone = new Map<string, { success: number; failure: number; latencies: number[] }>();
  let success = 0;
  let rejected = 0;
  for (const result of results) {
    if (result.ok) success += 1;
    if (result.rejected || result.availabilityZone === undefined) {
      rejected += 1;
      continue;
    }
    const zone = byZone.get(result.availabilityZone) ?? { success: 0, failure: 0, latencies: [] };
    if (result.ok) zone.success += 1;
    else zone.failure += 1;
    if (result.latencyMs !== undefined) zone.latencies.push(result.latencyMs);
    byZone.set(result.availabilityZone, zone);
  }

  metrics.addMetric(ProberMetric.InstancesDiscovered, MetricUnit.Count, discovered);
  metrics.addMetric(ProberMetric.ProbeSuccess, MetricUnit.Count, success);
  metrics.addMetric(ProberMetric.ProbeFailure, MetricUnit.Count, results.length - success);
  metrics.addMetric(ProberMetric.RejectedInstances, MetricUnit.Count, rejected);
  if (taskCount !== undefined) metrics.addMetric(ProberMetric.TaskCountFailures, MetricUnit.Count, taskCount.ok ? 0 : 1);
  for (const result of results) {
    if (result.latencyMs !== undefined) metrics.addMetric(ProberMetric.ProbeLatency, MetricUnit.Milliseconds, result.latencyMs);
  }
  flushMetrics(metrics);

  for (const [availabilityZone, counts] of byZone) {
    metrics.addDimension(ProberDimension.AvailabilityZone, availabilityZone);
    metrics.addMetric(ProberMetric.ProbeSuccess, MetricUnit.Count, counts.success);
    metrics.addMetric(ProberMetric.ProbeFailure, MetricUnit.Count, counts.failure);
    counts.latencies.forEach((latencyMs, i) => {
      if (i > 0 && i % MAX_VALUES === 0) metrics.addDimension(ProberDimension.AvailabilityZone, availabilityZone);
      metrics.addMetric(ProberMetric.ProbeLatency, MetricUnit.Milliseconds, latencyMs);
    });
    flushMetrics(metrics);
  }

  if (taskCount?.ok !== true) return;
  for (const [capacityProvider, count] of taskCount.byCapacityProvider) {
    metrics.addDimension(ProberDimension.CapacityProvider, capacityProvider);
    metrics.addMetric(ProberMetric.Tasks, MetricUnit.Count, count);
    flushMetrics(metrics);
  }
}

/** Publishes what is stored, skipping the "no metrics" warning Powertools logs when a 100-value flush left nothing. */
export function flushMetrics(metrics: Metrics): void {
  if (metrics.hasStoredMetrics()) metrics.publishStoredMetrics();
}
