import { CfnParameter, Duration, Stack, Validations } from 'aws-cdk-lib/core';
import { Template } from 'aws-cdk-lib/assertions';
import { InstanceType, SecurityGroup, SubnetType, Vpc } from 'aws-cdk-lib/aws-ec2';
import { ApplicationLoadBalancer, ApplicationProtocol, ApplicationTargetGroup, TargetType } from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import { PolicyStatement } from 'aws-cdk-lib/aws-iam';
import { AwsSolutionsChecks } from 'cdk-nag';
import type { IConstruct } from 'constructs';
import { describe, expect, it } from 'vitest';
import type { SpotAutoScalingGroupProps } from '../../lib/constructs/spot-auto-scaling-group';
import { SpotAutoScalingGroup } from '../../lib/constructs/spot-auto-scaling-group';
import { SpotFleet } from '../../lib/constructs/spot-fleet';
import { WEB_SERVER_COMMANDS } from '../../lib/constructs/web-server-launch-template';
import { ingressRules, newApp, resourcesOfType } from '../support/app';
import { acknowledged, roleStatements } from '../support/constructs';

interface Host {
  readonly stack: Stack;
  readonly vpc: Vpc;
  readonly loadBalancerSecurityGroup: SecurityGroup;
  readonly targetGroup: ApplicationTargetGroup;
  readonly loadBalancer?: ApplicationLoadBalancer;
}

interface Built extends Host {
  readonly servers: SpotAutoScalingGroup;
  readonly template: Template;
}

/** A fresh stack with a two-AZ public VPC, the load balancer's security group and an instance target group, behind a listener unless told otherwise. */
function host({ withListener = true } = {}): Host {
  const stack = new Stack(newApp(), 'Host');
  const vpc = new Vpc(stack, 'Vpc', {
    maxAzs: 2,
    natGateways: 0,
    restrictDefaultSecurityGroup: false,
    subnetConfiguration: [{ name: 'Public', subnetType: SubnetType.PUBLIC }],
  });
  const loadBalancerSecurityGroup = new SecurityGroup(stack, 'LoadBalancerSecurityGroup', { vpc, allowAllOutbound: false });
  const targetGroup = new ApplicationTargetGroup(stack, 'TargetGroup', { vpc, targetType: TargetType.INSTANCE, port: 80, protocol: ApplicationProtocol.HTTP });
  if (!withListener) return { stack, vpc, loadBalancerSecurityGroup, targetGroup };
  const loadBalancer = new ApplicationLoadBalancer(stack, 'LoadBalancer', { vpc, internetFacing: true, securityGroup: loadBalancerSecurityGroup });
  loadBalancer.addListener('Http', { port: 80, open: false, defaultTargetGroups: [targetGroup] });
  return { stack, vpc, loadBalancerSecurityGroup, targetGroup, loadBalancer };
}

/** A fresh host stack holding one group, `Host/Servers`, with `props`. */
function build(props: Partial<SpotAutoScalingGroupProps> = {}, options: { withListener?: boolean } = {}): Built {
  const h = host(options);
  const servers = new SpotAutoScalingGroup(h.stack, 'Servers', { vpc: h.vpc, targetGroup: h.targetGroup, loadBalancerSecurityGroup: h.loadBalancerSecurityGroup, ...props });
  return { ...h, servers, template: Template.fromStack(h.stack) };
}

function id(stack: Stack, construct: IConstruct): string {
  return stack.getLogicalId((construct.node.defaultChild ?? construct) as never);
}

function group(template: Template): { Properties: Record<string, unknown>; CreationPolicy?: Record<string, unknown>; UpdatePolicy?: Record<string, unknown>; DependsOn?: string[] } {
  const groups = Object.values(template.findResources('AWS::AutoScaling::AutoScalingGroup'));
  expect(groups).toHaveLength(1);
  return groups[0] as never;
}

function launchTemplateData(template: Template): Record<string, unknown> {
  const [[, props]] = resourcesOfType(template, 'AWS::EC2::LaunchTemplate') as [[string, { LaunchTemplateData: Record<string, unknown> }]];
  return props.LaunchTemplateData;
}

/** The user data script, with each reference written as `${logical id}` and each pseudo parameter as `${AWS::…}`. */
function userDataScript(template: Template): string {
  const { 'Fn::Base64': body } = launchTemplateData(template).UserData as { 'Fn::Base64': string | { 'Fn::Join': [string, unknown[]] } };
  if (typeof body === 'string') return body;
  return body['Fn::Join'][1].map((part) => (typeof part === 'string' ? part : `\${${(part as { Ref: string }).Ref}}`)).join('');
}

describe('mixed instances', () => {
  it('runs all Spot, price-capacity-optimized, over four current x86_64 types in both public subnets', () => {
    const { template, vpc, stack } = build();
    const { Properties: p } = group(template);
    expect(p.MixedInstancesPolicy).toMatchObject({
      InstancesDistribution: { OnDemandBaseCapacity: 0, OnDemandPercentageAboveBaseCapacity: 0, SpotAllocationStrategy: 'price-capacity-optimized' },
      LaunchTemplate: { Overrides: ['c6i.large', 'm6i.large', 'c5.large', 'm5.large'].map((InstanceType) => ({ InstanceType })) },
    });
    expect(p.VPCZoneIdentifier).toEqual(vpc.publicSubnets.map((s) => ({ Ref: id(stack, s.node.defaultChild as IConstruct) })));
    expect(p.VPCZoneIdentifier).toHaveLength(2);
  });

  it('runs an On-Demand base below the Spot when given one, and the instance types given', () => {
    const { template } = build({ onDemandBaseCapacity: 1, instanceTypes: ['m7i.large', 'm6i.large', 'm6a.large'].map((t) => new InstanceType(t)) });
    expect(group(template).Properties.MixedInstancesPolicy).toMatchObject({
      InstancesDistribution: { OnDemandBaseCapacity: 1, OnDemandPercentageAboveBaseCapacity: 0 },
      LaunchTemplate: { Overrides: [{ InstanceType: 'm7i.large' }, { InstanceType: 'm6i.large' }, { InstanceType: 'm6a.large' }] },
    });
  });

  it('launches the pinned version of the launch template, so that a new version is a change CloudFormation rolls out', () => {
    const { template, servers, stack } = build();
    expect(group(template).Properties.MixedInstancesPolicy).toMatchObject({
      LaunchTemplate: {
        LaunchTemplateSpecification: {
          LaunchTemplateId: { Ref: id(stack, servers.launchTemplate) },
          Version: { 'Fn::GetAtt': [id(stack, servers.launchTemplate), 'LatestVersionNumber'] },
        },
      },
    });
  });
});

describe('load balancer and health', () => {
  it('registers in the target group, once it serves a listener, and takes its health from the ELB health check', () => {
    const { template, targetGroup, stack, loadBalancer } = build();
    const g = group(template);
    expect(g.Properties).toMatchObject({ TargetGroupARNs: [{ Ref: id(stack, targetGroup) }], HealthCheckType: 'ELB', HealthCheckGracePeriod: 600 });
    const listener = loadBalancer?.node.findChild('Http') as IConstruct;
    expect(g.DependsOn).toContain(id(stack, listener));
  });

  it('lets only the load balancer reach the instances, on port 80, with no SSH', () => {
    const { template, stack, servers, loadBalancerSecurityGroup } = build();
    const rules = ingressRules(template).filter((r) => r.group === id(stack, servers.securityGroup));
    expect(rules).toEqual([
      { group: id(stack, servers.securityGroup), protocol: 'tcp', fromPort: 80, toPort: 80, source: { SourceSecurityGroupId: { 'Fn::GetAtt': [id(stack, loadBalancerSecurityGroup), 'GroupId'] } } },
    ]);
  });

  it('has Capacity Rebalancing on, unless turned off', () => {
    expect(group(build().template).Properties.CapacityRebalance).toBe(true);
    expect(group(build({ capacityRebalance: false }).template).Properties.CapacityRebalance).toBe(false);
  });
});

describe('instances', () => {
  it('require IMDSv2 with one hop and boot from an encrypted gp3 root volume, tagged with the group\'s own tag', () => {
    const { template, servers, stack } = build();
    expect(launchTemplateData(template)).toMatchObject({
      MetadataOptions: { HttpTokens: 'required', HttpPutResponseHopLimit: 1 },
      BlockDeviceMappings: [{ DeviceName: '/dev/xvda', Ebs: { Encrypted: true, VolumeSize: 8, VolumeType: 'gp3' } }],
      TagSpecifications: [{ ResourceType: 'instance', Tags: [{ Key: 'Name' }, { Key: 'spotwise:fleet', Value: { 'Fn::Join': ['/', [{ Ref: 'AWS::StackName' }, 'Servers']] } }] }],
    });
    expect(servers.instanceTag.key).toBe('spotwise:fleet');
    expect(stack.resolve(servers.instanceTag.value)).toEqual({ 'Fn::Join': ['/', [{ Ref: 'AWS::StackName' }, 'Servers']] });
  });

  it('may use Session Manager, read target health and signal its own stack, and nothing else', () => {
    const { template, servers } = build();
    expect(roleStatements(template, servers.instanceRole)).toEqual([
      {
        Effect: 'Allow',
        Action: [
          'elasticloadbalancing:DescribeTargetHealth',
          'ssm:UpdateInstanceInformation',
          'ssmmessages:CreateControlChannel',
          'ssmmessages:CreateDataChannel',
          'ssmmessages:OpenControlChannel',
          'ssmmessages:OpenDataChannel',
        ],
        Resource: '*',
      },
      { Effect: 'Allow', Action: 'cloudformation:SignalResource', Resource: { Ref: 'AWS::StackId' } },
    ]);
    expect(acknowledged(servers.instanceRole)).toEqual(['AwsSolutions::AwsSolutions-IAM5[Resource::*]']);
  });

  it('run the same nginx commands as the Spot Fleet\'s, after installing cfn-signal', () => {
    const script = userDataScript(build().template);
    expect(script).toContain(['set -euo pipefail', 'dnf install -y aws-cfn-bootstrap', ...WEB_SERVER_COMMANDS.slice(1)].join('\n'));
    // SpotFleet's user data is exactly those commands.
    const fleetHost = host();
    new SpotFleet(fleetHost.stack, 'Fleet', { vpc: fleetHost.vpc, targetGroup: fleetHost.targetGroup, loadBalancerSecurityGroup: fleetHost.loadBalancerSecurityGroup });
    expect(userDataScript(Template.fromStack(fleetHost.stack))).toBe(['#!/bin/bash', ...WEB_SERVER_COMMANDS].join('\n'));
  });

  it('signal success only once the target group calls their own instance id healthy, and failure on any error or after the signal timeout', () => {
    const { template, stack, servers, targetGroup } = build({ signalTimeout: Duration.minutes(5) });
    const script = userDataScript(template);
    const groupId = id(stack, servers.group);
    // The exit trap signals the script's exit code: 0 only when it got to the end.
    expect(script).toMatch(
      new RegExp(
        `^#!/bin/bash\\nfunction exitTrap\\(\\)\\{\\nexitCode=\\$\\?\\n/opt/aws/bin/cfn-signal --stack \\$\\{AWS::StackName\\} --resource ${groupId} --region \\$\\{AWS::Region\\} -e \\$exitCode .*\\n\\}\\ntrap exitTrap EXIT\\n`,
      ),
    );
    expect(script).toContain(`TG=\${${id(stack, targetGroup)}}`);
    expect(script).toContain('IID=$(md instance-id)');
    expect(script).toContain(
      `aws elbv2 describe-target-health --region "$REGION" --target-group-arn "$TG" --targets "Id=$IID" --query 'TargetHealthDescriptions[0].TargetHealth.State' --output text`,
    );
    expect(script).toContain('[ "$STATE" = healthy ] && break');
    // 5 minutes of 10-second looks, then a failure exit.
    expect(script).toContain('for try in $(seq 30); do');
    expect(script).toMatch(/\[ "\$try" = 30 \] && \{ echo .*; exit 1; \}/);
    expect(script.endsWith('done')).toBe(true);
  });
});

describe('creation and updates', () => {
  it('is created once minCapacity instances have signalled, all of them, within the signal timeout', () => {
    expect(group(build().template).CreationPolicy).toEqual({
      ResourceSignal: { Count: 2, Timeout: 'PT10M' },
      AutoScalingCreationPolicy: { MinSuccessfulInstancesPercent: 100 },
    });
  });

  it('rolls a change one instance at a time, keeping minCapacity in service and waiting for each new instance\'s signal', () => {
    const g = group(build({ minCapacity: 3, maxCapacity: 6, signalTimeout: Duration.minutes(8) }).template);
    expect(g.UpdatePolicy?.AutoScalingRollingUpdate).toEqual({
      MaxBatchSize: 1,
      MinInstancesInService: 3,
      MinSuccessfulInstancesPercent: 100,
      WaitOnResourceSignals: true,
      PauseTime: 'PT8M',
      // Launch and Terminate keep running: the update itself needs them.
      SuspendProcesses: ['HealthCheck', 'ReplaceUnhealthy', 'AZRebalance', 'AlarmNotification', 'ScheduledActions', 'InstanceRefresh'],
    });
    expect(g.UpdatePolicy).not.toHaveProperty('AutoScalingReplacingUpdate');
    expect(g.Properties).toMatchObject({ MinSize: '3', MaxSize: '6' });
  });

  it('never sets DesiredCapacity, so a deploy leaves the size target tracking chose', () => {
    const g = group(build().template);
    expect(g.Properties).not.toHaveProperty('DesiredCapacity');
    expect(g.UpdatePolicy?.AutoScalingScheduledAction).toEqual({ IgnoreUnmodifiedGroupSizeProperties: true });
  });

  it('takes bounds from parameters, into the sizes, the creation signal count and the instances kept in service', () => {
    const h = host();
    const min = new CfnParameter(h.stack, 'MinCapacity', { type: 'Number' }).valueAsNumber;
    const max = new CfnParameter(h.stack, 'MaxCapacity', { type: 'Number' }).valueAsNumber;
    new SpotAutoScalingGroup(h.stack, 'Servers', { vpc: h.vpc, targetGroup: h.targetGroup, loadBalancerSecurityGroup: h.loadBalancerSecurityGroup, minCapacity: min, maxCapacity: max });
    const g = group(Template.fromStack(h.stack));
    expect(g.Properties).toMatchObject({ MinSize: { Ref: 'MinCapacity' }, MaxSize: { Ref: 'MaxCapacity' } });
    expect(g.CreationPolicy).toMatchObject({ ResourceSignal: { Count: { Ref: 'MinCapacity' } } });
    expect(g.UpdatePolicy?.AutoScalingRollingUpdate).toMatchObject({ MinInstancesInService: { Ref: 'MinCapacity' } });
  });

  it('gives the launch template the image it is given, and the same template for the same image: a deploy that changes nothing replaces nothing', () => {
    const first = build({ imageId: 'ami-0123456789abcdef0' }).template;
    expect(launchTemplateData(first).ImageId).toBe('ami-0123456789abcdef0');
    expect(build({ imageId: 'ami-0123456789abcdef0' }).template.toJSON()).toEqual(first.toJSON());
    expect(launchTemplateData(build({ imageId: 'ami-0fedcba9876543210' }).template).ImageId).toBe('ami-0fedcba9876543210');
  });
});

describe('scaling', () => {
  it('tracks requests per target, labelled with this load balancer and target group', () => {
    const { template, stack, servers, loadBalancer } = build({ requestsPerTarget: 600 });
    const policies = resourcesOfType(template, 'AWS::AutoScaling::ScalingPolicy');
    expect(policies).toHaveLength(1);
    expect(policies[0]?.[1]).toMatchObject({
      AutoScalingGroupName: { Ref: id(stack, servers.group) },
      PolicyType: 'TargetTrackingScaling',
      TargetTrackingConfiguration: { TargetValue: 600, PredefinedMetricSpecification: { PredefinedMetricType: 'ALBRequestCountPerTarget' } },
    });
    // Without loadBalancer, CDK derives the load balancer's name from the listener's ARN.
    expect(JSON.stringify(policies[0]?.[1])).toContain(id(stack, loadBalancer?.node.findChild('Http') as IConstruct));
    const h = host();
    new SpotAutoScalingGroup(h.stack, 'Servers', { vpc: h.vpc, targetGroup: h.targetGroup, loadBalancerSecurityGroup: h.loadBalancerSecurityGroup, loadBalancer: h.loadBalancer });
    Template.fromStack(h.stack).hasResourceProperties('AWS::AutoScaling::ScalingPolicy', {
      TargetTrackingConfiguration: {
        TargetValue: 1000,
        PredefinedMetricSpecification: {
          PredefinedMetricType: 'ALBRequestCountPerTarget',
          ResourceLabel: {
            'Fn::Join': ['', [{ 'Fn::GetAtt': [id(h.stack, h.loadBalancer as IConstruct), 'LoadBalancerFullName'] }, '/', { 'Fn::GetAtt': [id(h.stack, h.targetGroup), 'TargetGroupFullName'] }]],
          },
        },
      },
    });
  });

  it('collects the group metrics its alarm and dashboard read, every minute', () => {
    const { template, servers, stack } = build();
    expect(group(template).Properties.MetricsCollection).toEqual([
      { Granularity: '1Minute', Metrics: ['GroupDesiredCapacity', 'GroupInServiceInstances', 'GroupPendingInstances'] },
    ]);
    const metric = servers.metric('GroupInServiceInstances', 'Minimum');
    expect(metric.namespace).toBe('AWS/AutoScaling');
    expect(metric.statistic).toBe('Minimum');
    expect(metric.period.toSeconds()).toBe(60);
    expect(stack.resolve(metric.dimensions)).toEqual({ AutoScalingGroupName: { Ref: id(stack, servers.group) } });
  });
});

describe('cdk-nag', () => {
  function nagReport(add: (h: Host) => SpotAutoScalingGroup): string {
    const h = host();
    add(h);
    const app = h.stack.node.root as ReturnType<typeof newApp>;
    Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
    try {
      app.synth();
      return '';
    } catch (error) {
      return String(error);
    }
  }

  it('finds nothing unacknowledged in the group\'s resources', () => {
    const report = nagReport(({ stack, vpc, targetGroup, loadBalancerSecurityGroup }) => new SpotAutoScalingGroup(stack, 'Servers', { vpc, targetGroup, loadBalancerSecurityGroup }));
    expect(report).not.toMatch(/Host\/Servers\//);
  });

  it('would report a wildcard the group had not acknowledged, so the check above can fail', () => {
    const report = nagReport(({ stack, vpc, targetGroup, loadBalancerSecurityGroup }) => {
      const servers = new SpotAutoScalingGroup(stack, 'Servers', { vpc, targetGroup, loadBalancerSecurityGroup });
      servers.instanceRole.addToPrincipalPolicy(new PolicyStatement({ actions: ['s3:GetObject'], resources: ['arn:aws:s3:::bucket/*'] }));
      return servers;
    });
    expect(report).toMatch(/Host\/Servers\/InstanceRole\/DefaultPolicy\/Resource[\s\S]*AwsSolutions-IAM5/);
  });

  it('acknowledges only the rule that cannot read the launch template and the per-instance notifications, on the group', () => {
    expect(acknowledged(build().servers.group).sort()).toEqual(['AwsSolutions::AwsSolutions-AS3', 'AwsSolutions::AwsSolutions-EC26']);
  });
});

describe('validation', () => {
  const attempt = (props: Partial<SpotAutoScalingGroupProps>) => () => build(props);
  it.each<[string, Partial<SpotAutoScalingGroupProps>, RegExp]>([
    ['the minimum capacity is below 1', { minCapacity: 0 }, /^Host\/Servers: minCapacity must be a whole number from 1 to 1000; got 0\. Delete the stack to stop all instances\.$/],
    ['the maximum capacity is above 1000', { maxCapacity: 1001 }, /^Host\/Servers: maxCapacity must be a whole number from 1 to 1000; got 1001/],
    ['the minimum capacity is above the maximum', { minCapacity: 5, maxCapacity: 4 }, /^Host\/Servers: minCapacity \(5\) is above maxCapacity \(4\)/],
    ['the minimum equals the maximum, leaving a rolling update no room', { minCapacity: 3, maxCapacity: 3 }, /^Host\/Servers: minCapacity and maxCapacity are both 3\. .*raise maxCapacity above minCapacity\.$/],
    ['the On-Demand base is negative', { onDemandBaseCapacity: -1 }, /^Host\/Servers: onDemandBaseCapacity must be a whole number from 0 to 1000; got -1\. Give 0 for all Spot\.$/],
    ['the On-Demand base is above the maximum', { onDemandBaseCapacity: 11 }, /^Host\/Servers: onDemandBaseCapacity \(11\) is above maxCapacity \(10\)/],
    ['the requests per target is 0', { requestsPerTarget: 0 }, /^Host\/Servers: requestsPerTarget must be a whole number of at least 1; got 0/],
    ['the signal timeout is under a minute', { signalTimeout: Duration.seconds(30) }, /^Host\/Servers: signalTimeout must be a whole number from 60 to 3600; got 30/],
    ['the signal timeout is over an hour, the longest PauseTime', { signalTimeout: Duration.minutes(61) }, /signalTimeout must be a whole number from 60 to 3600; got 3660/],
    ['the instance type list is empty', { instanceTypes: [] }, /^Host\/Servers: instanceTypes is empty; give the group at least one instance type/],
    ['an instance type is listed twice', { instanceTypes: [new InstanceType('m5.large'), new InstanceType('m5.large')] }, /lists m5\.large twice/],
    ['an instance type is not x86_64 like the AMI', { instanceTypes: [new InstanceType('m7g.large')] }, /m7g\.large are not x86_64/],
    ['an instance type is misspelt', { instanceTypes: [new InstanceType('m6i.larg')] }, /^Host\/Servers: instanceTypes: "m6i\.larg" names no EC2 instance size/],
  ])('fails when %s', (_name, props, message) => {
    expect(attempt(props)).toThrow(message);
  });

  it('fails when the target group serves no load balancer, whose requests per target it scales on', () => {
    expect(() => build({}, { withListener: false })).toThrow(/^Host\/Servers: targetGroup serves no load balancer yet/);
  });

  it('accepts one instance with room for one more, and an On-Demand base equal to the maximum', () => {
    expect(attempt({ minCapacity: 1, maxCapacity: 2, onDemandBaseCapacity: 2 })).not.toThrow();
  });
});
