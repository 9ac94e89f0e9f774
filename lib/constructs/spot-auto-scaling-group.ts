import { Aws, Duration, Token, Validations } from 'aws-cdk-lib/core';
import type { CfnAutoScalingGroup } from 'aws-cdk-lib/aws-autoscaling';
import {
  AdditionalHealthCheckType,
  AutoScalingGroup,
  GroupMetric,
  GroupMetrics,
  HealthChecks,
  PredefinedMetric,
  ScalingProcess,
  Signals,
  SpotAllocationStrategy as AutoScalingSpotAllocationStrategy,
  TargetTrackingScalingPolicy,
  UpdatePolicy,
} from 'aws-cdk-lib/aws-autoscaling';
import { Metric } from 'aws-cdk-lib/aws-cloudwatch';
import type { InstanceType, ISecurityGroup, IVpc, LaunchTemplate, SecurityGroup, SubnetSelection } from 'aws-cdk-lib/aws-ec2';
import { SubnetType, UserData } from 'aws-cdk-lib/aws-ec2';
import type { ApplicationLoadBalancer, ApplicationTargetGroup } from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import type { Role } from 'aws-cdk-lib/aws-iam';
import { PolicyStatement } from 'aws-cdk-lib/aws-iam';
import { Construct } from 'constructs';
import { MAX_TARGETS_PER_TARGET_GROUP, requireCapacityRange, requireWholeNumber, SettingError } from '../validation';
import { acknowledgeSessionManager, DEFAULT_SPOT_INSTANCE_TYPES, validateInstanceTypes, WEB_SERVER_COMMANDS, webServerLaunchTemplate } from './web-server-launch-template';

/** Processes a rolling update suspends, as AWS's CloudFormation guide recommends, Launch and Terminate excepted. */
const SUSPENDED_DURING_UPDATE = [
  ScalingProcess.HEALTH_CHECK,
  ScalingProcess.REPLACE_UNHEALTHY,
  ScalingProcess.AZ_REBALANCE,
  ScalingProcess.ALARM_NOTIFICATION,
  ScalingProcess.SCHEDULED_ACTIONS,
  ScalingProcess.INSTANCE_REFRESH,
];

/** Between two looks at the target group from a booting instance. */
const HEALTH_POLL_SECONDS = 10;

export interface SpotAutoScalingGroupProps {
  readonly vpc: IVpc;
  /**
   * Target group the group registers its instances in, and whose health decides theirs. It must be attached
   * to a load balancer: the group scales on the load balancer's requests per target.
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
   * Fewest instances the group keeps in service, its size at creation, and what a rolling update keeps in
   * service while it replaces instances. Scale-in stops here.
   * @default 2
   */
  readonly minCapacity?: number;
  /**
   * Most instances scale-out may reach; at most 1,000, ELB's default quota of targets per target group. Above
   * `minCapacity`, since a rolling update needs room for one more instance than it keeps in service.
   * @default 10
   */
  readonly maxCapacity?: number;
  /**
   * On-Demand instances the group runs before any Spot: 0 for all Spot. Everything above it is Spot.
   * @default 0
   */
  readonly onDemandBaseCapacity?: number;
  /**
   * Requests per instance per minute that target tracking on `ALBRequestCountPerTarget` aims for.
   * @default 1000
   */
  readonly requestsPerTarget?: number;
  /**
   * Whether the group replaces a Spot instance as soon as EC2 recommends a rebalance or sends the interruption
   * warning, launching the replacement first (Capacity Rebalancing).
   * @default true
   */
  readonly capacityRebalance?: boolean;
  /**
   * Instance types the group may launch, each in every selected subnet, Spot capacity chosen
   * price-capacity-optimized. They must be x86_64, like the AMI.
   * @default DEFAULT_SPOT_INSTANCE_TYPES
   */
  readonly instanceTypes?: readonly InstanceType[];
  /**
   * AMI the instances launch from: x86_64 Linux with `dnf`, such as Amazon Linux 2023. A new id gives the
   * launch template a new version, which the rolling update rolls out (SpotAutoScalingWebAppStack passes
   * `PinnedImage`'s).
   * @default - the newest Amazon Linux 2023 AMI from AWS's public SSM parameter, which CloudFormation resolves
   * again on every deploy: after each Amazon Linux release, a deploy that changes nothing rolls every instance
   */
  readonly imageId?: string;
  /**
   * How long a new instance may take, from launch, to be healthy in the target group and signal so: at
   * creation, and for each batch of a rolling update (its PauseTime). An instance that does not signal in
   * time fails the deploy, which rolls back.
   * @default Duration.minutes(10)
   */
  readonly signalTimeout?: Duration;
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
 * An EC2 Auto Scaling group of Spot web servers behind an ALB target group: the shared launch template
 * (AL2023, IMDSv2 only, SSM Session Manager instead of SSH), a mixed instances policy (all Spot above an
 * optional On-Demand base, price-capacity-optimized over several types and two AZs), ELB health checks,
 * Capacity Rebalancing, target tracking on requests per target, and CloudFormation rolling updates that count
 * an instance only once the load balancer routes to it.
 *
 * Each instance's user data starts nginx, then polls DescribeTargetHealth for its own id until the target
 * group calls it healthy, and only then sends cfn-signal success; any failure, or no health within
 * `signalTimeout`, signals failure. Creation waits for `minCapacity` signals. A new launch template version
 * or instance types roll one instance at a time, keeping `minCapacity` in service and waiting for each
 * new one's signal; a missing or failed signal fails the update, and CloudFormation rolls back the same way.
 */
export class SpotAutoScalingGroup extends Construct {
  public readonly group: AutoScalingGroup;
  /** A tag that this group's instances carry and no other's: `spotwise:fleet` = `<stack name>/<construct path in the stack>`. */
  public readonly instanceTag: { readonly key: string; readonly value: string };
  public readonly launchTemplate: LaunchTemplate;
  public readonly securityGroup: SecurityGroup;
  public readonly instanceRole: Role;
  /**
   * Target tracking on `ALBRequestCountPerTarget`. Scale-in terminates instances through the group, which
   * deregisters each from the target group and waits out the deregistration delay first.
   */
  public readonly scaling: TargetTrackingScalingPolicy;
  public readonly signalTimeout: Duration;

  constructor(scope: Construct, id: string, props: SpotAutoScalingGroupProps) {
    super(scope, id);
    const minCapacity = props.minCapacity ?? 2;
    const maxCapacity = props.maxCapacity ?? 10;
    const onDemandBaseCapacity = props.onDemandBaseCapacity ?? 0;
    const requestsPerTarget = props.requestsPerTarget ?? 1000;
    const instanceTypes = props.instanceTypes ?? DEFAULT_SPOT_INSTANCE_TYPES;
    this.signalTimeout = props.signalTimeout ?? Duration.minutes(10);
    validate(this, { minCapacity, maxCapacity, onDemandBaseCapacity, requestsPerTarget, instanceTypes, signalTimeout: this.signalTimeout });

    const userData = UserData.forLinux();
    const servers = webServerLaunchTemplate(this, {
      vpc: props.vpc,
      loadBalancerSecurityGroup: props.loadBalancerSecurityGroup,
      launchedBy: 'Auto Scaling group',
      imageId: props.imageId,
      instanceName: props.instanceName,
      userData,
    });
    this.securityGroup = servers.securityGroup;
    this.instanceRole = servers.instanceRole;
    this.launchTemplate = servers.launchTemplate;
    this.instanceTag = servers.instanceTag;
    // DescribeTargetHealth has no resource-level permissions in IAM: a target group ARN here would deny it.
    this.instanceRole.addToPrincipalPolicy(new PolicyStatement({ actions: ['elasticloadbalancing:DescribeTargetHealth'], resources: ['*'] }));
    acknowledgeSessionManager(
      this.instanceRole,
      ' Besides, elasticloadbalancing:DescribeTargetHealth, a read that IAM cannot scope, so that a booting instance signals CloudFormation only once the target group calls it healthy.',
    );

    this.group = new AutoScalingGroup(this, 'Group', {
      vpc: props.vpc,
      vpcSubnets: props.vpcSubnets ?? { subnetType: SubnetType.PUBLIC },
      minCapacity,
      maxCapacity,
      // No DesiredCapacity: it starts at MinSize, and from then on target tracking owns it; a deploy never resets it.
      mixedInstancesPolicy: {
        launchTemplate: this.launchTemplate,
        launchTemplateOverrides: instanceTypes.map((instanceType) => ({ instanceType })),
        instancesDistribution: {
          onDemandBaseCapacity,
          onDemandPercentageAboveBaseCapacity: 0,
          spotAllocationStrategy: AutoScalingSpotAllocationStrategy.PRICE_CAPACITY_OPTIMIZED,
        },
      },
      capacityRebalance: props.capacityRebalance ?? true,
      // The target group's health check decides, after the boot that the signal waits for anyway.
      healthChecks: HealthChecks.withAdditionalChecks({ additionalTypes: [AdditionalHealthCheckType.ELB], gracePeriod: this.signalTimeout }),
      defaultInstanceWarmup: Duration.minutes(2),
      groupMetrics: [new GroupMetrics(GroupMetric.DESIRED_CAPACITY, GroupMetric.IN_SERVICE_INSTANCES, GroupMetric.PENDING_INSTANCES)],
      signals: Signals.waitForMinCapacity({ timeout: this.signalTimeout, minSuccessPercentage: 100 }),
      updatePolicy: UpdatePolicy.rollingUpdate({
        maxBatchSize: 1,
        minInstancesInService: minCapacity,
        waitOnResourceSignals: true,
        pauseTime: this.signalTimeout,
        suspendProcesses: SUSPENDED_DURING_UPDATE,
      }),
    });
    this.group.attachToApplicationTargetGroup(props.targetGroup);
    // As for the fleet: instances register, and so can become healthy and signal, only once the target group
    // serves a listener.
    this.group.node.addDependency(props.targetGroup.loadBalancerAttached);
    Validations.of(this.group).acknowledge({
      id: 'AwsSolutions::AwsSolutions-AS3',
      reason:
        "Per-instance launch and terminate notices would be an email for every scale-out and rebalance. Failed launches reach the stack's topic " +
        'through the AutoScalingTroubleAlerts rule, drained interruptions through the notifier, and a group short of capacity through its alarm.',
    });

    Validations.of(this.group).acknowledge({
      id: 'AwsSolutions::AwsSolutions-EC26',
      reason:
        "The rule cannot read the volumes of a launch template that the group names through its mixed instances policy, and errors; the launch " +
        "template's only volume, the root, is an encrypted gp3 EBS volume, which this construct's test checks.",
    });
    const cfnGroup = this.group.node.defaultChild as CfnAutoScalingGroup;
    const [strict, ...webServer] = WEB_SERVER_COMMANDS;
    userData.addCommands(
      strict as string,
      // cfn-signal, for the exit trap; first, so that any later failure is signalled as one.
      'dnf install -y aws-cfn-bootstrap',
      ...webServer,
      ...waitUntilHealthy(props.targetGroup.targetGroupArn, this.signalTimeout),
    );
    userData.addOnExitCommands(
      // Success only if the script got this far; otherwise the exit code, which fails the signal.
      `/opt/aws/bin/cfn-signal --stack ${Aws.STACK_NAME} --resource ${cfnGroup.logicalId} --region ${Aws.REGION} -e $exitCode || echo 'Failed to send the CloudFormation signal'`,
    );

    this.scaling = new TargetTrackingScalingPolicy(this, 'RequestsPerTarget', {
      autoScalingGroup: this.group,
      predefinedMetric: PredefinedMetric.ALB_REQUEST_COUNT_PER_TARGET,
      resourceLabel: `${props.loadBalancer?.loadBalancerFullName ?? loadBalancerOf(this, props.targetGroup)}/${props.targetGroup.targetGroupFullName}`,
      targetValue: requestsPerTarget,
    });
  }

  /** One of the group's `AWS/AutoScaling` metrics, which the group publishes every minute. */
  public metric(metricName: AutoScalingGroupMetricName, statistic = 'Average'): Metric {
    return new Metric({
      namespace: 'AWS/AutoScaling',
      metricName,
      dimensionsMap: { AutoScalingGroupName: this.group.autoScalingGroupName },
      period: Duration.minutes(1),
      statistic,
    });
  }
}

/** The group metrics the group turns on. */
export type AutoScalingGroupMetricName = 'GroupDesiredCapacity' | 'GroupInServiceInstances' | 'GroupPendingInstances';

/**
 * Shell commands that wait until the target group reports this instance healthy, for at most `timeout`, and
 * exit 1 otherwise. A fresh IMDSv2 token: the web server's may have expired during the package install.
 */
function waitUntilHealthy(targetGroupArn: string, timeout: Duration): string[] {
  const tries = Math.max(1, Math.floor(timeout.toSeconds() / HEALTH_POLL_SECONDS));
  return [
    'TOKEN=$(curl -sf -X PUT http://169.254.169.254/latest/api/token -H "X-aws-ec2-metadata-token-ttl-seconds: 300")',
    'IID=$(md instance-id)',
    'REGION=$(md placement/region)',
    `TG=${targetGroupArn}`,
    `for try in $(seq ${tries}); do`,
    `  STATE=$(aws elbv2 describe-target-health --region "$REGION" --target-group-arn "$TG" --targets "Id=$IID" --query 'TargetHealthDescriptions[0].TargetHealth.State' --output text || true)`,
    '  [ "$STATE" = healthy ] && break',
    `  [ "$try" = ${tries} ] && { echo "not healthy in $TG after ${tries} looks: $STATE" >&2; exit 1; }`,
    `  sleep ${HEALTH_POLL_SECONDS}`,
    'done',
  ];
}

/** The full name of the load balancer `targetGroup` serves, as the request-count metric's label needs it. */
function loadBalancerOf(scope: Construct, targetGroup: ApplicationTargetGroup): string {
  try {
    return targetGroup.firstLoadBalancerFullName;
  } catch {
    throw new SettingError(scope, 'targetGroup serves no load balancer yet: add it to a listener before creating the group, or pass loadBalancer.');
  }
}

interface Sizing {
  readonly minCapacity: number;
  readonly maxCapacity: number;
  readonly onDemandBaseCapacity: number;
  readonly requestsPerTarget: number;
  readonly instanceTypes: readonly InstanceType[];
  readonly signalTimeout: Duration;
}

function validate(scope: Construct, sizing: Sizing): void {
  const { minCapacity, maxCapacity, onDemandBaseCapacity, requestsPerTarget, instanceTypes, signalTimeout } = sizing;
  validateGroupSize(scope, minCapacity, maxCapacity, onDemandBaseCapacity);
  requireWholeNumber(scope, 'requestsPerTarget', requestsPerTarget, 1, undefined, 'A target of 0 requests would scale out without end.');
  const signalSeconds = signalTimeout.toSeconds({ integral: false });
  requireWholeNumber(scope, 'signalTimeout', signalSeconds, 60, 3600, 'Whole seconds from a minute to an hour, the longest PauseTime CloudFormation takes.');
  validateInstanceTypes(scope, instanceTypes, 'group');
}

/**
 * Throws unless the group's bounds fit a rolling update and the On-Demand base: 1 to 1,000, the minimum below
 * the maximum (CloudFormation needs MinInstancesInService below MaxSize), the base from 0 to the maximum. For
 * a stack whose construct gets the bounds as parameters, call it with their defaults. Tokens pass.
 */
export function validateGroupSize(scope: Construct, minCapacity: number, maxCapacity: number, onDemandBaseCapacity: number): void {
  requireCapacityRange(scope, minCapacity, maxCapacity, 'Delete the stack to stop all instances.');
  if (!Token.isUnresolved(minCapacity) && !Token.isUnresolved(maxCapacity) && minCapacity === maxCapacity) {
    throw new SettingError(
      scope,
      `minCapacity and maxCapacity are both ${minCapacity}. A rolling update keeps minCapacity in service while it launches one more, ` +
        'which CloudFormation allows only below MaxSize: raise maxCapacity above minCapacity.',
    );
  }
  requireWholeNumber(scope, 'onDemandBaseCapacity', onDemandBaseCapacity, 0, MAX_TARGETS_PER_TARGET_GROUP, 'Give 0 for all Spot.');
  if (!Token.isUnresolved(onDemandBaseCapacity) && !Token.isUnresolved(maxCapacity) && onDemandBaseCapacity > maxCapacity) {
    throw new SettingError(
      scope,
      `onDemandBaseCapacity (${onDemandBaseCapacity}) is above maxCapacity (${maxCapacity}): the group could never run that many. Lower it, or raise maxCapacity.`,
    );
  }
}
