import { Duration, Stack } from 'aws-cdk-lib';
import { InterfaceVpcEndpoint, SecurityGroup, Vpc } from 'aws-cdk-lib/aws-ec2';
import { PrivateDnsNamespace } from 'aws-cdk-lib/aws-servicediscovery';
import { CloudMapProber } from '../lib/constructs/cloud-map-prober';
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

describe('cluster', () => {
  it('associates FARGATE and FARGATE_SPOT with a default strategy of weight 1 each', () => {
    template.hasResourceProperties('AWS::ECS::ClusterCapacityProviderAssociations', {
      CapacityProviders: ['FARGATE', 'FARGATE_SPOT'],
      Cluster: { Ref: logicalId(template, 'AWS::ECS::Cluster') },
      DefaultCapacityProviderStrategy: [
        { CapacityProvider: 'FARGATE', Weight: 1 },
        { CapacityProvider: 'FARGATE_SPOT', Weight: 1 },
      ],
    });
  });

  it('makes sure the ECS service-linked role exists before the cluster, as a fresh account needs', () => {
    const ensure = logicalId(template, 'Custom::ServiceLinkedRoles');
    template.hasResourceProperties('Custom::ServiceLinkedRoles', {
      Roles: [{ ServiceName: 'ecs.amazonaws.com', RoleName: 'AWSServiceRoleForECS' }],
    });
    template.hasResource('AWS::ECS::Cluster', { DependsOn: Match.arrayWith([Match.stringLikeRegexp(`^${ensure}$`)]) });
    template.resourceCountIs('AWS::IAM::ServiceLinkedRole', 0);
  });

  it('has Container Insights in enhanced mode', () => {
    template.hasResourceProperties('AWS::ECS::Cluster', {
      ClusterSettings: [{ Name: 'containerInsights', Value: 'enhanced' }],
    });
  });
});

describe('service', () => {
  it('is created after, and deleted before, the capacity provider association it uses', () => {
    template.hasResource('AWS::ECS::Service', {
      DependsOn: Match.arrayWith([logicalId(template, 'AWS::ECS::ClusterCapacityProviderAssociations')]),
    });
  });

  it('passes the 1:1 strategy itself and sets no LaunchType (aws-cdk#24961)', () => {
    template.hasResourceProperties('AWS::ECS::Service', {
      CapacityProviderStrategy: [
        { CapacityProvider: 'FARGATE', Weight: 1 },
        { CapacityProvider: 'FARGATE_SPOT', Weight: 1 },
      ],
      LaunchType: Match.absent(),
    });
  });

  it('runs two tasks with public IPs in the public subnets, rolling back failed deployments', () => {
    template.hasResourceProperties('AWS::ECS::Service', {
      DesiredCount: 2,
      DeploymentConfiguration: Match.objectLike({ DeploymentCircuitBreaker: { Enable: true, Rollback: true } }),
      NetworkConfiguration: {
        AwsvpcConfiguration: {
          AssignPublicIp: 'ENABLED',
          SecurityGroups: [{ 'Fn::GetAtt': [ids.task, 'GroupId'] }],
          Subnets: Object.keys(template.findResources('AWS::EC2::Subnet')).map((id) => ({ Ref: id })),
        },
      },
    });
  });

  it('registers in Cloud Map with SRV records carrying the container port, health managed by ECS', () => {
    template.hasResourceProperties('AWS::ECS::Service', {
      ServiceRegistries: [{ RegistryArn: { 'Fn::GetAtt': [ids.cloudMap, 'Arn'] }, ContainerName: 'Web', ContainerPort: 80 }],
    });
    template.hasResourceProperties('AWS::ServiceDiscovery::Service', {
      DnsConfig: Match.objectLike({ DnsRecords: [{ Type: 'SRV', TTL: 10 }] }),
      HealthCheckCustomConfig: { FailureThreshold: 1 },
      HealthCheckConfig: Match.absent(),
      NamespaceId: { 'Fn::GetAtt': [ids.namespace, 'Id'] },
    });
    template.hasResourceProperties('AWS::ServiceDiscovery::PrivateDnsNamespace', {
      Name: 'spotwise.internal',
      Vpc: { Ref: logicalId(template, 'AWS::EC2::VPC') },
    });
  });

  it('sits behind the ALB target group', () => {
    template.hasResourceProperties('AWS::ECS::Service', {
      LoadBalancers: [
        { ContainerName: 'Web', ContainerPort: 80, TargetGroupArn: { Ref: logicalId(template, 'AWS::ElasticLoadBalancingV2::TargetGroup') } },
      ],
    });
  });
});

describe('task', () => {
  it('runs nginx from Docker Hub at a pinned tag, never latest', () => {
    expect(DEFAULT_NGINX_IMAGE).toMatch(/^nginx:\d+\.\d+\.\d+$/);
    template.hasResourceProperties('AWS::ECS::TaskDefinition', {
      ContainerDefinitions: [Match.objectLike({ Image: DEFAULT_NGINX_IMAGE })],
    });
  });

  it('takes the image as a prop', () => {
    synth({ image: ContainerImage.fromRegistry('public.ecr.aws/nginx/nginx:1.28.0') }).hasResourceProperties(
      'AWS::ECS::TaskDefinition',
      { ContainerDefinitions: [Match.objectLike({ Image: 'public.ecr.aws/nginx/nginx:1.28.0' })] },
    );
  });

  it('runs on x86_64 Linux, since Fargate Spot has no ARM', () => {
    template.hasResourceProperties('AWS::ECS::TaskDefinition', {
      RuntimePlatform: { CpuArchitecture: 'X86_64', OperatingSystemFamily: 'LINUX' },
      RequiresCompatibilities: ['FARGATE'],
    });
  });

  it('has a container health check and a stop timeout inside the two-minute warning', () => {
    const [[, task]] = resourcesOfType(template, 'AWS::ECS::TaskDefinition') as [[string, { ContainerDefinitions: Record<string, unknown>[] }]];
    const [container] = task.ContainerDefinitions as [{ HealthCheck: { Command: string[] }; StopTimeout: number }];
    expect(container.HealthCheck.Command[0]).toBe('CMD-SHELL');
    expect(container.HealthCheck.Command[1]).toContain('http://localhost:80/');
    expect(container.StopTimeout).toBe(30);
    expect(container.StopTimeout).toBeLessThan(120);
  });

  it('logs through awslogs to a log group with retention', () => {
    const [[, task]] = resourcesOfType(template, 'AWS::ECS::TaskDefinition') as [[string, { ContainerDefinitions: Record<string, unknown>[] }]];
    const [container] = task.ContainerDefinitions as [{ LogConfiguration: { LogDriver: string; Options: Record<string, { Ref: string }> } }];
    expect(container.LogConfiguration.LogDriver).toBe('awslogs');
    const group = container.LogConfiguration.Options['awslogs-group']?.Ref as string;
    expect(templateJson(template).Resources[group]).toMatchObject({ Type: 'AWS::Logs::LogGroup', Properties: { RetentionInDays: 30 } });
  });

  it('counts nginx 5xx responses from the access log with a metric filter', () => {
    const [[, task]] = resourcesOfType(template, 'AWS::ECS::TaskDefinition') as [[string, { ContainerDefinitions: { LogConfiguration: { Options: Record<string, { Ref: string }> } }[] }]];
    const group = task.ContainerDefinitions[0]?.LogConfiguration.Options['awslogs-group'];
    template.hasResourceProperties('AWS::Logs::MetricFilter', {
      LogGroupName: group,
      FilterPattern: '[ip, identity, user, timestamp, request, status_code=5*, bytes, ...]',
      MetricTransformations: [{ MetricName: 'NginxServerErrors', MetricNamespace: 'Spotwise', MetricValue: '1', DefaultValue: 0 }],
    });
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

  it('fails when the deregistration delay is 120 s or more', () => {
    expect(() => synth({ deregistrationDelay: Duration.seconds(120) })).toThrow(/deregistrationDelay must be/);
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
  it('reuses an endpoint the VPC already has, creating none and reaching it on 443 only', () => {
    const stack = new Stack(newApp(), 'SharedEndpoint');
    const vpc = new Vpc(stack, 'Vpc', { maxAzs: 2, natGateways: 0, restrictDefaultSecurityGroup: false });
    const endpoint = InterfaceVpcEndpoint.fromInterfaceVpcEndpointAttributes(stack, 'Existing', {
      vpcEndpointId: 'vpce-0123456789abcdef0',
      port: 443,
      securityGroups: [SecurityGroup.fromSecurityGroupId(stack, 'ExistingSg', 'sg-0123456789abcdef0')],
    });
    const namespace = new PrivateDnsNamespace(stack, 'Namespace', { vpc, name: 'shared.internal' });
    const prober = new CloudMapProber(stack, 'Prober', {
      service: namespace.createService('Web', { name: 'web' }),
      vpc,
      targetSecurityGroup: new SecurityGroup(stack, 'Tasks', { vpc }),
      endpoint,
    });
    const t = Template.fromStack(stack);

    t.resourceCountIs('AWS::EC2::VPCEndpoint', 0);
    expect(prober.endpoint).toBe(endpoint);
    expect(prober.endpointSecurityGroup).toBeUndefined();
    const proberSg = { 'Fn::GetAtt': [stack.getLogicalId(prober.securityGroup.node.defaultChild as never), 'GroupId'] };
    t.hasResourceProperties('AWS::EC2::SecurityGroupIngress', { GroupId: 'sg-0123456789abcdef0', SourceSecurityGroupId: proberSg, FromPort: 443, ToPort: 443 });
    t.hasResourceProperties('AWS::EC2::SecurityGroupEgress', { GroupId: proberSg, DestinationSecurityGroupId: 'sg-0123456789abcdef0', FromPort: 443, ToPort: 443 });
  });

  it('fails when a reused endpoint comes without security groups, which would leave the prober no way in', () => {
    const stack = new Stack(newApp(), 'BareEndpoint');
    const vpc = new Vpc(stack, 'Vpc', { maxAzs: 2, natGateways: 0, restrictDefaultSecurityGroup: false });
    const namespace = new PrivateDnsNamespace(stack, 'Namespace', { vpc, name: 'shared.internal' });
    expect(
      () =>
        new CloudMapProber(stack, 'Prober', {
          service: namespace.createService('Web', { name: 'web' }),
          vpc,
          targetSecurityGroup: new SecurityGroup(stack, 'Tasks', { vpc }),
          endpoint: InterfaceVpcEndpoint.fromInterfaceVpcEndpointAttributes(stack, 'Bare', { vpcEndpointId: 'vpce-0123456789abcdef0', port: 443 }),
        }),
    ).toThrow(/has no security groups.*Import it with its securityGroups/);
  });

  it('reaches Cloud Map through a data-servicediscovery interface endpoint with private DNS', () => {
    template.hasResourceProperties('AWS::EC2::VPCEndpoint', {
      VpcEndpointType: 'Interface',
      ServiceName: { 'Fn::Join': ['', ['com.amazonaws.', { Ref: 'AWS::Region' }, '.data-servicediscovery']] },
      PrivateDnsEnabled: true,
      SecurityGroupIds: [{ 'Fn::GetAtt': [ids.endpoint, 'GroupId'] }],
    });
  });

  it('runs in the VPC with its own security group', () => {
    template.hasResourceProperties('AWS::Lambda::Function', {
      VpcConfig: {
        SecurityGroupIds: [{ 'Fn::GetAtt': [ids.prober, 'GroupId'] }],
        SubnetIds: Object.keys(template.findResources('AWS::EC2::Subnet')).map((id) => ({ Ref: id })),
      },
      Runtime: 'nodejs24.x',
      Architectures: ['x86_64'],
    });
  });

  it('runs every minute, without retries that would only repeat a stale probe', () => {
    template.hasResourceProperties('AWS::Events::Rule', {
      ScheduleExpression: 'rate(1 minute)',
      Targets: [Match.objectLike({ Arn: { 'Fn::GetAtt': [ids.fn, 'Arn'] } })],
    });
    template.hasResourceProperties('AWS::Lambda::EventInvokeConfig', { FunctionName: { Ref: ids.fn }, MaximumRetryAttempts: 0 });
  });

  it('takes the schedule as a typed prop', () => {
    synth({ probeSchedule: Schedule.rate(Duration.minutes(5)) }).hasResourceProperties('AWS::Events::Rule', {
      ScheduleExpression: 'rate(5 minutes)',
    });
  });

  it('is told the namespace, service, probe timeout and discovery budget', () => {
    template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: {
        Variables: Match.objectLike({
          NAMESPACE_NAME: 'spotwise.internal',
          SERVICE_NAME: { 'Fn::GetAtt': [ids.cloudMap, 'Name'] },
          PROBE_TIMEOUT_MS: '3000',
          DISCOVERY_TIMEOUT_MS: '10000',
          PROBE_PATH: '/',
        }),
      },
      Timeout: 30,
    });
  });

  it('may call only servicediscovery:DiscoverInstances, on its namespace and service', () => {
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

  it('fails when the probe timeout does not fit in the function timeout', () => {
    expect(() => synth({ probeTimeout: Duration.seconds(20) })).toThrow(
      /probeTimeout 20000 ms does not fit in the function timeout of 30000 ms.*at least 32 s/,
    );
  });

  it('fails when the probe timeout is below 100 ms', () => {
    expect(() => synth({ probeTimeout: Duration.millis(50) })).toThrow(/at least 100 ms/);
  });
});

describe('validation', () => {
  it('fails when the stop timeout exceeds what Fargate allows', () => {
    expect(() => synth({ stopTimeout: Duration.seconds(121) })).toThrow(/stopTimeout must be .* 2 to 120; got 121/);
  });

  it('fails when draining and the stop timeout together outlast the Spot warning, since ECS drains before SIGTERM', () => {
    expect(() => synth({ deregistrationDelay: Duration.seconds(60), stopTimeout: Duration.seconds(60) })).toThrow(
      /deregistrationDelay \(60 s\) plus stopTimeout \(60 s\) must be at most 100 s; got 120 s/,
    );
    expect(() => synth({ deregistrationDelay: Duration.seconds(100), stopTimeout: Duration.seconds(120) })).toThrow(/must be at most 100 s/);
  });

  it('accepts draining and a stop timeout that together use exactly the 100 s budget', () => {
    expect(() => synth({ deregistrationDelay: Duration.seconds(50), stopTimeout: Duration.seconds(50) })).not.toThrow();
  });

  it('fails when the desired count is below 1', () => {
    expect(() => synth({ desiredCount: 0 })).toThrow(/desiredCount must be a whole number of at least 1; got 0/);
  });
});

describe('deployment', () => {
  it('needs no CDK bootstrap and no assets', () => {
    const json = templateJson(template);
    expect(Object.keys(json.Parameters ?? {})).toEqual([]);
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
