import type { StackProps } from 'aws-cdk-lib/core';
import { CfnOutput, Duration, Stack } from 'aws-cdk-lib/core';
import { TargetType } from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import { InstanceType } from 'aws-cdk-lib/aws-ec2';
import type { Construct } from 'constructs';
import type { PropsOf, SettingsSchema } from './settings';
import { checkSettings, setting } from './settings';
import { instanceTypeProblem, MAX_TARGETS_PER_TARGET_GROUP } from './validation';
import { capacityParameters } from './capacity-parameters';
import { AutoScalingTroubleAlerts } from './constructs/auto-scaling-trouble-alerts';
import { powertoolsLayerParameter } from './constructs/inline-node-function';
import { NotificationTopic, notificationEmailParameter } from './constructs/notification-topic';
import { OperationsDashboard } from './constructs/operations-dashboard';
import { OperatorAlarms } from './constructs/operator-alarms';
import { PinnedImage, pinnedImageParameters } from './constructs/pinned-image';
import { PublicVpc } from './constructs/public-vpc';
import { SpotAutoScalingGroup, validateGroupSize } from './constructs/spot-auto-scaling-group';
import type { SpotInterruptionDrainerProps } from './constructs/spot-interruption-drainer';
import { SPOT_INTERRUPTION_DRAINER_SETTINGS, SpotInterruptionDrainer } from './constructs/spot-interruption-drainer';
import { SpotInterruptionRehearsal } from './constructs/spot-interruption-rehearsal';
import { accessLogsParameters, certificateArnParameter, WebLoadBalancer } from './constructs/web-load-balancer';

/**
 * SpotAutoScalingWebApp's settings: its props, which the `spotwise.spotAutoScalingWebApp` context value sets
 * too. Each is checked at synth whichever way it comes; the constructs check how they fit together.
 */
export const SPOT_AUTO_SCALING_WEB_APP_SETTINGS = {
  /**
   * How long the ALB drains an instance leaving it: on an interruption warning it must finish inside the
   * two-minute notice.
   * @default Duration.seconds(90)
   */
  deregistrationDelay: setting.duration({ unit: 'seconds', min: 0 }),
  /**
   * Fewest instances the group keeps in service, also through a rolling update; scale-in stops here. The
   * default of the `MinCapacity` parameter, which a deploy may override.
   * @default 2
   */
  minCapacity: setting.whole({ min: 1, max: MAX_TARGETS_PER_TARGET_GROUP, advice: 'At least one instance must run; to stop them all, delete the stack.' }),
  /**
   * Most instances scale-out may reach, above minCapacity: the default of the `MaxCapacity` parameter.
   * @default 10
   */
  maxCapacity: setting.whole({ min: 2, max: MAX_TARGETS_PER_TARGET_GROUP, advice: "A rolling update needs room for one above minCapacity; 1,000 is ELB's default quota of targets per target group." }),
  /**
   * On-Demand instances the group runs before any Spot; everything above it is Spot. At most maxCapacity.
   * @default 0
   */
  onDemandBaseCapacity: setting.whole({ min: 0, max: MAX_TARGETS_PER_TARGET_GROUP, advice: 'Give 0 for all Spot.' }),
  /**
   * Requests per instance per minute that the group's target tracking aims for.
   * @default 1000
   */
  requestsPerTarget: setting.whole({ min: 1 }),
  /**
   * Whether the group replaces a Spot instance, launching first, when EC2 recommends a rebalance or sends the
   * interruption warning (Capacity Rebalancing).
   * @default true
   */
  capacityRebalance: setting.flag(),
  /**
   * How long a new instance may take to be healthy in the target group and signal: at creation, and for each
   * instance a rolling update launches. Past it the deploy fails and rolls back.
   * @default Duration.minutes(10)
   */
  signalTimeout: setting.duration({ unit: 'minutes', min: 1, max: 60, advice: "CloudFormation's PauseTime is at most an hour." }),
  /**
   * Settings of the interruption drainer, such as its batch size and timeout. The stack gives it its target
   * group, its topic and the Powertools layer of its `PowertoolsLayerParameter`, and has it drain on
   * interruption warnings only.
   * @default - the drainer's defaults
   */
  drainer: setting.object<Omit<SpotInterruptionDrainerProps, 'targetGroups' | 'notificationTopic' | 'powertoolsLayer' | 'drainOnRebalanceRecommendation'>>(
    SPOT_INTERRUPTION_DRAINER_SETTINGS,
  ),
  /**
   * Instance types the group may use (x86_64), price-capacity-optimized across them and both AZs.
   * @default DEFAULT_SPOT_INSTANCE_TYPES
   */
  instanceTypes: setting.list({ of: (name) => new InstanceType(name), name: String, problem: instanceTypeProblem }),
  /**
   * Whether the stack carries its operator alarms (load balancer 5xx, unhealthy hosts, function errors, drain
   * failures, group below desired) and its dashboard. Without them only the dead-letter alarm, the
   * trouble alerts and the Spot messages reach people.
   * @default true
   */
  operations: setting.flag(),
} satisfies SettingsSchema;

export interface SpotAutoScalingWebAppStackProps extends StackProps, PropsOf<typeof SPOT_AUTO_SCALING_WEB_APP_SETTINGS> {}

/**
 * A web app on an EC2 Auto Scaling group of Spot instances behind an ALB, as AWS recommends over Spot Fleet:
 * it scales on requests per instance, replaces instances ahead of interruptions with Capacity Rebalancing,
 * drains each instance within seconds of its interruption warning and tells people, and rolls out a new AMI,
 * instance types or user data one healthy instance at a time.
 */
export class SpotAutoScalingWebAppStack extends Stack {
  public readonly loadBalancer: WebLoadBalancer;
  public readonly servers: SpotAutoScalingGroup;
  public readonly drainer: SpotInterruptionDrainer;
  public readonly notifications: NotificationTopic;
  /** Keeps the AMI until the `ImageId` parameter asks for another. */
  public readonly image: PinnedImage;
  /** An AWS FIS experiment template that interrupts one running instance of the group, for real. */
  public readonly rehearsal: SpotInterruptionRehearsal;
  public readonly troubleAlerts: AutoScalingTroubleAlerts;
  /** Present unless `operations` is false. */
  public readonly alarms?: OperatorAlarms;
  /** Present unless `operations` is false. */
  public readonly dashboard?: OperationsDashboard;

  constructor(scope: Construct, id: string, props: SpotAutoScalingWebAppStackProps = {}) {
    super(scope, id, props);
    checkSettings(this, SPOT_AUTO_SCALING_WEB_APP_SETTINGS, props);
    const minCapacity = props.minCapacity ?? 2;
    const maxCapacity = props.maxCapacity ?? 10;
    // The group gets its bounds as parameters, which it cannot check; their defaults are checked here.
    validateGroupSize(this, minCapacity, maxCapacity, props.onDemandBaseCapacity ?? 0);

    const email = notificationEmailParameter(this, 'Spot events and alarms');
    const certificate = certificateArnParameter(this);
    const capacity = capacityParameters(this, 'instances', { min: minCapacity, max: maxCapacity });
    const { vpc } = new PublicVpc(this, 'Network');
    this.loadBalancer = new WebLoadBalancer(this, 'Web', {
      vpc,
      certificateArn: certificate.valueAsString,
      targetType: TargetType.INSTANCE,
      ...accessLogsParameters(this),
      deregistrationDelay: props.deregistrationDelay ?? Duration.seconds(90),
    });
    this.notifications = new NotificationTopic(this, 'Notifications', {
      email: email.valueAsString,
      displayName: 'Spotwise interruptions',
    });
    this.drainer = new SpotInterruptionDrainer(this, 'Drainer', {
      ...props.drainer,
      // The group answers a recommendation by launching a replacement, waiting for it to pass the ELB health
      // check, and then deregistering the old instance itself before terminating it: draining at the
      // recommendation would only take capacity out early. A warning is drained at once: the group's own
      // reaction to it has no documented latency, and the notice is two minutes.
      drainOnRebalanceRecommendation: false,
      powertoolsLayer: powertoolsLayerParameter(this),
      targetGroups: [this.loadBalancer.targetGroup],
      notificationTopic: this.notifications.topic,
    });
    this.image = new PinnedImage(this, 'Image', pinnedImageParameters(this));
    this.servers = new SpotAutoScalingGroup(this, 'Servers', {
      imageId: this.image.imageId,
      vpc,
      targetGroup: this.loadBalancer.targetGroup,
      loadBalancerSecurityGroup: this.loadBalancer.securityGroup,
      loadBalancer: this.loadBalancer.loadBalancer,
      ...capacity,
      onDemandBaseCapacity: props.onDemandBaseCapacity,
      requestsPerTarget: props.requestsPerTarget,
      capacityRebalance: props.capacityRebalance,
      signalTimeout: props.signalTimeout,
      instanceTypes: props.instanceTypes,
    });
    this.troubleAlerts = new AutoScalingTroubleAlerts(this, 'GroupTrouble', { group: this.servers.group, notifications: this.notifications });

    this.notifications.notifyOnAlarm(this.drainer.deadLetterAlarm);
    if (props.operations !== false) {
      this.alarms = new OperatorAlarms(this, 'Alarms', { notifications: this.notifications });
      this.alarms.addLoadBalancer(this.loadBalancer);
      this.alarms.addFunctionErrors([
        this.drainer.function,
        ...(this.drainer.notifier ? [this.drainer.notifier.function] : []),
        this.image.function,
      ]);
      this.alarms.addDrainer(this.drainer);
      this.alarms.addAutoScalingGroup(this.servers);
      this.dashboard = new OperationsDashboard(this, 'Dashboard');
      this.dashboard.addLoadBalancer(this.loadBalancer);
      this.dashboard.addAutoScalingGroup(this.servers, this.drainer);
    }

    new CfnOutput(this, 'SiteUrl', { value: this.loadBalancer.url });
    new CfnOutput(this, 'TargetGroupArn', { value: this.loadBalancer.targetGroup.targetGroupArn });
    new CfnOutput(this, 'AutoScalingGroupName', { value: this.servers.group.autoScalingGroupName });
    new CfnOutput(this, 'TopicArn', { value: this.notifications.topic.topicArn });
    if (this.dashboard !== undefined) new CfnOutput(this, 'DashboardUrl', { value: this.dashboard.url });
    this.rehearsal = new SpotInterruptionRehearsal(this, 'Rehearsal', {
      tagKey: this.servers.instanceTag.key,
      tagValue: this.servers.instanceTag.value,
    });
    new CfnOutput(this, 'RehearsalTemplateId', {
      value: this.rehearsal.experimentTemplate.ref,
      condition: this.rehearsal.condition,
    });
  }
}
