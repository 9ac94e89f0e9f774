import type { EventBridgeEvent } from 'aws-lambda';

export const SPOT_INTERRUPTION_WARNING = 'EC2 Spot Instance Interruption Warning';

/** All three give the same two-minute notice, and the instance stops serving in each case. */
export const INSTANCE_ACTIONS = ['terminate', 'stop', 'hibernate'] as const;
export type InstanceAction = (typeof INSTANCE_ACTIONS)[number];

export interface SpotInterruptionDetail {
  readonly 'instance-id': string;
  readonly 'instance-action': InstanceAction;
}

export type SpotInterruptionWarning = EventBridgeEvent<typeof SPOT_INTERRUPTION_WARNING, SpotInterruptionDetail>;

export type ParsedEvent =
  | { readonly valid: true; readonly event: SpotInterruptionWarning }
  | { readonly valid: false; readonly reason: string };

const INSTANCE_ID = /^i-(?:[0-9a-f]{8}|[0-9a-f]{17})$/;

/**
 * Accepts only a well-formed Spot interruption warning. Anything else, including a rebalance
 * recommendation that a broadened rule might let through, is rejected with the reason, so the caller
 * never acts on a guess.
 */
export function parseSpotInterruptionWarning(event: unknown): ParsedEvent {
  if (!isRecord(event)) return invalid('the event is not an object');
  if (event.source !== 'aws.ec2') return invalid(`source is ${describe(event.source)}, not "aws.ec2"`);
  if (event['detail-type'] !== SPOT_INTERRUPTION_WARNING) {
    return invalid(`detail-type is ${describe(event['detail-type'])}, not "${SPOT_INTERRUPTION_WARNING}"`);
  }
  const detail = event.detail;
  if (!isRecord(detail)) return invalid(`detail is ${describe(detail)}, not an object`);
  const instanceId = detail['instance-id'];
  if (typeof instanceId !== 'string' || !INSTANCE_ID.test(instanceId)) {
    return invalid(`detail.instance-id is ${describe(instanceId)}, not an EC2 instance ID`);
  }
  const action = detail['instance-action'];
  if (!isInstanceAction(action)) {
    return invalid(`detail.instance-action is ${describe(action)}, not one of ${INSTANCE_ACTIONS.join(', ')}`);
  }
  return { valid: true, event: event as unknown as SpotInterruptionWarning };
}

function invalid(reason: string): ParsedEvent {
  return { valid: false, reason };
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
