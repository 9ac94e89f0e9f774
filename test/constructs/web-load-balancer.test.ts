import type { App } from 'aws-cdk-lib/core';
import { CfnWaitConditionHandle, Duration, Stack, Validations } from 'aws-cdk-lib/core';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { SubnetType, Vpc } from 'aws-cdk-lib/aws-ec2';
import { TargetType } from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import { Bucket } from 'aws-cdk-lib/aws-s3';
import { AwsSolutionsChecks } from 'cdk-nag';
import { describe, expect, it } from 'vitest';
import type { WebLoadBalancerProps } from '../../lib/constructs/web-load-balancer';
import { accessLogsParameters, ACM_CERTIFICATE_ARN_PATTERN, certificateArnParameter, WebLoadBalancer } from '../../lib/constructs/web-load-balancer';
import { ingressRules, newApp, resourcesOfType, templateJson } from '../support/app';
import { acknowledged } from '../support/constructs';

interface Built {
  readonly stack: Stack;
  readonly vpc: Vpc;
  readonly web: WebLoadBalancer;
  readonly template: Template;
}

const CERTIFICATE_ARN = 'arn:aws:acm:us-east-2:123456789012:certificate/12345678-90ab-cdef-1234-567890abcdef';
const TLS_POLICY = 'ELBSecurityPolicy-TLS13-1-2-2021-06';

/** Where `certificateArn` comes from: nowhere, a literal, or the `CertificateArn` parameter of `certificateArnParameter`, which may be empty. */
type Mode = 'none' | 'literal' | 'parameter';

/**
 * A load balancer for instance targets in a fresh stack, in `region` when given (ALB access logs need one),
 * and a resource standing in for the Spot Fleet and the ECS service: it depends on `loadBalancerAttached`.
 */
function buildIn(app: App, mode: Mode, region?: string, props: Partial<WebLoadBalancerProps> = {}): Built {
  const stack = new Stack(app, 'Host', region === undefined ? {} : { env: { region } });
  const vpc = new Vpc(stack, 'Vpc', { maxAzs: 2, natGateways: 0, restrictDefaultSecurityGroup: false });
  Validations.of(vpc).acknowledge({ id: 'AwsSolutions::AwsSolutions-VPC7', reason: 'A VPC for these tests only; PublicVpc has flow logs.' });
  const certificateArn =
    mode === 'literal'
      ? CERTIFICATE_ARN
      : mode === 'parameter'
        ? certificateArnParameter(stack).valueAsString
        : undefined;
  const web = new WebLoadBalancer(stack, 'Web', { vpc, targetType: TargetType.INSTANCE, certificateArn, ...props });
  new CfnWaitConditionHandle(stack, 'Attached').node.addDependency(web.targetGroup.loadBalancerAttached);
  return { stack, vpc, web, template: Template.fromStack(stack) };
}

function build(props: Partial<WebLoadBalancerProps> = {}, mode: Mode = 'none'): Built {
  return buildIn(newApp(), mode, 'us-east-2', props);
}

/** Builds a load balancer with `props` in a fresh stack, for `toThrow`. */
function attempt(props: Partial<WebLoadBalancerProps>): () => void {
  return () => build(props);
}

/** The logical id of the HasCertificate condition. */
function condition(stack: Stack, web: WebLoadBalancer): string {
  expect(web.hasCertificate).toBeDefined();
  return stack.resolve(web.hasCertificate?.logicalId) as string;
}

/** Listeners by port: their logical ids, properties and conditions. */
function listeners(template: Template): Record<number, { id: string; properties: Record<string, unknown>; condition?: string }> {
  const resources = Object.entries(templateJson(template).Resources).filter(([, r]) => r.Type === 'AWS::ElasticLoadBalancingV2::Listener');
  return Object.fromEntries(resources.map(([id, r]) => [r.Properties?.Port as number, { id, properties: r.Properties ?? {}, condition: r.Condition }]));
}

/** The DependsOn of the stand-in for the fleet and the service. */
function waitsFor(template: Template): string[] | undefined {
  return templateJson(template).Resources.Attached?.DependsOn;
}

function id(stack: Stack, construct: { node: { defaultChild?: unknown } }): string {
  return stack.getLogicalId(construct.node.defaultChild as never);
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
    expect(web.httpsListener).toBeUndefined();
    expect(web.hasCertificate).toBeUndefined();
    expect(templateJson(template).Conditions).toBeUndefined();
    expect(waitsFor(template)).toEqual([id(stack, web.listener)]);
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

describe('access logs through the AccessLogsBucket parameter', () => {
  function withParameters(): Built & { condition: string } {
    const app = newApp();
    Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
    const stack = new Stack(app, 'Host', { env: { region: 'us-east-2' } });
    const vpc = new Vpc(stack, 'Vpc', { maxAzs: 2, natGateways: 0, restrictDefaultSecurityGroup: false });
    Validations.of(vpc).acknowledge({ id: 'AwsSolutions::AwsSolutions-VPC7', reason: 'A VPC for these tests only; PublicVpc has flow logs.' });
    const web = new WebLoadBalancer(stack, 'Web', { vpc, targetType: TargetType.IP, ...accessLogsParameters(stack) });
    const template = Template.fromStack(stack);
    return { stack, vpc, web, template, condition: stack.resolve(web.hasAccessLogs?.logicalId) as string };
  }

  it('turns access logs on only when the bucket parameter is not empty, with the bucket and prefix the parameters name', () => {
    const { web, template, condition } = withParameters();
    expect(templateJson(template).Conditions?.[condition]).toEqual({ 'Fn::Not': [{ 'Fn::Equals': [{ Ref: 'AccessLogsBucket' }, ''] }] });
    template.hasResourceProperties('AWS::ElasticLoadBalancingV2::LoadBalancer', {
      LoadBalancerAttributes: Match.arrayWith([
        { Key: 'access_logs.s3.bucket', Value: { Ref: 'AccessLogsBucket' } },
        { Key: 'access_logs.s3.prefix', Value: { Ref: 'AccessLogsPrefix' } },
        { Key: 'access_logs.s3.enabled', Value: { 'Fn::If': [condition, 'true', 'false'] } },
      ]),
    });
    // The bucket is someone else's: no bucket, and no bucket policy, in the stack.
    template.resourceCountIs('AWS::S3::Bucket', 0);
    template.resourceCountIs('AWS::S3::BucketPolicy', 0);
    expect(acknowledged(web.loadBalancer)).toEqual(['AwsSolutions::AwsSolutions-ELB2']);
  });

  it('keeps dropping invalid header fields beside the access-log attributes', () => {
    withParameters().template.hasResourceProperties('AWS::ElasticLoadBalancingV2::LoadBalancer', {
      LoadBalancerAttributes: Match.arrayWith([{ Key: 'routing.http.drop_invalid_header_fields.enabled', Value: 'true' }]),
    });
  });

  it('are an optional bucket name and an optional prefix, both empty by default', () => {
    const { template } = withParameters();
    const parameters = templateJson(template).Parameters ?? {};
    expect(parameters.AccessLogsBucket).toMatchObject({ Type: 'String', Default: '' });
    expect(parameters.AccessLogsPrefix).toMatchObject({ Type: 'String', Default: '' });
    const bucket = new RegExp((parameters.AccessLogsBucket as { AllowedPattern: string }).AllowedPattern);
    const prefix = new RegExp((parameters.AccessLogsPrefix as { AllowedPattern: string }).AllowedPattern);
    for (const ok of ['', 'my-logs', 'logs.example.com']) expect(bucket.test(ok), ok).toBe(true);
    for (const bad of ['My-Logs', 'ab', 's3://my-logs', '-logs']) expect(bucket.test(bad), bad).toBe(false);
    for (const ok of ['', 'web', 'a', 'site/web']) expect(prefix.test(ok), ok).toBe(true);
    for (const bad of ['/web', 'web/']) expect(prefix.test(bad), bad).toBe(false);
  });

  it('logs access to a bucket named by a literal, unconditionally', () => {
    const { web, template } = build({ accessLogsBucketName: 'my-logs', accessLogsPrefix: 'site' });
    expect(web.hasAccessLogs).toBeUndefined();
    template.hasResourceProperties('AWS::ElasticLoadBalancingV2::LoadBalancer', {
      LoadBalancerAttributes: Match.arrayWith([
        { Key: 'access_logs.s3.bucket', Value: 'my-logs' },
        { Key: 'access_logs.s3.prefix', Value: 'site' },
        { Key: 'access_logs.s3.enabled', Value: 'true' },
      ]),
    });
  });

  it('fails when both a bucket and a bucket name are given', () => {
    const stack = new Stack(newApp(), 'Host', { env: { region: 'us-east-2' } });
    const vpc = new Vpc(stack, 'Vpc', { maxAzs: 2, natGateways: 0, restrictDefaultSecurityGroup: false });
    const bucket = new Bucket(stack, 'Logs');
    expect(() => new WebLoadBalancer(stack, 'Web', { vpc, targetType: TargetType.IP, accessLogsBucket: bucket, accessLogsBucketName: 'my-logs' })).toThrow(
      /^Host\/Web: accessLogsBucket and accessLogsBucketName are both given/,
    );
  });

  it('fails when a literal bucket name is empty, or the prefix has slashes at either end or AWSLogs', () => {
    expect(attempt({ accessLogsBucketName: '' })).toThrow(/^Host\/Web: accessLogsBucketName is empty\./);
    expect(attempt({ accessLogsBucketName: 'my-logs', accessLogsPrefix: '/web' })).toThrow(/^Host\/Web: accessLogsPrefix '\/web' must not start or end with '\/'/);
    expect(attempt({ accessLogsBucketName: 'my-logs', accessLogsPrefix: 'AWSLogs' })).toThrow(/contain 'AWSLogs'/);
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

describe('HTTPS with a literal certificate ARN', () => {
  it('serves HTTPS :443 with the certificate and a TLS 1.3/1.2 policy, forwarding to the target group', () => {
    const { stack, web, template } = build({}, 'literal');
    const byPort = listeners(template);
    expect(Object.keys(byPort)).toEqual(['80', '443']);
    expect(byPort[443]).toEqual({
      id: id(stack, web.httpsListener!),
      condition: undefined,
      properties: {
        LoadBalancerArn: { Ref: id(stack, web.loadBalancer) },
        Port: 443,
        Protocol: 'HTTPS',
        Certificates: [{ CertificateArn: CERTIFICATE_ARN }],
        SslPolicy: TLS_POLICY,
        DefaultActions: [{ Type: 'forward', TargetGroupArn: { Ref: id(stack, web.targetGroup) } }],
      },
    });
  });

  it('redirects HTTP :80 to HTTPS :443 with a 301, keeping host, path and query', () => {
    const { stack, web, template } = build({}, 'literal');
    const http = listeners(template)[80];
    expect(http?.id).toBe(id(stack, web.listener));
    expect(http?.condition).toBeUndefined();
    expect(http?.properties.DefaultActions).toEqual([{ Type: 'redirect', RedirectConfig: { Protocol: 'HTTPS', Port: '443', StatusCode: 'HTTP_301' } }]);
  });

  it('admits HTTP :80 and HTTPS :443 from any IPv4 address and nothing else, under the one acknowledgement', () => {
    const { stack, web, template } = build({}, 'literal');
    const group = id(stack, web.securityGroup);
    expect(ingressRules(template)).toEqual([
      { group, protocol: 'tcp', fromPort: 80, toPort: 80, source: { CidrIp: '0.0.0.0/0' } },
      { group, protocol: 'tcp', fromPort: 443, toPort: 443, source: { CidrIp: '0.0.0.0/0' } },
    ]);
    expect(acknowledged(web.securityGroup)).toEqual(['AwsSolutions::AwsSolutions-EC23']);
  });

  it('gives its URL as https://<DNS name>/, has no condition, and attaches the target group through the :443 listener', () => {
    const { stack, web, template } = build({}, 'literal');
    expect(stack.resolve(web.url)).toEqual({ 'Fn::Join': ['', ['https://', { 'Fn::GetAtt': [id(stack, web.loadBalancer), 'DNSName'] }, '/']] });
    expect(web.hasCertificate).toBeUndefined();
    expect(templateJson(template).Conditions).toBeUndefined();
    expect(waitsFor(template)).toEqual([id(stack, web.httpsListener!)]);
  });
});

describe('HTTPS through a CertificateArn parameter', () => {
  it('adds the HasCertificate condition: the parameter is not empty', () => {
    const { stack, web, template } = build({}, 'parameter');
    expect(web.hasCertificate).toBeDefined();
    expect(templateJson(template).Conditions).toEqual({
      [condition(stack, web)]: { 'Fn::Not': [{ 'Fn::Equals': [{ Ref: 'CertificateArn' }, ''] }] },
    });
  });

  it('serves HTTPS :443 with the parameter\'s certificate only under the condition', () => {
    const { stack, web, template } = build({}, 'parameter');
    expect(listeners(template)[443]).toEqual({
      id: id(stack, web.httpsListener!),
      condition: condition(stack, web),
      properties: {
        LoadBalancerArn: { Ref: id(stack, web.loadBalancer) },
        Port: 443,
        Protocol: 'HTTPS',
        Certificates: [{ CertificateArn: { Ref: 'CertificateArn' } }],
        SslPolicy: TLS_POLICY,
        DefaultActions: [{ Type: 'forward', TargetGroupArn: { Ref: id(stack, web.targetGroup) } }],
      },
    });
  });

  it('has one unconditional :80 listener that redirects when there is a certificate and forwards when not', () => {
    const { stack, web, template } = build({}, 'parameter');
    const http = listeners(template)[80];
    expect(http?.id).toBe(id(stack, web.listener));
    expect(http?.condition).toBeUndefined();
    expect(http?.properties.DefaultActions).toEqual({
      'Fn::If': [
        condition(stack, web),
        // The Ref orders the :443 listener before this one when both exist; the value is '443'.
        [{ Type: 'redirect', RedirectConfig: { Protocol: 'HTTPS', Port: { 'Fn::Select': [0, ['443', { Ref: id(stack, web.httpsListener!) }]] }, StatusCode: 'HTTP_301' } }],
        [{ Type: 'forward', TargetGroupArn: { Ref: id(stack, web.targetGroup) } }],
      ],
    });
  });

  it('admits HTTPS :443 only under the condition, covered by the security group\'s acknowledgement', () => {
    const { stack, web, template } = build({}, 'parameter');
    const group = id(stack, web.securityGroup);
    expect(ingressRules(template)).toEqual([
      { group, protocol: 'tcp', fromPort: 80, toPort: 80, source: { CidrIp: '0.0.0.0/0' } },
      { group, protocol: 'tcp', fromPort: 443, toPort: 443, source: { CidrIp: '0.0.0.0/0' } },
    ]);
    const conditional = Object.values(templateJson(template).Resources).filter((r) => r.Type === 'AWS::EC2::SecurityGroupIngress');
    expect(conditional.map((r) => [r.Properties?.FromPort, r.Condition])).toEqual([[443, condition(stack, web)]]);
    expect(acknowledged(web.securityGroup)).toEqual(['AwsSolutions::AwsSolutions-EC23']);
  });

  it('gives its URL as https:// with a certificate and http:// without, the scheme alone under the condition', () => {
    const { stack, web } = build({}, 'parameter');
    const dns = { 'Fn::GetAtt': [id(stack, web.loadBalancer), 'DNSName'] };
    expect(stack.resolve(web.url)).toEqual({
      'Fn::Join': ['', [{ 'Fn::If': [condition(stack, web), 'https', 'http'] }, '://', dns, '/']],
    });
  });

  it('makes dependents of loadBalancerAttached wait for the unconditional :80 listener alone', () => {
    const { stack, web, template } = build({}, 'parameter');
    expect(waitsFor(template)).toEqual([id(stack, web.listener)]);
  });
});

describe('certificateArnParameter', () => {
  function parameter(): Record<string, unknown> {
    const stack = new Stack(newApp(), 'Host');
    certificateArnParameter(stack);
    return templateJson(Template.fromStack(stack)).Parameters?.CertificateArn as Record<string, unknown>;
  }

  it('is an optional CertificateArn string parameter, empty by default, that allows an ACM certificate ARN', () => {
    expect(parameter()).toEqual({
      Type: 'String',
      Default: '',
      Description: 'Optional ACM certificate ARN for HTTPS on :443 (:80 then redirects). Empty: HTTP only.',
      AllowedPattern: `^$|${ACM_CERTIFICATE_ARN_PATTERN}`,
      ConstraintDescription: 'must be empty or an ACM certificate ARN',
    });
  });

  it.each(['', CERTIFICATE_ARN, 'arn:aws-cn:acm:cn-north-1:123456789012:certificate/12345678-90ab-cdef-1234-567890abcdef'])('allows %j', (value) => {
    expect(new RegExp(parameter().AllowedPattern as string).test(value)).toBe(true);
  });

  it.each(['arn:aws:iam::123456789012:server-certificate/site', ` ${CERTIFICATE_ARN}`, '12345678-90ab-cdef-1234-567890abcdef'])('refuses %j', (value) => {
    expect(new RegExp(parameter().AllowedPattern as string).test(value)).toBe(false);
  });
});

describe('checks', () => {
  it('passes cdk-nag AwsSolutions in all three modes with its own acknowledgements', () => {
    for (const mode of ['none', 'literal', 'parameter'] as const) {
      const app = newApp();
      // Before the first synth, which buildIn runs: a later app.synth() would return that assembly unchecked.
      Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
      expect(() => buildIn(app, mode, 'us-east-2'), mode).not.toThrow();
    }
  });

  // cfn-lint: test/cfn-lint.test.ts lints the load balancer without a certificate and with a literal one, beside
  // the stacks, which hold it with the CertificateArn parameter, in every Region.
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

  it('accepts ACM certificate ARNs of every partition', () => {
    const arn = (partition: string, region: string): string => `arn:${partition}:acm:${region}:123456789012:certificate/12345678-90ab-cdef-1234-567890abcdef`;
    expect(() => buildIn(newApp(), 'none', undefined, { certificateArn: arn('aws-cn', 'cn-north-1') })).not.toThrow();
    expect(() => buildIn(newApp(), 'none', undefined, { certificateArn: arn('aws-us-gov', 'us-gov-west-1') })).not.toThrow();
    expect(() => buildIn(newApp(), 'none', undefined, { certificateArn: arn('aws-eusc', 'eusc-de-east-1') })).not.toThrow();
  });

  it('fails when certificateArn is not an ACM certificate ARN', () => {
    const expected = /^Host\/Web: certificateArn must be an ACM certificate ARN, arn:<partition>:acm:<region>:<account>:certificate\/<id>; got '.*'\. Copy it from/;
    expect(attempt({ certificateArn: 'arn:aws:iam::123456789012:server-certificate/site' })).toThrow(expected);
    expect(attempt({ certificateArn: 'arn:aws:acm:us-east-2::certificate/12345678-90ab-cdef-1234-567890abcdef' })).toThrow(expected);
    expect(attempt({ certificateArn: '12345678-90ab-cdef-1234-567890abcdef' })).toThrow(expected);
    expect(attempt({ certificateArn: ` ${CERTIFICATE_ARN}` })).toThrow(expected);
  });

  it('fails when certificateArn is empty, saying to leave it out for HTTP only', () => {
    expect(attempt({ certificateArn: '' })).toThrow(/^Host\/Web: certificateArn is empty\. .*leave certificateArn out for HTTP only\.$/);
  });

  it('fails when the certificate is in another Region than the stack', () => {
    expect(attempt({ certificateArn: CERTIFICATE_ARN.replace('us-east-2', 'us-east-1') })).toThrow(
      /^Host\/Web: certificateArn is in us-east-1, but the load balancer is in us-east-2\. Request or import the certificate in us-east-2\.$/,
    );
  });

  it('fails when the target port is not a TCP port', () => {
    expect(attempt({ targetPort: 70000 })).toThrow(/^Host\/Web: targetPort must be a whole number from 1 to 65535; got 70000\.$/);
  });
});
