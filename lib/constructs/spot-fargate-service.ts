import { Aws, Duration, RemovalPolicy, Token } from 'aws-cdk-lib/core';
import { Metric } from 'aws-cdk-lib/aws-cloudwatch';
import type { ISecurityGroup, IVpc } from 'aws-cdk-lib/aws-ec2';
import { Port, SecurityGroup, SubnetType } from 'aws-cdk-lib/aws-ec2';
import type { CapacityProviderStrategy, ContainerImage, ScalableTaskCount } from 'aws-cdk-lib/aws-ecs';
import {
  CfnClusterCapacityProviderAssociations,
  Cluster,
  ContainerInsights,
  CpuArchitecture,
  FargateService,
  FargateTaskDefinition,
  Capability,
  ContainerDependencyCondition,
  LinuxParameters,
  LogDrivers,
  OperatingSystemFamily,
  Protocol,
} from 'aws-cdk-lib/aws-ecs';
import type { ApplicationTargetGroup } from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import { FilterPattern, LogGroup, MetricFilter, RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { IPrivateDnsNamespace, IService as ICloudMapService } from 'aws-cdk-lib/aws-servicediscovery';
import { DnsRecordType } from 'aws-cdk-lib/aws-servicediscovery';
import { Construct } from 'constructs';
import { SPOT_INTERRUPTION_NOTICE, validateSpotShutdown } from '../spot-timing';
import { MAX_TARGETS_PER_TARGET_GROUP, requireCapacityRange, requireWholeNumber, SettingError } from '../validation';
import { ECS_AUTO_SCALING_SERVICE_LINKED_ROLE, ECS_SERVICE_LINKED_ROLE, ServiceLinkedRoles } from './service-linked-roles';

/** FARGATE and FARGATE_SPOT, weighted 1:1: half the tasks keep running whatever Spot does. */
export const HALF_SPOT_STRATEGY: readonly CapacityProviderStrategy[] = [
  { capacityProvider: 'FARGATE', weight: 1 },
  { capacityProvider: 'FARGATE_SPOT', weight: 1 },
];

/**
 * Port nginx serves on unprivileged: above 1024, so it binds without root or `CAP_NET_BIND_SERVICE`. It is what
 * `nginxinc/nginx-unprivileged` listens on.
 */
export const UNPRIVILEGED_HTTP_PORT = 8080;

/** uid of the `nginx` user in the official and the unprivileged nginx images. */
export const NGINX_USER = '101';

/**
 * Where nginx writes at run time when its root filesystem is read-only: the unprivileged image keeps its pid
 * and every `*_temp_path` under /tmp, and /var/cache/nginx is where the official configuration puts caches.
 */
export const NGINX_SCRATCH_PATHS: readonly string[] = ['/tmp', '/var/cache/nginx'];

/**
 * CloudWatch Logs' space-delimited pattern for an nginx access-log line with a 5xx status: the sixth field, after
 * the bracketed time and the quoted request, each of which counts as one field.
 */
export const SERVER_ERRORS_FILTER_PATTERN = '[ip, identity, user, timestamp, request, status_code=5*, bytes, ...]';

/** ECS refuses a Fargate `stopTimeout` above this. */
const MAX_FARGATE_STOP_TIMEOUT = Duration.seconds(120);

export interface SpotFargateServiceProps {
  readonly vpc: IVpc;
  /**
   * Target group (type IP) the tasks register in. It must already forward from a listener: scaling on requests
   * per target names its load balancer, which an imported target group cannot tell.
   */
  readonly targetGroup: ApplicationTargetGroup;
  /** Security group of the load balancer; it may reach the tasks on the container port. */
  readonly loadBalancerSecurityGroup: ISecurityGroup;
  /** Cloud Map namespace to register the tasks in, with SRV records. */
  readonly namespace: IPrivateDnsNamespace;
  /**
   * Image to run. Pin a tag: a moving tag makes every task a different release. The container health check
   * runs `curl`, so the image must have it; without it every task fails its health check and the deployment
   * rolls back. The container runs as `user` with a read-only root filesystem and no Linux capabilities, so
   * the image must serve as that user on `containerPort` and write only under `scratchPaths`, as
   * `nginxinc/nginx-unprivileged` does.
   */
  readonly image: ContainerImage;
  /**
   * Port the container serves HTTP on: above 1024, since the container runs as a non-root user without capabilities.
   * @default UNPRIVILEGED_HTTP_PORT (8080)
   */
  readonly containerPort?: number;
  /**
   * User (`uid`, `uid:gid` or a name the image knows) the container runs as; never root.
   * @default NGINX_USER ('101', nginx in the nginx images)
   */
  readonly user?: string;
  /**
   * Directories the container may write to. The root filesystem is read-only; each of these is a task volume
   * (Fargate ephemeral storage) mounted read-write, emptied when the task stops.
   * @default NGINX_SCRATCH_PATHS (/tmp and /var/cache/nginx)
   */
  readonly scratchPaths?: readonly string[];
  /**
   * The container's hard memory limit, at most the task's `memoryLimitMiB`: above it, ECS stops the container.
   * @default - the task's memoryLimitMiB
   */
  readonly containerMemoryLimitMiB?: number;
  /**
   * Fewest tasks Application Auto Scaling keeps, spread over FARGATE and FARGATE_SPOT. ECS starts a new service
   * with one task; registering the scalable target then raises it to this.
   * @default 2
   */
  readonly minCapacity?: number;
  /**
   * Most tasks Application Auto Scaling runs; at most 1000, ELB's default quota of targets per target group.
   * @default 10
   */
  readonly maxCapacity?: number;
  /**
   * Average CPU utilization of the service, in percent of the tasks' CPU, that scaling keeps it near.
   * @default 50
   */
  readonly targetCpuUtilization?: number;
  /**
   * Requests per task per minute (the ALB's `RequestCountPerTarget`, a one-minute sum) that scaling keeps the
   * service near. 1000 a minute is about 17 a second per task: far below what nginx serves on a quarter vCPU,
   * so traffic adds tasks before latency suffers, while the CPU policy catches heavier requests. Measure your
   * own requests and raise it.
   * @default 1000
   */
  readonly requestsPerTarget?: number;
  /**
   * Time after a scale-out before the next one counts its tasks as settled, in whole seconds. Short, so a load
   * spike or lost Spot capacity is met quickly; a Fargate task starts and passes its checks in about a minute.
   * @default Duration.seconds(60)
   */
  readonly scaleOutCooldown?: Duration;
  /**
   * Time after a scale-in before the next one, in whole seconds. Long, so a dip in traffic does not strip
   * capacity that a Spot interruption or the next peak then has to wait for.
   * @default Duration.seconds(300)
   */
  readonly scaleInCooldown?: Duration;
  /**
   * Time between SIGTERM and SIGKILL, in whole seconds. ECS allows 2 to 120 s; on a Fargate Spot interruption it
   * also has to fit, after the target group's draining, inside the two-minute warning (see `validateSpotShutdown`).
   * @default Duration.seconds(30)
   */
  readonly stopTimeout?: Duration;
  /**
   * The target group's deregistration delay. ECS drains an interrupted Fargate Spot task before it sends
   * SIGTERM, so when this is given, synth checks that it and `stopTimeout` fit in the warning together.
   * @default - not checked; FargateServiceStack passes its load balancer's
   */
  readonly deregistrationDelay?: Duration;
  /**
   * Task CPU units.
   * @default 256
   */
  readonly cpu?: number;
  /**
   * Task memory.
   * @default 512
   */
  readonly memoryLimitMiB?: number;
  /**
   * Name of the service in Cloud Map.
   * @default 'web'
   */
  readonly cloudMapServiceName?: string;
  /**
   * Retention of the container logs.
   * @default RetentionDays.ONE_MONTH
   */
  readonly logRetention?: RetentionDays;
}

/**
 * An nginx-style HTTP service on ECS Fargate, half on Fargate Spot, behind an ALB target group and
 * registered in Cloud Map with SRV records, with Container Insights and a 5xx count from its access log.
 * Application Auto Scaling sets its task count, tracking CPU and requests per task; the template sets no
 * DesiredCount, so a deploy never resets the count it chose.
 */
export class SpotFargateService extends Construct {
  public readonly cluster: Cluster;
  /** FARGATE and FARGATE_SPOT on the cluster, with the 1:1 default strategy. */
  public readonly capacityProviders: CfnClusterCapacityProviderAssociations;
  public readonly taskDefinition: FargateTaskDefinition;
  public readonly service: FargateService;
  public readonly securityGroup: SecurityGroup;
  public readonly logGroup: LogGroup;
  public readonly cloudMapService: ICloudMapService;
  /** Counts access-log lines with a 5xx status. */
  public readonly serverErrorsFilter: MetricFilter;
  public readonly containerPort: number;
  /**
   * Makes sure the account's service-linked roles for ECS and for ECS Application Auto Scaling exist before
   * the cluster and the scalable target.
   */
  public readonly serviceLinkedRole: ServiceLinkedRoles;
  /** The service's scalable task count, with CPU and request-count target tracking; add policies to it. */
  public readonly scaling: ScalableTaskCount;

  constructor(scope: Construct, id: string, props: SpotFargateServiceProps) {
    super(scope, id);
    const stopTimeout = props.stopTimeout ?? Duration.seconds(30);
    const minCapacity = props.minCapacity ?? 2;
    const maxCapacity = props.maxCapacity ?? 10;
    const targetCpuUtilization = props.targetCpuUtilization ?? 50;
    const requestsPerTarget = props.requestsPerTarget ?? 1000;
    const scaleOutCooldown = props.scaleOutCooldown ?? Duration.seconds(60);
    const scaleInCooldown = props.scaleInCooldown ?? Duration.seconds(300);
    this.containerPort = props.containerPort ?? UNPRIVILEGED_HTTP_PORT;
    const taskMemoryMiB = props.memoryLimitMiB ?? 512;
    const containerMemoryMiB = props.containerMemoryLimitMiB ?? taskMemoryMiB;
    const user = props.user ?? NGINX_USER;
    const scratchPaths = props.scratchPaths ?? NGINX_SCRATCH_PATHS;
    requireWholeNumber(
      this,
      'stopTimeout',
      stopTimeout.toSeconds({ integral: false }),
      2,
      MAX_FARGATE_STOP_TIMEOUT.toSeconds(),
      `Give it in whole seconds, at most ${MAX_FARGATE_STOP_TIMEOUT.toSeconds()} as ECS allows on Fargate; Fargate Spot stops a task ` +
        `${SPOT_INTERRUPTION_NOTICE.toSeconds()} s after its warning, whatever the timeout says.`,
    );
    validateScaling(this, { minCapacity, maxCapacity, targetCpuUtilization, requestsPerTarget, scaleOutCooldown, scaleInCooldown });
    requireListener(this, props.targetGroup);
    requireWholeNumber(this, 'containerPort', this.containerPort, 1, 65535);
    if (!Token.isUnresolved(this.containerPort) && this.containerPort <= 1024) {
      throw new SettingError(
        this,
        `containerPort ${this.containerPort} is a privileged port, which the container's non-root user without capabilities cannot bind. ` +
          `Serve above 1024, such as ${UNPRIVILEGED_HTTP_PORT} as nginxinc/nginx-unprivileged does.`,
      );
    }
    validateHardening(this, { user, scratchPaths, taskMemoryMiB, containerMemoryMiB });
    if (props.deregistrationDelay !== undefined) validateSpotShutdown(this, props.deregistrationDelay, stopTimeout);

    this.cluster = new Cluster(this, 'Cluster', { vpc: props.vpc, containerInsightsV2: ContainerInsights.ENHANCED });
    // In an account that has never used ECS, the cluster would create the role itself and the capacity
    // providers or service could try to use it before IAM has it everywhere.
    // Application Auto Scaling's role races the same way against the scalable target.
    this.serviceLinkedRole = new ServiceLinkedRoles(this, 'ServiceLinkedRole', {
      roles: [ECS_SERVICE_LINKED_ROLE, ECS_AUTO_SCALING_SERVICE_LINKED_ROLE],
    });
    this.cluster.node.addDependency(this.serviceLinkedRole.resource);
    // Declared here rather than through enableFargateCapacityProviders(), whose association CDK adds late and
    // no service depends on: CloudFormation would then delete it alongside a draining service and fail with
    // "capacity provider is in use", or create the service before FARGATE_SPOT is associated.
    this.capacityProviders = new CfnClusterCapacityProviderAssociations(this, 'CapacityProviders', {
      cluster: this.cluster.clusterName,
      capacityProviders: HALF_SPOT_STRATEGY.map((s) => s.capacityProvider),
      defaultCapacityProviderStrategy: HALF_SPOT_STRATEGY.map((s) => ({ capacityProvider: s.capacityProvider, weight: s.weight ?? 1 })),
    });

    this.logGroup = new LogGroup(this, 'Logs', {
      retention: props.logRetention ?? RetentionDays.ONE_MONTH,
      removalPolicy: RemovalPolicy.DESTROY,
    });

    this.taskDefinition = new FargateTaskDefinition(this, 'Task', {
      cpu: props.cpu ?? 256,
      memoryLimitMiB: taskMemoryMiB,
      // Fargate Spot has no ARM capacity.
      runtimePlatform: { cpuArchitecture: CpuArchitecture.X86_64, operatingSystemFamily: OperatingSystemFamily.LINUX },
    });
    const container = this.taskDefinition.addContainer('Web', {
      image: props.image,
      essential: true,
      user,
      readonlyRootFilesystem: true,
      memoryLimitMiB: containerMemoryMiB,
      linuxParameters: dropAllCapabilities(this),
      portMappings: [{ containerPort: this.containerPort, protocol: Protocol.TCP }],
      stopTimeout,
      logging: LogDrivers.awsLogs({ logGroup: this.logGroup, streamPrefix: 'web' }),
      healthCheck: {
        command: ['CMD-SHELL', `curl -fsS -o /dev/null http://localhost:${this.containerPort}/ || exit 1`],
        interval: Duration.seconds(10),
        timeout: Duration.seconds(5),
        retries: 3,
        startPeriod: Duration.seconds(10),
      },
    });

    if (scratchPaths.length > 0) {
      // Fargate creates a task's bind-mount volumes owned by root, mode 0755 (the ECS guide's bind mounts page),
      // so the unprivileged web server could not write to them. A short-lived container opens them up first, as
      // root but with every capability dropped, on a read-only filesystem: it can change only what root owns.
      const scratchPermissions = this.taskDefinition.addContainer('ScratchPermissions', {
        image: props.image,
        essential: false,
        user: '0',
        readonlyRootFilesystem: true,
        memoryReservationMiB: 16,
        linuxParameters: dropAllCapabilities(this, 'ScratchPermissionsLinuxParameters'),
        entryPoint: ['chmod'],
        command: ['1777', ...scratchPaths],
        logging: LogDrivers.awsLogs({ logGroup: this.logGroup, streamPrefix: 'scratch-permissions' }),
      });
      for (const [index, containerPath] of scratchPaths.entries()) {
        const name = `scratch${index}`;
        this.taskDefinition.addVolume({ name });
        container.addMountPoints({ sourceVolume: name, containerPath, readOnly: false });
        scratchPermissions.addMountPoints({ sourceVolume: name, containerPath, readOnly: false });
      }
      container.addContainerDependencies({ container: scratchPermissions, condition: ContainerDependencyCondition.SUCCESS });
    }

    this.securityGroup = new SecurityGroup(this, 'SecurityGroup', {
      vpc: props.vpc,
      description: 'Fargate tasks: HTTP from the ALB and the prober only',
      // Outbound open: tasks pull their image from a public registry through the internet gateway.
      allowAllOutbound: true,
    });
    this.securityGroup.addIngressRule(props.loadBalancerSecurityGroup, Port.tcp(this.containerPort), 'HTTP from the ALB');
    props.loadBalancerSecurityGroup.addEgressRule(this.securityGroup, Port.tcp(this.containerPort), 'HTTP to the tasks');

    this.service = new FargateService(this, 'Service', {
      cluster: this.cluster,
      taskDefinition: this.taskDefinition,
      // No desiredCount: without DesiredCount in the template, a deploy leaves the running count to Application
      // Auto Scaling. aws-ecs passes it through unchanged, whatever removeDefaultDesiredCount (an ecs-patterns flag) says.
      // Repeating the cluster default drops LaunchType, which would otherwise override it (aws-cdk#24961).
      capacityProviderStrategies: [...HALF_SPOT_STRATEGY],
      assignPublicIp: true,
      vpcSubnets: { subnetType: SubnetType.PUBLIC },
      securityGroups: [this.securityGroup],
      circuitBreaker: { enable: true, rollback: true },
      minHealthyPercent: 100,
      maxHealthyPercent: 200,
      healthCheckGracePeriod: Duration.seconds(30),
      cloudMapOptions: {
        cloudMapNamespace: props.namespace,
        name: props.cloudMapServiceName ?? 'web',
        dnsRecordType: DnsRecordType.SRV,
        dnsTtl: Duration.seconds(10),
        container,
        containerPort: this.containerPort,
      },
    });
    this.service.node.addDependency(this.capacityProviders);
    this.service.attachToApplicationTargetGroup(props.targetGroup);
    const cloudMapService = this.service.cloudMapService;
    if (cloudMapService === undefined) throw new Error(`${this.node.path}: ECS did not create the Cloud Map service it was given options for.`);
    this.cloudMapService = cloudMapService;

    this.scaling = this.service.autoScaleTaskCount({ minCapacity, maxCapacity });
    this.scaling.node.addDependency(this.serviceLinkedRole.resource);
    const cooldowns = { scaleOutCooldown, scaleInCooldown };
    this.scaling.scaleOnCpuUtilization('Cpu', { targetUtilizationPercent: targetCpuUtilization, ...cooldowns });
    this.scaling.scaleOnRequestCount('Requests', { targetGroup: props.targetGroup, requestsPerTarget, ...cooldowns });

    this.serverErrorsFilter = new MetricFilter(this, 'ServerErrors', {
      logGroup: this.logGroup,
      // The nginx images' `main` access log, `combined` and then "x-forwarded-for":
      // ip - user [time] "request" status bytes "referer" "agent" "forwarded"
      filterPattern: FilterPattern.literal(SERVER_ERRORS_FILTER_PATTERN),
      // A namespace per stack: a metric filter cannot add a constant dimension, and two copies of the stack in
      // one account must not add up their errors.
      metricNamespace: `Spotwise/${Aws.STACK_NAME}`,
      metricName: 'NginxServerErrors',
      metricValue: '1',
      defaultValue: 0,
    });
  }

  /** One of Container Insights' per-service task counts, which the cluster publishes every minute. */
  public metricTasks(metricName: ServiceTaskMetricName): Metric {
    return new Metric({
      namespace: 'ECS/ContainerInsights',
      metricName,
      dimensionsMap: { ClusterName: this.cluster.clusterName, ServiceName: this.service.serviceName },
      period: Duration.minutes(1),
      statistic: 'Average',
    });
  }

  /** nginx's 5xx responses, counted from its access log. */
  public metricServerErrors(): Metric {
    return this.serverErrorsFilter.metric({ period: Duration.minutes(1), statistic: 'Sum' });
  }
}

/** Container Insights' per-service task counts. */
export type ServiceTaskMetricName = 'RunningTaskCount' | 'DesiredTaskCount' | 'PendingTaskCount';

/** Every Linux capability dropped: nginx as a non-root user on a port above 1024 needs none. */
function dropAllCapabilities(scope: Construct, id = 'LinuxParameters'): LinuxParameters {
  const linuxParameters = new LinuxParameters(scope, id);
  linuxParameters.dropCapabilities(Capability.ALL);
  return linuxParameters;
}

interface HardeningSettings {
  readonly user: string;
  readonly scratchPaths: readonly string[];
  readonly taskMemoryMiB: number;
  readonly containerMemoryMiB: number;
}

function validateHardening(scope: Construct, s: HardeningSettings): void {
  if (!Token.isUnresolved(s.user) && /^\s*(root|0)(:.*)?$/.test(s.user)) {
    throw new SettingError(scope, `user must not be root; got '${s.user}'. Give the image's unprivileged user, such as '101' for the nginx images.`);
  }
  for (const path of s.scratchPaths) {
    if (!Token.isUnresolved(path) && (!path.startsWith('/') || path === '/')) {
      throw new SettingError(scope, `scratchPaths has '${path}'; give absolute directories below /, such as '/tmp'.`);
    }
  }
  if (new Set(s.scratchPaths).size !== s.scratchPaths.length) throw new SettingError(scope, 'scratchPaths names a directory twice; give each once.');
  requireWholeNumber(
    scope,
    'containerMemoryLimitMiB',
    s.containerMemoryMiB,
    6,
    Token.isUnresolved(s.taskMemoryMiB) ? undefined : s.taskMemoryMiB,
    "A container's hard limit must fit in its task's memory (memoryLimitMiB); leave it out to use the task's.",
  );
}

interface ScalingSettings {
  readonly minCapacity: number;
  readonly maxCapacity: number;
  readonly targetCpuUtilization: number;
  readonly requestsPerTarget: number;
  readonly scaleOutCooldown: Duration;
  readonly scaleInCooldown: Duration;
}

function validateScaling(scope: Construct, s: ScalingSettings): void {
  requireCapacityRange(
    scope,
    s.minCapacity,
    s.maxCapacity,
    'Keep at least one task, or the load balancer has nothing to send requests to.',
    `A target group holds at most ${MAX_TARGETS_PER_TARGET_GROUP} targets by default.`,
  );
  requireWholeNumber(scope, 'targetCpuUtilization', s.targetCpuUtilization, 1, 100, 'Give a percentage of the tasks\' CPU.');
  requireWholeNumber(scope, 'requestsPerTarget', s.requestsPerTarget, 1, undefined, 'Give the requests a task should take per minute.');
  for (const [name, cooldown] of [['scaleOutCooldown', s.scaleOutCooldown], ['scaleInCooldown', s.scaleInCooldown]] as const) {
    requireWholeNumber(scope, name, cooldown.toSeconds({ integral: false }), 0, undefined, 'Give it in whole seconds.');
  }
}

/** Scaling on requests per target names the target group's load balancer, which CDK learns from its first listener. */
function requireListener(scope: Construct, targetGroup: ApplicationTargetGroup): void {
  try {
    void targetGroup.firstLoadBalancerFullName;
  } catch {
    throw new SettingError(
      scope,
      `targetGroup ${targetGroup.node.path} is not on any listener, so requests per target cannot be measured; add it to a listener before creating the service.`,
    );
  }
}
