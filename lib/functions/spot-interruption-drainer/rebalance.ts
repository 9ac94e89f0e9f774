import type { SQSRecord } from 'aws-lambda';
import { logger } from '../common/observability';
import { HEALTHY_AT_RECOMMENDATION_ATTRIBUTE, REBALANCE_RECHECK_SECONDS } from './contract';
import { raceDeadline } from '../common/deadline';
import type { GroupView } from './drain';
import { isActive } from './drain';
import { sqsClient, sqsSdk } from './report';

/**
 * When a rebalance recommendation may take its instance out of service.
 *
 * The floor: until the recommendation's hold runs out, its instance drains only once every target group it
 * serves in has, without it, as many healthy instances as it had with it when the drainer first looked: once
 * a replacement serves (capacity rebalancing launches one before it terminates the old instance). After the
 * hold it drains if at least one other instance is healthy in each of those groups, since the fleet may
 * terminate it soon; if it is the last, it stays in service. Either way, instances this batch drains are not
 * counted as healthy, so recommendations for every instance at once drain one after another as
 * replacements serve, never all at once. Interruption warnings are not held.
 */
export interface Recommendation {
  readonly instanceId: string;
  /** The recommendation's own record: its body is sent back verbatim if it must wait. */
  readonly record: SQSRecord;
  /** The event's `time`, epoch ms. */
  readonly sentAt: number;
  /** From a recommendation this drainer sent back: healthy instances at the first look, the instance included. */
  readonly healthyAtFirstLook?: number;
}

export type Decision =
  | { readonly kind: 'drain' }
  | { readonly kind: 'wait'; readonly healthyAtFirstLook: number; readonly delaySeconds: number }
  | { readonly kind: 'keep' };

/** Ahead of the function's clock by more than this, a recommendation's time is not trusted to hold it. */
const CLOCK_SKEW_MS = 60_000;

/**
 * Decides each recommendation, in instance order, so that the same batch and targets always decide alike.
 * `draining` holds the instances this batch drains anyway (interruption warnings); those decided `drain` are
 * added to it. A recommendation whose instance has no active registration is not decided.
 */
export function decideRecommendations(
  recommendations: readonly Recommendation[],
  views: readonly GroupView[],
  draining: Set<string>,
  holdMs: number,
  now: number,
): Map<string, Decision> {
  const decisions = new Map<string, Decision>();
  for (const recommendation of [...recommendations].sort((a, b) => a.instanceId.localeCompare(b.instanceId))) {
    const { instanceId } = recommendation;
    const groups = views.filter((view) => (view.registrations.get(instanceId) ?? []).some(isActive));
    if (groups.length === 0) continue;
    // A time far ahead of the clock could hold forever; such a recommendation does not wait.
    const deadline = recommendation.sentAt > now + CLOCK_SKEW_MS ? now : recommendation.sentAt + holdMs;
    // Less than a second left: SQS delays in whole seconds, so this is the last look. No queue: no waiting.
    const held = holdMs > 0 && deadline - now >= 1_000;
    let fewestHealthy = Infinity;
    let floorMet = true;
    let lastHealthy = false;
    for (const view of groups) {
      const healthy = healthyInstances(view);
      if (!healthy.has(instanceId)) continue; // Draining an instance that serves nothing takes nothing away.
      fewestHealthy = Math.min(fewestHealthy, healthy.size);
      const others = [...healthy].filter((id) => id !== instanceId && !draining.has(id)).length;
      if (others < 1) lastHealthy = true;
      if (others < Math.max(1, recommendation.healthyAtFirstLook ?? healthy.size)) floorMet = false;
    }
    if (lastHealthy) {
      decisions.set(instanceId, held ? wait(recommendation, fewestHealthy, deadline, now) : { kind: 'keep' });
    } else if (floorMet || !held) {
      decisions.set(instanceId, { kind: 'drain' });
      draining.add(instanceId);
    } else {
      decisions.set(instanceId, wait(recommendation, fewestHealthy, deadline, now));
    }
  }
  return decisions;
}

function wait(recommendation: Recommendation, fewestHealthy: number, deadline: number, now: number): Decision {
  return {
    kind: 'wait',
    healthyAtFirstLook: recommendation.healthyAtFirstLook ?? (Number.isFinite(fewestHealthy) ? fewestHealthy : 1),
    delaySeconds: Math.max(1, Math.min(REBALANCE_RECHECK_SECONDS, Math.floor((deadline - now) / 1000))),
  };
}

function healthyInstances(view: GroupView): Set<string> {
  const healthy = new Set<string>();
  for (const [id, registrations] of view.registrations) if (registrations.some((r) => r.state === 'healthy')) healthy.add(id);
  return healthy;
}

/**
 * The healthy count a recommendation this drainer sent back carries; undefined for EventBridge's own delivery,
 * or when the attribute is not a whole number from 1 to 10,000 (it only ever makes a drain wait, within the
 * hold, or stop waiting, never more).
 */
export function healthyAtFirstLook(record: SQSRecord): number | undefined {
  const attribute = record.messageAttributes?.[HEALTHY_AT_RECOMMENDATION_ATTRIBUTE];
  if (attribute === undefined) return undefined;
  const value = attribute.stringValue ?? '';
  if (attribute.dataType !== 'Number' || !/^\d{1,5}$/.test(value) || Number(value) < 1 || Number(value) > 10_000) {
    logger.warn('Ignoring a malformed waiting-recommendation attribute', { messageId: record.messageId, attribute: HEALTHY_AT_RECOMMENDATION_ATTRIBUTE });
    return undefined;
  }
  return Number(value);
}

/**
 * Sends each waiting recommendation back to the queue, delayed, its body unchanged: SQS delivers it again
 * as a new message, with a fresh receive count, so waiting never dead-letters it. Ten to a call. Returns the
 * instances whose recommendation could not be sent back; their messages must then be retried.
 */
export async function sendBack(
  queueUrl: string,
  waiting: readonly { readonly recommendation: Recommendation; readonly decision: Extract<Decision, { kind: 'wait' }> }[],
  deadline: AbortSignal,
): Promise<Set<string>> {
  const { SendMessageBatchCommand } = sqsSdk();
  const failed = new Set<string>();
  const calls: Promise<void>[] = [];
  for (let start = 0; start < waiting.length; start += 10) {
    const slice = waiting.slice(start, start + 10);
    const command = new SendMessageBatchCommand({
      QueueUrl: queueUrl,
      Entries: slice.map(({ recommendation, decision }, index) => ({
        Id: String(index),
        MessageBody: recommendation.record.body,
        DelaySeconds: decision.delaySeconds,
        MessageAttributes: {
          [HEALTHY_AT_RECOMMENDATION_ATTRIBUTE]: { DataType: 'Number', StringValue: String(decision.healthyAtFirstLook) },
        },
      })),
    });
    calls.push(
      raceDeadline(sqsClient().send(command, { abortSignal: deadline }), deadline).then(
        (output) => {
          for (const entry of output.Failed ?? []) {
            const item = slice[Number(entry.Id)];
            if (item !== undefined) failed.add(item.recommendation.instanceId);
          }
          if ((output.Failed ?? []).length > 0) logger.error('Could not send some recommendations back to wait', { failed: output.Failed });
        },
        (error: unknown) => {
          logger.error('Could not send recommendations back to wait', { error, instances: slice.map((item) => item.recommendation.instanceId) });
          for (const item of slice) failed.add(item.recommendation.instanceId);
        },
      ),
    );
  }
  await Promise.all(calls);
  return failed;
}
