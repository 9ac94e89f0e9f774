import { Duration, Validations } from 'aws-cdk-lib';
import type { IVpc } from 'aws-cdk-lib/aws-ec2';
import { Peer, Port, SecurityGroup, SubnetType } from 'aws-cdk-lib/aws-ec2';
import type { ApplicationListener, TargetType } from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import { ApplicationLoadBalancer, ApplicationProtocol, ApplicationTargetGroup } from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import type { IBucket } from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { validateDeregistrationDelay } from '../spot-timing';
import { requireWholeNumber } from '../validation';

export interface WebLoadBalancerProps {
  readonly vpc: IVpc;
  /** `INSTANCE` for EC2 targets, `IP` for Fargate tasks. */
  readonly targetType: TargetType;
  /**
   * How long the target group drains a deregistered target. It must finish inside the two-minute Spot
   * notice, less the time it takes to react to it: at most 100 s (`MAX_SPOT_DEREGISTRATION_DELAY`).
   * @default Duration.seconds(90)
   */
  readonly deregistrationDelay?: Duration;
  /**
   * Path the target group health check requests.
   * @default '/'
   */
  readonly healthCheckPath?: string;
  /**
   * Port the targets serve HTTP on.
   * @default 80
   */
  readonly targetPort?: number;
  /**
   * Bucket for ALB access logs. It needs the bucket policy ELB log delivery requires in your region.
   * @default - no access logs
   */
  readonly accessLogsBucket?: IBucket;
}

/**
 * An internet-facing ALB with an HTTP :80 listener that forwards to one target group whose draining is
 * short enough for Spot: a target deregistered at the interruption warning drains before it is stopped.
 */
export class WebLoadBalancer extends Construct {
  public readonly loadBalancer: ApplicationLoadBalancer;
  public readonly securityGroup: SecurityGroup;
  public readonly listener: ApplicationListener;
  public readonly targetGroup: ApplicationTargetGroup;
  /** `http://<alb dns name>/` */
  public readonly url: string;
  /** The target group's deregistration delay, checked against the Spot notice. */
  public readonly deregistrationDelay: Duration;

  constructor(scope: Construct, id: string, props: WebLoadBalancerProps) {
    super(scope, id);
    this.deregistrationDelay = props.deregistrationDelay ?? Duration.seconds(90);
    validateDeregistrationDelay(this, this.deregistrationDelay);
    const targetPort = props.targetPort ?? 80;
    requireWholeNumber(this, 'targetPort', targetPort, 1, 65535);

    this.securityGroup = new SecurityGroup(this, 'SecurityGroup', {
      vpc: props.vpc,
      description: 'Internet-facing ALB: HTTP from anywhere',
      allowAllOutbound: false,
    });
    this.securityGroup.addIngressRule(Peer.anyIpv4(), Port.tcp(80), 'HTTP from the internet');
    Validations.of(this.securityGroup).acknowledge({
      id: 'AwsSolutions::AwsSolutions-EC23',
      reason: 'This is the public entry point of a public web site: HTTP :80 from anywhere, and only that.',
    });

    this.loadBalancer = new ApplicationLoadBalancer(this, 'LoadBalancer', {
      vpc: props.vpc,
      internetFacing: true,
      vpcSubnets: { subnetType: SubnetType.PUBLIC },
      securityGroup: this.securityGroup,
      dropInvalidHeaderFields: true,
    });
    if (props.accessLogsBucket !== undefined) {
      this.loadBalancer.logAccessLogs(props.accessLogsBucket, this.node.id);
    } else {
      Validations.of(this.loadBalancer).acknowledge({
        id: 'AwsSolutions::AwsSolutions-ELB2',
        reason:
          'Access logs are opt-in through accessLogsBucket: they need a bucket with a region-specific delivery policy, ' +
          'and the stack must stay region-agnostic. Request metrics reach CloudWatch either way.',
      });
    }

    this.targetGroup = new ApplicationTargetGroup(this, 'TargetGroup', {
      vpc: props.vpc,
      targetType: props.targetType,
      protocol: ApplicationProtocol.HTTP,
      port: targetPort,
      deregistrationDelay: this.deregistrationDelay,
      healthCheck: {
        path: props.healthCheckPath ?? '/',
        healthyHttpCodes: '200-399',
        interval: Duration.seconds(10),
        timeout: Duration.seconds(5),
        healthyThresholdCount: 2,
        unhealthyThresholdCount: 2,
      },
    });

    this.listener = this.loadBalancer.addListener('Http', {
      port: 80,
      protocol: ApplicationProtocol.HTTP,
      open: false,
      defaultTargetGroups: [this.targetGroup],
    });

    this.url = `http://${this.loadBalancer.loadBalancerDnsName}/`;
  }
}
