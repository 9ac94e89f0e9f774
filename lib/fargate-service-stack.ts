import type { StackProps } from 'aws-cdk-lib';
import { CfnOutput, CfnParameter, Duration, Stack } from 'aws-cdk-lib';
import type { Schedule } from 'aws-cdk-lib/aws-events';
import { ContainerImage } from 'aws-cdk-lib/aws-ecs';
import { TargetType } from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import { PrivateDnsNamespace } from 'aws-cdk-lib/aws-servicediscovery';
import type { Construct } from 'constructs';
import { CloudMapProber } from './constructs/cloud-map-prober';
import { PublicVpc } from './constructs/public-vpc';
import { SpotFargateService } from './constructs/spot-fargate-service';
import { WebLoadBalancer } from './constructs/web-load-balancer';
import { requireWholeNumber } from './validation';

/** ELB's default quota of targets per target group, which every task joins. */
const MAX_DESIRED_COUNT = 1000;

/** Docker Hub's official nginx at a pinned stable tag; `public.ecr.aws/nginx/nginx:<tag>` mirrors it. */
export const DEFAULT_NGINX_IMAGE = 'nginx:1.28.0';

export interface FargateServiceStackProps extends StackProps {
  /**
   * Image the service runs. It must serve HTTP on port 80 and have `curl`, which the container health check
   * runs; the official nginx images do.
   * @default ContainerImage.fromRegistry(DEFAULT_NGINX_IMAGE)
   */
  readonly image?: ContainerImage;
  /**
   * Tasks to keep running, half of them on Fargate Spot: the default of the `DesiredCount` parameter, which a
   * deploy may override.
   * @default 2
   */
  readonly desiredCount?: number;
  /**
   * How long the ALB drains a stopping task, in whole seconds. ECS waits it out before SIGTERM, so together
   * with `stopTimeout` it must fit in the two-minute Spot warning less 20 s for ECS to react: at most 100 s.
   * @default Duration.seconds(30)
   */
  readonly deregistrationDelay?: Duration;
  /**
   * Time between SIGTERM and SIGKILL for the container, in whole seconds from 2 to 120; see
   * `deregistrationDelay` for the limit on both.
   * @default Duration.seconds(30)
   */
  readonly stopTimeout?: Duration;
  /**
   * Private DNS namespace for Cloud Map. Give each copy of the stack in one account and region its own:
   * DiscoverInstances looks namespaces up by HTTP name, which Cloud Map suffixes with a hash when a name is
   * reused, so a second `spotwise.internal` would leave its prober asking about the first one.
   * @default 'spotwise.internal'
   */
  readonly namespaceName?: string;
  /**
   * When the prober runs.
   * @default Schedule.rate(Duration.minutes(1))
   */
  readonly probeSchedule?: Schedule;
  /**
   * Per-probe timeout, in whole milliseconds; at least 100 ms. The prober's function timeout grows to hold it.
   * @default Duration.seconds(3)
   */
  readonly probeTimeout?: Duration;
}

/** nginx on ECS Fargate and Fargate Spot behind an ALB, registered in Cloud Map and probed every minute. */
export class FargateServiceStack extends Stack {
  /** The ALB in front of the service; construct id `Web`, as in SpotFleetWebAppStack. */
  public readonly loadBalancer: WebLoadBalancer;
  /** The tasks, their cluster and their Cloud Map service. */
  public readonly service: SpotFargateService;
  public readonly namespace: PrivateDnsNamespace;
  public readonly prober: CloudMapProber;

  constructor(scope: Construct, id: string, props: FargateServiceStackProps = {}) {
    super(scope, id, props);
    const defaultCount = props.desiredCount ?? 2;
    requireWholeNumber(this, 'desiredCount', defaultCount, 1, MAX_DESIRED_COUNT);
    // A per-deployment value, so that people who deploy the plain template can change it without a synth.
    const desiredCount = new CfnParameter(this, 'DesiredCount', {
      type: 'Number',
      default: defaultCount,
      minValue: 1,
      maxValue: MAX_DESIRED_COUNT,
      description: 'Tasks the ECS service keeps running, half of them on Fargate Spot.',
    });

    const { vpc } = new PublicVpc(this, 'Network');
    this.loadBalancer = new WebLoadBalancer(this, 'Web', {
      vpc,
      targetType: TargetType.IP,
      deregistrationDelay: props.deregistrationDelay ?? Duration.seconds(30),
    });
    this.namespace = new PrivateDnsNamespace(this, 'Namespace', {
      vpc,
      name: props.namespaceName ?? 'spotwise.internal',
      description: 'Spotwise service discovery',
    });
    this.service = new SpotFargateService(this, 'Service', {
      vpc,
      targetGroup: this.loadBalancer.targetGroup,
      loadBalancerSecurityGroup: this.loadBalancer.securityGroup,
      namespace: this.namespace,
      image: props.image ?? ContainerImage.fromRegistry(DEFAULT_NGINX_IMAGE),
      desiredCount: desiredCount.valueAsNumber,
      stopTimeout: props.stopTimeout,
      deregistrationDelay: this.loadBalancer.deregistrationDelay,
    });
    this.prober = new CloudMapProber(this, 'Prober', {
      service: this.service.cloudMapService,
      vpc,
      targetSecurityGroup: this.service.securityGroup,
      port: this.service.containerPort,
      schedule: props.probeSchedule,
      probeTimeout: props.probeTimeout,
    });

    new CfnOutput(this, 'SiteUrl', { value: this.loadBalancer.url, description: 'nginx, behind the ALB' });
    new CfnOutput(this, 'ClusterName', { value: this.service.cluster.clusterName });
    new CfnOutput(this, 'ServiceName', { value: this.service.service.serviceName });
    new CfnOutput(this, 'CloudMapNamespace', { value: this.namespace.namespaceName });
    new CfnOutput(this, 'CloudMapService', { value: this.service.cloudMapService.serviceName });
    new CfnOutput(this, 'ProberFunctionName', { value: this.prober.function.functionName });
  }
}
