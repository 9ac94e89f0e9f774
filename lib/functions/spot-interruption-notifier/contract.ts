/**
 * What the drainer hands the notifier through the notification queue, and the notifier's settings: shared
 * by the construct, the drainer and the notifier. Imports neither CDK nor the SDK.
 */

/** Environment variables the construct sets on the notifier. */
export const NotifierEnv = {
  /** The queue the drainer writes {@link DrainReport}s to. */
  queueUrl: 'NOTIFICATION_QUEUE_URL',
  /** The SNS topic people subscribe to. */
  topicArn: 'TOPIC_ARN',
  /** Named in every message, so that people with several copies know which one spoke. */
  stackName: 'STACK_NAME',
} as const;

/** One registration the drainer took out of the load balancer. */
export interface DrainedTarget {
  /** The target group's name, from its ARN. */
  readonly targetGroup: string;
  readonly port?: number;
}

/** What EC2 sent about an instance that made the drainer drain it. */
export type DrainSignal = 'interruption-warning' | 'rebalance-recommendation';

/**
 * One of our instances, drained because EC2 warned it would be reclaimed or recommended rebalancing it.
 * When one batch had both for the instance, the report names the warning: it carries the action and the deadline.
 */
export interface DrainedInstance {
  readonly instanceId: string;
  /** @default 'interruption-warning' (reports written before rebalance recommendations were drained have none) */
  readonly signal?: DrainSignal;
  /** `terminate`, `stop` or `hibernate`; only for an interruption warning. */
  readonly action?: string;
  /** When EC2 sent the signal (the event's `time`), ISO 8601. */
  readonly warnedAt: string;
  /** When the drainer's DeregisterTargets call succeeded, ISO 8601. */
  readonly drainedAt: string;
  readonly targets: readonly DrainedTarget[];
}

/** The body of one notification-queue message: what one drain batch did for our instances. */
export interface DrainReport {
  readonly version: 1;
  readonly instances: readonly DrainedInstance[];
}
