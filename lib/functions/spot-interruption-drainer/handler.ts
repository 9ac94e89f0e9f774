import { MetricUnit } from '@aws-lambda-powertools/metrics';
import type { TargetDescription } from '@aws-sdk/client-elastic-load-balancing-v2';
import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { logger, metrics } from '../common/observability';
import type { DrainedInstance } from '../spot-interruption-notifier/contract';
import type { DrainerConfig } from './config';
import { identityOf, loadConfig, targetGroupName } from './config';
import { DrainerMetric, ELB_PACE_MS } from './contract';
import { Pace } from './deadline';
import type { DeregistrationResult, ElbBudget, GroupView } from './drain';
import { describeGroups, deregisterTargets, isActive } from './drain';
import { elbClient } from './elb';
import type { Notice } from './event';
import { parseRecord } from './event';
import type { Decision, Recommendation } from './rebalance';
import { decideRecommendations, healthyAtFirstLook, sendBack } from './rebalance';
import { sendReport } from './report';

type Counts = Record<DrainerMetric, number>;

/**
 * Time kept back from the ELB calls at the end of an invocation, to send waiting recommendations back, report
 * failures, hand the drain report to the notifier and flush metrics, rather than time out and lose the whole
 * batch's answer.
 */
export const RESERVED_MS = 3_000;
/** Kept back from the SQS calls, to return the batch's answer and flush metrics. */
const REPORT_MARGIN_MS = 500;

interface Received {
  readonly notice: Notice;
  readonly record: SQSRecord;
  /** On a recommendation this drainer sent back to wait. */
  readonly healthyAtFirstLook?: number;
}

/**
 * Drains the instances named by a batch of Spot interruption warnings and rebalance recommendations,
 * delivered by SQS, from the configured target groups: per target group one DescribeTargetHealth and
 * DeregisterTargets calls of at most 200 targets, paced, for the whole batch, however many events name an
 * instance. A warning drains at once. A recommendation drains once enough other targets are healthy (see
 * `rebalance.ts`), and until then is sent back to the queue to wait.
 *
 * A message that can never succeed (malformed, from another account or Region, about an instance in
 * none of the groups, a recommendation while draining on them is off) is acknowledged, never retried. A
 * message whose instance could not be drained, or that could not be sent back to wait, is reported in
 * `batchItemFailures`: SQS delivers it again after the visibility timeout, and moves it to the dead-letter
 * queue when its receive count runs out. A retry is harmless: registrations already draining are left alone.
 */
export const handler = (event: SQSEvent, context: Context): Promise<SQSBatchResponse> => handle(event, context, ELB_PACE_MS);

/** How far apart, in ms, the invocation's calls of each kind are: {@link ELB_PACE_MS} in Lambda. */
export interface ElbPaces {
  readonly describe: number;
  readonly deregister: number;
}

/** {@link handler} with the paces given, so that tests of anything but the pace need not wait it out. */
export async function handle(event: SQSEvent, context: Context, paces: ElbPaces): Promise<SQSBatchResponse> {
  logger.addContext(context);
  // Every metric, zeros included, from the contract: one EMF record per batch with a data point for each.
  const counts = Object.fromEntries(Object.values(DrainerMetric).map((name) => [name, 0])) as Counts;
  counts.Messages = event.Records.length;
  try {
    return await handleBatch(event, context, counts, paces);
  } finally {
    for (const [name, value] of Object.entries(counts)) metrics.addMetric(name, MetricUnit.Count, value);
    metrics.publishStoredMetrics();
  }
}

async function handleBatch(event: SQSEvent, context: Context, counts: Counts, paces: ElbPaces): Promise<SQSBatchResponse> {
  let config: DrainerConfig;
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
  const byInstance = new Map<string, Received[]>();
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
    let healthy: number | undefined;
    if (notice.signal === 'rebalance-recommendation') {
      if (!config.drainOnRebalance) {
        counts.EventsIgnored += 1;
        logger.info('Ignoring a rebalance recommendation: draining on them is off', { instanceId: notice.instanceId });
        continue;
      }
      healthy = healthyAtFirstLook(record);
      // A recommendation back from waiting was counted when EventBridge delivered it.
      if (healthy === undefined) counts.RebalanceRecommendations += 1;
    } else {
      counts.Interruptions += 1;
    }
    const received: Received = { notice, record, ...(healthy !== undefined && { healthyAtFirstLook: healthy }) };
    byInstance.set(notice.instanceId, [...(byInstance.get(notice.instanceId) ?? []), received]);
  }
  if (byInstance.size === 0) return { batchItemFailures: [] };

  const remaining = context.getRemainingTimeInMillis();
  const elbMs = Math.max(0, remaining - RESERVED_MS);
  const budget: ElbBudget = {
    deadline: AbortSignal.timeout(elbMs),
    deadlineAt: Date.now() + elbMs,
    describePace: new Pace(paces.describe),
    deregisterPace: new Pace(paces.deregister),
  };
  const sqsDeadline = (): AbortSignal => AbortSignal.timeout(Math.max(0, context.getRemainingTimeInMillis() - REPORT_MARGIN_MS));

  const client = elbClient();
  const views = await describeGroups(client, config.targetGroupArns, budget);
  const describedAll = views.every((view) => view.error === undefined);

  // Warnings drain at once. Recommendations are decided only when every group could be counted.
  const warned = new Set([...byInstance].filter(([, received]) => received.some((r) => r.notice.signal === 'interruption-warning')).map(([id]) => id));
  const draining = new Set(warned);
  const recommendations: Recommendation[] = [];
  for (const [instanceId, received] of byInstance) {
    if (warned.has(instanceId)) continue;
    // Duplicates wait as one: the earliest, which has the earliest deadline.
    const [first] = [...received].sort((a, b) => Date.parse(a.notice.time) - Date.parse(b.notice.time));
    if (first === undefined) continue;
    const healthy = received.map((r) => r.healthyAtFirstLook).find((n) => n !== undefined);
    recommendations.push({ instanceId, record: first.record, sentAt: Date.parse(first.notice.time), ...(healthy !== undefined && { healthyAtFirstLook: healthy }) });
  }
  const decisions = describedAll ? decideRecommendations(recommendations, views, draining, config.rebalanceHoldMs, Date.now()) : new Map<string, Decision>();

  const results = await Promise.all(
    views
      .filter((view) => view.error === undefined)
      .map((view) => deregisterTargets(client, view.targetGroupArn, activeRegistrations(view, draining), budget)),
  );

  const waiting = recommendations.flatMap((recommendation) => {
    const decision = decisions.get(recommendation.instanceId);
    return decision?.kind === 'wait' ? [{ recommendation, decision }] : [];
  });
  const notSentBack =
    waiting.length > 0 && config.rebalanceQueueUrl !== undefined ? await sendBack(config.rebalanceQueueUrl, waiting, sqsDeadline()) : new Set<string>();

  const failed: string[] = [];
  const drained: DrainedInstance[] = [];
  for (const view of views) counts.ElbRetries += view.retries;
  for (const result of results) counts.ElbRetries += result.retries;
  for (const [instanceId, received] of byInstance) {
    const messageIds = received.map((r) => r.record.messageId);
    const decision = decisions.get(instanceId);
    // A group that could not be described may hold the instance: every message naming it is tried again.
    if (!describedAll || results.some((result) => result.failed.has(instanceId))) {
      failed.push(...messageIds);
      continue;
    }
    if (decision?.kind === 'wait') {
      if (notSentBack.has(instanceId)) {
        failed.push(...messageIds);
        continue;
      }
      counts.RecommendationsDeferred += 1;
      logger.info('The recommendation waits for other targets to be healthy', { instanceId, ...decision });
      continue;
    }
    if (decision?.kind === 'keep') {
      counts.RecommendationsKept += 1;
      logger.warn('Keeping the instance in service: its recommendation waited its hold, and it is the last healthy target', { instanceId });
      continue;
    }
    const instance = drainedInstance(instanceId, received.map((r) => r.notice), results);
    if (instance !== undefined) {
      drained.push(instance);
      counts.InstancesDrained += 1;
      counts.TargetsDeregistered += instance.targets.length;
      logger.info('Deregistered the instance from its target groups', { ...instance });
    } else if (!views.some((view) => view.registrations.has(instanceId))) {
      // Debug: the rule sees every Spot instance in the account, so this is the common case.
      counts.EventsIgnored += received.length;
      logger.debug('Ignoring the event: the instance is in none of the target groups', { instanceId });
    } else {
      logInactive(instanceId, views);
    }
  }
  counts.Failures = failed.length;

  if (drained.length > 0 && config.notificationQueueUrl !== undefined) {
    try {
      // Bounded by the invocation's own end: a timeout would fail the whole batch, drained messages included.
      await sendReport(config.notificationQueueUrl, { version: 1, instances: drained }, sqsDeadline());
    } catch (error) {
      // The drain itself succeeded; retrying the messages would find the instances draining and report nothing.
      counts.NotificationFailures = 1;
      logger.error('Could not hand the drain report to the notifier', { error, instances: drained.map((i) => i.instanceId) });
    }
  }
  // Hold the concurrency slot for the rest of the pace: what bounds the drainer's ELB calls across invocations.
  await Promise.all([budget.describePace.settle(budget.deadline), budget.deregisterPace.settle(budget.deadline)]);
  logger.info('Batch done', { ...counts });
  return { batchItemFailures: failed.map((itemIdentifier) => ({ itemIdentifier })) };
}

/** The active registrations, by instance, of the instances in `draining` that the group holds. */
function activeRegistrations(view: GroupView, draining: ReadonlySet<string>): Map<string, TargetDescription[]> {
  const targets = new Map<string, TargetDescription[]>();
  for (const id of draining) {
    const active = (view.registrations.get(id) ?? []).filter(isActive);
    if (active.length > 0) targets.set(id, active.map((r) => ({ Id: id, ...(r.port !== undefined && { Port: r.port }) })));
  }
  return targets;
}

/** Says why an instance registered in some group needed nothing: draining already, or unused for ELB's reason. */
function logInactive(instanceId: string, views: readonly GroupView[]): void {
  const registrations = views.flatMap((view) =>
    (view.registrations.get(instanceId) ?? []).map((r) => ({ targetGroup: targetGroupName(view.targetGroupArn), port: r.port, state: r.state, reason: r.reason })),
  );
  const draining = registrations.filter((r) => r.state === 'draining');
  const unused = registrations.filter((r) => r.state !== 'draining');
  if (draining.length > 0) logger.info('The instance is already draining from its target groups', { instanceId, targets: draining });
  for (const registration of unused) {
    logger.info(`The instance's registration is not in use: ${registration.reason ?? 'no reason given'}`, { instanceId, ...registration });
  }
}

/** What this batch did for one instance, or undefined when it deregistered none of its registrations. */
function drainedInstance(instanceId: string, received: readonly Notice[], results: readonly DeregistrationResult[]): DrainedInstance | undefined {
  const targets = results.flatMap((result) =>
    (result.deregistered.get(instanceId) ?? []).map((target) => ({
      targetGroup: targetGroupName(result.targetGroupArn),
      ...(target.Port !== undefined && { port: target.Port }),
    })),
  );
  if (targets.length === 0) return undefined;
  const drainedAt = results.flatMap((result) => {
    const at = result.drainedAt.get(instanceId);
    return at === undefined ? [] : [at.getTime()];
  });
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
