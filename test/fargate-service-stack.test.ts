import { Duration } from 'aws-cdk-lib/core';
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
let ids: { alb: string; task: string; prober: string; endpoint: string; ecsEndpoint: string; fn: string; cloudMap: string; namespace: string };
beforeAll(() => {
  template = synth();
  const sg = (description: string) =>
    logicalId(template, 'AWS::EC2::SecurityGroup', { GroupDescription: Match.stringLikeRegexp(description) });
  ids = {
    alb: sg('^Internet-facing ALB'),
    task: sg('^Fargate tasks'),
    prober: sg('^Cloud Map prober'),
    endpoint: sg('^Cloud Map data-plane endpoint'),
    ecsEndpoint: sg('^ECS API endpoint'),
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
        { ContainerName: 'Web', ContainerPort: 8080, TargetGroupArn: { Ref: logicalId(template, 'AWS::ElasticLoadBalancingV2::TargetGroup') } },
      ],
    });
  });

  it('registers in the stack\'s Cloud Map namespace, <stack name>.internal in its VPC, so that two copies never share one', () => {
    template.hasResourceProperties('AWS::ServiceDiscovery::Service', { NamespaceId: { 'Fn::GetAtt': [ids.namespace, 'Id'] } });
    template.hasResourceProperties('AWS::ServiceDiscovery::PrivateDnsNamespace', {
      Name: { 'Fn::Join': ['', [{ Ref: 'AWS::StackName' }, '.internal']] },
      Vpc: { Ref: logicalId(template, 'AWS::EC2::VPC') },
    });
  });

  it('takes the namespace name as a prop', () => {
    synth({ namespaceName: 'blue.internal' }).hasResourceProperties('AWS::ServiceDiscovery::PrivateDnsNamespace', { Name: 'blue.internal' });
  });

  it('runs the unprivileged nginx from Docker Hub at a pinned tag, never latest', () => {
    expect(DEFAULT_NGINX_IMAGE).toMatch(/^nginxinc\/nginx-unprivileged:\d+\.\d+\.\d+$/);
    template.hasResourceProperties('AWS::ECS::TaskDefinition', {
      ContainerDefinitions: Match.arrayWith([Match.objectLike({ Name: 'Web', Image: DEFAULT_NGINX_IMAGE })]),
    });
  });

  it('takes the image, capacity bounds, scaling targets and stop timeout as props', () => {
    const t = synth({
      image: ContainerImage.fromRegistry('public.ecr.aws/nginx/nginx:1.28.0'),
      minCapacity: 4,
      maxCapacity: 20,
      targetCpuUtilization: 60,
      requestsPerTarget: 500,
      stopTimeout: Duration.seconds(10),
    });
    t.hasResourceProperties('AWS::ECS::TaskDefinition', {
      ContainerDefinitions: Match.arrayWith([Match.objectLike({ Name: 'Web', Image: 'public.ecr.aws/nginx/nginx:1.28.0', StopTimeout: 10 })]),
    });
    expect(templateJson(t).Parameters).toMatchObject({ MinCapacity: { Default: 4 }, MaxCapacity: { Default: 20 } });
    t.hasResourceProperties('AWS::ApplicationAutoScaling::ScalingPolicy', {
      TargetTrackingScalingPolicyConfiguration: Match.objectLike({ TargetValue: 60 }),
    });
    t.hasResourceProperties('AWS::ApplicationAutoScaling::ScalingPolicy', {
      TargetTrackingScalingPolicyConfiguration: Match.objectLike({ TargetValue: 500 }),
    });
  });

  it('scales between the MinCapacity and MaxCapacity parameters on CPU and requests per target, and never sets a count a deploy would reset', () => {
    expect(templateJson(template).Parameters?.DesiredCount).toBeUndefined();
    expect(templateJson(template).Parameters).toMatchObject({
      MinCapacity: { Type: 'Number', Default: 2, MinValue: 1, MaxValue: 1000, Description: 'Fewest tasks; scale-in stops here.' },
      MaxCapacity: { Type: 'Number', Default: 10, MinValue: 1, MaxValue: 1000 },
    });
    template.hasResourceProperties('AWS::ECS::Service', { DesiredCount: Match.absent() });
    template.hasResourceProperties('AWS::ApplicationAutoScaling::ScalableTarget', {
      ServiceNamespace: 'ecs',
      ScalableDimension: 'ecs:service:DesiredCount',
      MinCapacity: { Ref: 'MinCapacity' },
      MaxCapacity: { Ref: 'MaxCapacity' },
    });
    const policies = resourcesOfType(template, 'AWS::ApplicationAutoScaling::ScalingPolicy').map(
      ([, p]) => (p.TargetTrackingScalingPolicyConfiguration as { PredefinedMetricSpecification: { PredefinedMetricType: string } }).PredefinedMetricSpecification.PredefinedMetricType,
    );
    expect(policies.sort()).toEqual(['ALBRequestCountPerTarget', 'ECSServiceAverageCPUUtilization']);
  });
});

describe('load balancer', () => {
  it('is an internet-facing ALB with an HTTP :80 listener, HTTPS :443 given a CertificateArn, and IP targets draining in 30 s', () => {
    template.hasResourceProperties('AWS::ElasticLoadBalancingV2::LoadBalancer', { Scheme: 'internet-facing' });
    template.hasResourceProperties('AWS::ElasticLoadBalancingV2::Listener', { Port: 80, Protocol: 'HTTP' });
    template.hasResource('AWS::ElasticLoadBalancingV2::Listener', {
      Condition: Match.anyValue(),
      Properties: Match.objectLike({ Port: 443, Protocol: 'HTTPS', Certificates: [{ CertificateArn: { Ref: 'CertificateArn' } }] }),
    });
    template.hasResourceProperties('AWS::ElasticLoadBalancingV2::TargetGroup', {
      TargetType: 'ip',
      TargetGroupAttributes: Match.arrayWith([{ Key: 'deregistration_delay.timeout_seconds', Value: '30' }]),
    });
  });

  it('sends to and health-checks the tasks on 8080, the port nginx serves on unprivileged', () => {
    template.hasResourceProperties('AWS::ElasticLoadBalancingV2::TargetGroup', { Port: 8080, Protocol: 'HTTP' });
    // No HealthCheckPort: the ALB checks each target on the port it is registered with, the container's.
    const [[, group]] = resourcesOfType(template, 'AWS::ElasticLoadBalancingV2::TargetGroup') as [[string, Record<string, unknown>]];
    expect(group.HealthCheckPort).toBeUndefined();
  });

  it('drops invalid header fields, and turns access logs on when the AccessLogsBucket parameter names a bucket', () => {
    template.hasResourceProperties('AWS::ElasticLoadBalancingV2::LoadBalancer', {
      LoadBalancerAttributes: Match.arrayWith([
        { Key: 'routing.http.drop_invalid_header_fields.enabled', Value: 'true' },
        { Key: 'access_logs.s3.bucket', Value: { Ref: 'AccessLogsBucket' } },
        { Key: 'access_logs.s3.enabled', Value: { 'Fn::If': [Match.anyValue(), 'true', 'false'] } },
      ]),
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

  it('lets only the ALB and the prober reach the tasks, on port 8080', () => {
    expect(templateJson(template).Resources[ids.task]?.Properties?.SecurityGroupIngress).toBeUndefined();
    expect(ingressTo(ids.task).sort((a, b) => a.from.localeCompare(b.from))).toEqual(
      [
        { from: ids.alb, port: 8080, to: 8080 },
        { from: ids.prober, port: 8080, to: 8080 },
      ].sort((a, b) => a.from.localeCompare(b.from)),
    );
  });

  it('lets only the prober reach the Cloud Map endpoint, on 443', () => {
    expect(templateJson(template).Resources[ids.endpoint]?.Properties?.SecurityGroupIngress).toBeUndefined();
    expect(ingressTo(ids.endpoint)).toEqual([{ from: ids.prober, port: 443, to: 443 }]);
  });

  it('lets only the prober reach the ECS API endpoint, on 443', () => {
    expect(templateJson(template).Resources[ids.ecsEndpoint]?.Properties?.SecurityGroupIngress).toBeUndefined();
    expect(ingressTo(ids.ecsEndpoint)).toEqual([{ from: ids.prober, port: 443, to: 443 }]);
  });

  it('lets the prober out only to the tasks on 8080 and the two endpoints on 443', () => {
    const egress = resourcesOfType(template, 'AWS::EC2::SecurityGroupEgress')
      .filter(([, p]) => JSON.stringify(p.GroupId) === JSON.stringify({ 'Fn::GetAtt': [ids.prober, 'GroupId'] }))
      .map(([, p]) => ({ to: (p.DestinationSecurityGroupId as { 'Fn::GetAtt': [string] })['Fn::GetAtt'][0], port: p.FromPort }));
    expect(egress.sort((a, b) => a.to.localeCompare(b.to))).toEqual(
      [
        { to: ids.task, port: 8080 },
        { to: ids.endpoint, port: 443 },
        { to: ids.ecsEndpoint, port: 443 },
      ].sort((a, b) => a.to.localeCompare(b.to)),
    );
    expect(templateJson(template).Resources[ids.prober]?.Properties?.SecurityGroupEgress).toBeUndefined();
  });

  it('admits nothing but security groups, except HTTP :80 and, with a certificate, HTTPS :443 from any IPv4 address to the ALB', () => {
    const fromAddresses = ingressRules(template).filter((rule) => !('SourceSecurityGroupId' in rule.source));
    expect(fromAddresses).toEqual([
      { group: ids.alb, protocol: 'tcp', fromPort: 80, toPort: 80, source: { CidrIp: '0.0.0.0/0' } },
      { group: ids.alb, protocol: 'tcp', fromPort: 443, toPort: 443, source: { CidrIp: '0.0.0.0/0' } },
    ]);
  });
});

describe('prober', () => {
  it('probes the service\'s instances: told its namespace and service, and may discover only those', () => {
    template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: {
        Variables: Match.objectLike({
          NAMESPACE_NAME: { 'Fn::Join': ['', [{ Ref: 'AWS::StackName' }, '.internal']] },
          SERVICE_NAME: { 'Fn::GetAtt': [ids.cloudMap, 'Name'] },
          ALLOWED_CIDRS: { 'Fn::GetAtt': [logicalId(template, 'AWS::EC2::VPC'), 'CidrBlock'] },
        }),
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

/**
 * Wiring: each stack prop reaches the construct that checks it, whose error names that construct. What each
 * check accepts and refuses is tested with the construct; the stack's own schema checks are tested here.
 */
describe('validation', () => {
  it('passes the deregistration delay to the load balancer, the stop timeout to the service and the probe timeout to the prober', () => {
    expect(() => synth({ deregistrationDelay: Duration.seconds(120) })).toThrow(/^FargateService\/Web: deregistrationDelay must be/);
    expect(() => synth({ deregistrationDelay: Duration.seconds(60), stopTimeout: Duration.seconds(60) })).toThrow(
      /^FargateService\/Service: deregistrationDelay \(60 s\) plus stopTimeout \(60 s\) must be at most 100 s/,
    );
    expect(() => synth({ probeTimeout: Duration.seconds(889) })).toThrow(/^FargateService\/Prober: probeTimeout 889000 ms does not fit/);
  });

  it('checks its own settings, naming the stack: the stop timeout Fargate allows, the capacity range, the request target, the probe timeout', () => {
    expect(() => synth({ stopTimeout: Duration.seconds(121) })).toThrow(/^FargateService: stopTimeout must be whole seconds, from 2 to 120; got 121 seconds\.$/);
    expect(() => synth({ minCapacity: 6, maxCapacity: 5 })).toThrow(/^FargateService: minCapacity \(6\) is above maxCapacity \(5\)/);
    expect(() => synth({ requestsPerTarget: 0 })).toThrow(/^FargateService: requestsPerTarget must be a whole number of at least 1; got 0\.$/);
    expect(() => synth({ probeTimeout: Duration.millis(50) })).toThrow(/^FargateService: probeTimeout must be whole milliseconds, at least 100; got 50 milliseconds\.$/);
  });
});

describe('deployment', () => {
  it('needs no CDK bootstrap and no assets', () => {
    const json = templateJson(template);
    expect(Object.keys(json.Parameters ?? {}).sort()).toEqual(['AccessLogsBucket', 'AccessLogsPrefix', 'CertificateArn', 'MaxCapacity', 'MinCapacity', 'NotificationEmail', 'PowertoolsLayerParameter']);
    for (const [, fn] of resourcesOfType(template, 'AWS::Lambda::Function')) {
      expect(Object.keys(fn.Code as object)).toEqual(['ZipFile']);
    }
  });

  it('outputs the site URL, cluster, service, Cloud Map namespace and service, and prober function', () => {
    expect(Object.keys(templateJson(template).Outputs ?? {}).sort()).toEqual([
      'CloudMapNamespace',
      'CloudMapService',
      'ClusterName',
      'DashboardUrl',
      'ProberFunctionName',
      'ServiceName',
      'SiteUrl',
      'TopicArn',
    ]);
    template.hasOutput('ProberFunctionName', { Value: { Ref: ids.fn } });
    template.hasOutput('CloudMapService', { Value: { 'Fn::GetAtt': [ids.cloudMap, 'Name'] } });
    template.hasOutput('ClusterName', { Value: { Ref: logicalId(template, 'AWS::ECS::Cluster') } });
    template.hasOutput('ServiceName', { Value: { 'Fn::GetAtt': [logicalId(template, 'AWS::ECS::Service'), 'Name'] } });
    template.hasOutput('CloudMapNamespace', { Value: { 'Fn::Join': ['', [{ Ref: 'AWS::StackName' }, '.internal']] } });
    template.hasOutput('SiteUrl', { Value: { 'Fn::Join': ['', [Match.objectLike({ 'Fn::If': Match.anyValue() }), '://', Match.anyValue(), '/']] } });
  });
});

describe('alarms and dashboard', () => {
  it('tells people through the stack\'s topic when each alarm goes off and when it comes back', () => {
    const topic = logicalId(template, 'AWS::SNS::Topic');
    const alarms = resourcesOfType(template, 'AWS::CloudWatch::Alarm');
    const names = alarms.map(([, a]) => (a.AlarmName as { 'Fn::Join': [string, [unknown, string]] })['Fn::Join'][1][1]).sort();
    expect(names).toEqual([
      '-DiscoveredBelowDesired',
      '-FunctionErrors',
      '-LoadBalancer5xx',
      '-Nginx5xx',
      '-ProbeFailures',
      '-RunningBelowDesired',
      '-Target5xx',
      '-UnhealthyHosts',
    ]);
    for (const [id, alarm] of alarms) {
      expect(alarm.AlarmActions, id).toEqual([{ Ref: topic }]);
      expect(alarm.OKActions, id).toEqual([{ Ref: topic }]);
      expect(alarm.AlarmName, id).toEqual({ 'Fn::Join': ['', [{ Ref: 'AWS::StackName' }, expect.stringMatching(/^-/)]] });
    }
    expect(templateJson(template).Parameters?.NotificationEmail).toMatchObject({ Type: 'String', Default: '' });
  });

  it('alarms on probe failures and on silence from the prober, which reports every minute', () => {
    const [[, alarm]] = resourcesOfType(template, 'AWS::CloudWatch::Alarm').filter(([id]) => id.includes('ProbeFailures')) as [[string, Record<string, unknown>]];
    expect(alarm).toMatchObject({
      MetricName: 'ProbeFailure',
      Namespace: 'Spotwise',
      Threshold: 1,
      EvaluationPeriods: 3,
      TreatMissingData: 'breaching',
    });
    expect(alarm.Dimensions).toEqual(
      expect.arrayContaining([
        { Name: 'Stack', Value: { Ref: 'AWS::StackName' } },
        { Name: 'service', Value: 'cloud-map-prober' },
      ]) as unknown,
    );
  });

  it('compares discovered and running tasks with the count ECS wants', () => {
    for (const purpose of ['DiscoveredBelowDesired', 'RunningBelowDesired']) {
      const [[, alarm]] = resourcesOfType(template, 'AWS::CloudWatch::Alarm').filter(([id]) => id.includes(purpose)) as [[string, Record<string, unknown>]];
      const metrics = alarm.Metrics as { Id: string; Expression?: string; MetricStat?: { Metric: { MetricName: string; Namespace: string } } }[];
      expect(metrics.find((m) => m.Expression !== undefined)?.Expression).toBe('expected - actual');
      expect(metrics.find((m) => m.Id === 'expected')?.MetricStat?.Metric).toMatchObject({ MetricName: 'DesiredTaskCount', Namespace: 'ECS/ContainerInsights' });
      expect(metrics.find((m) => m.Id === 'actual')?.MetricStat?.Metric.MetricName).toBe(purpose === 'RunningBelowDesired' ? 'RunningTaskCount' : 'InstancesDiscovered');
    }
  });

  it('has a dashboard with requests, 5xx and healthy hosts per AZ, probes per AZ and task counts by capacity provider, and outputs its URL', () => {
    const [[dashboard, props]] = resourcesOfType(template, 'AWS::CloudWatch::Dashboard') as [[string, Record<string, unknown>]];
    const body = JSON.stringify(props.DashboardBody);
    for (const metric of ['RequestCount', 'HTTPCode_ELB_5XX_Count', 'HTTPCode_Target_5XX_Count', 'HealthyHostCount', 'ProbeSuccess', 'ProbeFailure', 'ProbeLatency', 'DesiredTaskCount', 'RunningTaskCount', 'InstancesDiscovered']) {
      expect(body).toContain(metric);
    }
    // Running tasks by capacity provider, as the prober counts them.
    expect(body).toContain('\\"Tasks\\",\\"CapacityProvider\\",\\"FARGATE\\"');
    expect(body).toContain('\\"Tasks\\",\\"CapacityProvider\\",\\"FARGATE_SPOT\\"');
    expect(JSON.stringify(templateJson(template).Outputs?.DashboardUrl)).toContain(dashboard);
  });
});

describe('capacity fallback', () => {
  const fallbackFunctions = (t: Template) =>
    resourcesOfType(t, 'AWS::Lambda::Function').filter(([, p]) => (p.Environment as { Variables?: Record<string, unknown> } | undefined)?.Variables?.DECLARED_STRATEGY !== undefined);

  it('is on by default: a function for the service, returning it to the 1:1 strategy after 30 minutes, told through the stack topic', () => {
    const functions = fallbackFunctions(template);
    expect(functions).toHaveLength(1);
    const variables = (functions[0]?.[1].Environment as { Variables: Record<string, unknown> }).Variables;
    expect(variables).toMatchObject({
      SERVICE_ARN: { Ref: logicalId(template, 'AWS::ECS::Service') },
      COOL_OFF_MINUTES: '30',
      TOPIC_ARN: { Ref: logicalId(template, 'AWS::SNS::Topic') },
      DECLARED_STRATEGY: JSON.stringify([
        { capacityProvider: 'FARGATE', weight: 1, base: 0 },
        { capacityProvider: 'FARGATE_SPOT', weight: 1, base: 0 },
      ]),
    });
    template.hasResourceProperties('AWS::Events::Rule', { EventPattern: Match.objectLike({ 'detail-type': ['ECS Service Action'] }) });
  });

  it('counts its errors in the FunctionErrors alarm, and shows on the dashboard', () => {
    const fn = fallbackFunctions(template)[0]?.[0] as string;
    const alarms = resourcesOfType(template, 'AWS::CloudWatch::Alarm').filter(([, p]) => JSON.stringify(p.AlarmName).includes('-FunctionErrors'));
    expect(alarms).toHaveLength(1);
    expect(JSON.stringify(alarms[0]?.[1].Metrics)).toContain(`"${fn}"`);
    const dashboards = resourcesOfType(template, 'AWS::CloudWatch::Dashboard');
    expect(JSON.stringify(dashboards[0]?.[1].DashboardBody)).toContain('Capacity fallback');
  });

  it('uses the one Powertools layer parameter of the stack', () => {
    const fn = fallbackFunctions(template)[0]?.[1];
    expect(fn?.Layers).toEqual([{ Ref: 'PowertoolsLayerParameter' }]);
  });

  it('is left out with capacityFallback false, and the stack still synthesizes', () => {
    const off = synth({ capacityFallback: false });
    expect(fallbackFunctions(off)).toEqual([]);
    expect(resourcesOfType(off, 'AWS::Events::Rule').filter(([, p]) => p.EventPattern !== undefined)).toEqual([]);
  });

  it('takes the cool-off as a setting', () => {
    const variables = (fallbackFunctions(synth({ capacityFallbackCoolOff: Duration.minutes(90) }))[0]?.[1].Environment as { Variables: Record<string, unknown> }).Variables;
    expect(variables.COOL_OFF_MINUTES).toBe('90');
  });
});
