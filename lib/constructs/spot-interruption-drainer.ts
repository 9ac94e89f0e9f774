import { Duration, Token, Validations } from 'aws-cdk-lib';
import { Alarm, ComparisonOperator, TreatMissingData } from 'aws-cdk-lib/aws-cloudwatch';
import { Rule } from 'aws-cdk-lib/aws-events';
import { LambdaFunction as LambdaTarget } from 'aws-cdk-lib/aws-events-targets';
import type { ITargetGroup } from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import { PolicyStatement } from 'aws-cdk-lib/aws-iam';
import type { Function as LambdaFunction } from 'aws-cdk-lib/aws-lambda';
import { SqsDestination } from 'aws-cdk-lib/aws-lambda-destinations';
import type { RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Queue, QueueEncryption } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { join } from 'node:path';
import { InlineNodeFunction } from './inline-node-function';

/** The EventBridge detail-type EC2 sends two minutes before it reclaims a Spot Instance. */
export const SPOT_INTERRUPTION_DETAIL_TYPE = 'EC2 Spot Instance Interruption Warning';

export interface SpotInterruptionDrainerProps {
  /** Target groups to drain an interrupted instance from. Instances in none of them are ignored. */
  readonly targetGroups: readonly ITargetGroup[];
  /**
   * Maximum run time of one drain. The SDK's retries must fit in it, and all of it in the Spot notice.
   * @default Duration.seconds(30)
   */
  readonly timeout?: Duration;
  /**
   * How long Lambda keeps retrying a failed event before it goes to the dead-letter queue. Past the
   * two-minute notice the instance is gone and a drain is moot, so longer only delays the alarm.
   * @default Duration.minutes(2)
   */
  readonly maxEventAge?: Duration;
  /**
   * Retries of a failed invocation, by Lambda's asynchronous invoke.
   * @default 2
   */
  readonly retryAttempts?: number;
  /**
   * Retention of the function's logs.
   * @default RetentionDays.ONE_MONTH
   */
  readonly logRetention?: RetentionDays;
  /**
   * CloudWatch namespace of the drainer's metrics.
   * @default 'Spotwise'
   */
  readonly metricsNamespace?: string;
}

/**
 * Drains a Spot Instance out of its target groups when EC2 sends the interruption warning: an EventBridge
 * rule, a TypeScript Lambda that deregisters exactly the registered id and port, and a dead-letter queue
 * with an alarm for events that still fail after retries.
 */
export class SpotInterruptionDrainer extends Construct {
  public readonly function: LambdaFunction;
  public readonly rule: Rule;
  public readonly deadLetterQueue: Queue;
  /** In alarm while any failed event waits in the dead-letter queue. Add actions to be told. */
  public readonly deadLetterAlarm: Alarm;

  constructor(scope: Construct, id: string, props: SpotInterruptionDrainerProps) {
    super(scope, id);
    if (props.targetGroups.length === 0) {
      throw new Error('targetGroups is empty; give the drainer at least one target group to drain instances from.');
    }
    const retryAttempts = props.retryAttempts ?? 2;
    if (!Token.isUnresolved(retryAttempts) && (!Number.isInteger(retryAttempts) || retryAttempts < 0 || retryAttempts > 2)) {
      throw new Error(`retryAttempts must be 0, 1 or 2 (Lambda's asynchronous invoke limit); got ${retryAttempts}.`);
    }
    const maxEventAge = props.maxEventAge ?? Duration.minutes(2);
    const ageSeconds = maxEventAge.toSeconds();
    if (!Token.isUnresolved(ageSeconds) && (ageSeconds < 60 || ageSeconds > 21600)) {
      throw new Error(`maxEventAge must be from 60 seconds to 6 hours (Lambda's limits); got ${ageSeconds} s.`);
    }
    const arns = props.targetGroups.map((tg) => tg.targetGroupArn);

    this.deadLetterQueue = new Queue(this, 'DeadLetterQueue', {
      encryption: QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });
    Validations.of(this.deadLetterQueue).acknowledge({
      id: 'AwsSolutions::AwsSolutions-SQS3',
      reason: 'This queue is itself the dead-letter queue of the rule target and the function (an on-failure destination).',
    });

    const fn = new InlineNodeFunction(this, 'Handler', {
      entry: join(__dirname, '..', 'functions', 'spot-drainer', 'handler'),
      description: 'Deregisters Spot Instances from their target groups on the interruption warning',
      serviceName: 'spot-interruption-drainer',
      metricsNamespace: props.metricsNamespace ?? 'Spotwise',
      timeout: props.timeout ?? Duration.seconds(30),
      logRetention: props.logRetention,
      environment: { TARGET_GROUP_ARNS: arns.join(',') },
    });
    this.function = fn.function;
    this.function.configureAsyncInvoke({
      retryAttempts,
      maxEventAge,
      onFailure: new SqsDestination(this.deadLetterQueue),
    });
    // DescribeTargetHealth has no resource-level permissions in IAM: a target group ARN here would deny it.
    this.function.addToRolePolicy(
      new PolicyStatement({ actions: ['elasticloadbalancing:DescribeTargetHealth'], resources: ['*'] }),
    );
    Validations.of(fn.role).acknowledge({
      id: 'AwsSolutions::AwsSolutions-IAM5[Resource::*]',
      reason:
        'Only elasticloadbalancing:DescribeTargetHealth, a read, is on *: IAM has no resource-level permission for it. ' +
        'DeregisterTargets is scoped to the target group ARNs.',
    });
    this.function.addToRolePolicy(
      new PolicyStatement({ actions: ['elasticloadbalancing:DeregisterTargets'], resources: arns }),
    );

    this.rule = new Rule(this, 'Rule', {
      description: 'Spot interruption warnings: drain the instance from its target groups',
      eventPattern: { source: ['aws.ec2'], detailType: [SPOT_INTERRUPTION_DETAIL_TYPE] },
    });
    // EventBridge's own retries cover failing to invoke the function (throttling, a missing permission);
    // the function's failures are Lambda's to retry, above.
    this.rule.addTarget(
      new LambdaTarget(this.function, {
        deadLetterQueue: this.deadLetterQueue,
        retryAttempts: 2,
        maxEventAge,
      }),
    );

    this.deadLetterAlarm = new Alarm(this, 'DeadLetterAlarm', {
      alarmDescription: 'Spot interruption events the drainer could not handle; read the messages in the dead-letter queue.',
      metric: this.deadLetterQueue.metricApproximateNumberOfMessagesVisible({ period: Duration.minutes(1) }),
      threshold: 1,
      evaluationPeriods: 1,
      comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: TreatMissingData.NOT_BREACHING,
    });
  }
}
