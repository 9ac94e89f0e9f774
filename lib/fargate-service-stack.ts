import type { StackProps } from 'aws-cdk-lib/core';
import { Aws, CfnOutput, Duration, Stack } from 'aws-cdk-lib/core';
import { ContainerImage } from 'aws-cdk-lib/aws-ecs';
import { TargetType } from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import { PrivateDnsNamespace } from 'aws-cdk-lib/aws-servicediscovery';
import type { PropsOf, SettingsSchema } from './settings';
import { checkSettings, setting } from './settings';
import { dnsNameProblem, MAX_TARGETS_PER_TARGET_GROUP } from './validation';
import type { Construct } from 'constructs';
import { capacityParameters } from './capacity-parameters';
import { CloudMapProber } from './constructs/cloud-map-prober';
import { NotificationTopic, notificationEmailParameter } from './constructs/notification-topic';
import { OperationsDashboard } from './constructs/operations-dashboard';
import { OperatorAlarms } from './constructs/operator-alarms';
import { PublicVpc } from './constructs/public-vpc';
import { SpotCapacityFallback } from './constructs/spot-capacity-fallback';
import { HALF_SPOT_STRATEGY, SpotFargateService, UNPRIVILEGED_HTTP_PORT } from './constructs/spot-fargate-service';
import { accessLogsParameters, certificateArnParameter, WebLoadBalancer } from './constructs/web-load-balancer';
import { powertoolsLayerParameter } from './constructs/inline-node-function';

/**
 * NGINX's unprivileged build of nginx on Docker Hub, at a pinned stable tag: the official image's Debian base
 * and configuration, but run as the `nginx` user (uid 101) on port 8080, with its pid and temporary files under /tmp.
 */
export const DEFAULT_NGINX_IMAGE = 'nginxinc/nginx-unprivileged:1.28.0';

/**
 * FargateService's settings: its props, which the `spotwise.fargateService` context value sets too. Each is
 * checked at synth whichever way it comes; the constructs check how they fit together.
 */
export const FARGATE_SERVICE_SETTINGS = {
  /**
   * Image the service runs. It must serve HTTP on port 8080 as uid 101, writing only to /tmp and
   * /var/cache/nginx (the root filesystem is read-only, every Linux capability dropped), and have `curl`,
   * which the container health check runs; `nginxinc/nginx-unprivileged` does.
   * @default ContainerImage.fromRegistry(DEFAULT_NGINX_IMAGE)
   */
  image: setting.parsed((name) => ContainerImage.fromRegistry(name)),
  /**
   * Fewest tasks the service keeps running, half of them on Fargate Spot; scale-in stops here. The default of
   * the `MinCapacity` parameter, which a deploy may override.
   * @default 2
   */
  minCapacity: setting.whole({ min: 1, max: MAX_TARGETS_PER_TARGET_GROUP, advice: 'At least one task must run; to stop them all, delete the stack.' }),
  /**
   * Most tasks scale-out may reach: the default of the `MaxCapacity` parameter.
   * @default 10
   */
  maxCapacity: setting.whole({ min: 1, max: MAX_TARGETS_PER_TARGET_GROUP, advice: "1,000 is ELB's default quota of targets per target group." }),
  /**
   * Average CPU utilization, in percent, that target tracking aims for.
   * @default 50
   */
  targetCpuUtilization: setting.whole({ min: 1, max: 100 }),
  /**
   * Requests per task per minute that target tracking aims for.
   * @default 1000
   */
  requestsPerTarget: setting.whole({ min: 1 }),
  /**
   * How long the ALB drains a stopping task, in whole seconds. ECS waits it out before SIGTERM, so together
   * with `stopTimeout` it must fit in the two-minute Spot warning less 20 s for ECS to react: at most 100 s.
   * @default Duration.seconds(30)
   */
  deregistrationDelay: setting.duration({ unit: 'seconds', min: 0 }),
  /**
   * Time between SIGTERM and SIGKILL for the container, in whole seconds from 2 to 120; see
   * `deregistrationDelay` for the limit on both.
   * @default Duration.seconds(30)
   */
  stopTimeout: setting.duration({ unit: 'seconds', min: 2, max: 120 }),
  /**
   * Private DNS namespace for Cloud Map. Each copy of the stack in one account and Region needs its own:
   * DiscoverInstances looks namespaces up by HTTP name, which Cloud Map suffixes with a hash when a name is
   * reused, so a second copy's prober would ask about the first one's namespace.
   * @default - `<stack name>.internal`, from the name the stack is deployed under
   */
  namespaceName: setting.text({ problem: dnsNameProblem }),
  /**
   * When the prober runs.
   * @default Schedule.rate(Duration.minutes(1))
   */
  probeSchedule: setting.rate({ contextKey: 'probeIntervalMinutes' }),
  /**
   * Per-probe timeout, in whole milliseconds; at least 100 ms. The prober's function timeout grows to hold it.
   * @default Duration.seconds(3)
   */
  probeTimeout: setting.duration({ unit: 'millis', min: 100 }),
  /**
   * Whether the service moves onto FARGATE alone while Fargate Spot has no capacity for it, and back after
   * `capacityFallbackCoolOff` (SpotCapacityFallback). Off, its Spot share waits for capacity, as ECS does.
   * @default true
   */
  capacityFallback: setting.flag(),
  /**
   * How long the service stays on FARGATE after a fallback before Fargate Spot is tried again, in whole minutes
   * from 5 to 1,440.
   * @default Duration.minutes(30)
   */
  capacityFallbackCoolOff: setting.duration({ unit: 'minutes', min: 5, max: 1440 }),
} satisfies SettingsSchema;

export interface FargateServiceStackProps extends StackProps, PropsOf<typeof FARGATE_SERVICE_SETTINGS> {}

/** nginx on ECS Fargate and Fargate Spot behind an ALB, registered in Cloud Map and probed every minute. */
export class FargateServiceStack extends Stack {
  /** The ALB in front of the service; construct id `Web`, as in SpotFleetWebAppStack. */
  public readonly loadBalancer: WebLoadBalancer;
  /** The tasks, their cluster and their Cloud Map service. */
  public readonly service: SpotFargateService;
  public readonly namespace: PrivateDnsNamespace;
  public readonly prober: CloudMapProber;
  public readonly notifications: NotificationTopic;
  public readonly alarms: OperatorAlarms;
  public readonly dashboard: OperationsDashboard;
  /** Moves the service onto FARGATE while Fargate Spot has no capacity; absent when `capacityFallback` is false. */
  public readonly capacityFallback?: SpotCapacityFallback;

  constructor(scope: Construct, id: string, props: FargateServiceStackProps = {}) {
    super(scope, id, props);
    checkSettings(this, FARGATE_SERVICE_SETTINGS, props);

    const email = notificationEmailParameter(this, 'alarms');
    const certificate = certificateArnParameter(this);
    // Per-deployment bounds for people who deploy the plain template; the settings give their defaults.
    const capacity = capacityParameters(this, 'tasks', { min: props.minCapacity ?? 2, max: props.maxCapacity ?? 10 });
    const powertoolsLayer = powertoolsLayerParameter(this);
    const { vpc } = new PublicVpc(this, 'Network');
    this.loadBalancer = new WebLoadBalancer(this, 'Web', {
      vpc,
      certificateArn: certificate.valueAsString,
      targetType: TargetType.IP,
      targetPort: UNPRIVILEGED_HTTP_PORT,
      ...accessLogsParameters(this),
      deregistrationDelay: props.deregistrationDelay ?? Duration.seconds(30),
    });
    this.namespace = new PrivateDnsNamespace(this, 'Namespace', {
      vpc,
      name: props.namespaceName ?? `${Aws.STACK_NAME}.internal`,
      description: 'Spotwise service discovery',
    });
    this.service = new SpotFargateService(this, 'Service', {
      vpc,
      targetGroup: this.loadBalancer.targetGroup,
      loadBalancerSecurityGroup: this.loadBalancer.securityGroup,
      namespace: this.namespace,
      image: props.image ?? ContainerImage.fromRegistry(DEFAULT_NGINX_IMAGE),
      containerPort: UNPRIVILEGED_HTTP_PORT,
      ...capacity,
      targetCpuUtilization: props.targetCpuUtilization,
      requestsPerTarget: props.requestsPerTarget,
      stopTimeout: props.stopTimeout,
      deregistrationDelay: this.loadBalancer.deregistrationDelay,
    });
    this.prober = new CloudMapProber(this, 'Prober', {
      service: this.service.cloudMapService,
      vpc,
      targetSecurityGroup: this.service.securityGroup,
      // Counts running tasks per capacity provider for the dashboard, through an ECS interface endpoint.
      cluster: this.service.cluster,
      port: this.service.containerPort,
      schedule: props.probeSchedule,
      probeTimeout: props.probeTimeout,
      powertoolsLayer,
    });

    this.notifications = new NotificationTopic(this, 'Notifications', { email: email.valueAsString, displayName: 'Spotwise alarms' });
    if (props.capacityFallback !== false) {
      this.capacityFallback = new SpotCapacityFallback(this, 'CapacityFallback', {
        service: this.service.service,
        declaredStrategy: HALF_SPOT_STRATEGY,
        notificationTopic: this.notifications.topic,
        coolOff: props.capacityFallbackCoolOff,
        powertoolsLayer,
      });
    }
    this.alarms = new OperatorAlarms(this, 'Alarms', { notifications: this.notifications });
    this.alarms.addLoadBalancer(this.loadBalancer);
    this.alarms.addFunctionErrors([this.prober.function, this.service.serviceLinkedRole.function, ...(this.capacityFallback ? [this.capacityFallback.function] : [])]);
    this.alarms.addProber(this.prober, this.service);
    this.alarms.addService(this.service);

    this.dashboard = new OperationsDashboard(this, 'Dashboard');
    this.dashboard.addLoadBalancer(this.loadBalancer);
    this.dashboard.addProber(this.prober, this.service);
    if (this.capacityFallback !== undefined) this.dashboard.addCapacityFallback(this.capacityFallback);

    new CfnOutput(this, 'DashboardUrl', { value: this.dashboard.url });
    new CfnOutput(this, 'TopicArn', { value: this.notifications.topic.topicArn });
    new CfnOutput(this, 'SiteUrl', { value: this.loadBalancer.url, description: 'nginx, behind the ALB' });
    new CfnOutput(this, 'ClusterName', { value: this.service.cluster.clusterName });
    new CfnOutput(this, 'ServiceName', { value: this.service.service.serviceName });
    new CfnOutput(this, 'CloudMapNamespace', { value: this.namespace.namespaceName });
    new CfnOutput(this, 'CloudMapService', { value: this.service.cloudMapService.serviceName });
    new CfnOutput(this, 'ProberFunctionName', { value: this.prober.function.functionName });
  }
}
