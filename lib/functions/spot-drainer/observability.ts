import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';

/** Service name and namespace come from POWERTOOLS_SERVICE_NAME and POWERTOOLS_METRICS_NAMESPACE. */
export const logger = new Logger();
export const metrics = new Metrics();

/**
 * The function's metrics. Every invocation emits all of them, zeros included, in one EMF record, so
 * that alarms and sums see a data point per event rather than gaps.
 */
export const DrainerMetric = {
  /** 1 when this invocation deregistered the instance from at least one target group, else 0. Per instance, not per registration. */
  InstancesDrained: 'InstancesDrained',
  /** Registrations (target group and port) this invocation deregistered. */
  TargetsDeregistered: 'TargetsDeregistered',
  /** 1 for a valid warning about an instance registered in none of the target groups. */
  EventsIgnored: 'EventsIgnored',
  /** 1 for an event that is not a well-formed Spot interruption warning; it is never acted on. */
  MalformedEvents: 'MalformedEvents',
  /** Target groups that could not be drained after the SDK's retries, or 1 for a configuration error. */
  Failures: 'Failures',
} as const;
export type DrainerMetric = (typeof DrainerMetric)[keyof typeof DrainerMetric];
