import { Duration, Stack, Token, Validations } from 'aws-cdk-lib/core';
import { PredefinedMetric, ScalableTarget, ServiceNamespace } from 'aws-cdk-lib/aws-applicationautoscaling';
import { Metric } from 'aws-cdk-lib/aws-cloudwatch';
import type { InstanceType, ISecurityGroup, IVpc, LaunchTemplate, SecurityGroup, SubnetSelection } from 'aws-cdk-lib/aws-ec2';
import { CfnSpotFleet, SubnetType } from 'aws-cdk-lib/aws-ec2';
import type { ApplicationLoadBalancer, ApplicationTargetGroup } from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import { ManagedPolicy, Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { Construct } from 'constructs';
import { requireCapacityRange, requireWholeNumber, SettingError } from '../validation';
import { INTERRUPTION_REACTION_BUDGET, validateDeregistrationDelay } from '../spot-timing';
import { ServiceLinkedRoles, SPOT_FLEET_SCALING_SERVICE_LINKED_ROLE, SPOT_SERVICE_LINKED_ROLES } from './service-linked-roles';
import { acknowledgeSessionManager, DEFAULT_SPOT_INSTANCE_TYPES, validateInstanceTypes, webServerLaunchTemplate } from './web-server-launch-template';

/** How the fleet spreads its Spot capacity over the instance pools (types × AZs). */
export enum SpotAllocationStrategy {
  /** Spread across all pools, as the original workshop does: one interruption takes out fewer instances. */
  DIVERSIFIED = 'diversified',
  /** Pools with the most spare capacity, least likely to be interrupted. */
  CAPACITY_OPTIMIZED = 'capacityOptimized',
  /** Spare capacity first, then price. */
  PRICE_CAPACITY_OPTIMIZED = 'priceCapacityOptimized',
  /** Cheapest pools; the most interruptions. */
  LOWEST_PRICE = 'lowestPrice',
}

export { AL2023_AMI_PARAMETER, DEFAULT_SPOT_INSTANCE_TYPES, SPOT_FLEET_TAG_KEY } from './web-server-launch-template';

export interface SpotFleetProps {
  readonly vpc: IVpc;
  /**
   * Target group the fleet registers its instances in. It must be attached to a load balancer: the fleet
   * scales on the load balancer's requests per target.
   */
  readonly targetGroup: ApplicationTargetGroup;
  /** Security group of the load balancer; only it may reach the instances on port 80. */
  readonly loadBalancerSecurityGroup: ISecurityGroup;
  /**
   * The load balancer in front of the target group, whose full name labels the request-count scaling metric.
   * @default - the name CDK derives from the target group's first listener
   */
  readonly loadBalancer?: ApplicationLoadBalancer;
  /**
   * The target group's deregistration delay: how long draining an instance takes.
   * @default Duration.seconds(90)
   */
  readonly deregistrationDelay?: Duration;
  /**
   * How long after EC2's signal an instance may still be draining: until the drainer's last retry has
   * started, plus the deregistration delay. Capacity rebalancing waits at least this long before it
   * terminates the instance it replaced.
   * @default - the deregistration delay plus 20 s for the drainer to react
   */
  readonly drainTime?: Duration;
  /**
   * Fewest instances the fleet keeps running, and its target capacity at creation. Scale-in stops here.
   * @default 2
   */
  readonly minCapacity?: number;
  /**
   * Most instances scale-out may reach; at most 1,000, ELB's default quota of targets per target group.
   * @default 10
   */
  readonly maxCapacity?: number;
  /**
   * Requests per instance per minute that target tracking on `ALBRequestCountPerTarget` aims for. The default
   * is well inside what one `large` instance running nginx serves for static pages; measure your own app and
   * set it to about half what one instance can take, so a Spot interruption does not overload the rest.
   * @default 1000
   */
  readonly requestsPerTarget?: number;
  /**
   * Whether the fleet replaces an instance as soon as EC2 recommends a rebalance for it (capacity
   * rebalancing, `launch-before-terminate`), rather than waiting for the two-minute interruption warning.
   * @default true
   */
  readonly capacityRebalance?: boolean;
  /**
   * With capacity rebalancing, how long the fleet waits after launching the replacement before it terminates
   * the instance EC2 recommended: 120 to 7,200 whole seconds, and at least `drainTime`, so that the
   * instance has drained before it goes.
   * @default - `drainTime` plus 30 s of margin, and at least 120 s
   */
  readonly terminationDelay?: Duration;
  /**
   * How capacity is spread over the instance pools.
   * @default SpotAllocationStrategy.DIVERSIFIED
   */
  readonly allocationStrategy?: SpotAllocationStrategy;
  /**
   * Instance types to request, each in every selected subnet. They must be x86_64, like the AMI.
   * @default DEFAULT_SPOT_INSTANCE_TYPES
   */
  readonly instanceTypes?: readonly InstanceType[];
  /**
   * AMI the instances launch from: x86_64 Linux with `dnf`, such as Amazon Linux 2023. Pass a fixed id, or
   * one that changes only when you decide (SpotFleetWebAppStack passes `FleetHandover.pinImage`'s): a new id
   * gives the launch template a new version, which replaces the whole fleet.
   * @default - the newest Amazon Linux 2023 AMI from AWS's public SSM parameter, which CloudFormation resolves
   * again on every deploy: after each Amazon Linux release, a deploy that changes nothing replaces the fleet
   */
  readonly imageId?: string;
  /**
   * Subnets to spread over.
   * @default - the VPC's public subnets
   */
  readonly vpcSubnets?: SubnetSelection;
  /**
   * Name tag given to the instances.
   * @default - '<stack name>-web'
   */
  readonly instanceName?: string;
}

/**
 * A `maintain` Spot Fleet of web servers behind an ALB target group: a launch template (AL2023, IMDSv2
 * only, SSM Session Manager instead of SSH), the fleet's IAM role, capacity rebalancing and scaling on
 * requests per target.
 */
export class SpotFleet extends Construct {
  public readonly fleet: CfnSpotFleet;
  /** A tag that this fleet's instances carry and no other's: `spotwise:fleet` = `<stack name>/<construct path in the stack>`. */
  public readonly instanceTag: { readonly key: string; readonly value: string };
  public readonly launchTemplate: LaunchTemplate;
  public readonly securityGroup: SecurityGroup;
  public readonly instanceRole: Role;
  public readonly fleetRole: Role;
  /** Makes sure the account's Spot and Spot Fleet scaling service-linked roles exist before the fleet. */
  public readonly serviceLinkedRoles: ServiceLinkedRoles;
  /**
   * The fleet's target capacity under Application Auto Scaling, tracking requests per target. Scale-in
   * lowers the target capacity, and Spot Fleet gives each instance it then terminates the two-minute
   * interruption warning, so the drainer takes it out of the target group like any interrupted instance.
   */
  public readonly scaling: ScalableTarget;
  /** The termination delay of capacity rebalancing, when it is on. */
  public readonly terminationDelay?: Duration;

  constructor(scope: Construct, id: string, props: SpotFleetProps) {
    super(scope, id);
    const minCapacity = props.minCapacity ?? 2;
    const maxCapacity = props.maxCapacity ?? 10;
    const requestsPerTarget = props.requestsPerTarget ?? 1000;
    const instanceTypes = props.instanceTypes ?? DEFAULT_SPOT_INSTANCE_TYPES;
    const deregistrationDelay = props.deregistrationDelay ?? Duration.seconds(90);
    validate(this, { minCapacity, maxCapacity, requestsPerTarget, instanceTypes, deregistrationDelay });
    const capacityRebalance = props.capacityRebalance ?? true;
    if (capacityRebalance) {
      const drainTime = props.drainTime ?? deregistrationDelay.plus(INTERRUPTION_REACTION_BUDGET);
      const drainSeconds = drainTime.toSeconds({ integral: false });
      requireWholeNumber(this, 'drainTime', drainSeconds, 0, MAX_TERMINATION_DELAY_S, 'It must fit under the longest termination delay.');
      if (props.terminationDelay === undefined && Token.isUnresolved(drainSeconds)) {
        throw new SettingError(this, 'the drain time is only known at deploy time, so no default terminationDelay can cover it; give terminationDelay.');
      }
      this.terminationDelay = props.terminationDelay ?? defaultTerminationDelay(drainTime);
      validateTerminationDelay(this, this.terminationDelay, drainTime);
    } else if (props.terminationDelay !== undefined || props.drainTime !== undefined) {
      throw new SettingError(this, 'terminationDelay and drainTime apply only to capacity rebalancing; set capacityRebalance to true or leave them out.');
    }

    const servers = webServerLaunchTemplate(this, {
      vpc: props.vpc,
      loadBalancerSecurityGroup: props.loadBalancerSecurityGroup,
      launchedBy: 'Spot Fleet',
      imageId: props.imageId,
      instanceName: props.instanceName,
    });
    this.securityGroup = servers.securityGroup;
    this.instanceRole = servers.instanceRole;
    acknowledgeSessionManager(this.instanceRole);
    this.launchTemplate = servers.launchTemplate;
    this.instanceTag = servers.instanceTag;

    this.fleetRole = new Role(this, 'FleetRole', {
      assumedBy: new ServicePrincipal('spotfleet.amazonaws.com'),
      description: 'Lets Spot Fleet launch, tag and register the web servers',
      managedPolicies: [ManagedPolicy.fromAwsManagedPolicyName('service-role/AmazonEC2SpotFleetTaggingRole')],
    });
    Validations.of(this.fleetRole).acknowledge({
      id: 'AwsSolutions::AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonEC2SpotFleetTaggingRole]',
      reason: 'The Spot Fleet IAM role AWS documents; AWS keeps it in step with what Spot Fleet calls on the role.',
    });

    this.serviceLinkedRoles = new ServiceLinkedRoles(this, 'ServiceLinkedRoles', {
      roles: [...SPOT_SERVICE_LINKED_ROLES, SPOT_FLEET_SCALING_SERVICE_LINKED_ROLE],
    });

    const subnets = props.vpc.selectSubnets(props.vpcSubnets ?? { subnetType: SubnetType.PUBLIC }).subnetIds;
    this.fleet = new CfnSpotFleet(this, 'Fleet', {
      spotFleetRequestConfigData: {
        type: 'maintain',
        // Application Auto Scaling owns the running count from here on. CloudFormation sends only properties
        // whose template value changed, so a deploy resets it only when minCapacity itself changes.
        targetCapacity: minCapacity,
        // Scale-in terminates the excess, and each terminated instance gets the interruption warning.
        excessCapacityTerminationPolicy: 'default',
        allocationStrategy: props.allocationStrategy ?? SpotAllocationStrategy.DIVERSIFIED,
        iamFleetRole: this.fleetRole.roleArn,
        replaceUnhealthyInstances: true,
        instanceInterruptionBehavior: 'terminate',
        spotMaintenanceStrategies: this.terminationDelay && {
          capacityRebalance: { replacementStrategy: 'launch-before-terminate', terminationDelay: this.terminationDelay.toSeconds() },
        },
        launchTemplateConfigs: [
          {
            launchTemplateSpecification: {
              launchTemplateId: this.launchTemplate.launchTemplateId,
              // Never `$Latest`: a fleet pinned to a number is replaced, visibly, when the template changes.
              version: this.launchTemplate.latestVersionNumber,
            },
            overrides: instanceTypes.flatMap((type) =>
              subnets.map((subnetId) => ({ instanceType: type.toString(), subnetId })),
            ),
          },
        ],
        loadBalancersConfig: {
          targetGroupsConfig: { targetGroups: [{ arn: props.targetGroup.targetGroupArn }] },
        },
      },
    });
    this.fleet.node.addDependency(this.serviceLinkedRoles.resource);
    // The fleet role must exist with its policy before the request, or the fleet cannot launch or register;
    // and, as CDK does for Auto Scaling groups, instances register only once the group serves a listener.
    this.fleet.node.addDependency(this.fleetRole, props.targetGroup.loadBalancerAttached);

    const stack = Stack.of(this);
    this.scaling = new ScalableTarget(this, 'Scaling', {
      serviceNamespace: ServiceNamespace.EC2,
      resourceId: `spot-fleet-request/${this.fleet.ref}`,
      scalableDimension: 'ec2:spot-fleet-request:TargetCapacity',
      minCapacity,
      maxCapacity,
      // The service-linked role, as CDK does for ECS services, rather than a role of our own.
      role: Role.fromRoleArn(
        this,
        'ScalingRole',
        `arn:${stack.partition}:iam::${stack.account}:role/aws-service-role/${SPOT_FLEET_SCALING_SERVICE_LINKED_ROLE.serviceName}/${SPOT_FLEET_SCALING_SERVICE_LINKED_ROLE.roleName}`,
      ),
    });
    this.scaling.node.addDependency(this.serviceLinkedRoles.resource);
    this.scaling.scaleToTrackMetric('RequestsPerTarget', {
      predefinedMetric: PredefinedMetric.ALB_REQUEST_COUNT_PER_TARGET,
      resourceLabel: `${props.loadBalancer?.loadBalancerFullName ?? loadBalancerOf(this, props.targetGroup)}/${props.targetGroup.targetGroupFullName}`,
      targetValue: requestsPerTarget,
      // Out fast, in slowly: an interruption can take capacity at any moment, and every scale-in is a drain.
      scaleOutCooldown: Duration.minutes(1),
      scaleInCooldown: Duration.minutes(5),
    });
  }

  /** One of the fleet's `AWS/EC2Spot` metrics, at its five-minute resolution. */
  public metric(metricName: SpotFleetMetricName, statistic = 'Average'): Metric {
    return new Metric({
      namespace: 'AWS/EC2Spot',
      metricName,
      dimensionsMap: { FleetRequestId: this.fleet.ref },
      period: Duration.minutes(5),
      statistic,
    });
  }
}

/** The full name of the load balancer `targetGroup` serves, as the request-count metric's label needs it. */
function loadBalancerOf(scope: Construct, targetGroup: ApplicationTargetGroup): string {
  try {
    return targetGroup.firstLoadBalancerFullName;
  } catch {
    throw new SettingError(scope, 'targetGroup serves no load balancer yet: add it to a listener before creating the fleet, or pass loadBalancer.');
  }
}

/** Spot Fleet's own metrics, which EC2 publishes every five minutes. */
export type SpotFleetMetricName = 'TargetCapacity' | 'FulfilledCapacity' | 'PendingCapacity' | 'EvictionCount';

function defaultTerminationDelay(drainTime: Duration): Duration {
  return Duration.seconds(Math.max(MIN_TERMINATION_DELAY_S, drainTime.toSeconds() + 30));
}

/** Spot Fleet's limits on `TerminationDelay`. */
const MIN_TERMINATION_DELAY_S = 120;
const MAX_TERMINATION_DELAY_S = 7200;

function validateTerminationDelay(scope: Construct, delay: Duration, drainTime: Duration): void {
  const seconds = delay.toSeconds({ integral: false });
  requireWholeNumber(scope, 'terminationDelay', seconds, MIN_TERMINATION_DELAY_S, MAX_TERMINATION_DELAY_S, "Spot Fleet's limits, in seconds.");
  const drain = drainTime.toSeconds({ integral: false });
  if (!Token.isUnresolved(seconds) && !Token.isUnresolved(drain) && seconds < drain) {
    throw new SettingError(
      scope,
      `terminationDelay (${seconds} s) is shorter than the drain (${drain} s: the drainer's last retry, then the deregistration delay). ` +
        `The fleet would terminate the instance while it may still serve requests; give at least ${drain} s.`,
    );
  }
}

interface Sizing {
  readonly minCapacity: number;
  readonly maxCapacity: number;
  readonly requestsPerTarget: number;
  readonly instanceTypes: readonly InstanceType[];
  readonly deregistrationDelay: Duration;
}

function validate(scope: Construct, { minCapacity, maxCapacity, requestsPerTarget, instanceTypes, deregistrationDelay }: Sizing): void {
  requireCapacityRange(scope, minCapacity, maxCapacity, 'Delete the stack to stop all instances.');
  requireWholeNumber(scope, 'requestsPerTarget', requestsPerTarget, 1, undefined, 'A target of 0 requests would scale out without end.');
  validateDeregistrationDelay(scope, deregistrationDelay);
  validateInstanceTypes(scope, instanceTypes, 'fleet');
}
