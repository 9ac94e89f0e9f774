import { CfnParameter, CfnCondition, Duration, Fn, Stack, Token, Validations } from 'aws-cdk-lib/core';
import type { IVpc } from 'aws-cdk-lib/aws-ec2';
import { CfnSecurityGroupIngress, Peer, Port, SecurityGroup, SubnetType } from 'aws-cdk-lib/aws-ec2';
import type { ApplicationListener, CfnListener, IApplicationTargetGroup, TargetType } from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import {
  ApplicationLoadBalancer,
  ApplicationProtocol,
  ApplicationTargetGroup,
  ListenerAction,
  ListenerCertificate,
  SslPolicy,
} from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import type { IBucket } from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { validateDeregistrationDelay } from '../spot-timing';
import { requireWholeNumber, SettingError } from '../validation';

/**
 * The shape of an ACM certificate ARN in any partition, as a regular expression that JavaScript and
 * CloudFormation's `AllowedPattern` read alike: for a `CertificateArn` parameter, allow `^$|` before it.
 */
export const ACM_CERTIFICATE_ARN_PATTERN = '^arn:aws[a-z-]*:acm:[a-z0-9-]+:[0-9]{12}:certificate/[0-9a-f-]+$';

/** The TLS policy of the HTTPS listener: TLS 1.3 and 1.2 with forward-secret ciphers only. */
const HTTPS_SSL_POLICY = SslPolicy.RECOMMENDED_TLS;

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
   * Bucket for ALB access logs, in the load balancer's Region; CDK adds the bucket policy ELB log delivery needs.
   * @default - no access logs, unless `accessLogsBucketName` is given
   */
  readonly accessLogsBucket?: IBucket;
  /**
   * Name of an existing bucket for ALB access logs, such as a `CfnParameter`'s value (see `accessLogsParameters`).
   * An empty value turns access logs off, through the `hasAccessLogs` condition. The bucket must be in the load
   * balancer's Region, with the bucket policy ELB log delivery needs there (docs/operations.md); this construct
   * does not change it. Not with `accessLogsBucket`.
   * @default - no access logs, unless `accessLogsBucket` is given
   */
  readonly accessLogsBucketName?: string;
  /**
   * Prefix of the access-log objects in `accessLogsBucketName`, without a leading or trailing slash; may be empty.
   * @default - none: objects start at `AWSLogs/<account>/`
   */
  readonly accessLogsPrefix?: string;
  /**
   * ACM certificate for HTTPS, in the load balancer's Region. With one, an HTTPS :443 listener forwards to the
   * target group and HTTP :80 redirects to it (301). A literal ARN does this unconditionally. A token, such as
   * a `CfnParameter` whose value may be empty, does it through the `hasCertificate` condition: with an empty
   * value the load balancer serves HTTP :80 alone, as without this prop.
   * @default - HTTP only
   */
  readonly certificateArn?: string;
}

/**
 * Forwards to a target group without registering the listener with it, so that the target group's
 * `loadBalancerAttached`, which dependents put in their DependsOn, never names a conditional listener: a
 * DependsOn on a resource whose condition is false fails the deploy ("Unresolved resource dependencies").
 */
class ForwardWithoutRegistering extends ListenerAction {
  constructor(targetGroup: IApplicationTargetGroup) {
    super({ type: 'forward', targetGroupArn: targetGroup.targetGroupArn });
  }
}

/**
 * An internet-facing ALB in front of one target group whose draining is short enough for Spot: a target
 * deregistered at the interruption warning drains before it is stopped. HTTP :80 forwards to the target
 * group; with a certificate, HTTPS :443 does and HTTP :80 redirects to it.
 */
export class WebLoadBalancer extends Construct {
  public readonly loadBalancer: ApplicationLoadBalancer;
  public readonly securityGroup: SecurityGroup;
  /** The HTTP :80 listener: it forwards to the target group, or redirects to HTTPS when there is a certificate. */
  public readonly listener: ApplicationListener;
  /**
   * The HTTPS :443 listener, when `certificateArn` is given. With a token ARN it exists only under
   * `hasCertificate`, and so must anything you attach to it.
   */
  public readonly httpsListener?: ApplicationListener;
  /** With a token `certificateArn`: true when its value is not empty. Put outputs about HTTPS under it. */
  public readonly hasCertificate?: CfnCondition;
  /** With a token `accessLogsBucketName`: true when its value is not empty, and so access logs are on. */
  public readonly hasAccessLogs?: CfnCondition;
  public readonly targetGroup: ApplicationTargetGroup;
  /** `https://<alb dns name>/` with a certificate, else `http://<alb dns name>/`; a `Fn::If` with a token ARN. */
  public readonly url: string;
  /** The target group's deregistration delay, checked against the Spot notice. */
  public readonly deregistrationDelay: Duration;

  constructor(scope: Construct, id: string, props: WebLoadBalancerProps) {
    super(scope, id);
    this.deregistrationDelay = props.deregistrationDelay ?? Duration.seconds(90);
    validateDeregistrationDelay(this, this.deregistrationDelay);
    const targetPort = props.targetPort ?? 80;
    requireWholeNumber(this, 'targetPort', targetPort, 1, 65535);
    const certificateArn = props.certificateArn;
    if (certificateArn !== undefined && !Token.isUnresolved(certificateArn)) this.checkCertificateArn(certificateArn);

    this.securityGroup = new SecurityGroup(this, 'SecurityGroup', {
      vpc: props.vpc,
      // Unchanged with HTTPS: a new GroupDescription replaces the security group.
      description: 'Internet-facing ALB: HTTP from anywhere',
      allowAllOutbound: false,
    });
    this.securityGroup.addIngressRule(Peer.anyIpv4(), Port.tcp(80), 'HTTP from the internet');
    Validations.of(this.securityGroup).acknowledge({
      id: 'AwsSolutions::AwsSolutions-EC23',
      reason: 'This is the public entry point of a public web site: HTTP :80 and, with a certificate, HTTPS :443 from anywhere; nothing else.',
    });

    this.loadBalancer = new ApplicationLoadBalancer(this, 'LoadBalancer', {
      vpc: props.vpc,
      internetFacing: true,
      vpcSubnets: { subnetType: SubnetType.PUBLIC },
      securityGroup: this.securityGroup,
      dropInvalidHeaderFields: true,
    });
    if (props.accessLogsBucket !== undefined && props.accessLogsBucketName !== undefined) {
      throw new SettingError(this, 'accessLogsBucket and accessLogsBucketName are both given; give the bucket, or its name, not both.');
    }
    if (props.accessLogsBucket !== undefined) {
      this.loadBalancer.logAccessLogs(props.accessLogsBucket, this.node.id);
    } else if (props.accessLogsBucketName !== undefined) {
      this.hasAccessLogs = this.logAccessLogsTo(props.accessLogsBucketName, props.accessLogsPrefix ?? '');
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

    const dnsName = this.loadBalancer.loadBalancerDnsName;
    if (certificateArn === undefined) {
      this.listener = this.loadBalancer.addListener('Http', {
        port: 80,
        protocol: ApplicationProtocol.HTTP,
        open: false,
        defaultTargetGroups: [this.targetGroup],
      });
      this.url = `http://${dnsName}/`;
      return;
    }

    const https = { port: 443, protocol: ApplicationProtocol.HTTPS, certificates: [ListenerCertificate.fromArn(certificateArn)], sslPolicy: HTTPS_SSL_POLICY, open: false };
    if (!Token.isUnresolved(certificateArn)) {
      this.httpsListener = this.loadBalancer.addListener('Https', { ...https, defaultTargetGroups: [this.targetGroup] });
      this.securityGroup.addIngressRule(Peer.anyIpv4(), Port.tcp(443), 'HTTPS from the internet');
      this.listener = this.loadBalancer.addListener('Http', {
        port: 80,
        protocol: ApplicationProtocol.HTTP,
        open: false,
        defaultAction: ListenerAction.redirect({ protocol: 'HTTPS', port: '443', permanent: true }),
      });
      this.url = `https://${dnsName}/`;
      return;
    }

    const hasCertificate = new CfnCondition(this, 'HasCertificate', { expression: Fn.conditionNot(Fn.conditionEquals(certificateArn, '')) });
    this.hasCertificate = hasCertificate;
    this.httpsListener = this.loadBalancer.addListener('Https', { ...https, defaultAction: new ForwardWithoutRegistering(this.targetGroup) });
    const httpsResource = this.httpsListener.node.defaultChild as CfnListener;
    httpsResource.cfnOptions.condition = hasCertificate;
    new CfnSecurityGroupIngress(this.securityGroup, 'HttpsIngress', {
      groupId: this.securityGroup.securityGroupId,
      ipProtocol: 'tcp',
      fromPort: 443,
      toPort: 443,
      cidrIp: '0.0.0.0/0',
      description: 'HTTPS from the internet',
    }).cfnOptions.condition = hasCertificate;
    // One :80 listener whose action follows the condition: two conditional ones would each claim port 80 while
    // CloudFormation swaps them. It is the target group's only registered listener, so `loadBalancerAttached`
    // is unconditional in both states.
    this.listener = this.loadBalancer.addListener('Http', {
      port: 80,
      protocol: ApplicationProtocol.HTTP,
      open: false,
      defaultTargetGroups: [this.targetGroup],
    });
    const redirect = {
      Type: 'redirect',
      RedirectConfig: {
        Protocol: 'HTTPS',
        // '443', read through a list that also names the HTTPS listener: the Ref makes CloudFormation create that
        // listener first, so whatever waits for `loadBalancerAttached` finds the target group on a listener.
        Port: Fn.select(0, ['443', httpsResource.ref]),
        StatusCode: 'HTTP_301',
      },
    };
    const forward = { Type: 'forward', TargetGroupArn: this.targetGroup.targetGroupArn };
    (this.listener.node.defaultChild as CfnListener).addPropertyOverride('DefaultActions', Fn.conditionIf(hasCertificate.logicalId, [redirect], [forward]));
    this.url = `${Fn.conditionIf(hasCertificate.logicalId, 'https', 'http').toString()}://${dnsName}/`;
  }

  /**
   * Access logs to a bucket named by a literal or a token. ELB's own default attributes are `enabled` false with
   * an empty bucket and prefix, so an empty name sets exactly those; only `enabled` needs the condition.
   */
  private logAccessLogsTo(bucketName: string, prefix: string): CfnCondition | undefined {
    if (!Token.isUnresolved(prefix) && (prefix.startsWith('/') || prefix.endsWith('/') || /AWSLogs/.test(prefix))) {
      throw new SettingError(this, `accessLogsPrefix '${prefix}' must not start or end with '/' or contain 'AWSLogs'; ELB refuses it. Give a name such as 'web'.`);
    }
    this.loadBalancer.setAttribute('access_logs.s3.bucket', bucketName);
    this.loadBalancer.setAttribute('access_logs.s3.prefix', prefix);
    let condition: CfnCondition | undefined;
    if (Token.isUnresolved(bucketName)) {
      condition = new CfnCondition(this, 'HasAccessLogs', { expression: Fn.conditionNot(Fn.conditionEquals(bucketName, '')) });
      this.loadBalancer.setAttribute('access_logs.s3.enabled', Fn.conditionIf(condition.logicalId, 'true', 'false').toString());
    } else {
      if (bucketName === '') throw new SettingError(this, 'accessLogsBucketName is empty. Give a bucket name, or leave it out for no access logs.');
      this.loadBalancer.setAttribute('access_logs.s3.enabled', 'true');
    }
    Validations.of(this.loadBalancer).acknowledge({
      id: 'AwsSolutions::AwsSolutions-ELB2',
      reason:
        'Access logs are turned on at deploy time by naming a bucket (the AccessLogsBucket parameter), which needs a ' +
        'Region-specific bucket policy the stack cannot write for a bucket it does not own; empty leaves them off.',
    });
    return condition;
  }

  private checkCertificateArn(arn: string): void {
    if (arn === '') {
      throw new SettingError(this, 'certificateArn is empty. Give an ACM certificate ARN for HTTPS, or leave certificateArn out for HTTP only.');
    }
    if (!new RegExp(ACM_CERTIFICATE_ARN_PATTERN).test(arn)) {
      throw new SettingError(
        this,
        `certificateArn must be an ACM certificate ARN, arn:<partition>:acm:<region>:<account>:certificate/<id>; got '${arn}'. ` +
          'Copy it from the ACM console or `aws acm list-certificates`.',
      );
    }
    const region = Stack.of(this).region;
    const certificateRegion = arn.split(':')[3];
    if (!Token.isUnresolved(region) && certificateRegion !== region) {
      throw new SettingError(this, `certificateArn is in ${certificateRegion}, but the load balancer is in ${region}. Request or import the certificate in ${region}.`);
    }
  }
}

/**
 * The `CertificateArn` parameter both stacks take: empty for HTTP only, or an ACM certificate in the stack's
 * Region for HTTPS on :443 with :80 redirecting to it. Pass its value as `certificateArn`.
 */
export function certificateArnParameter(scope: Construct): CfnParameter {
  return new CfnParameter(scope, 'CertificateArn', {
    type: 'String',
    default: '',
    description: 'Optional ACM certificate ARN for HTTPS on :443 (:80 then redirects). Empty: HTTP only.',
    allowedPattern: `^$|${ACM_CERTIFICATE_ARN_PATTERN}`,
    constraintDescription: 'must be empty or an ACM certificate ARN',
  });
}

/** Bucket names S3 accepts today: 3 to 63 lowercase letters, digits, dots and hyphens, starting and ending with a letter or digit. */
const BUCKET_NAME_PATTERN = '^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$';

/**
 * The `AccessLogsBucket` and `AccessLogsPrefix` parameters both stacks take, as WebLoadBalancer props: spread
 * the result into them. An empty bucket leaves access logs off.
 */
export function accessLogsParameters(scope: Construct): Pick<WebLoadBalancerProps, 'accessLogsBucketName' | 'accessLogsPrefix'> {
  const bucket = new CfnParameter(scope, 'AccessLogsBucket', {
    type: 'String',
    default: '',
    description: 'Optional: an S3 bucket in this Region, with the ELB log delivery policy, for the ALB access logs. Empty: no access logs.',
    allowedPattern: `^$|${BUCKET_NAME_PATTERN}`,
    constraintDescription: 'must be empty or an S3 bucket name',
  });
  const prefix = new CfnParameter(scope, 'AccessLogsPrefix', {
    type: 'String',
    default: '',
    description: 'Optional: prefix of the access-log objects in AccessLogsBucket, without slashes at either end.',
    allowedPattern: '^$|^[^/].*[^/]$|^[^/]$',
    constraintDescription: 'must not start or end with a slash',
  });
  return { accessLogsBucketName: bucket.valueAsString, accessLogsPrefix: prefix.valueAsString };
}
