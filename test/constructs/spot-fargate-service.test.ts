import { Duration, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { SecurityGroup, SubnetType, Vpc } from 'aws-cdk-lib/aws-ec2';
import { ContainerImage } from 'aws-cdk-lib/aws-ecs';
import { ApplicationProtocol, ApplicationTargetGroup, TargetType } from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import { PrivateDnsNamespace } from 'aws-cdk-lib/aws-servicediscovery';
import { describe, expect, it } from 'vitest';
import type { SpotFargateServiceProps } from '../../lib/constructs/spot-fargate-service';
import { SpotFargateService } from '../../lib/constructs/spot-fargate-service';
import { newApp, resourcesOfType, templateJson } from '../support/app';

interface Built {
  readonly stack: Stack;
  readonly vpc: Vpc;
  readonly targetGroup: ApplicationTargetGroup;
  readonly loadBalancerSecurityGroup: SecurityGroup;
  readonly namespace: PrivateDnsNamespace;
  readonly service: SpotFargateService;
  readonly template: Template;
}

/** A fresh stack holding one service, with the VPC, IP target group, load balancer security group and namespace it needs. */
function build(props: Partial<SpotFargateServiceProps> = {}): Built {
  const stack = new Stack(newApp(), 'Host');
  const vpc = new Vpc(stack, 'Vpc', { maxAzs: 2, natGateways: 0, restrictDefaultSecurityGroup: false });
  const targetGroup = new ApplicationTargetGroup(stack, 'Targets', { vpc, targetType: TargetType.IP, protocol: ApplicationProtocol.HTTP, port: 80 });
  const loadBalancerSecurityGroup = new SecurityGroup(stack, 'Alb', { vpc, allowAllOutbound: false });
  const namespace = new PrivateDnsNamespace(stack, 'Namespace', { vpc, name: 'host.internal' });
  const service = new SpotFargateService(stack, 'Service', {
    vpc,
    targetGroup,
    loadBalancerSecurityGroup,
    namespace,
    image: ContainerImage.fromRegistry('nginx:1.28.0'),
    ...props,
  });
  return { stack, vpc, targetGroup, loadBalancerSecurityGroup, namespace, service, template: Template.fromStack(stack) };
}

/** Builds a service with `props` in a fresh stack, for `toThrow`. */
function attempt(props: Partial<SpotFargateServiceProps>): () => void {
  return () => build(props);
}

function id(stack: Stack, construct: { node: { defaultChild?: unknown } }): string {
  return stack.getLogicalId(construct.node.defaultChild as never);
}

type ContainerDefinition = {
  Name: string;
  PortMappings: { ContainerPort: number }[];
  HealthCheck: { Command: string[] };
  StopTimeout: number;
  LogConfiguration: { LogDriver: string; Options: Record<string, { Ref: string }> };
};

function container(template: Template): ContainerDefinition {
  const [[, task]] = resourcesOfType(template, 'AWS::ECS::TaskDefinition') as [[string, { ContainerDefinitions: ContainerDefinition[] }]];
  expect(task.ContainerDefinitions).toHaveLength(1);
  return task.ContainerDefinitions[0] as ContainerDefinition;
}

describe('cluster', () => {
  it('associates FARGATE and FARGATE_SPOT with a default strategy of weight 1 each', () => {
    const { stack, service, template } = build();
    template.hasResourceProperties('AWS::ECS::ClusterCapacityProviderAssociations', {
      CapacityProviders: ['FARGATE', 'FARGATE_SPOT'],
      Cluster: { Ref: id(stack, service.cluster) },
      DefaultCapacityProviderStrategy: [
        { CapacityProvider: 'FARGATE', Weight: 1 },
        { CapacityProvider: 'FARGATE_SPOT', Weight: 1 },
      ],
    });
  });

  it('makes sure the ECS service-linked role exists before the cluster, as a fresh account needs', () => {
    const { stack, service, template } = build();
    template.hasResourceProperties('Custom::ServiceLinkedRoles', {
      Roles: [{ ServiceName: 'ecs.amazonaws.com', RoleName: 'AWSServiceRoleForECS' }],
    });
    template.hasResource('AWS::ECS::Cluster', { DependsOn: Match.arrayWith([stack.getLogicalId(service.serviceLinkedRole.resource.node.defaultChild as never)]) });
    template.resourceCountIs('AWS::IAM::ServiceLinkedRole', 0);
  });

  it('has Container Insights in enhanced mode', () => {
    build().template.hasResourceProperties('AWS::ECS::Cluster', {
      ClusterSettings: [{ Name: 'containerInsights', Value: 'enhanced' }],
    });
  });
});

describe('service', () => {
  it('is created after, and deleted before, the capacity provider association it uses', () => {
    const { template } = build();
    const [association] = resourcesOfType(template, 'AWS::ECS::ClusterCapacityProviderAssociations').map(([logicalId]) => logicalId);
    template.hasResource('AWS::ECS::Service', { DependsOn: Match.arrayWith([association]) });
  });

  it('passes the 1:1 strategy itself and sets no LaunchType (aws-cdk#24961)', () => {
    build().template.hasResourceProperties('AWS::ECS::Service', {
      CapacityProviderStrategy: [
        { CapacityProvider: 'FARGATE', Weight: 1 },
        { CapacityProvider: 'FARGATE_SPOT', Weight: 1 },
      ],
      LaunchType: Match.absent(),
    });
  });

  it('runs two tasks with public IPs in the public subnets, rolling back failed deployments and never dropping below the desired count', () => {
    const { stack, vpc, service, template } = build();
    template.hasResourceProperties('AWS::ECS::Service', {
      DesiredCount: 2,
      DeploymentConfiguration: Match.objectLike({
        DeploymentCircuitBreaker: { Enable: true, Rollback: true },
        MinimumHealthyPercent: 100,
        MaximumPercent: 200,
      }),
      NetworkConfiguration: {
        AwsvpcConfiguration: {
          AssignPublicIp: 'ENABLED',
          SecurityGroups: [{ 'Fn::GetAtt': [id(stack, service.securityGroup), 'GroupId'] }],
          Subnets: vpc.selectSubnets({ subnetType: SubnetType.PUBLIC }).subnets.map((subnet) => ({ Ref: id(stack, subnet) })),
        },
      },
    });
  });

  it('registers in the namespace it is given with SRV records carrying the container port, health managed by ECS', () => {
    const { stack, namespace, service, template } = build();
    template.hasResourceProperties('AWS::ECS::Service', {
      ServiceRegistries: [{ RegistryArn: { 'Fn::GetAtt': [id(stack, service.cloudMapService), 'Arn'] }, ContainerName: 'Web', ContainerPort: 80 }],
    });
    template.hasResourceProperties('AWS::ServiceDiscovery::Service', {
      Name: 'web',
      DnsConfig: Match.objectLike({ DnsRecords: [{ Type: 'SRV', TTL: 10 }] }),
      HealthCheckCustomConfig: { FailureThreshold: 1 },
      HealthCheckConfig: Match.absent(),
      NamespaceId: { 'Fn::GetAtt': [id(stack, namespace), 'Id'] },
    });
  });

  it('registers its tasks in the target group it is given', () => {
    const { stack, targetGroup, template } = build();
    template.hasResourceProperties('AWS::ECS::Service', {
      LoadBalancers: [{ ContainerName: 'Web', ContainerPort: 80, TargetGroupArn: { Ref: id(stack, targetGroup) } }],
    });
  });

  it('takes the desired count and the Cloud Map service name as props', () => {
    const { template } = build({ desiredCount: 6, cloudMapServiceName: 'api' });
    template.hasResourceProperties('AWS::ECS::Service', { DesiredCount: 6 });
    template.hasResourceProperties('AWS::ServiceDiscovery::Service', { Name: 'api' });
  });
});

describe('task', () => {
  it('runs on x86_64 Linux with 256 CPU units and 512 MiB by default, since Fargate Spot has no ARM', () => {
    build().template.hasResourceProperties('AWS::ECS::TaskDefinition', {
      RuntimePlatform: { CpuArchitecture: 'X86_64', OperatingSystemFamily: 'LINUX' },
      RequiresCompatibilities: ['FARGATE'],
      Cpu: '256',
      Memory: '512',
    });
  });

  it('has a container health check and a 30 s stop timeout inside the two-minute warning', () => {
    const web = container(build().template);
    expect(web.HealthCheck.Command[0]).toBe('CMD-SHELL');
    expect(web.HealthCheck.Command[1]).toContain('http://localhost:80/');
    expect(web.StopTimeout).toBe(30);
    expect(web.StopTimeout).toBeLessThan(120);
  });

  it('serves, is health-checked, registered and admitted on the container port it is given', () => {
    const { stack, loadBalancerSecurityGroup, service, template } = build({ containerPort: 8080 });
    const web = container(template);
    expect(web.PortMappings).toEqual([expect.objectContaining({ ContainerPort: 8080 })]);
    expect(web.HealthCheck.Command[1]).toContain('http://localhost:8080/');
    template.hasResourceProperties('AWS::ECS::Service', {
      ServiceRegistries: [Match.objectLike({ ContainerPort: 8080 })],
      LoadBalancers: [Match.objectLike({ ContainerPort: 8080 })],
    });
    template.hasResourceProperties('AWS::EC2::SecurityGroupIngress', {
      GroupId: { 'Fn::GetAtt': [id(stack, service.securityGroup), 'GroupId'] },
      SourceSecurityGroupId: { 'Fn::GetAtt': [id(stack, loadBalancerSecurityGroup), 'GroupId'] },
      FromPort: 8080,
      ToPort: 8080,
    });
    expect(service.containerPort).toBe(8080);
  });

  it('logs through awslogs to a log group with retention', () => {
    const { template } = build();
    const web = container(template);
    expect(web.LogConfiguration.LogDriver).toBe('awslogs');
    const group = web.LogConfiguration.Options['awslogs-group']?.Ref as string;
    expect(templateJson(template).Resources[group]).toMatchObject({ Type: 'AWS::Logs::LogGroup', Properties: { RetentionInDays: 30 } });
  });

  it('counts nginx 5xx responses from the access log with a metric filter', () => {
    const { template } = build();
    template.hasResourceProperties('AWS::Logs::MetricFilter', {
      LogGroupName: container(template).LogConfiguration.Options['awslogs-group'],
      FilterPattern: '[ip, identity, user, timestamp, request, status_code=5*, bytes, ...]',
      MetricTransformations: [{ MetricName: 'NginxServerErrors', MetricNamespace: 'Spotwise', MetricValue: '1', DefaultValue: 0 }],
    });
  });
});

describe('security group', () => {
  it('admits only the load balancer, on the container port, and lets the load balancer out to the tasks on it', () => {
    const { stack, loadBalancerSecurityGroup, service, template } = build();
    const tasks = { 'Fn::GetAtt': [id(stack, service.securityGroup), 'GroupId'] };
    const alb = { 'Fn::GetAtt': [id(stack, loadBalancerSecurityGroup), 'GroupId'] };
    expect(templateJson(template).Resources[id(stack, service.securityGroup)]?.Properties?.SecurityGroupIngress).toBeUndefined();
    const ingress = resourcesOfType(template, 'AWS::EC2::SecurityGroupIngress').filter(([, p]) => JSON.stringify(p.GroupId) === JSON.stringify(tasks));
    expect(ingress.map(([, p]) => [p.SourceSecurityGroupId, p.FromPort, p.ToPort])).toEqual([[alb, 80, 80]]);
    template.hasResourceProperties('AWS::EC2::SecurityGroupEgress', { GroupId: alb, DestinationSecurityGroupId: tasks, FromPort: 80, ToPort: 80 });
  });
});

describe('validation', () => {
  it('fails when the stop timeout is outside the 2 to 120 s ECS allows, or not whole seconds', () => {
    expect(attempt({ stopTimeout: Duration.seconds(121) })).toThrow(/^Host\/Service: stopTimeout must be a whole number from 2 to 120; got 121\. /);
    expect(attempt({ stopTimeout: Duration.seconds(1) })).toThrow(/^Host\/Service: stopTimeout must be a whole number from 2 to 120; got 1\. /);
    expect(attempt({ stopTimeout: Duration.millis(2500) })).toThrow(/^Host\/Service: stopTimeout must be a whole number from 2 to 120; got 2\.5\. Give it in whole seconds/);
  });

  it('fails when draining and the stop timeout together outlast the Spot warning, since ECS drains before SIGTERM', () => {
    expect(attempt({ deregistrationDelay: Duration.seconds(60), stopTimeout: Duration.seconds(60) })).toThrow(
      /^Host\/Service: deregistrationDelay \(60 s\) plus stopTimeout \(60 s\) must be at most 100 s; got 120 s\. .*Shorten deregistrationDelay or stopTimeout\.$/,
    );
  });

  it('accepts draining and a stop timeout that together use exactly the 100 s budget', () => {
    expect(attempt({ deregistrationDelay: Duration.seconds(50), stopTimeout: Duration.seconds(50) })).not.toThrow();
  });

  it('leaves the sum unchecked when it is not told the deregistration delay', () => {
    expect(attempt({ stopTimeout: Duration.seconds(120) })).not.toThrow();
  });

  it('fails when the desired count is below 1 or fractional', () => {
    expect(attempt({ desiredCount: 0 })).toThrow(/^Host\/Service: desiredCount must be a whole number of at least 1; got 0\.$/);
    expect(attempt({ desiredCount: 1.5 })).toThrow(/^Host\/Service: desiredCount must be a whole number of at least 1; got 1\.5\.$/);
  });

  it('fails when the container port is not a TCP port', () => {
    expect(attempt({ containerPort: 70000 })).toThrow(/^Host\/Service: containerPort must be a whole number from 1 to 65535; got 70000\.$/);
  });
});
