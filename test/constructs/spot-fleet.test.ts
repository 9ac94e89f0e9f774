import { CfnParameter, Duration, Stack, Validations } from 'aws-cdk-lib/core';
import { Template } from 'aws-cdk-lib/assertions';
import type { ISubnet } from 'aws-cdk-lib/aws-ec2';
import { InstanceType, SecurityGroup, SubnetType, Vpc } from 'aws-cdk-lib/aws-ec2';
import { ApplicationLoadBalancer, ApplicationProtocol, ApplicationTargetGroup, TargetType } from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import { PolicyStatement } from 'aws-cdk-lib/aws-iam';
import { AwsSolutionsChecks } from 'cdk-nag';
import type { IConstruct } from 'constructs';
import { Construct } from 'constructs';
import { describe, expect, it } from 'vitest';
import type { SpotFleetProps } from '../../lib/constructs/spot-fleet';
import { AL2023_AMI_PARAMETER, SpotAllocationStrategy, SpotFleet } from '../../lib/constructs/spot-fleet';
import type { IngressRule } from '../support/app';
import { ingressRules, newApp, resourcesOfType, templateJson } from '../support/app';
import { acknowledged, roleStatements } from '../support/constructs';

interface Host {
  readonly stack: Stack;
  readonly vpc: Vpc;
  readonly loadBalancerSecurityGroup: SecurityGroup;
  readonly targetGroup: ApplicationTargetGroup;
  /** The ALB whose :80 listener forwards to the target group, unless built without one. */
  readonly loadBalancer?: ApplicationLoadBalancer;
}

interface Built extends Host {
  readonly fleet: SpotFleet;
  readonly template: Template;
}

/**
 * A fresh stack with what a fleet needs: a VPC with a public subnet in each of two AZs, as `PublicVpc` makes, the
 * load balancer's security group and an instance target group, served by an ALB listener unless told otherwise.
 */
function host({ withListener = true } = {}): Host {
  const stack = new Stack(newApp(), 'Host');
  const vpc = new Vpc(stack, 'Vpc', {
    maxAzs: 2,
    natGateways: 0,
    restrictDefaultSecurityGroup: false,
    subnetConfiguration: [{ name: 'Public', subnetType: SubnetType.PUBLIC }],
  });
  const loadBalancerSecurityGroup = new SecurityGroup(stack, 'LoadBalancerSecurityGroup', { vpc, allowAllOutbound: false });
  const targetGroup = new ApplicationTargetGroup(stack, 'TargetGroup', {
    vpc,
    targetType: TargetType.INSTANCE,
    port: 80,
    protocol: ApplicationProtocol.HTTP,
  });
  if (!withListener) return { stack, vpc, loadBalancerSecurityGroup, targetGroup };
  const loadBalancer = new ApplicationLoadBalancer(stack, 'LoadBalancer', { vpc, internetFacing: true, securityGroup: loadBalancerSecurityGroup });
  loadBalancer.addListener('Http', { port: 80, open: false, defaultTargetGroups: [targetGroup] });
  return { stack, vpc, loadBalancerSecurityGroup, targetGroup, loadBalancer };
}

/** A fresh host stack holding one fleet, `Host/Fleet`, with `props`. */
function build(props: Partial<SpotFleetProps> = {}, options: { withListener?: boolean } = {}): Built {
  const h = host(options);
  const fleet = new SpotFleet(h.stack, 'Fleet', { vpc: h.vpc, targetGroup: h.targetGroup, loadBalancerSecurityGroup: h.loadBalancerSecurityGroup, ...props });
  return { ...h, fleet, template: Template.fromStack(h.stack) };
}

/** Builds a fleet with `props` in a fresh stack, for `toThrow`. */
function attempt(props: Partial<SpotFleetProps>): () => void {
  return () => build(props);
}

function id(stack: Stack, construct: IConstruct): string {
  return stack.getLogicalId((construct.node.defaultChild ?? construct) as never);
}

function fleetConfig(template: Template): Record<string, unknown> {
  const [[, props]] = resourcesOfType(template, 'AWS::EC2::SpotFleet') as [[string, { SpotFleetRequestConfigData: Record<string, unknown> }]];
  return props.SpotFleetRequestConfigData;
}

function launchTemplateData(template: Template): Record<string, unknown> {
  const [[, props]] = resourcesOfType(template, 'AWS::EC2::LaunchTemplate') as [[string, { LaunchTemplateData: Record<string, unknown> }]];
  return props.LaunchTemplateData;
}

/** The one resource of `type`, with its logical id. */
function only(template: Template, type: string): { id: string; resource: { Properties: Record<string, unknown>; DependsOn?: string[] } } {
  const found = Object.entries(template.findResources(type));
  expect(found, type).toHaveLength(1);
  const [[logicalId, resource]] = found as [[string, { Properties: Record<string, unknown>; DependsOn?: string[] }]];
  return { id: logicalId, resource };
}

/** Statements of the policies attached to `role`. */

const SSM_IMAGE_PARAMETER_TYPE = 'AWS::SSM::Parameter::Value<AWS::EC2::Image::Id>';

describe('instances', () => {
  it('boot the latest Amazon Linux 2023 from the public SSM parameter, resolved at deploy time, by default', () => {
    const { template } = build();
    const params = templateJson(template).Parameters ?? {};
    const ssm = Object.entries(params).filter(([, p]) => (p as { Type: string }).Type === SSM_IMAGE_PARAMETER_TYPE);
    expect(ssm).toHaveLength(1);
    const [paramId, param] = ssm[0] as [string, { Default: string }];
    expect(param.Default).toBe('/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64');
    expect(AL2023_AMI_PARAMETER).toBe(param.Default);
    expect(launchTemplateData(template).ImageId).toEqual({ Ref: paramId });
  });

  it('boot the AMI given as imageId, a token or a literal, with no SSM parameter', () => {
    const { stack, vpc, targetGroup, loadBalancerSecurityGroup } = host();
    const image = new CfnParameter(stack, 'Image', { type: 'String' });
    new SpotFleet(stack, 'Fleet', { vpc, targetGroup, loadBalancerSecurityGroup, imageId: image.valueAsString });
    const template = Template.fromStack(stack);
    expect(launchTemplateData(template).ImageId).toEqual({ Ref: 'Image' });
    expect(Object.keys(templateJson(template).Parameters ?? {})).toEqual(['Image']);

    expect(launchTemplateData(build({ imageId: 'ami-0123456789abcdef0' }).template).ImageId).toBe('ami-0123456789abcdef0');
  });

  it('require IMDSv2', () => {
    expect(launchTemplateData(build().template).MetadataOptions).toEqual({ HttpTokens: 'required', HttpPutResponseHopLimit: 1 });
  });

  it('serve "hello from <instance-id> in <az>" read through IMDSv2, whatever the AMI', () => {
    for (const props of [{}, { imageId: 'ami-0123456789abcdef0' }]) {
      const script = (launchTemplateData(build(props).template).UserData as { 'Fn::Base64': string })['Fn::Base64'];
      expect(script).toMatch(/^#!\/bin\/bash/);
      expect(script).toContain('-X PUT http://169.254.169.254/latest/api/token');
      expect(script).toContain('X-aws-ec2-metadata-token: $TOKEN');
      expect(script).toContain('echo "hello from $(md instance-id) in $(md placement/availability-zone)"');
      expect(script).toContain('systemctl enable --now nginx');
    }
  });

  it('boot from an encrypted 8 GiB gp3 root volume', () => {
    expect(launchTemplateData(build().template).BlockDeviceMappings).toEqual([
      { DeviceName: '/dev/xvda', Ebs: { Encrypted: true, VolumeSize: 8, VolumeType: 'gp3' } },
    ]);
  });

  it('accept port 80 from the load balancer security group only, and nothing else', () => {
    const { stack, fleet, loadBalancerSecurityGroup, template } = build();
    const lbSg = id(stack, loadBalancerSecurityGroup);
    const fleetSg = id(stack, fleet.securityGroup);
    expect(templateJson(template).Resources[fleetSg]?.Properties?.GroupDescription).toMatch(/Spot Fleet/);
    expect(templateJson(template).Resources[fleetSg]?.Properties?.SecurityGroupIngress).toBeUndefined();
    const ingress = resourcesOfType(template, 'AWS::EC2::SecurityGroupIngress').filter(
      ([, p]) => JSON.stringify(p.GroupId) === JSON.stringify({ 'Fn::GetAtt': [fleetSg, 'GroupId'] }),
    );
    expect(ingress.map(([, p]) => p)).toEqual([
      {
        Description: 'HTTP from the ALB',
        FromPort: 80,
        ToPort: 80,
        IpProtocol: 'tcp',
        GroupId: { 'Fn::GetAtt': [fleetSg, 'GroupId'] },
        SourceSecurityGroupId: { 'Fn::GetAtt': [lbSg, 'GroupId'] },
      },
    ]);
    expect(launchTemplateData(template).SecurityGroupIds).toEqual([{ 'Fn::GetAtt': [fleetSg, 'GroupId'] }]);
  });

  it('let the load balancer security group send port 80 to them, even when it allows no other outbound traffic', () => {
    const { stack, fleet, loadBalancerSecurityGroup, template } = build();
    template.hasResourceProperties('AWS::EC2::SecurityGroupEgress', {
      GroupId: { 'Fn::GetAtt': [id(stack, loadBalancerSecurityGroup), 'GroupId'] },
      DestinationSecurityGroupId: { 'Fn::GetAtt': [id(stack, fleet.securityGroup), 'GroupId'] },
      IpProtocol: 'tcp',
      FromPort: 80,
      ToPort: 80,
    });
  });

  it('open no SSH: no key pair and no rule covering port 22', () => {
    const { template } = build();
    expect(launchTemplateData(template)).not.toHaveProperty('KeyName');
    const coversSsh = (rule: IngressRule): boolean =>
      String(rule.protocol) === '-1' || (Number(rule.fromPort) <= 22 && Number(rule.toPort) >= 22);
    expect(ingressRules(template).filter(coversSsh)).toEqual([]);
    expect(ingressRules(template).map((rule) => [rule.protocol, rule.fromPort, rule.toPort])).toEqual([['tcp', 80, 80]]);
  });

  it('get an instance profile whose role allows the Session Manager agent and nothing else, no managed policy', () => {
    const { stack, fleet, template } = build();
    const role = templateJson(template).Resources[id(stack, fleet.instanceRole)];
    expect(role?.Properties).toMatchObject({
      AssumeRolePolicyDocument: { Statement: [{ Action: 'sts:AssumeRole', Effect: 'Allow', Principal: { Service: 'ec2.amazonaws.com' } }] },
    });
    expect(role?.Properties).not.toHaveProperty('ManagedPolicyArns');
    expect(role?.Properties).not.toHaveProperty('Policies');
    expect(roleStatements(template, fleet.instanceRole)).toEqual([
      {
        Action: [
          'ssm:UpdateInstanceInformation',
          'ssmmessages:CreateControlChannel',
          'ssmmessages:CreateDataChannel',
          'ssmmessages:OpenControlChannel',
          'ssmmessages:OpenDataChannel',
        ],
        Effect: 'Allow',
        Resource: '*',
      },
    ]);
    template.resourceCountIs('AWS::IAM::InstanceProfile', 1);
    const [[profile, profileProps]] = resourcesOfType(template, 'AWS::IAM::InstanceProfile') as [[string, Record<string, unknown>]];
    expect(profileProps.Roles).toEqual([{ Ref: id(stack, fleet.instanceRole) }]);
    expect(launchTemplateData(template).IamInstanceProfile).toEqual({ Arn: { 'Fn::GetAtt': [profile, 'Arn'] } });
  });

  it('acknowledge the wildcard of the Session Manager statement for cdk-nag on the instance role alone', () => {
    const { fleet } = build();
    expect(acknowledged(fleet.instanceRole)).toEqual(['AwsSolutions::AwsSolutions-IAM5[Resource::*]']);
    expect(acknowledged(fleet)).toEqual([]);
    expect(acknowledged(fleet.launchTemplate)).toEqual([]);
  });

  it('are tagged through the launch template\'s instance tag specification, and nothing else is tagged', () => {
    const tags = [
      { Key: 'Name', Value: { 'Fn::Join': ['-', [{ Ref: 'AWS::StackName' }, 'web']] } },
      { Key: 'spotwise:fleet', Value: { 'Fn::Join': ['/', [{ Ref: 'AWS::StackName' }, 'Fleet']] } },
    ];
    const { template } = build();
    expect(launchTemplateData(template).TagSpecifications).toEqual([{ ResourceType: 'instance', Tags: tags }]);
    const [[, launchTemplate]] = resourcesOfType(template, 'AWS::EC2::LaunchTemplate') as [[string, Record<string, unknown>]];
    expect(launchTemplate.TagSpecifications).toBeUndefined();
  });

  it('carry a fleet tag naming the stack and the construct\'s path in it, exposed as instanceTag', () => {
    const { stack, vpc, targetGroup, loadBalancerSecurityGroup } = host();
    const fleet = new SpotFleet(new Construct(stack, 'Web'), 'Fleet', { vpc, targetGroup, loadBalancerSecurityGroup });
    expect(fleet.instanceTag.key).toBe('spotwise:fleet');
    expect(stack.resolve(fleet.instanceTag.value)).toEqual({ 'Fn::Join': ['/', [{ Ref: 'AWS::StackName' }, 'Web/Fleet']] });
    const specs = launchTemplateData(Template.fromStack(stack)).TagSpecifications as { ResourceType: string; Tags: unknown[] }[];
    expect(specs.find((spec) => spec.ResourceType === 'instance')?.Tags).toContainEqual({
      Key: 'spotwise:fleet',
      Value: { 'Fn::Join': ['/', [{ Ref: 'AWS::StackName' }, 'Web/Fleet']] },
    });
  });

  it('take their Name tag as a prop', () => {
    const specs = launchTemplateData(build({ instanceName: 'shop-web' }).template).TagSpecifications as { Tags: unknown[] }[];
    expect(specs).toHaveLength(1);
    for (const spec of specs) expect(spec.Tags).toContainEqual({ Key: 'Name', Value: 'shop-web' });
  });
});

describe('spot fleet', () => {
  it('maintains 2 instances by default, diversified, replacing unhealthy ones and terminating interrupted ones', () => {
    const { template } = build();
    template.resourceCountIs('AWS::EC2::SpotFleet', 1);
    expect(fleetConfig(template)).toMatchObject({
      Type: 'maintain',
      TargetCapacity: 2,
      AllocationStrategy: 'diversified',
      ReplaceUnhealthyInstances: true,
      InstanceInterruptionBehavior: 'terminate',
    });
  });

  it('terminates instances when its target capacity is lowered, rather than leaving them running', () => {
    expect(fleetConfig(build().template).ExcessCapacityTerminationPolicy).toBe('default');
  });

  it('rebalances capacity by default: launches a replacement, then terminates after the deregistration delay, 20 s to react and 30 s of margin', () => {
    const { fleet, template } = build();
    expect(fleetConfig(template).SpotMaintenanceStrategies).toEqual({
      CapacityRebalance: { ReplacementStrategy: 'launch-before-terminate', TerminationDelay: 90 + 20 + 30 },
    });
    expect(fleet.terminationDelay?.toSeconds()).toBe(140);
  });

  it.each([
    ['the deregistration delay plus 50 s', Duration.seconds(100), 150],
    ['at least Spot Fleet\'s 120 s, when the delay is short', Duration.seconds(30), 120],
    ['at least Spot Fleet\'s 120 s, when there is no delay', Duration.seconds(0), 120],
  ])('derives the default termination delay from the deregistration delay: %s', (_case, deregistrationDelay, seconds) => {
    const { fleet, template } = build({ deregistrationDelay });
    expect(fleetConfig(template).SpotMaintenanceStrategies).toEqual({
      CapacityRebalance: { ReplacementStrategy: 'launch-before-terminate', TerminationDelay: seconds },
    });
    expect(fleet.terminationDelay?.toSeconds()).toBe(seconds);
  });

  it('derives the default termination delay from drainTime, when given, plus 30 s', () => {
    const { fleet, template } = build({ drainTime: Duration.seconds(400) });
    expect(fleetConfig(template).SpotMaintenanceStrategies).toEqual({
      CapacityRebalance: { ReplacementStrategy: 'launch-before-terminate', TerminationDelay: 430 },
    });
    expect(fleet.terminationDelay?.toSeconds()).toBe(430);
  });

  it('accepts a termination delay equal to the drain time', () => {
    expect(build({ drainTime: Duration.seconds(300), terminationDelay: Duration.seconds(300) }).fleet.terminationDelay?.toSeconds()).toBe(300);
  });

  it('takes the termination delay as a prop, from 120 s to 7200 s', () => {
    for (const seconds of [120, 600, 7200]) {
      const { fleet, template } = build({ terminationDelay: Duration.seconds(seconds) });
      expect(fleetConfig(template).SpotMaintenanceStrategies).toEqual({
        CapacityRebalance: { ReplacementStrategy: 'launch-before-terminate', TerminationDelay: seconds },
      });
      expect(fleet.terminationDelay?.toSeconds()).toBe(seconds);
    }
  });

  it('accepts the shortest termination delay with the longest deregistration delay Spot allows: 100 s + 20 s fit in 120 s', () => {
    expect(attempt({ deregistrationDelay: Duration.seconds(100), terminationDelay: Duration.seconds(120) })).not.toThrow();
  });

  it('has no maintenance strategy and no termination delay when capacity rebalancing is off', () => {
    const { fleet, template } = build({ capacityRebalance: false });
    expect(fleetConfig(template)).not.toHaveProperty('SpotMaintenanceStrategies');
    expect(fleet.terminationDelay).toBeUndefined();
  });

  it('overrides at least three current-generation instance types across both subnets', () => {
    const { stack, fleet, vpc, template } = build();
    const lt = id(stack, fleet.launchTemplate);
    const subnets = vpc.publicSubnets.map((subnet) => id(stack, subnet)).sort();
    expect(Object.keys(template.findResources('AWS::EC2::Subnet')).sort()).toEqual(subnets);
    const [config] = fleetConfig(template).LaunchTemplateConfigs as [{ LaunchTemplateSpecification: unknown; Overrides: { InstanceType: string; SubnetId: { Ref: string } }[] }];
    const types = [...new Set(config.Overrides.map((o) => o.InstanceType))];
    expect(types.length).toBeGreaterThanOrEqual(3);
    for (const type of types) {
      expect(type).toMatch(/^(c|m|r)[5-9][a-z]*\.[a-z0-9]+$/);
      const inSubnets = config.Overrides.filter((o) => o.InstanceType === type).map((o) => o.SubnetId.Ref).sort();
      expect(inSubnets).toEqual(subnets);
    }
    expect(config.LaunchTemplateSpecification).toEqual({
      LaunchTemplateId: { Ref: lt },
      Version: { 'Fn::GetAtt': [lt, 'LatestVersionNumber'] },
    });
    expect(JSON.stringify(fleetConfig(template))).not.toContain('$Latest');
  });

  it('takes the subnets as a prop', () => {
    const { stack, vpc, targetGroup, loadBalancerSecurityGroup } = host();
    const [first] = vpc.publicSubnets as [ISubnet];
    new SpotFleet(stack, 'Fleet', { vpc, targetGroup, loadBalancerSecurityGroup, vpcSubnets: { subnets: [first] } });
    const [config] = fleetConfig(Template.fromStack(stack)).LaunchTemplateConfigs as [{ Overrides: { InstanceType: string; SubnetId: { Ref: string } }[] }];
    expect(config.Overrides.map((o) => o.SubnetId)).toEqual(config.Overrides.map(() => ({ Ref: id(stack, first) })));
    expect(config.Overrides).toHaveLength(4);
  });

  it('registers its instances in the target group, once the group serves a listener', () => {
    const { stack, targetGroup, template } = build();
    expect(fleetConfig(template).LoadBalancersConfig).toEqual({ TargetGroupsConfig: { TargetGroups: [{ Arn: { Ref: id(stack, targetGroup) } }] } });
    const { id: listener } = only(template, 'AWS::ElasticLoadBalancingV2::Listener');
    expect(only(template, 'AWS::EC2::SpotFleet').resource.DependsOn).toContain(listener);
  });

  it('does not tag the request itself: its instances carry the tags that matter, and the bytes are scarce', () => {
    expect(fleetConfig(build().template).TagSpecifications).toBeUndefined();
  });

  it('uses a fleet role trusted by Spot Fleet with AmazonEC2SpotFleetTaggingRole, created before the request', () => {
    const { stack, fleet, template } = build();
    const roleId = (fleetConfig(template).IamFleetRole as { 'Fn::GetAtt': [string, string] })['Fn::GetAtt'][0];
    expect(roleId).toBe(id(stack, fleet.fleetRole));
    const role = templateJson(template).Resources[roleId];
    expect(role?.Type).toBe('AWS::IAM::Role');
    expect(role?.Properties).toMatchObject({
      AssumeRolePolicyDocument: { Statement: [{ Action: 'sts:AssumeRole', Principal: { Service: 'spotfleet.amazonaws.com' } }] },
      ManagedPolicyArns: [
        { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':iam::aws:policy/service-role/AmazonEC2SpotFleetTaggingRole']] },
      ],
    });
    expect(only(template, 'AWS::EC2::SpotFleet').resource.DependsOn).toContain(roleId);
    expect(acknowledged(fleet.fleetRole)).toEqual([
      'AwsSolutions::AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonEC2SpotFleetTaggingRole]',
    ]);
  });

  it('does not declare the account-wide service-linked roles, and ensures Spot\'s, Spot Fleet\'s and its scaling\'s before the fleet and its scaling', () => {
    const { stack, fleet, template } = build();
    template.resourceCountIs('AWS::IAM::ServiceLinkedRole', 0);
    const { id: ensure, resource } = only(template, 'Custom::ServiceLinkedRoles');
    expect(ensure).toBe(id(stack, fleet.serviceLinkedRoles.resource));
    expect(resource.Properties.Roles).toEqual([
      { ServiceName: 'spot.amazonaws.com', RoleName: 'AWSServiceRoleForEC2Spot' },
      { ServiceName: 'spotfleet.amazonaws.com', RoleName: 'AWSServiceRoleForEC2SpotFleet' },
      { ServiceName: 'ec2.application-autoscaling.amazonaws.com', RoleName: 'AWSServiceRoleForApplicationAutoScaling_EC2SpotFleetRequest' },
    ]);
    expect(roleStatements(template, fleet.serviceLinkedRoles.function.executionRole)).toContainEqual(
      expect.objectContaining({
        Action: 'iam:CreateServiceLinkedRole',
        Condition: { StringEquals: { 'iam:AWSServiceName': ['spot.amazonaws.com', 'spotfleet.amazonaws.com', 'ec2.application-autoscaling.amazonaws.com'] } },
      }),
    );
    expect(only(template, 'AWS::EC2::SpotFleet').resource.DependsOn).toContain(ensure);
    expect(only(template, 'AWS::ApplicationAutoScaling::ScalableTarget').resource.DependsOn).toEqual([ensure]);
  });

  it('takes the allocation strategy, capacity and instance types as props', () => {
    const { template } = build({
      allocationStrategy: SpotAllocationStrategy.CAPACITY_OPTIMIZED,
      minCapacity: 4,
      instanceTypes: [new InstanceType('m7i.large'), new InstanceType('c7i.large'), new InstanceType('r7i.large')],
    });
    expect(fleetConfig(template)).toMatchObject({ AllocationStrategy: 'capacityOptimized', TargetCapacity: 4 });
    const [config] = fleetConfig(template).LaunchTemplateConfigs as [{ Overrides: { InstanceType: string }[] }];
    expect(config.Overrides).toHaveLength(6);
    expect([...new Set(config.Overrides.map((o) => o.InstanceType))]).toEqual(['m7i.large', 'c7i.large', 'r7i.large']);
  });

  it('takes the minimum capacity as a token, such as a parameter, for both the fleet and its scaling, and leaves its check to deploy time', () => {
    const { stack, vpc, targetGroup, loadBalancerSecurityGroup } = host();
    const capacity = new CfnParameter(stack, 'Capacity', { type: 'Number', default: 3 });
    new SpotFleet(stack, 'Fleet', { vpc, targetGroup, loadBalancerSecurityGroup, minCapacity: capacity.valueAsNumber });
    const template = Template.fromStack(stack);
    expect(fleetConfig(template).TargetCapacity).toEqual({ Ref: 'Capacity' });
    expect(only(template, 'AWS::ApplicationAutoScaling::ScalableTarget').resource.Properties).toMatchObject({ MinCapacity: { Ref: 'Capacity' }, MaxCapacity: 10 });
  });
});

describe('scaling', () => {
  it('scales this fleet\'s target capacity between 2 and 10 by default, through the Spot Fleet scaling service-linked role', () => {
    const { stack, fleet, template } = build();
    const { id: target, resource } = only(template, 'AWS::ApplicationAutoScaling::ScalableTarget');
    expect(target).toBe(id(stack, fleet.scaling));
    expect(resource.Properties).toEqual({
      ServiceNamespace: 'ec2',
      ResourceId: { 'Fn::Join': ['', ['spot-fleet-request/', { Ref: id(stack, fleet.fleet) }]] },
      ScalableDimension: 'ec2:spot-fleet-request:TargetCapacity',
      MinCapacity: 2,
      MaxCapacity: 10,
      RoleARN: {
        'Fn::Join': [
          '',
          [
            'arn:',
            { Ref: 'AWS::Partition' },
            ':iam::',
            { Ref: 'AWS::AccountId' },
            ':role/aws-service-role/ec2.application-autoscaling.amazonaws.com/AWSServiceRoleForApplicationAutoScaling_EC2SpotFleetRequest',
          ],
        ],
      },
    });
    // The service-linked role is AWS's: the stack creates no role for scaling.
    expect(resourcesOfType(template, 'AWS::IAM::Role').map(([roleId]) => roleId).sort()).toEqual(
      [fleet.instanceRole, fleet.fleetRole, fleet.serviceLinkedRoles.function.executionRole].map((role) => id(stack, role)).sort(),
    );
  });

  it('tracks 1000 requests per target on the load balancer and target group, out after 1 minute and in after 5', () => {
    const { stack, fleet, targetGroup, template } = build();
    const { id: listener } = only(template, 'AWS::ElasticLoadBalancingV2::Listener');
    const { resource } = only(template, 'AWS::ApplicationAutoScaling::ScalingPolicy');
    // The load balancer's full name, app/<name>/<id>, from the listener's ARN, as CDK derives it.
    const part = (index: number) => ({ 'Fn::Select': [index, { 'Fn::Split': ['/', { Ref: listener }] }] });
    expect(resource.Properties).toMatchObject({
      PolicyType: 'TargetTrackingScaling',
      ScalingTargetId: { Ref: id(stack, fleet.scaling) },
      TargetTrackingScalingPolicyConfiguration: {
        PredefinedMetricSpecification: {
          PredefinedMetricType: 'ALBRequestCountPerTarget',
          ResourceLabel: {
            'Fn::Join': ['', [part(1), '/', part(2), '/', part(3), '/', { 'Fn::GetAtt': [id(stack, targetGroup), 'TargetGroupFullName'] }]],
          },
        },
        TargetValue: 1000,
        ScaleOutCooldown: 60,
        ScaleInCooldown: 300,
      },
    });
    expect(resource.Properties.TargetTrackingScalingPolicyConfiguration).not.toHaveProperty('DisableScaleIn');
  });

  it('labels the metric with the full name of the load balancer given as a prop', () => {
    const { stack, vpc, targetGroup, loadBalancerSecurityGroup, loadBalancer } = host();
    new SpotFleet(stack, 'Fleet', { vpc, targetGroup, loadBalancerSecurityGroup, loadBalancer });
    const { resource } = only(Template.fromStack(stack), 'AWS::ApplicationAutoScaling::ScalingPolicy');
    expect(resource.Properties.TargetTrackingScalingPolicyConfiguration).toMatchObject({
      PredefinedMetricSpecification: {
        PredefinedMetricType: 'ALBRequestCountPerTarget',
        ResourceLabel: {
          'Fn::Join': [
            '',
            [
              { 'Fn::GetAtt': [id(stack, loadBalancer as ApplicationLoadBalancer), 'LoadBalancerFullName'] },
              '/',
              { 'Fn::GetAtt': [id(stack, targetGroup), 'TargetGroupFullName'] },
            ],
          ],
        },
      },
    });
  });

  it('takes the capacity range and the requests per target as props', () => {
    const { template } = build({ minCapacity: 3, maxCapacity: 40, requestsPerTarget: 250 });
    expect(fleetConfig(template).TargetCapacity).toBe(3);
    expect(only(template, 'AWS::ApplicationAutoScaling::ScalableTarget').resource.Properties).toMatchObject({ MinCapacity: 3, MaxCapacity: 40 });
    expect(only(template, 'AWS::ApplicationAutoScaling::ScalingPolicy').resource.Properties.TargetTrackingScalingPolicyConfiguration).toMatchObject({
      TargetValue: 250,
    });
  });

  it('scales in through the drain path: the instances it removes are this fleet\'s, in the target group, and get the interruption warning', () => {
    const { stack, fleet, targetGroup, template } = build();
    const { id: fleetId } = only(template, 'AWS::EC2::SpotFleet');
    expect(fleetId).toBe(id(stack, fleet.fleet));
    // The scalable target is this fleet's target capacity...
    expect(only(template, 'AWS::ApplicationAutoScaling::ScalableTarget').resource.Properties).toMatchObject({
      ResourceId: { 'Fn::Join': ['', ['spot-fleet-request/', { Ref: fleetId }]] },
      ScalableDimension: 'ec2:spot-fleet-request:TargetCapacity',
    });
    const config = fleetConfig(template);
    // ...the fleet registers every instance it launches in the target group the drainer drains...
    expect(config.LoadBalancersConfig).toEqual({ TargetGroupsConfig: { TargetGroups: [{ Arn: { Ref: id(stack, targetGroup) } }] } });
    // ...and terminates the excess when the capacity drops. EC2 gives an instance terminated that way the Spot
    // interruption notice, so the drainer takes it out of the target group like any interrupted instance.
    expect(config.ExcessCapacityTerminationPolicy).toBe('default');
    expect(config.InstanceInterruptionBehavior).toBe('terminate');
  });
});

describe('metrics', () => {
  it.each([
    ['FulfilledCapacity', undefined, 'Average'],
    ['EvictionCount', 'Sum', 'Sum'],
  ] as const)('gives %s in AWS/EC2Spot for this fleet request, every five minutes', (name, statistic, expected) => {
    const { stack, fleet } = build();
    const metric = statistic === undefined ? fleet.metric(name) : fleet.metric(name, statistic);
    expect(metric.namespace).toBe('AWS/EC2Spot');
    expect(metric.metricName).toBe(name);
    expect(metric.statistic).toBe(expected);
    expect(metric.period.toSeconds()).toBe(300);
    expect(stack.resolve(metric.dimensions)).toEqual({ FleetRequestId: { Ref: id(stack, fleet.fleet) } });
  });
});

describe('cdk-nag', () => {
  /** What cdk-nag AwsSolutions reports when the host stack is synthesized with `fleet` in it, or '' for nothing. */
  function nagReport(addFleet: (h: Host) => void): string {
    const h = host();
    addFleet(h);
    const app = h.stack.node.root as ReturnType<typeof newApp>;
    Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
    try {
      app.synth();
      return '';
    } catch (error) {
      return String(error);
    }
  }

  it('finds nothing unacknowledged in the fleet\'s resources', () => {
    const report = nagReport(({ stack, vpc, targetGroup, loadBalancerSecurityGroup }) => {
      new SpotFleet(stack, 'Fleet', { vpc, targetGroup, loadBalancerSecurityGroup });
    });
    // The host's VPC and load balancer are not the fleet's: only findings under Host/Fleet count.
    expect(report).not.toMatch(/Host\/Fleet\//);
  });

  it('would report a wildcard the fleet had not acknowledged, so the check above can fail', () => {
    const report = nagReport(({ stack, vpc, targetGroup, loadBalancerSecurityGroup }) => {
      const fleet = new SpotFleet(stack, 'Fleet', { vpc, targetGroup, loadBalancerSecurityGroup });
      fleet.instanceRole.addToPrincipalPolicy(new PolicyStatement({ actions: ['s3:GetObject'], resources: ['arn:aws:s3:::bucket/*'] }));
    });
    expect(report).toMatch(/Host\/Fleet\/InstanceRole\/DefaultPolicy\/Resource[\s\S]*AwsSolutions-IAM5/);
  });
});

describe('validation', () => {
  const path = /^Host\/Fleet: /;
  it.each<[string, Partial<SpotFleetProps>, RegExp]>([
    ['the minimum capacity is below 1', { minCapacity: 0 }, /^Host\/Fleet: minCapacity must be a whole number from 1 to 1000; got 0\. Delete the stack to stop all instances\.$/],
    ['the minimum capacity is negative', { minCapacity: -2 }, /minCapacity must be a whole number from 1 to 1000; got -2/],
    ['the minimum capacity is not a whole number', { minCapacity: 1.5 }, /minCapacity must be a whole number from 1 to 1000; got 1\.5/],
    ['the maximum capacity is above ELB\'s 1000 targets per target group', { maxCapacity: 1001 }, /^Host\/Fleet: maxCapacity must be a whole number from 1 to 1000; got 1001\. 1,000 is ELB's default quota of targets per target group\.$/],
    ['the maximum capacity is 0', { maxCapacity: 0 }, /maxCapacity must be a whole number from 1 to 1000; got 0/],
    ['the minimum capacity is above the maximum', { minCapacity: 5, maxCapacity: 4 }, /^Host\/Fleet: minCapacity \(5\) is above maxCapacity \(4\); raise maxCapacity or lower minCapacity\.$/],
    ['the default minimum of 2 is above the maximum given', { maxCapacity: 1 }, /minCapacity \(2\) is above maxCapacity \(1\)/],
    ['the requests per target, the scaling target, is 0', { requestsPerTarget: 0 }, /^Host\/Fleet: requestsPerTarget must be a whole number of at least 1; got 0\. A target of 0 requests would scale out without end\.$/],
    ['the requests per target is not a whole number', { requestsPerTarget: 12.5 }, /requestsPerTarget must be a whole number of at least 1; got 12\.5/],
    ['the termination delay is below Spot Fleet\'s 120 s', { terminationDelay: Duration.seconds(119) }, /^Host\/Fleet: terminationDelay must be a whole number from 120 to 7200; got 119\. Spot Fleet's limits, in seconds\.$/],
    ['the termination delay is above Spot Fleet\'s 7200 s', { terminationDelay: Duration.seconds(7201) }, /terminationDelay must be a whole number from 120 to 7200; got 7201/],
    ['the termination delay is not whole seconds', { terminationDelay: Duration.millis(150_500) }, /terminationDelay must be a whole number from 120 to 7200; got 150\.5/],
    ['the termination delay is shorter than the drain', { drainTime: Duration.seconds(300), terminationDelay: Duration.seconds(299) }, /^Host\/Fleet: terminationDelay \(299 s\) is shorter than the drain \(300 s: [^)]*\)\. The fleet would terminate the instance while it may still serve requests; give at least 300 s\.$/],
    ['a termination delay is given with capacity rebalancing off', { capacityRebalance: false, terminationDelay: Duration.seconds(300) }, /^Host\/Fleet: terminationDelay and drainTime apply only to capacity rebalancing; set capacityRebalance to true or leave them out\.$/],
    ['a drain time is given with capacity rebalancing off', { capacityRebalance: false, drainTime: Duration.seconds(300) }, /^Host\/Fleet: terminationDelay and drainTime apply only to capacity rebalancing/],
    ['the drain time is not whole seconds', { drainTime: Duration.millis(1500) }, /^Host\/Fleet: drainTime must be a whole number from 0 to 7200; got 1.5/],
    ['the deregistration delay does not fit the Spot notice', { deregistrationDelay: Duration.seconds(101) }, /^Host\/Fleet: deregistrationDelay must be a whole number from 0 to 100; got 101\./],
    ['the instance type list is empty', { instanceTypes: [] }, /instanceTypes is empty/],
    ['an instance type is listed twice', { instanceTypes: [new InstanceType('m5.large'), new InstanceType('m5.large')] }, /lists m5\.large twice/],
    ['an instance type is not x86_64 like the AMI', { instanceTypes: [new InstanceType('m5.large'), new InstanceType('m7g.large')] }, /m7g\.large are not x86_64/],
    ['an instance type is misspelt, like m6i.larg', { instanceTypes: [new InstanceType('m5.large'), new InstanceType('m6i.larg')] }, /^Host\/Fleet: instanceTypes: "m6i\.larg" names no EC2 instance size: there is no larg \(such as large, xlarge, 2xlarge\)\. List types EC2 offers, such as m6i\.large\.$/],
    ['an instance family does not exist, like m6', { instanceTypes: [new InstanceType('m6.large')] }, /^Host\/Fleet: instanceTypes: "m6\.large" names no EC2 instance family: there is no m6 /],
  ])('fails when %s', (_name, props, message) => {
    expect(attempt(props)).toThrow(message);
    expect(attempt(props)).toThrow(path);
  });

  it('fails when the target group serves no load balancer, whose requests per target it scales on', () => {
    expect(() => build({}, { withListener: false })).toThrow(
      /^Host\/Fleet: targetGroup serves no load balancer yet: add it to a listener before creating the fleet, or pass loadBalancer\.$/,
    );
  });

  it('accepts a capacity of 1, and a maximum equal to the minimum', () => {
    expect(attempt({ minCapacity: 1, maxCapacity: 1 })).not.toThrow();
    expect(attempt({ minCapacity: 1000, maxCapacity: 1000 })).not.toThrow();
  });
});
