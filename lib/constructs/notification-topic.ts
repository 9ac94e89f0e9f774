import type { Duration } from 'aws-cdk-lib/core';
import { Aws, CfnCondition, CfnParameter, Fn, Names, Token } from 'aws-cdk-lib/core';
import type { Alarm } from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import type { Rule, RuleTargetInput } from 'aws-cdk-lib/aws-events';
import { AccountRootPrincipal, PolicyDocument, PolicyStatement, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { Key } from 'aws-cdk-lib/aws-kms';
import type { CfnSubscription} from 'aws-cdk-lib/aws-sns';
import { Subscription, SubscriptionProtocol, Topic } from 'aws-cdk-lib/aws-sns';
import type { IQueue } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';

export interface NotificationTopicProps {
  /**
   * Address to subscribe. May be a CloudFormation parameter: an empty value then creates no subscription.
   * @default - no subscription
   */
  readonly email?: string;
  /**
   * Topic display name, shown as the sender of emails.
   * @default - none
   */
  readonly displayName?: string;
}

export interface NotifyOnOptions {
  /**
   * Queue for events EventBridge could not deliver to the topic after its retries.
   * @default - undelivered events are dropped
   */
  readonly deadLetterQueue?: IQueue;
  /**
   * How many times EventBridge retries a failed delivery.
   * @default 185 (EventBridge's default)
   */
  readonly retryAttempts?: number;
  /**
   * How long EventBridge keeps retrying.
   * @default 24 hours (EventBridge's default)
   */
  readonly maxEventAge?: Duration;
}

/**
 * An SNS topic for people, encrypted with a customer-managed key. Principals of this account publish
 * through IAM grants (`topic.grantPublish`); EventBridge only for the rules given to {@link notifyOn},
 * which also lets EventBridge use the key (with the AWS-managed `alias/aws/sns` key EventBridge
 * deliveries are silently dropped).
 */
export class NotificationTopic extends Construct {
  public readonly topic: Topic;
  public readonly key: Key;
  public readonly subscription?: Subscription;
  private eventBridgeMayEncrypt = false;
  private alarmsMayPublish = false;

  constructor(scope: Construct, id: string, props: NotificationTopicProps = {}) {
    super(scope, id);
    this.key = new Key(this, 'Key', {
      enableKeyRotation: true,
      policy: accountKeyPolicy(),
    });
    this.topic = new Topic(this, 'Topic', {
      displayName: props.displayName,
      masterKey: this.key,
      enforceSSL: true,
    });

    if (props.email !== undefined && (Token.isUnresolved(props.email) || props.email !== '')) {
      this.subscription = new Subscription(this, 'Email', {
        topic: this.topic,
        protocol: SubscriptionProtocol.EMAIL,
        endpoint: props.email,
      });
      if (Token.isUnresolved(props.email)) {
        // SNS rejects an email subscription with an empty endpoint, so an empty parameter must skip it.
        const hasEmail = new CfnCondition(this, 'HasEmail', {
          expression: Fn.conditionNot(Fn.conditionEquals(props.email, '')),
        });
        (this.subscription.node.defaultChild as CfnSubscription).cfnOptions.condition = hasEmail;
      }
    }
  }

  /**
   * `<stack name>-<purpose>`: the name to give an alarm for {@link notifyOnAlarm}. The topic and key admit
   * CloudWatch only for alarms of this account named so, which keeps out a second copy of the stack's
   * alarms and anyone else's; and the name says in each message which stack it is about.
   */
  public static alarmName(purpose: string): string {
    return `${Aws.STACK_NAME}-${purpose}`;
  }

  /**
   * Tells people when `alarm` goes off and when it comes back: one message each way, which CloudWatch words
   * for email. The alarm must be named with {@link NotificationTopic.alarmName}.
   */
  public notifyOnAlarm(alarm: Alarm): void {
    const action = new SnsAction(this.topic);
    alarm.addAlarmAction(action);
    alarm.addOkAction(action);
    if (this.alarmsMayPublish) return;
    this.alarmsMayPublish = true;
    // Both the topic and the key check the alarm's account and ARN: CloudWatch passes both keys to SNS and,
    // through SNS, to KMS (unlike EventBridge, see notifyOn).
    const fromOurAlarms = {
      StringEquals: { 'aws:SourceAccount': Aws.ACCOUNT_ID },
      ArnLike: { 'aws:SourceArn': `arn:${Aws.PARTITION}:cloudwatch:${Aws.REGION}:${Aws.ACCOUNT_ID}:alarm:${Aws.STACK_NAME}-*` },
    };
    const cloudWatch = new ServicePrincipal('cloudwatch.amazonaws.com');
    this.key.addToResourcePolicy(
      new PolicyStatement({
        principals: [cloudWatch],
        actions: ['kms:GenerateDataKey*', 'kms:Decrypt'],
        resources: ['*'],
        conditions: fromOurAlarms,
      }),
    );
    this.topic.addToResourcePolicy(
      new PolicyStatement({ principals: [cloudWatch], actions: ['sns:Publish'], resources: [this.topic.topicArn], conditions: fromOurAlarms }),
    );
  }

  /** Sends `message` to the topic for each event `rule` matches, and lets only that rule publish. */
  public notifyOn(
    rule: Rule,
    message: RuleTargetInput,
    options: NotifyOnOptions = {},
  ): void {
    const topicArn = this.topic.topicArn;
    if (!this.eventBridgeMayEncrypt) {
      // SNS documents that aws:SourceArn/aws:SourceAccount conditions are not supported for EventBridge here.
      this.key.addToResourcePolicy(
        new PolicyStatement({
          principals: [new ServicePrincipal('events.amazonaws.com')],
          actions: ['kms:GenerateDataKey*', 'kms:Decrypt'],
          resources: ['*'],
        }),
      );
      this.eventBridgeMayEncrypt = true;
    }
    const { deadLetterQueue, retryAttempts, maxEventAge } = options;
    // Not the SnsTopic target: it would also grant every EventBridge rule in the account publish rights.
    rule.addTarget({
      bind: () => ({
        arn: topicArn,
        input: message,
        deadLetterConfig: deadLetterQueue && { arn: deadLetterQueue.queueArn },
        retryPolicy:
          retryAttempts !== undefined || maxEventAge !== undefined
            ? { maximumRetryAttempts: retryAttempts, maximumEventAgeInSeconds: maxEventAge?.toSeconds() }
            : undefined,
      }),
    });
    if (deadLetterQueue !== undefined) {
      // The statement CDK's own targets add, same id: when the queue already serves another target of this
      // rule the two merge into one.
      deadLetterQueue.addToResourcePolicy(
        new PolicyStatement({
          sid: `AllowEventRule${Names.nodeUniqueId(rule.node)}`,
          principals: [new ServicePrincipal('events.amazonaws.com')],
          actions: ['sqs:SendMessage'],
          resources: [deadLetterQueue.queueArn],
          conditions: { ArnEquals: { 'aws:SourceArn': rule.ruleArn } },
        }),
      );
    }
    this.topic.addToResourcePolicy(
      new PolicyStatement({
        principals: [new ServicePrincipal('events.amazonaws.com')],
        actions: ['sns:Publish'],
        resources: [topicArn],
        conditions: { ArnEquals: { 'aws:SourceArn': rule.ruleArn } },
      }),
    );
  }
}

/**
 * CDK's default key policy, which lets the account's IAM policies decide every action on the key (`kms:*` for the
 * account), except that a grant may be created only by an AWS service acting for a principal of the account
 * (`kms:GrantIsForAWSResource`), as AWS's own default key policy allows it. Without that, anyone the account
 * lets call `kms:CreateGrant` could hand the key's use to any principal, outside IAM. Administration (describe,
 * enable, disable, rotate, tag, schedule deletion, change the policy) stays with the account's IAM policies.
 */
function accountKeyPolicy(): PolicyDocument {
  const account = new AccountRootPrincipal();
  return new PolicyDocument({
    statements: [
      new PolicyStatement({ sid: 'AccountIamPoliciesExceptCreateGrant', principals: [account], notActions: ['kms:CreateGrant'], resources: ['*'] }),
      new PolicyStatement({
        sid: 'CreateGrantForAwsServicesOnly',
        principals: [account],
        actions: ['kms:CreateGrant'],
        resources: ['*'],
        conditions: { Bool: { 'kms:GrantIsForAWSResource': 'true' } },
      }),
    ],
  });
}

/** The `NotificationEmail` parameter: empty for no subscription, or one address, told about `what`. */
export function notificationEmailParameter(scope: Construct, what: string): CfnParameter {
  return new CfnParameter(scope, 'NotificationEmail', {
    type: 'String',
    default: '',
    description: `Optional: an email address to tell about ${what}. Leave empty for none.`,
    allowedPattern: '^$|^[^\\s@]+@[^\\s@]+\\.[^\\s@]+$',
    constraintDescription: 'must be empty or an email address',
  });
}
