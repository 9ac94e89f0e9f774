import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import type { ISecurityGroup, IVpc } from 'aws-cdk-lib/aws-ec2';
import { Port, SecurityGroup, SubnetType } from 'aws-cdk-lib/aws-ec2';
import type { CapacityProviderStrategy, ContainerImage } from 'aws-cdk-lib/aws-ecs';
import {
  CfnClusterCapacityProviderAssociations,
  Cluster,
  ContainerInsights,
  CpuArchitecture,
  FargateService,
  FargateTaskDefinition,
  LogDrivers,
  OperatingSystemFamily,
  Protocol,
} from 'aws-cdk-lib/aws-ecs';
import type { IApplicationTargetGroup } from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import { FilterPattern, LogGroup, MetricFilter, RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { IPrivateDnsNamespace, IService as ICloudMapService } from 'aws-cdk-lib/aws-servicediscovery';
import { DnsRecordType } from 'aws-cdk-lib/aws-servicediscovery';
import { Construct } from 'constructs';
import { SPOT_INTERRUPTION_NOTICE, validateSpotShutdown } from '../spot-timing';
import { requireWholeNumber } from '../validation';
import { ECS_SERVICE_LINKED_ROLE, ServiceLinkedRoles } from './service-linked-roles';

/** FARGATE and FARGATE_SPOT, weighted 1:1: half the tasks keep running whatever Spot does. */
export const HALF_SPOT_STRATEGY: readonly CapacityProviderStrategy[] = [
  { capacityProvider: 'FARGATE', weight: 1 },
  { capacityProvider: 'FARGATE_SPOT', weight: 1 },
];

/** ECS refuses a Fargate `stopTimeout` above this. */
const MAX_FARGATE_STOP_TIMEOUT = Duration.seconds(120);

export interface SpotFargateServiceProps {
  readonly vpc: IVpc;
  /** Target group (type IP) the tasks register in. */
  readonly targetGroup: IApplicationTargetGroup;
  /** Security group of the load balancer; it may reach the tasks on the container port. */
  readonly loadBalancerSecurityGroup: ISecurityGroup;
  /** Cloud Map namespace to register the tasks in, with SRV records. */
  readonly namespace: IPrivateDnsNamespace;
  /**
   * Image to run. Pin a tag: a moving tag makes every task a different release. The container health check
   * runs `curl`, so the image must have it; without it every task fails its health check and the deployment
   * rolls back.
   */
  readonly image: ContainerImage;
  /**
   * Port the container serves HTTP on.
   * @default 80
   */
  readonly containerPort?: number;
  /**
   * Tasks to keep running, spread over FARGATE and FARGATE_SPOT.
   * @default 2
   */
  readonly desiredCount?: number;
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
  /** Makes sure the account's ECS service-linked role exists before the cluster. */
  public readonly serviceLinkedRole: ServiceLinkedRoles;

  constructor(scope: Construct, id: string, props: SpotFargateServiceProps) {
    super(scope, id);
    const stopTimeout = props.stopTimeout ?? Duration.seconds(30);
    const desiredCount = props.desiredCount ?? 2;
    this.containerPort = props.containerPort ?? 80;
    requireWholeNumber(
      this,
      'stopTimeout',
      stopTimeout.toSeconds({ integral: false }),
      2,
      MAX_FARGATE_STOP_TIMEOUT.toSeconds(),
      `Give it in whole seconds, at most ${MAX_FARGATE_STOP_TIMEOUT.toSeconds()} as ECS allows on Fargate; Fargate Spot stops a task ` +
        `${SPOT_INTERRUPTION_NOTICE.toSeconds()} s after its warning, whatever the timeout says.`,
    );
    requireWholeNumber(this, 'desiredCount', desiredCount, 1);
    requireWholeNumber(this, 'containerPort', this.containerPort, 1, 65535);
    if (props.deregistrationDelay !== undefined) validateSpotShutdown(this, props.deregistrationDelay, stopTimeout);

    this.cluster = new Cluster(this, 'Cluster', { vpc: props.vpc, containerInsightsV2: ContainerInsights.ENHANCED });
    // In an account that has never used ECS, the cluster would create the role itself and the capacity
    // providers or service could try to use it before IAM has it everywhere.
    this.serviceLinkedRole = new ServiceLinkedRoles(this, 'ServiceLinkedRole', { roles: [ECS_SERVICE_LINKED_ROLE] });
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
      memoryLimitMiB: props.memoryLimitMiB ?? 512,
      // Fargate Spot has no ARM capacity.
      runtimePlatform: { cpuArchitecture: CpuArchitecture.X86_64, operatingSystemFamily: OperatingSystemFamily.LINUX },
    });
    const container = this.taskDefinition.addContainer('Web', {
      image: props.image,
      essential: true,
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
      desiredCount,
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

    this.serverErrorsFilter = new MetricFilter(this, 'ServerErrors', {
      logGroup: this.logGroup,
      // nginx's default `combined` access log: ip - user [time] "request" status bytes "referer" "agent"
      filterPattern: FilterPattern.literal('[ip, identity, user, timestamp, request, status_code=5*, bytes, ...]'),
      metricNamespace: 'Spotwise',
      metricName: 'NginxServerErrors',
      metricValue: '1',
      defaultValue: 0,
    });
  }
}
