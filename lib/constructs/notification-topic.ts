import { CfnCondition, Fn, Token } from 'aws-cdk-lib';
import type { IRule, IRuleTarget, RuleTargetInput } from 'aws-cdk-lib/aws-events';
import { PolicyStatement, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { Key } from 'aws-cdk-lib/aws-kms';
import type { CfnSubscription} from 'aws-cdk-lib/aws-sns';
import { Subscription, SubscriptionProtocol, Topic } from 'aws-cdk-lib/aws-sns';
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

/**
 * An SNS topic for people, encrypted with a customer-managed key that EventBridge may use (with the
 * AWS-managed `alias/aws/sns` key EventBridge deliveries are silently dropped), that only the EventBridge
 * rules given to {@link notifyOn} may publish to.
 */
export class NotificationTopic extends Construct {
  public readonly topic: Topic;
  public readonly key: Key;
  public readonly subscription?: Subscription;

  constructor(scope: Construct, id: string, props: NotificationTopicProps = {}) {
    super(scope, id);
    this.key = new Key(this, 'Key', {
      description: `Encrypts the ${this.node.path} SNS topic`,
      enableKeyRotation: true,
    });
    // SNS documents that aws:SourceArn/aws:SourceAccount conditions are not supported for EventBridge here.
    this.key.addToResourcePolicy(
      new PolicyStatement({
        principals: [new ServicePrincipal('events.amazonaws.com')],
        actions: ['kms:GenerateDataKey*', 'kms:Decrypt'],
        resources: ['*'],
      }),
    );
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

  /** Sends `message` to the topic for each event `rule` matches, and lets only that rule publish. */
  public notifyOn(rule: IRule & { addTarget(target: IRuleTarget): void }, message: RuleTargetInput): void {
    const topicArn = this.topic.topicArn;
    rule.addTarget({ bind: () => ({ arn: topicArn, input: message }) });
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
