import { Aws } from 'aws-cdk-lib/core';
import type { IAutoScalingGroup } from 'aws-cdk-lib/aws-autoscaling';
import { EventField, Rule, RuleTargetInput } from 'aws-cdk-lib/aws-events';
import { Construct } from 'constructs';
import type { NotificationTopic } from './notification-topic';

/**
 * The EC2 Auto Scaling events that mean the group cannot keep its capacity: an instance it could not launch,
 * as for no Spot capacity in any pool, a bad launch template or AMI, or a quota; or one it could not terminate.
 */
export const AUTO_SCALING_TROUBLE_DETAIL_TYPES: readonly string[] = ['EC2 Instance Launch Unsuccessful', 'EC2 Instance Terminate Unsuccessful'];

export interface AutoScalingTroubleAlertsProps {
  /** The group whose events to watch; events about any other group never match. */
  readonly group: IAutoScalingGroup;
  /** Where to tell people. */
  readonly notifications: NotificationTopic;
}

/**
 * Tells people, in one readable message per event, when the Auto Scaling group fails to launch or terminate
 * an instance: the rule matches `aws.autoscaling` events whose `AutoScalingGroupName` is this group's.
 */
export class AutoScalingTroubleAlerts extends Construct {
  public readonly rule: Rule;

  constructor(scope: Construct, id: string, props: AutoScalingTroubleAlertsProps) {
    super(scope, id);
    this.rule = new Rule(this, 'Rule', {
      eventPattern: {
        source: ['aws.autoscaling'],
        detailType: [...AUTO_SCALING_TROUBLE_DETAIL_TYPES],
        detail: { AutoScalingGroupName: [props.group.autoScalingGroupName] },
      },
    });
    props.notifications.notifyOn(
      this.rule,
      RuleTargetInput.fromText(
        `Auto Scaling group ${props.group.autoScalingGroupName} of ${Aws.STACK_NAME}: ${EventField.detailType} at ${EventField.time}. ` +
          `${EventField.fromPath('$.detail.StatusMessage')} (${EventField.fromPath('$.detail.Cause')})`,
      ),
    );
  }
}
