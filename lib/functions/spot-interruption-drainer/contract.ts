/**
 * The drainer's contract with its construct: the events it reacts to, its settings and its metrics.
 * Imports neither CDK nor the SDK, so both sides can load it.
 */

/** The function's name in its folder, in the `SpotInterruptionDrainer` construct and as its Powertools service name. */
export const DRAINER_SERVICE_NAME = 'spot-interruption-drainer';

/** The EventBridge detail-type EC2 sends two minutes before it reclaims a Spot Instance. */
export const SPOT_INTERRUPTION_WARNING = 'EC2 Spot Instance Interruption Warning';
/**
 * The EventBridge detail-type EC2 sends when an instance is at elevated risk of interruption. It may come
 * before the warning, with it, or with none following; under Spot Fleet capacity rebalancing
 * (`launch-before-terminate`) the fleet terminates the instance itself, TerminationDelay after launching
 * its replacement.
 */
export const REBALANCE_RECOMMENDATION = 'EC2 Instance Rebalance Recommendation';

/** Environment variables the construct sets on the drainer. */
export const DrainerEnv = {
  /** Comma-separated ARNs of the target groups to drain interrupted instances from. */
  targetGroupArns: 'TARGET_GROUP_ARNS',
  /** Optional: the queue that gathers drain reports for the notifier. */
  notificationQueueUrl: 'NOTIFICATION_QUEUE_URL',
  /** `true` or `false`: whether a rebalance recommendation drains its instance. Unset means `true`. */
  drainOnRebalance: 'DRAIN_ON_REBALANCE',
  /**
   * The drainer's own queue, to which it sends back, delayed, a recommendation whose instance must wait for
   * other targets to be healthy. Unset: nothing waits, and a recommendation drains at once unless its
   * instance is the last healthy target.
   */
  rebalanceQueueUrl: 'REBALANCE_QUEUE_URL',
  /** Whole seconds after a recommendation's time until which its drain may wait for other targets to be healthy. */
  rebalanceHoldSeconds: 'REBALANCE_HOLD_SECONDS',
} as const;

/**
 * ScalingConfig.MaximumConcurrency of the drainer's event source mapping: at most this many batches run at
 * once, whatever Lambda's pollers do. 2 is the lowest Lambda allows. With {@link ELB_PACE_MS} it bounds the
 * drainer's ELB calls for the whole account.
 */
export const DRAINER_MAX_CONCURRENCY = 2;

/**
 * The least time between two ELB calls of one kind in one invocation, and the least time an invocation that
 * made a call of that kind keeps its concurrency slot after it: each of the {@link DRAINER_MAX_CONCURRENCY}
 * slots then spends at most one token per interval of ELB's per-account bucket for that kind, however many
 * environments, batches or retries there are. DeregisterTargets: 2 a second for the drainer, half of the 4 a
 * second ELB's bucket is refilled with, so the rest of the account keeps the other half. DescribeTargetHealth:
 * 4 a second, less than half of its 10.
 */
export const ELB_PACE_MS = { deregister: 1_000, describe: 500 } as const;

/** The most targets one DeregisterTargets names: what the AWS Load Balancer Controller sends, on the ELB team's advice. */
export const MAX_TARGETS_PER_DEREGISTRATION = 200;

/** How long a waiting recommendation stays on the queue before the drainer looks at its target groups again. */
export const REBALANCE_RECHECK_SECONDS = 30;

/**
 * The SQS message attribute (Number) on a recommendation the drainer sent back to wait: how many instances
 * were healthy in its target group, the instance included, when the drainer first looked. Its drain waits
 * until as many others are healthy: until a replacement serves.
 */
export const HEALTHY_AT_RECOMMENDATION_ATTRIBUTE = 'spotwise-healthy-at-recommendation';

/**
 * The drainer's metrics, one EMF record per batch with every metric present (zeros included), so that
 * sums and alarms see a data point per batch rather than gaps.
 */
export const DrainerMetric = {
  /** Messages in the batch. */
  Messages: 'Messages',
  /** Valid warnings from this account and Region, ours or not. */
  Interruptions: 'Interruptions',
  /** Instances this batch deregistered from at least one target group. */
  InstancesDrained: 'InstancesDrained',
  /** Registrations (target group and port) this batch deregistered. */
  TargetsDeregistered: 'TargetsDeregistered',
  /** Valid rebalance recommendations from this account and Region, ours or not, acted on because draining on them is on. */
  RebalanceRecommendations: 'RebalanceRecommendations',
  /**
   * Valid events not acted on: warnings and recommendations about instances in none of the target groups (the
   * rest of the account's Spot capacity), and rebalance recommendations while draining on them is off.
   */
  EventsIgnored: 'EventsIgnored',
  /** Messages that are not a well-formed interruption warning or rebalance recommendation; acknowledged, never acted on. */
  MalformedEvents: 'MalformedEvents',
  /** Well-formed events from another account or Region (a forwarding event bus, say); acknowledged, never acted on. */
  UntrustedEvents: 'UntrustedEvents',
  /** Messages reported back to the queue as failed, to be retried or dead-lettered. */
  Failures: 'Failures',
  /** ELB attempts beyond the first, mostly throttling: the account's shared ELB API budget at work. */
  ElbRetries: 'ElbRetries',
  /** Drain reports that could not be handed to the notifier. */
  NotificationFailures: 'NotificationFailures',
  /** Recommendations sent back to the queue to wait until enough other targets are healthy. */
  RecommendationsDeferred: 'RecommendationsDeferred',
  /**
   * Recommendations whose wait ran out while their instance was the last healthy target of a group: left in
   * service and acknowledged; an interruption warning still drains it.
   */
  RecommendationsKept: 'RecommendationsKept',
} as const;
export type DrainerMetric = (typeof DrainerMetric)[keyof typeof DrainerMetric];
