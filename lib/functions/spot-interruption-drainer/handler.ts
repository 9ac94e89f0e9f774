import { MetricUnit } from '@aws-lambda-powertools/metrics';
import type { Context, SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { logger, metrics } from '../common/observability';
import type { DrainedInstance } from '../spot-interruption-notifier/contract';
import { identityOf, loadConfig, targetGroupName } from './config';
import { DrainerMetric } from './contract';
import type { GroupResult } from './drain';
import { drainBatch } from './drain';
import { elbClient } from './elb';
import type { Notice } from './event';
import { parseRecord } from './event';
import { sendReport } from './report';

type Counts = Record<DrainerMetric, number>;

/**
 * Time kept back from the ELB calls at the end of an invocation, to report failures, hand the drain
 * report to the notifier and flush metrics, rather than time out and lose the whole batch's answer.
 */
export const RESERVED_MS = 3_000;
/** Kept back from the report, to return the batch's answer and flush metrics. */
const REPORT_MARGIN_MS = 500;

/**
 * Drains the instances named by a batch of Spot interruption warnings and rebalance recommendations,
 * delivered by SQS, from the configured target groups: per target group one DescribeTargetHealth and at
 * most one DeregisterTargets for the whole batch, however many events name an instance.
 *
 * A message that can never succeed (malformed, from another account or Region, about an instance in
 * none of the groups, a recommendation while draining on them is off) is acknowledged, never retried. A
 * message whose instance could not be drained is reported in `batchItemFailures`: SQS delivers it again after the visibility timeout, and moves it to the
 * dead-letter queue when its receive count runs out. A retry is harmless: registrations already draining
 * are left alone.
 */
export const handler = async (event: SQSEvent, context: Context): Promise<SQSBatchResponse> => {
  logger.addContext(context);
  // Every metric, zeros included, from the contract: one EMF record per batch with a data point for each.
  const counts = Object.fromEntries(Object.values(DrainerMetric).map((name) => [name, 0])) as Counts;
  counts.Messages = event.Records.length;
  try {
    return await handleBatch(event, context, counts);
  } finally {
    for (const [name, value] of Object.entries(counts)) metrics.addMetric(name, MetricUnit.Count, value);
    metrics.publishStoredMetrics();
  }
};

async function handleBatch(event: SQSEvent, context: Context, counts: Counts): Promise<SQSBatchResponse> {
  let config: ReturnType<typeof loadConfig>;
  let identity: ReturnType<typeof identityOf>;
  try {
    config = loadConfig(process.env);
    identity = identityOf(context.invokedFunctionArn);
  } catch (error) {
    // Thrown, not reported per message: the whole batch returns to the queue, and Lambda's Errors metric shows it.
    counts.Failures = event.Records.length;
    logger.error('The function is misconfigured', { error });
    throw error;
  }

  // By instance: a warning and a recommendation for the same instance drain it once.
  const notices = new Map<string, Notice[]>();
  for (const record of event.Records) {
    const parsed = parseRecord(record, identity);
    if (!parsed.valid) {
      if (parsed.untrusted) counts.UntrustedEvents += 1;
      else counts.MalformedEvents += 1;
      logger.warn('Acknowledging a message that is not a Spot interruption warning or rebalance recommendation', {
        messageId: parsed.messageId,
        reason: parsed.reason,
        body: record.body.slice(0, 1_000),
      });
      continue;
    }
    const { notice } = parsed;
    if (notice.signal === 'rebalance-recommendation') {
      if (!config.drainOnRebalance) {
        counts.EventsIgnored += 1;
        logger.info('Ignoring a rebalance recommendation: draining on them is off', { instanceId: notice.instanceId });
        continue;
      }
      counts.RebalanceRecommendations += 1;
    } else {
      counts.Interruptions += 1;
    }
    notices.set(notice.instanceId, [...(notices.get(notice.instanceId) ?? []), notice]);
  }
  if (notices.size === 0) return { batchItemFailures: [] };

  const deadline = Math.max(0, context.getRemainingTimeInMillis() - RESERVED_MS);
  const groups = await drainBatch(elbClient(), config.targetGroupArns, new Set(notices.keys()), AbortSignal.timeout(deadline));

  const failed: string[] = [];
  const drained: DrainedInstance[] = [];
  for (const group of groups) counts.ElbRetries += group.retries;
  for (const [instanceId, received] of notices) {
    if (groups.some((group) => group.failure?.instances.has(instanceId) === true)) {
      failed.push(...received.map((notice) => notice.messageId));
      continue;
    }
    const instance = drainedInstance(instanceId, received, groups);
    if (instance !== undefined) {
      drained.push(instance);
      counts.InstancesDrained += 1;
      counts.TargetsDeregistered += instance.targets.length;
      logger.info('Deregistered the instance from its target groups', { ...instance });
    } else if (!groups.some((group) => group.registered.has(instanceId))) {
      // Debug: the rule sees every Spot instance in the account, so this is the common case.
      counts.EventsIgnored += received.length;
      logger.debug('Ignoring the event: the instance is in none of the target groups', { instanceId });
    } else {
      logger.info('The instance is already draining from its target groups', { instanceId });
    }
  }
  counts.Failures = failed.length;

  if (drained.length > 0 && config.notificationQueueUrl !== undefined) {
    try {
      // Bounded by the invocation's own end: a timeout would fail the whole batch, drained messages included.
      const left = Math.max(0, context.getRemainingTimeInMillis() - REPORT_MARGIN_MS);
      await sendReport(config.notificationQueueUrl, { version: 1, instances: drained }, AbortSignal.timeout(left));
    } catch (error) {
      // The drain itself succeeded; retrying the messages would find the instances draining and report nothing.
      counts.NotificationFailures = 1;
      logger.error('Could not hand the drain report to the notifier', { error, instances: drained.map((i) => i.instanceId) });
    }
  }
  logger.info('Batch done', { ...counts });
  return { batchItemFailures: failed.map((itemIdentifier) => ({ itemIdentifier })) };
}

/** What this batch did for one instance, or undefined when it deregistered none of its registrations. */
function drainedInstance(instanceId: string, received: readonly Notice[], groups: readonly GroupResult[]): DrainedInstance | undefined {
  const targets = groups.flatMap((group) =>
    (group.deregistered.get(instanceId) ?? []).map((target) => ({
      targetGroup: targetGroupName(group.targetGroupArn),
      ...(target.Port !== undefined && { port: target.Port }),
    })),
  );
  if (targets.length === 0) return undefined;
  const drainedAt = groups.flatMap((group) => (group.deregistered.has(instanceId) && group.drainedAt ? [group.drainedAt.getTime()] : []));
  // The warning, if any, rather than a recommendation: it says what EC2 will do, and when. A duplicate
  // delivery can carry a later time; people want the first.
  const rank = (n: Notice): number => (n.signal === 'interruption-warning' ? 0 : 1);
  const first = [...received].sort((a, b) => rank(a) - rank(b) || Date.parse(a.time) - Date.parse(b.time))[0] as Notice;
  return {
    instanceId,
    signal: first.signal,
    ...(first.action !== undefined && { action: first.action }),
    warnedAt: new Date(Date.parse(first.time)).toISOString(),
    drainedAt: new Date(Math.min(...drainedAt)).toISOString(),
    targets,
  };
}
