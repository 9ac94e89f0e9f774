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
} as const;

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
} as const;
export type DrainerMetric = (typeof DrainerMetric)[keyof typeof DrainerMetric];
