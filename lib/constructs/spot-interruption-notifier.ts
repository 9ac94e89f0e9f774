import { Aws, Duration, Validations } from 'aws-cdk-lib/core';
import { Rule, Schedule } from 'aws-cdk-lib/aws-events';
import { LambdaFunction as LambdaTarget } from 'aws-cdk-lib/aws-events-targets';
import { PolicyStatement } from 'aws-cdk-lib/aws-iam';
import type { RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { ITopic } from 'aws-cdk-lib/aws-sns';
import type { IQueue } from 'aws-cdk-lib/aws-sqs';
import { Queue, QueueEncryption } from 'aws-cdk-lib/aws-sqs';
import type { ILayerVersion } from 'aws-cdk-lib/aws-lambda';
import { Construct } from 'constructs';
import { join } from 'node:path';
import { NotifierEnv } from '../functions/spot-interruption-notifier/contract';
import { InlineNodeFunction } from './inline-node-function';
import { describeDuration, requireWholeNumber, SettingError } from '../validation';

/** A run reads, publishes and deletes in seconds; the margin covers SDK retries. */
const NOTIFIER_TIMEOUT = Duration.seconds(30);

export interface SpotInterruptionNotifierProps {
  /** The topic people subscribe to. */
  readonly topic: ITopic;
  /** Where reports that could not be told after `maxReceiveCount` runs go. */
  readonly deadLetterQueue: IQueue;
  /**
   * How often gathered reports are told: the longest a person waits, and the window that a reclaim's
   * reports are merged over.
   * @default Duration.minutes(1)
   */
  readonly interval?: Duration;
  /**
   * Runs a report may take part in before it is dead-lettered, when publishing keeps failing.
   * @default 5
   */
  readonly maxReceiveCount?: number;
  /**
   * Retention of the function's logs.
   * @default RetentionDays.ONE_MONTH
   */
  readonly logRetention?: RetentionDays;
  /**
   * CloudWatch namespace of the function's metrics.
   * @default 'Spotwise'
   */
  readonly metricsNamespace?: string;
  /**
   * The Powertools for AWS Lambda (TypeScript) layer of release POWERTOOLS_VERSION, for the function.
   * @default - the layer Powertools publishes in the Region the stack deploys to, read at deploy time
   */
  readonly powertoolsLayer?: ILayerVersion;
}

/**
 * Tells people about drained instances a few at a time: the drainer queues one report per batch, and a
 * scheduled function gathers what arrived since its last run into one message on the topic. A reclaim of
 * hundreds of instances then reaches people as a handful of messages.
 */
export class SpotInterruptionNotifier extends Construct {
  /** The queue the drainer sends reports to. */
  public readonly queue: Queue;
  public readonly function: InlineNodeFunction;
  public readonly schedule: Rule;

  constructor(scope: Construct, id: string, props: SpotInterruptionNotifierProps) {
    super(scope, id);
    const interval = props.interval ?? Duration.minutes(1);
    const minutes = interval.toMinutes({ integral: false });
    if (!Number.isInteger(minutes) || minutes < 1 || minutes > 60) {
      throw new SettingError(this, `interval must be whole minutes from 1 to 60; got ${describeDuration(interval)}.`);
    }
    const maxReceiveCount = props.maxReceiveCount ?? 5;
    requireWholeNumber(this, 'maxReceiveCount', maxReceiveCount, 1, 1000, "SQS's limits.");

    this.queue = new Queue(this, 'Queue', {
      encryption: QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      // Hidden from other runs while one publishes: longer than a run may take, shorter than the one-minute
      // interval, so that the next run retries what a failed run could not tell.
      visibilityTimeout: NOTIFIER_TIMEOUT.plus(Duration.seconds(15)),
      retentionPeriod: Duration.days(4),
      deadLetterQueue: { queue: props.deadLetterQueue, maxReceiveCount },
    });

    this.function = new InlineNodeFunction(this, 'Handler', {
      entry: join(__dirname, '..', 'functions', 'spot-interruption-notifier', 'handler'),
      description: 'Tells people what the drainer did',
      serviceName: 'spot-interruption-notifier',
      metricsNamespace: props.metricsNamespace ?? 'Spotwise',
      timeout: NOTIFIER_TIMEOUT,
      logRetention: props.logRetention,
      powertoolsLayer: props.powertoolsLayer,
      environment: {
        [NotifierEnv.queueUrl]: this.queue.queueUrl,
        [NotifierEnv.topicArn]: props.topic.topicArn,
        [NotifierEnv.stackName]: Aws.STACK_NAME,
      },
    });
    // Exactly the calls it makes: ReceiveMessage, and DeleteMessageBatch, which IAM authorises as DeleteMessage.
    this.function.addToRolePolicy(
      new PolicyStatement({ actions: ['sqs:ReceiveMessage', 'sqs:DeleteMessage'], resources: [this.queue.queueArn] }),
    );
    props.topic.grantPublish(this.function);
    Validations.of(this.function.executionRole).acknowledge({
      id: 'AwsSolutions::AwsSolutions-IAM5[Action::kms:GenerateDataKey*]',
      reason: "Publishing to the encrypted topic needs a data key from the topic's one key; the grant names that key only.",
    });

    this.schedule = new Rule(this, 'Schedule', {
      schedule: Schedule.rate(interval),
    });
    // A missed or failed run is made up by the next one: the reports wait on the queue. Neither EventBridge nor
    // Lambda's asynchronous invoke retries it, so runs never overlap and a report's receive count means runs.
    this.schedule.addTarget(new LambdaTarget(this.function, { retryAttempts: 0 }));
    this.function.configureAsyncInvoke({ retryAttempts: 0 });
  }
}
