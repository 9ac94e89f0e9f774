import { Duration, Stack } from 'aws-cdk-lib/core';
import { Match, Template } from 'aws-cdk-lib/assertions';
import type { Metric } from 'aws-cdk-lib/aws-cloudwatch';
import { SecurityGroup, SubnetType, Vpc } from 'aws-cdk-lib/aws-ec2';
import { ContainerImage } from 'aws-cdk-lib/aws-ecs';
import type { ApplicationListener } from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import { ApplicationLoadBalancer, ApplicationProtocol, ApplicationTargetGroup, TargetType } from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import { PrivateDnsNamespace } from 'aws-cdk-lib/aws-servicediscovery';
import { ECS_REMOVE_DEFAULT_DESIRED_COUNT } from 'aws-cdk-lib/cx-api';
import { describe, expect, it } from 'vitest';
import type { SpotFargateServiceProps } from '../../lib/constructs/spot-fargate-service';
import { ECS_AUTO_SCALING_SERVICE_LINKED_ROLE } from '../../lib/constructs/service-linked-roles';
import { SpotFargateService } from '../../lib/constructs/spot-fargate-service';
import { newApp, resourcesOfType, templateJson } from '../support/app';

interface Built {
  readonly stack: Stack;
  readonly vpc: Vpc;
  readonly targetGroup: ApplicationTargetGroup;
  readonly listener?: ApplicationListener;
  readonly loadBalancerSecurityGroup: SecurityGroup;
  readonly namespace: PrivateDnsNamespace;
  readonly service: SpotFargateService;
  readonly template: Template;
}

interface BuildOptions {
  /** Forward to the target group from an ALB listener, as request-count scaling needs. @default true */
  readonly listener?: boolean;
  /** Context (feature flags) to set on the app over cdk.json's. @default - none */
  readonly context?: Record<string, unknown>;
}

/**
 * A fresh stack holding one service, with the VPC, IP target group, the ALB and listener forwarding to it,
 * its security group, and the namespace the service needs.
 */
function build(props: Partial<SpotFargateServiceProps> = {}, options: BuildOptions = {}): Built {
  const app = newApp();
  for (const [key, value] of Object.entries(options.context ?? {})) app.node.setContext(key, value);
  const stack = new Stack(app, 'Host');
  const vpc = new Vpc(stack, 'Vpc', { maxAzs: 2, natGateways: 0, restrictDefaultSecurityGroup: false });
  const targetGroup = new ApplicationTargetGroup(stack, 'Targets', { vpc, targetType: TargetType.IP, protocol: ApplicationProtocol.HTTP, port: 80 });
  const loadBalancerSecurityGroup = new SecurityGroup(stack, 'Alb', { vpc, allowAllOutbound: false });
  let listener: ApplicationListener | undefined;
  if (options.listener ?? true) {
    const loadBalancer = new ApplicationLoadBalancer(stack, 'LoadBalancer', { vpc, internetFacing: true, securityGroup: loadBalancerSecurityGroup });
    listener = loadBalancer.addListener('Http', { port: 80, open: false, defaultTargetGroups: [targetGroup] });
  }
  const namespace = new PrivateDnsNamespace(stack, 'Namespace', { vpc, name: 'host.internal' });
  const service = new SpotFargateService(stack, 'Service', {
    vpc,
    targetGroup,
    loadBalancerSecurityGroup,
    namespace,
    image: ContainerImage.fromRegistry('nginxinc/nginx-unprivileged:1.28.0'),
    ...props,
  });
  return { stack, vpc, targetGroup, listener, loadBalancerSecurityGroup, namespace, service, template: Template.fromStack(stack) };
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
  User?: string;
  Privileged?: boolean;
  ReadonlyRootFilesystem?: boolean;
  Memory?: number;
  LinuxParameters?: { Capabilities?: { Drop?: string[]; Add?: string[] } };
  MountPoints?: { SourceVolume: string; ContainerPath: string; ReadOnly: boolean }[];
  PortMappings: { ContainerPort: number }[];
  HealthCheck: { Command: string[] };
  StopTimeout: number;
  LogConfiguration: { LogDriver: string; Options: Record<string, { Ref: string }> };
};

type AnyContainer = ContainerDefinition & {
  Name: string;
  Essential?: boolean;
  EntryPoint?: string[];
  Command?: string[];
  MemoryReservation?: number;
  DependsOn?: { ContainerName: string; Condition: string }[];
};

/** The task's containers by name: `Web`, and `ScratchPermissions` when it has scratch space. */
function containers(template: Template): Map<string, AnyContainer> {
  const [[, task]] = resourcesOfType(template, 'AWS::ECS::TaskDefinition') as [[string, { ContainerDefinitions: AnyContainer[] }]];
  return new Map(task.ContainerDefinitions.map((c) => [c.Name, c]));
}

function container(template: Template): ContainerDefinition {
  const web = containers(template).get('Web');
  if (web === undefined) throw new Error('The task has no Web container');
  return web;
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

  it('makes sure the ECS and ECS Application Auto Scaling service-linked roles exist before the cluster, as a fresh account needs', () => {
    const { stack, service, template } = build();
    template.hasResourceProperties('Custom::ServiceLinkedRoles', {
      Roles: [
        { ServiceName: 'ecs.amazonaws.com', RoleName: 'AWSServiceRoleForECS' },
        { ServiceName: 'ecs.application-autoscaling.amazonaws.com', RoleName: 'AWSServiceRoleForApplicationAutoScaling_ECSService' },
      ],
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

  it('runs tasks with public IPs in the public subnets, rolling back failed deployments and never dropping below the desired count', () => {
    const { stack, vpc, service, template } = build();
    template.hasResourceProperties('AWS::ECS::Service', {
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
      ServiceRegistries: [{ RegistryArn: { 'Fn::GetAtt': [id(stack, service.cloudMapService), 'Arn'] }, ContainerName: 'Web', ContainerPort: 8080 }],
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
      LoadBalancers: [{ ContainerName: 'Web', ContainerPort: 8080, TargetGroupArn: { Ref: id(stack, targetGroup) } }],
    });
  });

  it('takes the Cloud Map service name as a prop', () => {
    build({ cloudMapServiceName: 'api' }).template.hasResourceProperties('AWS::ServiceDiscovery::Service', { Name: 'api' });
  });
});

describe('scaling', () => {
  /** Properties of the target tracking policies, by predefined metric type. */
  function policies(template: Template): Record<string, Record<string, unknown>> {
    return Object.fromEntries(
      resourcesOfType(template, 'AWS::ApplicationAutoScaling::ScalingPolicy').map(([, p]) => {
        const config = p.TargetTrackingScalingPolicyConfiguration as { PredefinedMetricSpecification: { PredefinedMetricType: string } };
        return [config.PredefinedMetricSpecification.PredefinedMetricType, p];
      }),
    );
  }

  it('sets no DesiredCount, so a deploy never resets the count Application Auto Scaling chose', () => {
    build().template.hasResourceProperties('AWS::ECS::Service', { DesiredCount: Match.absent() });
  });

  // The flag belongs to ecs-patterns and is fixed on in CDK v2, which throws if anything reads it set to false:
  // this passes only if the construct neither reads it nor sets a count.
  it('sets no DesiredCount, and reads no flag for it, in an app that sets removeDefaultDesiredCount off', () => {
    const { stack, template } = build({}, { context: { [ECS_REMOVE_DEFAULT_DESIRED_COUNT]: false } });
    expect(stack.node.tryGetContext(ECS_REMOVE_DEFAULT_DESIRED_COUNT)).toBe(false);
    template.hasResourceProperties('AWS::ECS::Service', { DesiredCount: Match.absent() });
  });

  it('scales the service between 2 and 10 tasks by default', () => {
    const { stack, service, template } = build();
    template.resourceCountIs('AWS::ApplicationAutoScaling::ScalableTarget', 1);
    template.hasResourceProperties('AWS::ApplicationAutoScaling::ScalableTarget', {
      MinCapacity: 2,
      MaxCapacity: 10,
      ServiceNamespace: 'ecs',
      ScalableDimension: 'ecs:service:DesiredCount',
      ResourceId: {
        'Fn::Join': ['', ['service/', { Ref: id(stack, service.cluster) }, '/', { 'Fn::GetAtt': [id(stack, service.service), 'Name'] }]],
      },
    });
  });

  it('acts through the service-linked role it ensures, which it waits for, and creates no IAM role of its own', () => {
    const { stack, service, template } = build();
    const [[targetId, target]] = resourcesOfType(template, 'AWS::ApplicationAutoScaling::ScalableTarget') as [[string, { RoleARN: unknown }]];
    const { serviceName, roleName } = ECS_AUTO_SCALING_SERVICE_LINKED_ROLE;
    expect(JSON.stringify(target.RoleARN)).toContain(`:role/aws-service-role/${serviceName}/${roleName}`);
    template.hasResource('AWS::ApplicationAutoScaling::ScalableTarget', {
      DependsOn: Match.arrayWith([stack.getLogicalId(service.serviceLinkedRole.resource.node.defaultChild as never)]),
    });
    expect(targetId).toBe(stack.getLogicalId(service.scaling.node.findChild('Target').node.defaultChild as never));
    const trusted = resourcesOfType(template, 'AWS::IAM::Role').map(([, p]) => JSON.stringify(p.AssumeRolePolicyDocument));
    expect(trusted.length).toBeGreaterThan(0);
    expect(trusted.filter((doc) => doc.includes('application-autoscaling'))).toEqual([]);
  });

  it('tracks 50 % average CPU and 1000 requests per task, scaling out after 60 s and in after 300 s', () => {
    const { stack, service, template } = build();
    const target = { Ref: stack.getLogicalId(service.scaling.node.findChild('Target').node.defaultChild as never) };
    const byMetric = policies(template);
    expect(Object.keys(byMetric).sort()).toEqual(['ALBRequestCountPerTarget', 'ECSServiceAverageCPUUtilization']);
    expect(byMetric.ECSServiceAverageCPUUtilization).toMatchObject({
      PolicyType: 'TargetTrackingScaling',
      ScalingTargetId: target,
      TargetTrackingScalingPolicyConfiguration: { TargetValue: 50, ScaleOutCooldown: 60, ScaleInCooldown: 300 },
    });
    expect(byMetric.ALBRequestCountPerTarget).toMatchObject({
      PolicyType: 'TargetTrackingScaling',
      ScalingTargetId: target,
      TargetTrackingScalingPolicyConfiguration: { TargetValue: 1000, ScaleOutCooldown: 60, ScaleInCooldown: 300 },
    });
  });

  it('counts requests on its own target group behind its load balancer', () => {
    const { stack, targetGroup, listener, template } = build();
    const listenerArn = { Ref: stack.getLogicalId(listener?.node.defaultChild as never) };
    const part = (index: number): unknown => ({ 'Fn::Select': [index, { 'Fn::Split': ['/', listenerArn] }] });
    const config = policies(template).ALBRequestCountPerTarget?.TargetTrackingScalingPolicyConfiguration as {
      PredefinedMetricSpecification: { ResourceLabel: unknown };
    };
    // app/<load balancer name>/<id>/targetgroup/<target group name>/<id>, as the metric's dimensions name them
    expect(config.PredefinedMetricSpecification.ResourceLabel).toEqual({
      'Fn::Join': ['', [part(1), '/', part(2), '/', part(3), '/', { 'Fn::GetAtt': [id(stack, targetGroup), 'TargetGroupFullName'] }]],
    });
  });

  it('takes its capacity, targets and cooldowns as props', () => {
    const { template } = build({
      minCapacity: 3,
      maxCapacity: 40,
      targetCpuUtilization: 70,
      requestsPerTarget: 6000,
      scaleOutCooldown: Duration.seconds(30),
      scaleInCooldown: Duration.minutes(10),
    });
    template.hasResourceProperties('AWS::ApplicationAutoScaling::ScalableTarget', { MinCapacity: 3, MaxCapacity: 40 });
    const byMetric = policies(template);
    const cooldowns = { ScaleOutCooldown: 30, ScaleInCooldown: 600 };
    expect(byMetric.ECSServiceAverageCPUUtilization).toMatchObject({ TargetTrackingScalingPolicyConfiguration: { TargetValue: 70, ...cooldowns } });
    expect(byMetric.ALBRequestCountPerTarget).toMatchObject({ TargetTrackingScalingPolicyConfiguration: { TargetValue: 6000, ...cooldowns } });
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
    expect(web.HealthCheck.Command[1]).toContain('http://localhost:8080/');
    expect(web.StopTimeout).toBe(30);
    expect(web.StopTimeout).toBeLessThan(120);
  });

  it('serves, is health-checked, registered and admitted on the container port it is given', () => {
    const { stack, loadBalancerSecurityGroup, service, template } = build({ containerPort: 8443 });
    const web = container(template);
    expect(web.PortMappings).toEqual([expect.objectContaining({ ContainerPort: 8443 })]);
    expect(web.HealthCheck.Command[1]).toContain('http://localhost:8443/');
    template.hasResourceProperties('AWS::ECS::Service', {
      ServiceRegistries: [Match.objectLike({ ContainerPort: 8443 })],
      LoadBalancers: [Match.objectLike({ ContainerPort: 8443 })],
    });
    template.hasResourceProperties('AWS::EC2::SecurityGroupIngress', {
      GroupId: { 'Fn::GetAtt': [id(stack, service.securityGroup), 'GroupId'] },
      SourceSecurityGroupId: { 'Fn::GetAtt': [id(stack, loadBalancerSecurityGroup), 'GroupId'] },
      FromPort: 8443,
      ToPort: 8443,
    });
    expect(service.containerPort).toBe(8443);
  });

  it('serves on 8080 by default, an unprivileged port, as nginxinc/nginx-unprivileged does', () => {
    const { service, template } = build();
    expect(container(template).PortMappings).toEqual([expect.objectContaining({ ContainerPort: 8080 })]);
    expect(service.containerPort).toBe(8080);
  });

  it('runs the container as uid 101 with a read-only root filesystem, every Linux capability dropped and a memory hard limit', () => {
    const web = container(build().template);
    expect(web).toMatchObject({
      User: '101',
      ReadonlyRootFilesystem: true,
      Memory: 512,
      LinuxParameters: { Capabilities: { Drop: ['ALL'] } },
    });
    expect(web.LinuxParameters?.Capabilities?.Add).toBeUndefined();
    expect(web.Privileged).toBeUndefined();
  });

  it('gives nginx writable scratch space only at /tmp and /var/cache/nginx, as task volumes', () => {
    const { template } = build();
    const web = container(template);
    expect(web.MountPoints).toEqual([
      { SourceVolume: 'scratch0', ContainerPath: '/tmp', ReadOnly: false },
      { SourceVolume: 'scratch1', ContainerPath: '/var/cache/nginx', ReadOnly: false },
    ]);
    // A volume with no host and no configuration is a bind mount on the task's ephemeral storage.
    template.hasResourceProperties('AWS::ECS::TaskDefinition', { Volumes: [{ Name: 'scratch0' }, { Name: 'scratch1' }] });
  });

  it('opens the scratch volumes to nginx first, from a container that is root without capabilities and exits', () => {
    const { template } = build();
    const all = containers(template);
    expect([...all.keys()].sort()).toEqual(['ScratchPermissions', 'Web']);
    const init = all.get('ScratchPermissions');
    // Fargate makes bind mounts root-owned, 0755: nginx's uid could not write to them.
    expect(init).toMatchObject({
      Essential: false,
      User: '0',
      ReadonlyRootFilesystem: true,
      MemoryReservation: 16,
      LinuxParameters: { Capabilities: { Drop: ['ALL'] } },
      EntryPoint: ['chmod'],
      Command: ['1777', '/tmp', '/var/cache/nginx'],
      MountPoints: [
        { SourceVolume: 'scratch0', ContainerPath: '/tmp', ReadOnly: false },
        { SourceVolume: 'scratch1', ContainerPath: '/var/cache/nginx', ReadOnly: false },
      ],
    });
    expect(init?.Memory).toBeUndefined();
    expect(init?.PortMappings).toBeUndefined();
    expect(all.get('Web')?.DependsOn).toEqual([{ ContainerName: 'ScratchPermissions', Condition: 'SUCCESS' }]);
  });

  it('has no permissions container when there is no scratch space', () => {
    expect([...containers(build({ scratchPaths: [] }).template).keys()]).toEqual(['Web']);
  });

  it('takes the user, scratch paths and container memory limit as props', () => {
    const web = container(build({ user: '1000:1000', scratchPaths: ['/scratch'], memoryLimitMiB: 1024, containerMemoryLimitMiB: 768 }).template);
    expect(web).toMatchObject({ User: '1000:1000', Memory: 768, MountPoints: [{ SourceVolume: 'scratch0', ContainerPath: '/scratch', ReadOnly: false }] });
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
      MetricTransformations: [
        { MetricName: 'NginxServerErrors', MetricNamespace: { 'Fn::Join': ['', ['Spotwise/', { Ref: 'AWS::StackName' }]] }, MetricValue: '1', DefaultValue: 0 },
      ],
    });
  });
});

describe('metrics', () => {
  /** What a metric stands for once resolved in `stack`: the fields an alarm or a graph sends to CloudWatch. */
  function resolved(stack: Stack, metric: Metric): Record<string, unknown> {
    return stack.resolve({
      namespace: metric.namespace,
      metricName: metric.metricName,
      dimensions: metric.dimensions,
      statistic: metric.statistic,
      period: metric.period.toSeconds(),
    }) as Record<string, unknown>;
  }

  it.each(['DesiredTaskCount', 'RunningTaskCount', 'PendingTaskCount'] as const)(
    'reads Container Insights\' %s of this service in this cluster, averaged per minute',
    (metricName) => {
      const { stack, service } = build();
      expect(resolved(stack, service.metricTasks(metricName))).toEqual({
        namespace: 'ECS/ContainerInsights',
        metricName,
        dimensions: { ClusterName: { Ref: id(stack, service.cluster) }, ServiceName: { 'Fn::GetAtt': [id(stack, service.service), 'Name'] } },
        statistic: 'Average',
        period: 60,
      });
    },
  );

  it('reads nginx\'s 5xx where the metric filter counts them, summed per minute, with no dimension', () => {
    const { stack, service, template } = build();
    const [[, filter]] = resourcesOfType(template, 'AWS::Logs::MetricFilter') as [[string, { MetricTransformations: Record<string, unknown>[] }]];
    const [transformation] = filter.MetricTransformations;
    expect(resolved(stack, service.metricServerErrors())).toEqual({
      namespace: transformation?.MetricNamespace,
      metricName: transformation?.MetricName,
      statistic: 'Sum',
      period: 60,
    });
    expect(transformation?.Dimensions).toBeUndefined();
  });

  it('keeps two copies of the stack apart: the 5xx namespace is the stack\'s own', () => {
    const { stack, service } = build();
    expect(stack.resolve(service.metricServerErrors().namespace)).toEqual({ 'Fn::Join': ['', ['Spotwise/', { Ref: 'AWS::StackName' }]] });
  });
});

describe('security group', () => {
  it('admits only the load balancer, on the container port, and lets the load balancer out to the tasks on it', () => {
    const { stack, loadBalancerSecurityGroup, service, template } = build();
    const tasks = { 'Fn::GetAtt': [id(stack, service.securityGroup), 'GroupId'] };
    const alb = { 'Fn::GetAtt': [id(stack, loadBalancerSecurityGroup), 'GroupId'] };
    expect(templateJson(template).Resources[id(stack, service.securityGroup)]?.Properties?.SecurityGroupIngress).toBeUndefined();
    const ingress = resourcesOfType(template, 'AWS::EC2::SecurityGroupIngress').filter(([, p]) => JSON.stringify(p.GroupId) === JSON.stringify(tasks));
    expect(ingress.map(([, p]) => [p.SourceSecurityGroupId, p.FromPort, p.ToPort])).toEqual([[alb, 8080, 8080]]);
    template.hasResourceProperties('AWS::EC2::SecurityGroupEgress', { GroupId: alb, DestinationSecurityGroupId: tasks, FromPort: 8080, ToPort: 8080 });
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

  it('fails when minCapacity is below 1 or fractional', () => {
    expect(attempt({ minCapacity: 0 })).toThrow(/^Host\/Service: minCapacity must be a whole number from 1 to 1000; got 0\. Keep at least one task/);
    expect(attempt({ minCapacity: 1.5 })).toThrow(/^Host\/Service: minCapacity must be a whole number from 1 to 1000; got 1\.5\./);
  });

  it('fails when maxCapacity is above 1000, the targets a target group holds by default', () => {
    expect(attempt({ maxCapacity: 1001 })).toThrow(/^Host\/Service: maxCapacity must be a whole number from 1 to 1000; got 1001\. A target group holds/);
  });

  it('accepts 1 to 1000 tasks', () => {
    expect(attempt({ minCapacity: 1, maxCapacity: 1000 })).not.toThrow();
  });

  it('fails when minCapacity is above maxCapacity', () => {
    expect(attempt({ minCapacity: 5, maxCapacity: 4 })).toThrow(/^Host\/Service: minCapacity \(5\) is above maxCapacity \(4\); raise maxCapacity or lower minCapacity\.$/);
    expect(attempt({ minCapacity: 11 })).toThrow(/^Host\/Service: minCapacity \(11\) is above maxCapacity \(10\)/);
  });

  it('accepts minCapacity equal to maxCapacity', () => {
    expect(attempt({ minCapacity: 4, maxCapacity: 4 })).not.toThrow();
  });

  it('fails when requestsPerTarget is 0', () => {
    expect(attempt({ requestsPerTarget: 0 })).toThrow(/^Host\/Service: requestsPerTarget must be a whole number of at least 1; got 0\. /);
  });

  it('fails when targetCpuUtilization is 0 or 101', () => {
    expect(attempt({ targetCpuUtilization: 0 })).toThrow(/^Host\/Service: targetCpuUtilization must be a whole number from 1 to 100; got 0\. /);
    expect(attempt({ targetCpuUtilization: 101 })).toThrow(/^Host\/Service: targetCpuUtilization must be a whole number from 1 to 100; got 101\. /);
  });

  it('accepts targetCpuUtilization of 1 and 100', () => {
    expect(attempt({ targetCpuUtilization: 1 })).not.toThrow();
    expect(attempt({ targetCpuUtilization: 100 })).not.toThrow();
  });

  it('fails when a cooldown is not whole seconds', () => {
    expect(attempt({ scaleOutCooldown: Duration.millis(1500) })).toThrow(/^Host\/Service: scaleOutCooldown must be a whole number of at least 0; got 1\.5\. Give it in whole seconds\.$/);
    expect(attempt({ scaleInCooldown: Duration.millis(500) })).toThrow(/^Host\/Service: scaleInCooldown must be a whole number of at least 0; got 0\.5\./);
  });

  it('fails when the target group is on no listener, as scaling on requests per target needs its load balancer', () => {
    expect(() => build({}, { listener: false })).toThrow(/^Host\/Service: targetGroup Host\/Targets is not on any listener, .*add it to a listener before creating the service\.$/);
  });

  it('fails when the container port is 1024 or below, which a non-root user without capabilities cannot bind', () => {
    expect(attempt({ containerPort: 80 })).toThrow(/^Host\/Service: containerPort 80 is a privileged port, .* Serve above 1024, such as 8080/);
    expect(() => build({ containerPort: 1025 })).not.toThrow();
  });

  it('fails when the user is root', () => {
    expect(attempt({ user: 'root' })).toThrow(/^Host\/Service: user must not be root; got 'root'\./);
    expect(attempt({ user: '0:0' })).toThrow(/^Host\/Service: user must not be root; got '0:0'\./);
  });

  it('fails when a scratch path is not an absolute directory below /, or is given twice', () => {
    expect(attempt({ scratchPaths: ['tmp'] })).toThrow(/^Host\/Service: scratchPaths has 'tmp'; give absolute directories/);
    expect(attempt({ scratchPaths: ['/'] })).toThrow(/^Host\/Service: scratchPaths has '\/'/);
    expect(attempt({ scratchPaths: ['/tmp', '/tmp'] })).toThrow(/^Host\/Service: scratchPaths names a directory twice/);
  });

  it("fails when the container's memory limit is above the task's", () => {
    expect(attempt({ containerMemoryLimitMiB: 513 })).toThrow(/^Host\/Service: containerMemoryLimitMiB must be a whole number from 6 to 512; got 513\. /);
  });

  it('fails when the container port is not a TCP port', () => {
    expect(attempt({ containerPort: 70000 })).toThrow(/^Host\/Service: containerPort must be a whole number from 1 to 65535; got 70000\.$/);
  });
});
