import { Duration } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { ContainerImage } from 'aws-cdk-lib/aws-ecs';
import { Schedule } from 'aws-cdk-lib/aws-events';
import { beforeAll, describe, expect, it } from 'vitest';
import type { FargateServiceStackProps } from '../lib/fargate-service-stack';
import { DEFAULT_NGINX_IMAGE, FargateServiceStack } from '../lib/fargate-service-stack';
import { ingressRules, newApp, publicSubnetZones, resourcesOfType, templateJson } from './support/app';

function synth(props: FargateServiceStackProps = {}): Template {
  return Template.fromStack(new FargateServiceStack(newApp(), 'FargateService', props));
}

function logicalId(template: Template, type: string, props?: Record<string, unknown>): string {
  const ids = Object.keys(template.findResources(type, props === undefined ? undefined : { Properties: Match.objectLike(props) }));
  expect(ids, `exactly one ${type}`).toHaveLength(1);
  return ids[0] as string;
}

let template: Template;
let ids: { alb: string; task: string; prober: string; endpoint: string; fn: string; cloudMap: string; namespace: string };
beforeAll(() => {
  template = synth();
  const sg = (description: string) =>
    logicalId(template, 'AWS::EC2::SecurityGroup', { GroupDescription: Match.stringLikeRegexp(description) });
  ids = {
    alb: sg('^Internet-facing ALB'),
    task: sg('^Fargate tasks'),
    prober: sg('^Cloud Map prober'),
    endpoint: sg('^Cloud Map data-plane endpoint'),
    fn: logicalId(template, 'AWS::Lambda::Function', { Environment: { Variables: Match.objectLike({ NAMESPACE_NAME: Match.anyValue() }) } }),
    cloudMap: logicalId(template, 'AWS::ServiceDiscovery::Service'),
    namespace: logicalId(template, 'AWS::ServiceDiscovery::PrivateDnsNamespace'),
  };
});

describe('network', () => {
  it('has public subnets in two AZs, each routed to an internet gateway, and no NAT gateway', () => {
    template.resourceCountIs('AWS::EC2::Subnet', 2);
    template.resourceCountIs('AWS::EC2::InternetGateway', 1);
    template.resourceCountIs('AWS::EC2::NatGateway', 0);
    expect(publicSubnetZones(template)).toEqual([0, 1].map((index) => ({ 'Fn::Select': [index, { 'Fn::GetAZs': '' }] })));
  });
});

describe('service', () => {
  it('sits behind the ALB target group, reached on the container port', () => {
    template.hasResourceProperties('AWS::ECS::Service', {
      LoadBalancers: [
        { ContainerName: 'Web', ContainerPort: 80, TargetGroupArn: { Ref: logicalId(template, 'AWS::ElasticLoadBalancingV2::TargetGroup') } },
      ],
    });
  });

  it('registers in the stack\'s Cloud Map namespace, spotwise.internal in its VPC', () => {
    template.hasResourceProperties('AWS::ServiceDiscovery::Service', { NamespaceId: { 'Fn::GetAtt': [ids.namespace, 'Id'] } });
    template.hasResourceProperties('AWS::ServiceDiscovery::PrivateDnsNamespace', {
      Name: 'spotwise.internal',
      Vpc: { Ref: logicalId(template, 'AWS::EC2::VPC') },
    });
  });

  it('takes the namespace name as a prop', () => {
    synth({ namespaceName: 'blue.internal' }).hasResourceProperties('AWS::ServiceDiscovery::PrivateDnsNamespace', { Name: 'blue.internal' });
  });

  it('runs nginx from Docker Hub at a pinned tag, never latest', () => {
    expect(DEFAULT_NGINX_IMAGE).toMatch(/^nginx:\d+\.\d+\.\d+$/);
    template.hasResourceProperties('AWS::ECS::TaskDefinition', {
      ContainerDefinitions: [Match.objectLike({ Image: DEFAULT_NGINX_IMAGE })],
    });
  });

  it('takes the image, desired count and stop timeout as props', () => {
    const t = synth({ image: ContainerImage.fromRegistry('public.ecr.aws/nginx/nginx:1.28.0'), desiredCount: 4, stopTimeout: Duration.seconds(10) });
    t.hasResourceProperties('AWS::ECS::TaskDefinition', {
      ContainerDefinitions: [Match.objectLike({ Image: 'public.ecr.aws/nginx/nginx:1.28.0', StopTimeout: 10 })],
    });
    t.hasResourceProperties('AWS::ECS::Service', { DesiredCount: { Ref: 'DesiredCount' } });
    expect(templateJson(t).Parameters?.DesiredCount).toMatchObject({ Default: 4 });
  });

  it('runs the DesiredCount parameter\'s tasks, 2 by default, so that a deploy of the plain template can change it', () => {
    expect(templateJson(template).Parameters?.DesiredCount).toEqual({
      Type: 'Number',
      Default: 2,
      MinValue: 1,
      MaxValue: 1000,
      Description: 'Tasks the ECS service keeps running, half of them on Fargate Spot.',
    });
    template.hasResourceProperties('AWS::ECS::Service', { DesiredCount: { Ref: 'DesiredCount' } });
  });
});

describe('load balancer', () => {
  it('is an internet-facing ALB with an HTTP :80 listener and IP targets draining in 30 s', () => {
    template.hasResourceProperties('AWS::ElasticLoadBalancingV2::LoadBalancer', { Scheme: 'internet-facing' });
    template.hasResourceProperties('AWS::ElasticLoadBalancingV2::Listener', { Port: 80, Protocol: 'HTTP' });
    template.hasResourceProperties('AWS::ElasticLoadBalancingV2::TargetGroup', {
      TargetType: 'ip',
      TargetGroupAttributes: Match.arrayWith([{ Key: 'deregistration_delay.timeout_seconds', Value: '30' }]),
    });
  });

  it('takes the deregistration delay as a prop', () => {
    synth({ deregistrationDelay: Duration.seconds(45) }).hasResourceProperties('AWS::ElasticLoadBalancingV2::TargetGroup', {
      TargetGroupAttributes: Match.arrayWith([{ Key: 'deregistration_delay.timeout_seconds', Value: '45' }]),
    });
  });
});

describe('security group edges', () => {
  const ingressTo = (group: string) =>
    resourcesOfType(template, 'AWS::EC2::SecurityGroupIngress')
      .filter(([, p]) => JSON.stringify(p.GroupId) === JSON.stringify({ 'Fn::GetAtt': [group, 'GroupId'] }))
      .map(([, p]) => ({ from: (p.SourceSecurityGroupId as { 'Fn::GetAtt': [string] })['Fn::GetAtt'][0], port: p.FromPort, to: p.ToPort }));

  it('lets only the ALB and the prober reach the tasks, on port 80', () => {
    expect(templateJson(template).Resources[ids.task]?.Properties?.SecurityGroupIngress).toBeUndefined();
    expect(ingressTo(ids.task).sort((a, b) => a.from.localeCompare(b.from))).toEqual(
      [
        { from: ids.alb, port: 80, to: 80 },
        { from: ids.prober, port: 80, to: 80 },
      ].sort((a, b) => a.from.localeCompare(b.from)),
    );
  });

  it('lets only the prober reach the Cloud Map endpoint, on 443', () => {
    expect(templateJson(template).Resources[ids.endpoint]?.Properties?.SecurityGroupIngress).toBeUndefined();
    expect(ingressTo(ids.endpoint)).toEqual([{ from: ids.prober, port: 443, to: 443 }]);
  });

  it('lets the prober out only to the tasks on 80 and the endpoint on 443', () => {
    const egress = resourcesOfType(template, 'AWS::EC2::SecurityGroupEgress')
      .filter(([, p]) => JSON.stringify(p.GroupId) === JSON.stringify({ 'Fn::GetAtt': [ids.prober, 'GroupId'] }))
      .map(([, p]) => ({ to: (p.DestinationSecurityGroupId as { 'Fn::GetAtt': [string] })['Fn::GetAtt'][0], port: p.FromPort }));
    expect(egress.sort((a, b) => a.to.localeCompare(b.to))).toEqual(
      [
        { to: ids.task, port: 80 },
        { to: ids.endpoint, port: 443 },
      ].sort((a, b) => a.to.localeCompare(b.to)),
    );
    expect(templateJson(template).Resources[ids.prober]?.Properties?.SecurityGroupEgress).toBeUndefined();
  });

  it('admits nothing but security groups, except HTTP :80 from any IPv4 address to the ALB', () => {
    const fromAddresses = ingressRules(template).filter((rule) => !('SourceSecurityGroupId' in rule.source));
    expect(fromAddresses).toEqual([{ group: ids.alb, protocol: 'tcp', fromPort: 80, toPort: 80, source: { CidrIp: '0.0.0.0/0' } }]);
  });
});

describe('prober', () => {
  it('probes the service\'s instances: told its namespace and service, and may discover only those', () => {
    template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: {
        Variables: Match.objectLike({ NAMESPACE_NAME: 'spotwise.internal', SERVICE_NAME: { 'Fn::GetAtt': [ids.cloudMap, 'Name'] } }),
      },
    });
    const statements = resourcesOfType(template, 'AWS::IAM::Policy').flatMap(([, p]) =>
      (p.PolicyDocument as { Statement: { Action: string | string[]; Resource: unknown }[] }).Statement,
    );
    const discovery = statements.filter((s) => JSON.stringify(s.Action).includes('servicediscovery:'));
    expect(discovery).toEqual([
      {
        Effect: 'Allow',
        Action: 'servicediscovery:DiscoverInstances',
        Resource: [{ 'Fn::GetAtt': [ids.namespace, 'Arn'] }, { 'Fn::GetAtt': [ids.cloudMap, 'Arn'] }],
      },
    ]);
  });

  it('runs every minute by default, and takes the schedule as a typed prop', () => {
    template.hasResourceProperties('AWS::Events::Rule', {
      ScheduleExpression: 'rate(1 minute)',
      Targets: [Match.objectLike({ Arn: { 'Fn::GetAtt': [ids.fn, 'Arn'] } })],
    });
    synth({ probeSchedule: Schedule.rate(Duration.minutes(5)) }).hasResourceProperties('AWS::Events::Rule', {
      ScheduleExpression: 'rate(5 minutes)',
    });
  });

  it('gives the prober a 3 s probe timeout within a 30 s run by default, and a longer run when the probe timeout needs one', () => {
    template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: { Variables: Match.objectLike({ PROBE_TIMEOUT_MS: '3000' }) },
      Timeout: 30,
    });
    synth({ probeTimeout: Duration.seconds(20) }).hasResourceProperties('AWS::Lambda::Function', {
      Environment: { Variables: Match.objectLike({ PROBE_TIMEOUT_MS: '20000' }) },
      Timeout: 32,
    });
  });
});

/** The stack's own props are checked by the constructs it passes them to: each error names that construct and advises a prop the stack has. */
describe('validation', () => {
  it('fails when the deregistration delay is 120 s or more', () => {
    expect(() => synth({ deregistrationDelay: Duration.seconds(120) })).toThrow(/^FargateService\/Web: deregistrationDelay must be/);
  });

  it('fails when the stop timeout exceeds what Fargate allows', () => {
    expect(() => synth({ stopTimeout: Duration.seconds(121) })).toThrow(/^FargateService\/Service: stopTimeout must be .* 2 to 120; got 121/);
  });

  it('fails when draining and the stop timeout together outlast the Spot warning, since ECS drains before SIGTERM', () => {
    expect(() => synth({ deregistrationDelay: Duration.seconds(60), stopTimeout: Duration.seconds(60) })).toThrow(
      /^FargateService\/Service: deregistrationDelay \(60 s\) plus stopTimeout \(60 s\) must be at most 100 s; got 120 s.*Shorten deregistrationDelay or stopTimeout\.$/,
    );
    expect(() => synth({ deregistrationDelay: Duration.seconds(100), stopTimeout: Duration.seconds(120) })).toThrow(
      /^FargateService\/Service: .*must be at most 100 s/,
    );
  });

  it('accepts draining and a stop timeout that together use exactly the 100 s budget', () => {
    expect(() => synth({ deregistrationDelay: Duration.seconds(50), stopTimeout: Duration.seconds(50) })).not.toThrow();
  });

  it('fails when the desired count is below 1', () => {
    expect(() => synth({ desiredCount: 0 })).toThrow(/^FargateService: desiredCount must be a whole number from 1 to 1000; got 0/);
    expect(() => synth({ desiredCount: 1001 })).toThrow(/^FargateService: desiredCount must be a whole number from 1 to 1000; got 1001/);
  });

  it('fails when the probe timeout is below 100 ms', () => {
    expect(() => synth({ probeTimeout: Duration.millis(50) })).toThrow(/^FargateService\/Prober: probeTimeout .*at least 100 ms/);
  });

  it('fails when the probe timeout could not fit in any Lambda run, advising only a lower probe timeout', () => {
    expect(() => synth({ probeTimeout: Duration.seconds(889) })).toThrow(
      /^FargateService\/Prober: probeTimeout 889000 ms does not fit in the longest Lambda run, 900 s: .* Lower probeTimeout to at most 888000 ms\.$/,
    );
    expect(() => synth({ probeTimeout: Duration.seconds(888) })).not.toThrow();
  });
});

describe('deployment', () => {
  it('needs no CDK bootstrap and no assets', () => {
    const json = templateJson(template);
    expect(Object.keys(json.Parameters ?? {})).toEqual(['DesiredCount']);
    for (const [, fn] of resourcesOfType(template, 'AWS::Lambda::Function')) {
      expect(Object.keys(fn.Code as object)).toEqual(['ZipFile']);
    }
  });

  it('fits in 51,200 bytes', () => {
    expect(Buffer.byteLength(JSON.stringify(template.toJSON()))).toBeLessThanOrEqual(51_200);
  });

  it('outputs the site URL, cluster, service, Cloud Map namespace and service, and prober function', () => {
    expect(Object.keys(templateJson(template).Outputs ?? {}).sort()).toEqual([
      'CloudMapNamespace',
      'CloudMapService',
      'ClusterName',
      'ProberFunctionName',
      'ServiceName',
      'SiteUrl',
    ]);
    template.hasOutput('ProberFunctionName', { Value: { Ref: ids.fn } });
    template.hasOutput('CloudMapService', { Value: { 'Fn::GetAtt': [ids.cloudMap, 'Name'] } });
    template.hasOutput('ClusterName', { Value: { Ref: logicalId(template, 'AWS::ECS::Cluster') } });
    template.hasOutput('ServiceName', { Value: { 'Fn::GetAtt': [logicalId(template, 'AWS::ECS::Service'), 'Name'] } });
    template.hasOutput('CloudMapNamespace', { Value: 'spotwise.internal' });
    template.hasOutput('SiteUrl', {
      Value: { 'Fn::Join': ['', ['http://', { 'Fn::GetAtt': [logicalId(template, 'AWS::ElasticLoadBalancingV2::LoadBalancer'), 'DNSName'] }, '/']] },
    });
  });
});
