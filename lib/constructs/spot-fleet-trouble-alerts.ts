import { Aws } from 'aws-cdk-lib/core';
import type { CfnSpotFleet } from 'aws-cdk-lib/aws-ec2';
import { EventField, Rule, RuleTargetInput } from 'aws-cdk-lib/aws-events';
import { Construct } from 'constructs';
import type { NotificationTopic } from './notification-topic';

/**
 * Spot Fleet's events that mean it cannot keep its capacity or serve: every error sub-type, and the
 * information sub-types that say launches or registrations are failing. The rest of the information
 * events (`launchSpecTemporarilyBlacklisted` clears itself, say) would only be noise.
 */
export const SPOT_FLEET_TROUBLE_SUB_TYPES: readonly string[] = [
  // "EC2 Spot Fleet Error"
  'iamFleetRoleInvalid',
  'allLaunchSpecsTemporarilyBlacklisted',
  'spotInstanceCountLimitExceeded',
  'spotFleetRequestConfigurationInvalid',
  // "EC2 Spot Fleet Information"
  'fleetProgressHalted',
  'launchSpecUnusable',
  'registerWithLoadBalancersFailed',
];

export interface SpotFleetTroubleAlertsProps {
  /** The fleet whose events to watch; events about any other fleet never match. */
  readonly fleet: CfnSpotFleet;
  /** Where to tell people. */
  readonly notifications: NotificationTopic;
}

/**
 * Tells people, in one readable message per event, when the fleet reports trouble: it cannot launch, has
 * hit a limit, has an invalid role or configuration, or cannot register instances with the load balancer.
 */
export class SpotFleetTroubleAlerts extends Construct {
  public readonly rule: Rule;

  constructor(scope: Construct, id: string, props: SpotFleetTroubleAlertsProps) {
    super(scope, id);
    this.rule = new Rule(this, 'Rule', {
      eventPattern: {
        source: ['aws.ec2spotfleet'],
        detailType: ['EC2 Spot Fleet Error', 'EC2 Spot Fleet Information'],
        resources: [`arn:${Aws.PARTITION}:ec2:${Aws.REGION}:${Aws.ACCOUNT_ID}:spot-fleet-request/${props.fleet.ref}`],
        detail: { 'sub-type': [...SPOT_FLEET_TROUBLE_SUB_TYPES] },
      },
    });
    props.notifications.notifyOn(
      this.rule,
      RuleTargetInput.fromText(
        `Spot Fleet ${props.fleet.ref} of ${Aws.STACK_NAME}: ${EventField.fromPath('$.detail.sub-type')} at ${EventField.time}. ` +
          `${EventField.fromPath('$.detail.description')}`,
      ),
    );
  }
}
