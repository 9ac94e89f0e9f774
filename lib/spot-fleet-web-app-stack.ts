import type { StackProps } from 'aws-cdk-lib/core';
import { CfnOutput, Duration, Stack } from 'aws-cdk-lib/core';
import { TargetType } from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import { InstanceType } from 'aws-cdk-lib/aws-ec2';
import type { PropsOf, SettingsSchema } from './settings';
import { checkSettings, setting } from './settings';
import { instanceTypeProblem, MAX_TARGETS_PER_TARGET_GROUP } from './validation';
import type { Construct } from 'constructs';
import { capacityParameters } from './capacity-parameters';
import { FleetHandover } from './constructs/fleet-handover';
import { OperationsDashboard } from './constructs/operations-dashboard';
import { OperatorAlarms } from './constructs/operator-alarms';
import { NotificationTopic, notificationEmailParameter } from './constructs/notification-topic';
import { SpotFleetTroubleAlerts } from './constructs/spot-fleet-trouble-alerts';
import { PublicVpc } from './constructs/public-vpc';
import { SpotAllocationStrategy, SpotFleet } from './constructs/spot-fleet';
import { pinnedImageParameters } from './constructs/pinned-image';
import { INTERRUPTION_REACTION_BUDGET } from './spot-timing';
import type { SpotInterruptionDrainerProps } from './constructs/spot-interruption-drainer';
import { SPOT_INTERRUPTION_DRAINER_SETTINGS, SpotInterruptionDrainer } from './constructs/spot-interruption-drainer';
import { SpotInterruptionRehearsal } from './constructs/spot-interruption-rehearsal';
import { accessLogsParameters, certificateArnParameter, WebLoadBalancer } from './constructs/web-load-balancer';
import { powertoolsLayerParameter } from './constructs/inline-node-function';

/**
 * SpotFleetWebApp's settings: its props, which the `spotwise.spotFleetWebApp` context value sets too. Each is
 * checked at synth whichever way it comes; the constructs check how they fit together.
 */
export const SPOT_FLEET_WEB_APP_SETTINGS = {
  /**
   * How long the ALB drains an interrupted instance; it must finish inside the two-minute notice.
   * @default Duration.seconds(90)
   */
  deregistrationDelay: setting.duration({ unit: 'seconds', min: 0 }),
  /**
   * Fewest instances the fleet keeps running; scale-in stops here. The default of the `MinCapacity` parameter,
   * which a deploy may override.
   * @default 2
   */
  minCapacity: setting.whole({ min: 1, max: MAX_TARGETS_PER_TARGET_GROUP, advice: 'At least one instance must run; to stop them all, delete the stack.' }),
  /**
   * Most instances scale-out may reach: the default of the `MaxCapacity` parameter.
   * @default 10
   */
  maxCapacity: setting.whole({ min: 1, max: MAX_TARGETS_PER_TARGET_GROUP, advice: "1,000 is ELB's default quota of targets per target group." }),
  /**
   * Requests per instance per minute that the fleet's target tracking aims for.
   * @default 1000
   */
  requestsPerTarget: setting.whole({ min: 1 }),
  /**
   * Whether the fleet replaces an instance when EC2 recommends a rebalance, before any interruption warning.
   * @default true
   */
  capacityRebalance: setting.flag(),
  /**
   * With capacity rebalancing, how long the fleet waits after launching a replacement before terminating
   * the instance it replaces; at least the drain: 20 s to react, the drainer's hold for a replacement
   * (`drainer.rebalanceHold`) and its last retry, the deregistration delay.
   * @default - the drain plus 30 s
   */
  terminationDelay: setting.duration({ unit: 'seconds' }),
  /**
   * Settings of the interruption drainer, such as its batch size and timeout. The stack gives it its target
   * group, its topic and the Powertools layer of its `PowertoolsLayerParameter`.
   * @default - the drainer's defaults
   */
  drainer: setting.object<Omit<SpotInterruptionDrainerProps, 'targetGroups' | 'notificationTopic' | 'powertoolsLayer'>>(SPOT_INTERRUPTION_DRAINER_SETTINGS),
  /**
   * How the fleet spreads capacity over instance pools.
   * @default SpotAllocationStrategy.DIVERSIFIED
   */
  allocationStrategy: setting.oneOf(Object.values(SpotAllocationStrategy)),
  /**
   * Instance types the fleet may use (x86_64).
   * @default DEFAULT_SPOT_INSTANCE_TYPES
   */
  instanceTypes: setting.list({ of: (name) => new InstanceType(name), name: String, problem: instanceTypeProblem }),
  /**
   * Whether the stack carries its operator alarms (load balancer 5xx, unhealthy hosts, function errors, drain
   * failures, fleet below target) and its dashboard. Without them only the dead-letter alarm and the Spot
   * messages reach people, and the stack costs the alarms' and the dashboard's monthly price less.
   * @default true
   */
  operations: setting.flag(),
} satisfies SettingsSchema;

export interface SpotFleetWebAppStackProps extends StackProps, PropsOf<typeof SPOT_FLEET_WEB_APP_SETTINGS> {}

/**
 * A web app on an EC2 Spot Fleet behind an ALB that scales on requests per instance, rebalances ahead of
 * interruptions, drains each instance on its interruption warning or rebalance recommendation and tells
 * people, and hands over to a replacement fleet without dropping requests.
 */
export class SpotFleetWebAppStack extends Stack {
  public readonly loadBalancer: WebLoadBalancer;
  public readonly spotFleet: SpotFleet;
  public readonly drainer: SpotInterruptionDrainer;
  public readonly notifications: NotificationTopic;
  /** An AWS FIS experiment template that interrupts one running instance of the fleet, for real. */
  public readonly rehearsal: SpotInterruptionRehearsal;
  /** Hands the target group over from an old fleet to its replacement without dropping requests. */
  public readonly fleetHandover: FleetHandover;
  public readonly troubleAlerts: SpotFleetTroubleAlerts;
  /** Present unless `operations` is false. */
  public readonly alarms?: OperatorAlarms;
  /** Present unless `operations` is false. */
  public readonly dashboard?: OperationsDashboard;

  constructor(scope: Construct, id: string, props: SpotFleetWebAppStackProps = {}) {
    super(scope, id, props);
    checkSettings(this, SPOT_FLEET_WEB_APP_SETTINGS, props);

    const email = notificationEmailParameter(this, 'Spot events and alarms');

    const certificate = certificateArnParameter(this);
    // Per-deployment bounds for people who deploy the plain template; the settings give their defaults.
    const capacity = capacityParameters(this, 'instances', { min: props.minCapacity ?? 2, max: props.maxCapacity ?? 10 });
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
      // Draining on a rebalance recommendation only makes sense when the fleet replaces that instance: without
      // capacity rebalancing it would keep running, drained, while still counting as capacity.
      drainOnRebalanceRecommendation: props.capacityRebalance !== false,
      ...props.drainer,
      powertoolsLayer: powertoolsLayerParameter(this),
      targetGroups: [this.loadBalancer.targetGroup],
      notificationTopic: this.notifications.topic,
    });
    this.fleetHandover = new FleetHandover(this, 'FleetHandover', {
      targetGroup: this.loadBalancer.targetGroup,
      deregistrationDelay: this.loadBalancer.deregistrationDelay,
    });
    this.spotFleet = new SpotFleet(this, 'SpotFleet', {
      imageId: this.fleetHandover.pinImage('Image', pinnedImageParameters(this)),
      vpc,
      targetGroup: this.loadBalancer.targetGroup,
      loadBalancerSecurityGroup: this.loadBalancer.securityGroup,
      loadBalancer: this.loadBalancer.loadBalancer,
      deregistrationDelay: this.loadBalancer.deregistrationDelay,
      // A rebalanced instance is terminated only once the drainer has waited out its hold for a replacement,
      // started its last try at the deregistration, and the deregistration delay has passed.
      drainTime:
        props.capacityRebalance === false
          ? undefined
          : INTERRUPTION_REACTION_BUDGET.plus(this.drainer.lastRebalanceDrainStart).plus(this.loadBalancer.deregistrationDelay),
      ...capacity,
      requestsPerTarget: props.requestsPerTarget,
      capacityRebalance: props.capacityRebalance,
      terminationDelay: props.terminationDelay,
      allocationStrategy: props.allocationStrategy,
      instanceTypes: props.instanceTypes,
    });

    this.fleetHandover.handOver(this.spotFleet.fleet);
    this.troubleAlerts = new SpotFleetTroubleAlerts(this, 'FleetTrouble', { fleet: this.spotFleet.fleet, notifications: this.notifications });

    this.notifications.notifyOnAlarm(this.drainer.deadLetterAlarm);
    if (props.operations !== false) {
      this.alarms = new OperatorAlarms(this, 'Alarms', { notifications: this.notifications });
      this.alarms.addLoadBalancer(this.loadBalancer);
      this.alarms.addFunctionErrors([
        this.drainer.function,
        ...(this.drainer.notifier ? [this.drainer.notifier.function] : []),
        this.fleetHandover.function,
        this.spotFleet.serviceLinkedRoles.function,
      ]);
      this.alarms.addDrainer(this.drainer);
      this.alarms.addFleet(this.spotFleet);
      this.dashboard = new OperationsDashboard(this, 'Dashboard');
      this.dashboard.addLoadBalancer(this.loadBalancer);
      this.dashboard.addSpotFleet(this.spotFleet, this.drainer);
    }

    new CfnOutput(this, 'SiteUrl', { value: this.loadBalancer.url });
    new CfnOutput(this, 'TargetGroupArn', { value: this.loadBalancer.targetGroup.targetGroupArn });
    new CfnOutput(this, 'SpotFleetRequestId', { value: this.spotFleet.fleet.ref });
    new CfnOutput(this, 'TopicArn', { value: this.notifications.topic.topicArn });
    if (this.dashboard !== undefined) new CfnOutput(this, 'DashboardUrl', { value: this.dashboard.url });
    this.rehearsal = new SpotInterruptionRehearsal(this, 'Rehearsal', {
      tagKey: this.spotFleet.instanceTag.key,
      tagValue: this.spotFleet.instanceTag.value,
    });
    new CfnOutput(this, 'RehearsalTemplateId', {
      value: this.rehearsal.experimentTemplate.ref,
      condition: this.rehearsal.condition,
    });
  }
}
