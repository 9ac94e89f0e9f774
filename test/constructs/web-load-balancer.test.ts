import { Duration, Stack, Validations } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { SubnetType, Vpc } from 'aws-cdk-lib/aws-ec2';
import { TargetType } from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import { Bucket } from 'aws-cdk-lib/aws-s3';
import type { IConstruct } from 'constructs';
import { describe, expect, it } from 'vitest';
import type { WebLoadBalancerProps } from '../../lib/constructs/web-load-balancer';
import { WebLoadBalancer } from '../../lib/constructs/web-load-balancer';
import { ingressRules, newApp, resourcesOfType } from '../support/app';

interface Built {
  readonly stack: Stack;
  readonly vpc: Vpc;
  readonly web: WebLoadBalancer;
  readonly template: Template;
}

/** A fresh stack (in a Region, which ALB access logs need) holding one load balancer for instance targets. */
function build(props: Partial<WebLoadBalancerProps> = {}): Built {
  const stack = new Stack(newApp(), 'Host', { env: { region: 'us-east-2' } });
  const vpc = new Vpc(stack, 'Vpc', { maxAzs: 2, natGateways: 0, restrictDefaultSecurityGroup: false });
  const web = new WebLoadBalancer(stack, 'Web', { vpc, targetType: TargetType.INSTANCE, ...props });
  return { stack, vpc, web, template: Template.fromStack(stack) };
}

/** Builds a load balancer with `props` in a fresh stack, for `toThrow`. */
function attempt(props: Partial<WebLoadBalancerProps>): () => void {
  return () => build(props);
}

function id(stack: Stack, construct: { node: { defaultChild?: unknown } }): string {
  return stack.getLogicalId(construct.node.defaultChild as never);
}

function acknowledged(construct: IConstruct): string[] {
  return construct.node.metadata
    .filter((entry) => entry.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY)
    .flatMap((entry) => Object.keys(entry.data as Record<string, string>));
}

describe('load balancer', () => {
  it('is internet-facing in the public subnets, drops invalid headers, and listens on HTTP :80 forwarding to its target group', () => {
    const { stack, vpc, web, template } = build();
    template.hasResourceProperties('AWS::ElasticLoadBalancingV2::LoadBalancer', {
      Scheme: 'internet-facing',
      Type: 'application',
      Subnets: vpc.selectSubnets({ subnetType: SubnetType.PUBLIC }).subnets.map((subnet) => ({ Ref: id(stack, subnet) })),
      SecurityGroups: [{ 'Fn::GetAtt': [id(stack, web.securityGroup), 'GroupId'] }],
      LoadBalancerAttributes: Match.arrayWith([{ Key: 'routing.http.drop_invalid_header_fields.enabled', Value: 'true' }]),
    });
    template.resourceCountIs('AWS::ElasticLoadBalancingV2::Listener', 1);
    template.hasResourceProperties('AWS::ElasticLoadBalancingV2::Listener', {
      Port: 80,
      Protocol: 'HTTP',
      DefaultActions: [{ Type: 'forward', TargetGroupArn: { Ref: id(stack, web.targetGroup) } }],
    });
  });

  it('gives its URL as http://<DNS name>/', () => {
    const { stack, web } = build();
    expect(stack.resolve(web.url)).toEqual({ 'Fn::Join': ['', ['http://', { 'Fn::GetAtt': [id(stack, web.loadBalancer), 'DNSName'] }, '/']] });
  });

  it('admits HTTP :80 from any IPv4 address and nothing else, acknowledged for cdk-nag on the security group alone', () => {
    const { stack, web, template } = build();
    expect(ingressRules(template)).toEqual([
      { group: id(stack, web.securityGroup), protocol: 'tcp', fromPort: 80, toPort: 80, source: { CidrIp: '0.0.0.0/0' } },
    ]);
    expect(acknowledged(web.securityGroup)).toEqual(['AwsSolutions::AwsSolutions-EC23']);
  });

  it('has no access logs by default, acknowledged for cdk-nag on the load balancer alone', () => {
    const { web, template } = build();
    const attributes = resourcesOfType(template, 'AWS::ElasticLoadBalancingV2::LoadBalancer').flatMap(
      ([, p]) => p.LoadBalancerAttributes as { Key: string; Value: string }[],
    );
    expect(attributes).not.toContainEqual({ Key: 'access_logs.s3.enabled', Value: 'true' });
    expect(acknowledged(web.loadBalancer)).toEqual(['AwsSolutions::AwsSolutions-ELB2']);
  });

  it('logs access to the bucket it is given, under its own id', () => {
    const stack = new Stack(newApp(), 'Host', { env: { region: 'us-east-2' } });
    const vpc = new Vpc(stack, 'Vpc', { maxAzs: 2, natGateways: 0, restrictDefaultSecurityGroup: false });
    const bucket = new Bucket(stack, 'Logs');
    const web = new WebLoadBalancer(stack, 'Web', { vpc, targetType: TargetType.IP, accessLogsBucket: bucket });
    Template.fromStack(stack).hasResourceProperties('AWS::ElasticLoadBalancingV2::LoadBalancer', {
      LoadBalancerAttributes: Match.arrayWith([
        { Key: 'access_logs.s3.enabled', Value: 'true' },
        { Key: 'access_logs.s3.bucket', Value: { Ref: id(stack, bucket) } },
        { Key: 'access_logs.s3.prefix', Value: 'Web' },
      ]),
    });
    expect(acknowledged(web.loadBalancer)).toEqual([]);
  });
});

describe('target group', () => {
  it('takes HTTP :80 targets of the given type, health-checked on / every 10 s, draining in 90 s by default', () => {
    const { web, template } = build();
    template.hasResourceProperties('AWS::ElasticLoadBalancingV2::TargetGroup', {
      TargetType: 'instance',
      Port: 80,
      Protocol: 'HTTP',
      HealthCheckPath: '/',
      HealthCheckIntervalSeconds: 10,
      HealthCheckTimeoutSeconds: 5,
      HealthyThresholdCount: 2,
      UnhealthyThresholdCount: 2,
      Matcher: { HttpCode: '200-399' },
      TargetGroupAttributes: Match.arrayWith([{ Key: 'deregistration_delay.timeout_seconds', Value: '90' }]),
    });
    expect(web.deregistrationDelay.toSeconds()).toBe(90);
  });

  it('takes the target type, target port, health check path and deregistration delay as props', () => {
    const { web, template } = build({ targetType: TargetType.IP, targetPort: 8080, healthCheckPath: '/health', deregistrationDelay: Duration.seconds(45) });
    template.hasResourceProperties('AWS::ElasticLoadBalancingV2::TargetGroup', {
      TargetType: 'ip',
      Port: 8080,
      HealthCheckPath: '/health',
      TargetGroupAttributes: Match.arrayWith([{ Key: 'deregistration_delay.timeout_seconds', Value: '45' }]),
    });
    expect(web.deregistrationDelay.toSeconds()).toBe(45);
  });
});

describe('validation', () => {
  it('accepts any whole deregistration delay from 0 s to the 100 s that still fits the notice', () => {
    expect(attempt({ deregistrationDelay: Duration.seconds(0) })).not.toThrow();
    expect(attempt({ deregistrationDelay: Duration.seconds(100) })).not.toThrow();
  });

  it('fails when the deregistration delay is 120 s or more', () => {
    expect(attempt({ deregistrationDelay: Duration.seconds(120) })).toThrow(/^Host\/Web: deregistrationDelay must be .* 0 to 100; got 120/);
    expect(attempt({ deregistrationDelay: Duration.minutes(5) })).toThrow(/^Host\/Web: .*120 s notice/);
  });

  it('fails when the deregistration delay leaves no time for event delivery and the drainer start', () => {
    expect(attempt({ deregistrationDelay: Duration.seconds(101) })).toThrow(/^Host\/Web: deregistrationDelay .*got 101\..*up to 20 s/);
  });

  it('fails when the deregistration delay is not whole seconds', () => {
    expect(attempt({ deregistrationDelay: Duration.millis(1500) })).toThrow(/^Host\/Web: deregistrationDelay .*got 1\.5\. Give a whole number of seconds/);
  });

  it('fails when the target port is not a TCP port', () => {
    expect(attempt({ targetPort: 70000 })).toThrow(/^Host\/Web: targetPort must be a whole number from 1 to 65535; got 70000\.$/);
  });
});
