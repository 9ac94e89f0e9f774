import { CustomResource, Duration, Fn, Token, Validations } from 'aws-cdk-lib/core';
import type { CfnSpotFleet } from 'aws-cdk-lib/aws-ec2';
import type { IApplicationTargetGroup } from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import { PolicyStatement } from 'aws-cdk-lib/aws-iam';
import { Construct } from 'constructs';
import { join } from 'node:path';
import {
  DRAIN_MARGIN_SECONDS,
  FLEET_HANDOVER_RESOURCE_TYPE,
  HANDOVER_TAG_KEY,
  HandoverProperty,
  PINNED_IMAGE_ATTRIBUTE,
  PINNED_IMAGE_RESOURCE_TYPE,
  PINNED_IMAGE_SERVICE_TIMEOUT_SECONDS,
  PinnedImageProperty,
  POLL_INTERVAL_SECONDS,
  RESERVED_SECONDS,
} from '../functions/fleet-handover/contract';
import { SettingError } from '../validation';
import { InlineNodeFunction } from './inline-node-function';

/** Lambda's ceiling on a function's run time. */
const MAX_FUNCTION_SECONDS = 900;
/** ELB's ceiling on a target group's deregistration delay. */
const MAX_DEREGISTRATION_DELAY_SECONDS = 3600;
/** How much longer CloudFormation waits for an answer than the function may run. */
const SERVICE_TIMEOUT_MARGIN = Duration.seconds(60);

export interface FleetHandoverProps {
  /** The target group the fleet registers its instances in. */
  readonly targetGroup: IApplicationTargetGroup;
  /** The target group's deregistration delay: how long the previous fleet's instances take to drain. */
  readonly deregistrationDelay: Duration;
  /**
   * How long a fleet may take to have its target capacity healthy in the target group, on create and on
   * replacement, before the deployment fails and rolls back.
   * @default Duration.minutes(10)
   */
  readonly healthyTimeout?: Duration;
}

/**
 * Hands a Spot Fleet's target group over to its replacement. A change to a fleet's launch template
 * configuration replaces it: CloudFormation creates the new fleet and, in its cleanup phase, deletes the old
 * one, whose instances are terminated without warning or draining while the new ones may still be booting.
 * This custom resource refers to the fleet, so the replacement updates it: its function waits until the new
 * fleet has its target capacity healthy in the target group, then deregisters the old fleet's instances and
 * waits until they have drained. Only then does CloudFormation delete the old fleet. On create it waits until
 * the fleet serves. A step that does not finish in time fails the deployment, which rolls back; see
 * docs/fleet-handover.md.
 */
export class FleetHandover extends Construct {
  public readonly function: InlineNodeFunction;
  /** The handover, once {@link handOver} has named the fleet. */
  public resource?: CustomResource;
  private readonly props: FleetHandoverProps;
  private readonly budget: Budget;

  constructor(scope: Construct, id: string, props: FleetHandoverProps) {
    super(scope, id);
    const healthyTimeout = props.healthyTimeout ?? Duration.minutes(10);
    this.props = props;
    this.budget = validate(this, props, healthyTimeout);
    const { functionSeconds } = this.budget;

    this.function = new InlineNodeFunction(this, 'Handler', {
      entry: join(__dirname, '..', 'functions', 'fleet-handover', 'handler'),
      description: 'Hands the target group over to a new Spot Fleet; pins its AMI',
      serviceName: 'fleet-handover',
      metricsNamespace: 'Spotwise',
      timeout: Duration.seconds(functionSeconds),
      usePowertools: false,
    });
    // These reads have no resource-level permissions in IAM: anything but * denies them.
    this.function.addToRolePolicy(
      new PolicyStatement({
        actions: ['ec2:DescribeSpotFleetInstances', 'ec2:DescribeSpotFleetRequests', 'ec2:DescribeTags', 'elasticloadbalancing:DescribeTargetHealth'],
        resources: ['*'],
      }),
    );
    // Fn::Sub: shorter in the template than the Fn::Join of formatArn.
    const ec2Arn = (resource: string) => Fn.sub(`arn:\${AWS::Partition}:ec2:\${AWS::Region}:\${AWS::AccountId}:${resource}/*`);
    // Raises the new fleet to the old one's capacity; any fleet of the account and Region, since a fleet's id
    // is known only once CloudFormation has created it.
    this.function.addToRolePolicy(
      new PolicyStatement({
        actions: ['ec2:ModifySpotFleetRequest'],
        resources: [ec2Arn('spot-fleet-request')],
      }),
    );
    // The fence against registering again what someone else drained: the handover's own tag, and no other.
    this.function.addToRolePolicy(
      new PolicyStatement({
        actions: ['ec2:CreateTags'],
        resources: [ec2Arn('instance')],
        conditions: { 'ForAllValues:StringEquals': { 'aws:TagKeys': [HANDOVER_TAG_KEY] } },
      }),
    );
    this.function.addToRolePolicy(
      new PolicyStatement({
        actions: ['elasticloadbalancing:DeregisterTargets', 'elasticloadbalancing:RegisterTargets'],
        resources: [props.targetGroup.targetGroupArn],
      }),
    );
    const acknowledge = (resource: string, reason: string) =>
      Validations.of(this.function.executionRole).acknowledge({ id: `AwsSolutions::AwsSolutions-IAM5[Resource::${resource}]`, reason });
    acknowledge(
      '*',
      'Only reads are on *: ec2:DescribeSpotFleetInstances, ec2:DescribeSpotFleetRequests, ec2:DescribeTags and elasticloadbalancing:DescribeTargetHealth ' +
        'have no resource-level permissions. RegisterTargets and DeregisterTargets are scoped to the target group ARN.',
    );
    acknowledge(
      'arn:<AWS::Partition>:ec2:<AWS::Region>:<AWS::AccountId>:spot-fleet-request/*',
      'ModifySpotFleetRequest raises the replacement fleet, whose id exists only once CloudFormation has created it; the account and Region are fixed.',
    );
    acknowledge(
      'arn:<AWS::Partition>:ec2:<AWS::Region>:<AWS::AccountId>:instance/*',
      'CreateTags on the fleet instances, which Spot Fleet launches at will; the aws:TagKeys condition allows the handover tag alone.',
    );

  }

  /**
   * Watches `fleet`: a replacement of it hands the target group over before CloudFormation deletes the old
   * fleet. Call once, after creating the fleet.
   */
  public handOver(fleet: CfnSpotFleet): CustomResource {
    if (this.resource !== undefined) throw new SettingError(this, 'handOver was called twice; one FleetHandover watches one fleet.');
    if (hasWeightedCapacity(fleet)) {
      throw new SettingError(this, 'the fleet gives instances a weightedCapacity; the handover counts one instance as one unit of target capacity, so leave weightedCapacity unset.');
    }
    const { healthySeconds, drainSeconds, functionSeconds } = this.budget;
    this.resource = new CustomResource(this, 'Resource', {
      serviceToken: this.function.functionArn,
      resourceType: FLEET_HANDOVER_RESOURCE_TYPE,
      // The function's waits, its last calls and the retries of its answer all end before its own timeout;
      // this bounds the wait should it die without answering, with room for Lambda to start it late.
      serviceTimeout: Duration.seconds(functionSeconds).plus(SERVICE_TIMEOUT_MARGIN),
      properties: {
        // The Ref makes a replacement of the fleet an update of this resource, and orders it after the fleet.
        [HandoverProperty.fleetRequestId]: fleet.ref,
        [HandoverProperty.targetGroupArn]: this.props.targetGroup.targetGroupArn,
        [HandoverProperty.healthyTimeoutSeconds]: healthySeconds,
        [HandoverProperty.drainTimeoutSeconds]: drainSeconds,
      },
    });
    return this.resource;
  }

  /**
   * An AMI id for the fleet's launch template that changes only when `requestedImageId` does: `latestImageId`
   * (which CloudFormation may resolve anew on every deploy) is taken once, when the stack is created or when
   * `requestedImageId` is emptied. A non-empty `requestedImageId` is used as given.
   */
  public pinImage(id: string, images: { readonly latestImageId: string; readonly requestedImageId: string }): string {
    const pinned = new CustomResource(this, id, {
      serviceToken: this.function.functionArn,
      resourceType: PINNED_IMAGE_RESOURCE_TYPE,
      serviceTimeout: Duration.seconds(PINNED_IMAGE_SERVICE_TIMEOUT_SECONDS),
      properties: {
        [PinnedImageProperty.latestImageId]: images.latestImageId,
        [PinnedImageProperty.requestedImageId]: images.requestedImageId,
      },
    });
    return pinned.getAttString(PINNED_IMAGE_ATTRIBUTE);
  }
}

interface Budget {
  readonly healthySeconds: number;
  readonly drainSeconds: number;
  readonly functionSeconds: number;
}

function validate(scope: Construct, props: FleetHandoverProps, healthyTimeout: Duration): Budget {
  const fail = (message: string): never => {
    throw new SettingError(scope, message);
  };
  const healthySeconds = healthyTimeout.toSeconds({ integral: false });
  const delaySeconds = props.deregistrationDelay.toSeconds({ integral: false });
  if (Token.isUnresolved(healthySeconds) || Token.isUnresolved(delaySeconds)) {
    fail('healthyTimeout and deregistrationDelay must be known at synth: the function timeout is derived from them.');
  }
  if (!Number.isInteger(healthySeconds) || healthySeconds < POLL_INTERVAL_SECONDS) {
    fail(`healthyTimeout must be whole seconds, at least ${POLL_INTERVAL_SECONDS} (one poll); got ${healthySeconds} s.`);
  }
  if (!Number.isInteger(delaySeconds) || delaySeconds < 0 || delaySeconds > MAX_DEREGISTRATION_DELAY_SECONDS) {
    fail(`deregistrationDelay must be whole seconds from 0 to ${MAX_DEREGISTRATION_DELAY_SECONDS}, as ELB allows; got ${delaySeconds} s.`);
  }
  const drainSeconds = delaySeconds + DRAIN_MARGIN_SECONDS;
  const functionSeconds = healthySeconds + drainSeconds + RESERVED_SECONDS;
  if (functionSeconds > MAX_FUNCTION_SECONDS) {
    const room = MAX_FUNCTION_SECONDS - drainSeconds - RESERVED_SECONDS;
    fail(
      `healthyTimeout (${healthySeconds} s) + deregistrationDelay (${delaySeconds} s) + ${DRAIN_MARGIN_SECONDS + RESERVED_SECONDS} s of margin ` +
        `is ${functionSeconds} s, more than the ${MAX_FUNCTION_SECONDS} s a Lambda function may run. ` +
        (room >= POLL_INTERVAL_SECONDS
          ? `Shorten healthyTimeout to at most ${room} s, or the deregistration delay.`
          : 'Shorten the deregistration delay.'),
    );
  }
  return { healthySeconds, drainSeconds, functionSeconds };
}

/** Whether any launch specification or launch template override of the fleet sets a weight other than 1. */
function hasWeightedCapacity(fleet: CfnSpotFleet): boolean {
  const config = fleet.spotFleetRequestConfigData as CfnSpotFleet.SpotFleetRequestConfigDataProperty;
  const list = <T>(value: unknown): T[] => (Array.isArray(value) ? (value as T[]) : []);
  const weighted = list<{ weightedCapacity?: unknown }>(config.launchSpecifications).concat(
    list<CfnSpotFleet.LaunchTemplateConfigProperty>(config.launchTemplateConfigs).flatMap((c) => list<{ weightedCapacity?: unknown }>(c.overrides)),
  );
  return weighted.some((w) => w.weightedCapacity !== undefined && w.weightedCapacity !== 1);
}
