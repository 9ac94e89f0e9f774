import { Aws, Duration, Token, Validations } from 'aws-cdk-lib/core';
import { Alarm, ComparisonOperator, Metric, TreatMissingData } from 'aws-cdk-lib/aws-cloudwatch';
import { Rule } from 'aws-cdk-lib/aws-events';
import { SqsQueue } from 'aws-cdk-lib/aws-events-targets';
import type { ITargetGroup } from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import { PolicyStatement } from 'aws-cdk-lib/aws-iam';
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import type { RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { ITopic } from 'aws-cdk-lib/aws-sns';
import { Queue, QueueEncryption } from 'aws-cdk-lib/aws-sqs';
import type { ILayerVersion } from 'aws-cdk-lib/aws-lambda';
import { Construct } from 'constructs';
import { join } from 'node:path';
import type { DrainerMetric } from '../functions/spot-interruption-drainer/contract';
import {
  DRAINER_MAX_CONCURRENCY,
  DRAINER_SERVICE_NAME,
  DrainerEnv,
  REBALANCE_RECOMMENDATION,
  SPOT_INTERRUPTION_WARNING,
} from '../functions/spot-interruption-drainer/contract';
import { NotificationTopic } from './notification-topic';
import { SpotInterruptionNotifier } from './spot-interruption-notifier';
import { InlineNodeFunction } from './inline-node-function';
import { SettingError } from '../validation';
import type { PropsOf, SettingsSchema } from '../settings';
import { checkSettings, setting } from '../settings';
import { INTERRUPTION_REACTION_BUDGET, MAX_SPOT_DEREGISTRATION_DELAY, SPOT_INTERRUPTION_NOTICE } from '../spot-timing';

export {
  REBALANCE_RECOMMENDATION as REBALANCE_RECOMMENDATION_DETAIL_TYPE,
  SPOT_INTERRUPTION_WARNING as SPOT_INTERRUPTION_DETAIL_TYPE,
} from '../functions/spot-interruption-drainer/contract';

/**
 * Between SQS handing a batch to Lambda and the function starting, plus clock skew: added to the
 * visibility timeout so that a batch still running is never delivered a second time.
 */
const VISIBILITY_MARGIN = Duration.seconds(5);

/**
 * The drainer's settings: its props that the `spotwise` context can set too, each checked whichever way it comes.
 * Ranges that depend on one another (the timeout, batching window and retries against the notice) are checked
 * by the construct.
 */
export const SPOT_INTERRUPTION_DRAINER_SETTINGS = {
  /**
   * Maximum run time of one batch, the ELB SDK's throttling retries included. It sets the queue's
   * visibility timeout, and so how soon a failed message is tried again: timeout + batching window + 5 s.
   * @default Duration.seconds(30)
   */
  timeout: setting.duration({ unit: 'seconds' }),
  /**
   * Most messages in one batch. A larger batch drains a correlated reclaim with fewer ELB calls.
   * @default 1000
   */
  batchSize: setting.whole({ min: 1, max: 10_000, advice: "Lambda's limit for a standard queue." }),
  /**
   * How long Lambda gathers messages before it invokes the function with a smaller batch. Every second
   * of it is taken from the two-minute notice.
   * @default Duration.seconds(1)
   */
  maxBatchingWindow: setting.duration({ unit: 'seconds', min: 0 }),
  /**
   * Deliveries of a message before it moves to the dead-letter queue. Every retry must start inside the
   * notice, less the reaction budget: after that the instance is gone, and a retry is worthless.
   * @default 3
   */
  maxReceiveCount: setting.whole({ min: 1, max: 1000, advice: "SQS's limits." }),
  /**
   * How often drained instances are told on `notificationTopic`.
   * @default Duration.minutes(1)
   */
  notificationInterval: setting.duration({ unit: 'minutes', min: 1, max: 60 }),
  /**
   * How long after a rebalance recommendation its drain may wait for a replacement to be healthy. Until then
   * the instance drains only once its target groups have, without it, as many healthy instances as they had
   * with it; after it, if any other instance is healthy. It never drains while it is the last. The fleet's
   * termination delay must cover this wait as well as the drain.
   * @default Duration.minutes(5)
   */
  rebalanceHold: setting.duration({ unit: 'seconds', min: 0, max: 3600 }),
} satisfies SettingsSchema;

export interface SpotInterruptionDrainerProps extends PropsOf<typeof SPOT_INTERRUPTION_DRAINER_SETTINGS> {
  /** Target groups to drain an interrupted instance from. Instances in none of them are ignored. */
  readonly targetGroups: readonly ITargetGroup[];
  /**
   * Whether an EC2 instance rebalance recommendation also drains the instance, as the interruption warning
   * does. Under Spot Fleet capacity rebalancing (`launch-before-terminate`) the fleet terminates the
   * recommended instance itself, TerminationDelay after launching its replacement, and AWS does not say
   * whether an interruption warning precedes that. When false, the rule does not match recommendations and
   * the function acknowledges any that reach it without draining.
   * @default true
   */
  readonly drainOnRebalanceRecommendation?: boolean;
  /**
   * Topic to tell people on, in a few aggregated messages, which of our instances were drained.
   * @default - nobody is told; the function's logs and metrics still say
   */
  readonly notificationTopic?: ITopic;
  /**
   * Retention of the functions' logs.
   * @default RetentionDays.ONE_MONTH
   */
  readonly logRetention?: RetentionDays;
  /**
   * CloudWatch namespace of the functions' metrics.
   * @default 'Spotwise'
   */
  readonly metricsNamespace?: string;
  /**
   * The Powertools for AWS Lambda (TypeScript) layer of release POWERTOOLS_VERSION, for the drainer and notifier functions.
   * @default - the layer Powertools publishes in the Region the stack deploys to, read at deploy time
   */
  readonly powertoolsLayer?: ILayerVersion;
}

/**
 * Drains Spot Instances out of their target groups when EC2 sends the interruption warning or, unless turned
 * off, a rebalance recommendation. An EventBridge rule puts every such event on an encrypted queue; Lambda
 * reads it in batches, at most two at once, so that one invocation drains a whole correlated reclaim with one
 * DescribeTargetHealth and a DeregisterTargets per 200 targets per target group, paced, and the account's other
 * Spot activity costs one describe per batch rather than per event. A recommendation waits on the queue until
 * a replacement serves, up to `rebalanceHold`, and never takes the last healthy instance out. Messages that fail
 * are retried inside the notice and then dead-lettered, with an alarm.
 */
export class SpotInterruptionDrainer extends Construct {
  public readonly function: InlineNodeFunction;
  public readonly rule: Rule;
  /** The warnings and recommendations, waiting for the function. */
  public readonly queue: Queue;
  /** Events that could not be drained, or delivered, after their retries; and reports that could not be told. */
  public readonly deadLetterQueue: Queue;
  /** In alarm while any message waits in the dead-letter queue. Add actions to be told. */
  public readonly deadLetterAlarm: Alarm;
  /**
   * How long after a message reaches the queue its last delivery may start: the batching window plus a
   * visibility timeout per retry. An instance may still be draining this long, plus the deregistration
   * delay, after its signal.
   */
  public readonly lastRetryStart: Duration;
  /**
   * How long after a rebalance recommendation the drainer may still start (or retry) its instance's
   * deregistration: the hold, then `lastRetryStart` for the last look. Equal to `lastRetryStart` when draining
   * on recommendations is off.
   */
  public readonly lastRebalanceDrainStart: Duration;
  /** Present when `notificationTopic` is given. */
  public readonly notifier?: SpotInterruptionNotifier;
  /** CloudWatch namespace of the drainer's metrics. */
  public readonly metricsNamespace: string;

  constructor(scope: Construct, id: string, props: SpotInterruptionDrainerProps) {
    super(scope, id);
    checkSettings(this, SPOT_INTERRUPTION_DRAINER_SETTINGS, props);
    const settings = validate(this, props);
    this.lastRetryStart = settings.lastRetryStart;
    const onRebalance = props.drainOnRebalanceRecommendation ?? true;
    const rebalanceHold = onRebalance ? settings.rebalanceHold : Duration.seconds(0);
    this.lastRebalanceDrainStart = rebalanceHold.plus(settings.lastRetryStart);
    this.metricsNamespace = props.metricsNamespace ?? 'Spotwise';

    this.deadLetterQueue = new Queue(this, 'DeadLetterQueue', {
      encryption: QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });
    Validations.of(this.deadLetterQueue).acknowledge({
      id: 'AwsSolutions::AwsSolutions-SQS3',
      reason: 'This queue is itself the dead-letter queue of the warning queue, the notification queue and the rule target.',
    });
    this.queue = new Queue(this, 'Queue', {
      encryption: QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      visibilityTimeout: settings.visibilityTimeout,
      // Long enough for every message to reach the dead-letter queue even if Lambda cannot read for a while:
      // an expired message is deleted, not dead-lettered.
      retentionPeriod: Duration.days(1),
      deadLetterQueue: { queue: this.deadLetterQueue, maxReceiveCount: settings.maxReceiveCount },
    });

    if (props.notificationTopic !== undefined) {
      this.notifier = new SpotInterruptionNotifier(this, 'Notifier', {
        topic: props.notificationTopic,
        deadLetterQueue: this.deadLetterQueue,
        interval: props.notificationInterval,
        logRetention: props.logRetention,
      powertoolsLayer: props.powertoolsLayer,
        metricsNamespace: props.metricsNamespace,
      });
    }

    const arns = props.targetGroups.map((tg) => tg.targetGroupArn);
    this.function = new InlineNodeFunction(this, 'Handler', {
      entry: join(__dirname, '..', 'functions', DRAINER_SERVICE_NAME, 'handler'),
      description: 'Drains Spot Instances on EC2 signals',
      serviceName: DRAINER_SERVICE_NAME,
      metricsNamespace: this.metricsNamespace,
      timeout: settings.timeout,
      // Lambda's CPU grows with memory. At 256 MB the first batch's SDK load alone can take a second or two of
      // the notice; 512 MB halves that, for pennies at the rate interruptions arrive.
      memorySizeMiB: 512,
      logRetention: props.logRetention,
      powertoolsLayer: props.powertoolsLayer,
      environment: {
        [DrainerEnv.targetGroupArns]: arns.join(','),
        [DrainerEnv.drainOnRebalance]: String(onRebalance),
        ...(this.notifier && { [DrainerEnv.notificationQueueUrl]: this.notifier.queue.queueUrl }),
        ...(onRebalance && {
          [DrainerEnv.rebalanceQueueUrl]: this.queue.queueUrl,
          [DrainerEnv.rebalanceHoldSeconds]: String(rebalanceHold.toSeconds()),
        }),
      },
    });
    // DescribeTargetHealth has no resource-level permissions in IAM: a target group ARN here would deny it.
    this.function.addToRolePolicy(
      new PolicyStatement({ actions: ['elasticloadbalancing:DescribeTargetHealth'], resources: ['*'] }),
    );
    Validations.of(this.function.executionRole).acknowledge({
      id: 'AwsSolutions::AwsSolutions-IAM5[Resource::*]',
      reason:
        'Only elasticloadbalancing:DescribeTargetHealth, a read, is on *: IAM has no resource-level permission for it. ' +
        'DeregisterTargets is scoped to the target group ARNs.',
    });
    this.function.addToRolePolicy(
      new PolicyStatement({ actions: ['elasticloadbalancing:DeregisterTargets'], resources: arns }),
    );
    // Drain reports to the notifier; recommendations that must wait, back to the drainer's own queue.
    const sendsTo = [...(this.notifier ? [this.notifier.queue.queueArn] : []), ...(onRebalance ? [this.queue.queueArn] : [])];
    if (sendsTo.length > 0) this.function.addToRolePolicy(new PolicyStatement({ actions: ['sqs:SendMessage'], resources: sendsTo }));
    this.function.addEventSource(
      new SqsEventSource(this.queue, {
        batchSize: settings.batchSize,
        maxBatchingWindow: settings.maxBatchingWindow,
        reportBatchItemFailures: true,
        // With the handler's pace, this bounds the drainer's ELB calls whatever Lambda's pollers do: at most
        // this many batches at once, each spending at most one DeregisterTargets a second.
        maxConcurrency: DRAINER_MAX_CONCURRENCY,
      }),
    );

    this.rule = new Rule(this, 'Rule', {
      eventPattern: { source: ['aws.ec2'], detailType: onRebalance ? [SPOT_INTERRUPTION_WARNING, REBALANCE_RECOMMENDATION] : [SPOT_INTERRUPTION_WARNING] },
    });
    // The SqsQueue target lets only this rule send to the queue (a policy statement on aws:SourceArn).
    // EventBridge's own retries cover failing to deliver, within the notice.
    this.rule.addTarget(
      new SqsQueue(this.queue, {
        deadLetterQueue: this.deadLetterQueue,
        retryAttempts: 2,
        maxEventAge: Duration.minutes(2),
      }),
    );

    this.deadLetterAlarm = new Alarm(this, 'DeadLetterAlarm', {
      // Named for NotificationTopic.notifyOnAlarm, whose policies admit only alarms named after the stack.
      alarmName: NotificationTopic.alarmName(`${this.node.id}-DeadLetters`),
      alarmDescription: 'Spot events or drain reports were dead-lettered: read the DLQ and the drainer log.',
      metric: this.deadLetterQueue.metricApproximateNumberOfMessagesVisible({ period: Duration.minutes(1) }),
      threshold: 1,
      evaluationPeriods: 1,
      comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: TreatMissingData.NOT_BREACHING,
    });
  }

  /**
   * One of the drainer's metrics, per minute, with the dimensions it publishes them under: its service and
   * the stack. The drainer writes every metric for every batch, zeros included.
   */
  public metric(metricName: DrainerMetric, statistic = 'Sum'): Metric {
    return new Metric({
      namespace: this.metricsNamespace,
      metricName,
      dimensionsMap: { service: DRAINER_SERVICE_NAME, Stack: Aws.STACK_NAME },
      period: Duration.minutes(1),
      statistic,
    });
  }
}

interface Settings {
  readonly timeout: Duration;
  readonly batchSize: number;
  readonly maxBatchingWindow: Duration;
  readonly maxReceiveCount: number;
  readonly visibilityTimeout: Duration;
  readonly lastRetryStart: Duration;
  readonly rebalanceHold: Duration;
}

/**
 * The numbers must fit the notice: a warning waits up to the batching window, the first delivery may run
 * for the timeout, and each retry comes one visibility timeout after the previous delivery. The last
 * delivery must start while draining still helps: inside the notice, less the reaction budget.
 */
function validate(scope: Construct, props: SpotInterruptionDrainerProps): Settings {
  const fail = (message: string): never => {
    throw new SettingError(scope, message);
  };
  if (props.targetGroups.length === 0) fail('targetGroups is empty; give the drainer at least one target group to drain instances from.');
  const timeout = props.timeout ?? Duration.seconds(30);
  const batchSize = props.batchSize ?? 1000;
  const maxBatchingWindow = props.maxBatchingWindow ?? Duration.seconds(1);
  const maxReceiveCount = props.maxReceiveCount ?? 3;
  const rebalanceHold = props.rebalanceHold ?? Duration.minutes(5);
  const budget = MAX_SPOT_DEREGISTRATION_DELAY.toSeconds();

  const timeoutS = timeout.toSeconds({ integral: false });
  const windowS = maxBatchingWindow.toSeconds({ integral: false });
  if (![timeoutS, windowS, batchSize, maxReceiveCount].some((v) => Token.isUnresolved(v))) {
    if (!Number.isInteger(timeoutS) || timeoutS < 5) fail(`timeout must be whole seconds, at least 5 (the ELB calls and their retries); got ${timeoutS} s.`);
    if (!Number.isInteger(windowS) || windowS < 0 || windowS > 20) {
      fail(`maxBatchingWindow must be whole seconds from 0 to 20; got ${windowS} s. Each second is taken from the two-minute notice.`);
    }
    if (batchSize > 10 && windowS < 1) fail(`a batchSize above 10 needs a maxBatchingWindow of at least 1 s (Lambda's rule); got ${windowS} s.`);
    if (windowS + timeoutS > budget) {
      fail(
        `maxBatchingWindow (${windowS} s) plus timeout (${timeoutS} s) must be at most ${budget} s: the ${SPOT_INTERRUPTION_NOTICE.toSeconds()} s ` +
          `notice less ${INTERRUPTION_REACTION_BUDGET.toSeconds()} s for EventBridge and Lambda to react. Shorten the timeout.`,
      );
    }
    const visibilityS = timeoutS + windowS + VISIBILITY_MARGIN.toSeconds();
    const lastStart = windowS + (maxReceiveCount - 1) * visibilityS;
    if (lastStart > budget) {
      fail(
        `maxReceiveCount ${maxReceiveCount} with a ${visibilityS} s visibility timeout (timeout + batching window + ` +
          `${VISIBILITY_MARGIN.toSeconds()} s) starts the last retry ${lastStart} s after the warning, past the ${budget} s in which ` +
          'draining still helps. Lower maxReceiveCount or the timeout.',
      );
    }
  }
  const visibilityTimeout = timeout.plus(maxBatchingWindow).plus(VISIBILITY_MARGIN);
  const lastRetryStart = Duration.seconds(windowS + (maxReceiveCount - 1) * visibilityTimeout.toSeconds());
  return { timeout, batchSize, maxBatchingWindow, maxReceiveCount, visibilityTimeout, lastRetryStart, rebalanceHold };
}
