import { MetricUnit } from '@aws-lambda-powertools/metrics';
import type { Context, EventBridgeEvent } from 'aws-lambda';
import { parseTargetGroupArns } from './config';
import { DrainIncompleteError, drainInstance } from './drain';
import { elbClient } from './elb';
import { parseSpotInterruptionWarning } from './event';
import type { DrainerMetric } from './observability';
import { logger, metrics } from './observability';

type Counts = Record<DrainerMetric, number>;

/**
 * Deregisters the instance named by an EC2 Spot Instance Interruption Warning from the configured ALB
 * target groups, so the load balancer stops sending it requests before it is reclaimed.
 *
 * Only the envelope is typed: the rule matches every Spot instance in the account, and anything that is
 * not a well-formed warning is logged, counted and dropped rather than thrown, since async invoke would
 * retry a thrown event that can never succeed. Drain failures are thrown, so that async invoke retries
 * them: a retry is harmless, as registrations already draining are left alone.
 */
export const handler = async (event: EventBridgeEvent<string, unknown>, context: Context): Promise<void> => {
  logger.addContext(context);
  const counts: Counts = {
    InstancesDrained: 0,
    TargetsDeregistered: 0,
    EventsIgnored: 0,
    MalformedEvents: 0,
    Failures: 0,
  };
  try {
    await handle(event, counts);
  } finally {
    for (const [name, value] of Object.entries(counts)) metrics.addMetric(name, MetricUnit.Count, value);
    metrics.publishStoredMetrics();
    logger.resetKeys();
  }
};

async function handle(event: EventBridgeEvent<string, unknown>, counts: Counts): Promise<void> {
  let targetGroupArns: string[];
  try {
    targetGroupArns = parseTargetGroupArns(process.env.TARGET_GROUP_ARNS);
  } catch (error) {
    counts.Failures = 1;
    logger.error('The function is misconfigured', { error });
    throw error;
  }

  const parsed = parseSpotInterruptionWarning(event);
  if (!parsed.valid) {
    counts.MalformedEvents = 1;
    logger.warn('Ignoring an event that is not a valid Spot interruption warning', { reason: parsed.reason, event });
    return;
  }
  const { id: eventId, detail } = parsed.event;
  const instanceId = detail['instance-id'];
  logger.appendKeys({ eventId, instanceId, action: detail['instance-action'] });

  const outcomes = await drainInstance(elbClient(), targetGroupArns, instanceId);
  const failed: string[] = [];
  const errors: unknown[] = [];
  for (const outcome of outcomes) {
    if (outcome.status === 'deregistered') counts.TargetsDeregistered += outcome.targets.length;
    if (outcome.status === 'failed') {
      failed.push(outcome.targetGroupArn);
      errors.push(outcome.error);
    }
  }
  counts.Failures = failed.length;
  counts.InstancesDrained = counts.TargetsDeregistered > 0 ? 1 : 0;

  if (failed.length > 0) {
    throw new DrainIncompleteError(instanceId, failed, { cause: errors.length === 1 ? errors[0] : new AggregateError(errors) });
  }
  if (outcomes.every((outcome) => outcome.status === 'not-registered')) {
    counts.EventsIgnored = 1;
    logger.info('Ignoring the warning: the instance is in none of the target groups', { targetGroupArns });
  }
}
