import type { EventBridgeEvent, SQSRecord } from 'aws-lambda';
import type { DrainSignal } from '../spot-interruption-notifier/contract';
import type { Identity } from './config';
import { REBALANCE_RECOMMENDATION, SPOT_INTERRUPTION_WARNING } from './contract';

/** All three give the same two-minute notice, and the instance stops serving in each case. */
export const INSTANCE_ACTIONS = ['terminate', 'stop', 'hibernate'] as const;
export type InstanceAction = (typeof INSTANCE_ACTIONS)[number];

export interface SpotInterruptionDetail {
  readonly 'instance-id': string;
  readonly 'instance-action': InstanceAction;
}

export type SpotInterruptionWarning = EventBridgeEvent<typeof SPOT_INTERRUPTION_WARNING, SpotInterruptionDetail>;
export type RebalanceRecommendation = EventBridgeEvent<typeof REBALANCE_RECOMMENDATION, { readonly 'instance-id': string }>;

/** An interruption warning or rebalance recommendation worth acting on: well formed, and from the function's own account and Region. */
export interface Notice {
  readonly messageId: string;
  readonly instanceId: string;
  readonly signal: DrainSignal;
  /** Only on an interruption warning. */
  readonly action?: InstanceAction;
  /** The event's `time`: when EC2 sent it. */
  readonly time: string;
}

export type ParsedRecord =
  | { readonly valid: true; readonly notice: Notice }
  | {
      readonly valid: false;
      readonly messageId: string;
      readonly reason: string;
      /** A well-formed event from another account or Region, rather than a malformed message. */
      readonly untrusted: boolean;
    };

const INSTANCE_ID = /^i-(?:[0-9a-f]{8}|[0-9a-f]{17})$/;

/**
 * Accepts only a well-formed Spot interruption warning or rebalance recommendation from `identity`'s account
 * and Region. The rule already filters on source and detail-type, but the queue is the trust boundary:
 * anything else, such as an event about another account's instance, is rejected with the reason, so the
 * caller never acts on a guess.
 */
export function parseRecord(record: SQSRecord, identity: Identity): ParsedRecord {
  const { messageId } = record;
  const invalid = (reason: string, untrusted = false): ParsedRecord => ({ valid: false, messageId, reason, untrusted });
  let event: unknown;
  try {
    event = JSON.parse(record.body);
  } catch {
    return invalid('the message body is not JSON');
  }
  if (!isRecord(event)) return invalid('the event is not an object');
  if (event.source !== 'aws.ec2') return invalid(`source is ${describe(event.source)}, not "aws.ec2"`);
  const detailType = event['detail-type'];
  const signal =
    detailType === SPOT_INTERRUPTION_WARNING ? 'interruption-warning'
    : detailType === REBALANCE_RECOMMENDATION ? 'rebalance-recommendation'
    : undefined;
  if (signal === undefined) return invalid(`detail-type is ${describe(detailType)}, not "${SPOT_INTERRUPTION_WARNING}" or "${REBALANCE_RECOMMENDATION}"`);
  if (typeof event.time !== 'string' || Number.isNaN(Date.parse(event.time))) return invalid(`time is ${describe(event.time)}, not a timestamp`);
  const detail = event.detail;
  if (!isRecord(detail)) return invalid(`detail is ${describe(detail)}, not an object`);
  const instanceId = detail['instance-id'];
  if (typeof instanceId !== 'string' || !INSTANCE_ID.test(instanceId)) {
    return invalid(`detail.instance-id is ${describe(instanceId)}, not an EC2 instance ID`);
  }
  // A recommendation has no action; a warning must have one of the three.
  const action = detail['instance-action'];
  const isWarning = signal === 'interruption-warning';
  if (isWarning && !isInstanceAction(action)) {
    return invalid(`detail.instance-action is ${describe(action)}, not one of ${INSTANCE_ACTIONS.join(', ')}`);
  }
  // Checked last, so that only an otherwise well-formed event counts as untrusted.
  if (event.account !== identity.account) return invalid(`account is ${describe(event.account)}, not this function's ${identity.account}`, true);
  if (event.region !== identity.region) return invalid(`region is ${describe(event.region)}, not this function's ${identity.region}`, true);
  return { valid: true, notice: { messageId, instanceId, signal, ...(isWarning && { action: action as InstanceAction }), time: event.time } };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isInstanceAction(value: unknown): value is InstanceAction {
  return (INSTANCE_ACTIONS as readonly unknown[]).includes(value);
}

function describe(value: unknown): string {
  if (value === undefined) return 'missing';
  const json = JSON.stringify(value);
  return json.length > 80 ? `${json.slice(0, 80)}…` : json;
}
