import { CfnParameter, Stack, Validations } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import type { ISubnet } from 'aws-cdk-lib/aws-ec2';
import { InstanceType, SecurityGroup, SubnetType, Vpc } from 'aws-cdk-lib/aws-ec2';
import { ApplicationLoadBalancer, ApplicationProtocol, ApplicationTargetGroup, TargetType } from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import type { IConstruct } from 'constructs';
import { Construct } from 'constructs';
import { describe, expect, it } from 'vitest';
import type { SpotFleetProps } from '../../lib/constructs/spot-fleet';
import { AL2023_AMI_PARAMETER, SpotAllocationStrategy, SpotFleet } from '../../lib/constructs/spot-fleet';
import type { IngressRule } from '../support/app';
import { ingressRules, newApp, resourcesOfType, templateJson } from '../support/app';

interface Host {
  readonly stack: Stack;
  readonly vpc: Vpc;
  readonly loadBalancerSecurityGroup: SecurityGroup;
  readonly targetGroup: ApplicationTargetGroup;
}

interface Built extends Host {
  readonly fleet: SpotFleet;
  readonly template: Template;
}

/**
 * A fresh stack with what a fleet needs: a VPC with a public subnet in each of two AZs, as `PublicVpc` makes, the
 * load balancer's security group and an instance target group, served by an ALB listener if asked.
 */
function host({ withListener = false } = {}): Host {
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
  if (withListener) {
    new ApplicationLoadBalancer(stack, 'LoadBalancer', { vpc, internetFacing: true, securityGroup: loadBalancerSecurityGroup })
      .addListener('Http', { port: 80, open: false, defaultTargetGroups: [targetGroup] });
  }
  return { stack, vpc, loadBalancerSecurityGroup, targetGroup };
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

function acknowledged(construct: IConstruct): string[] {
  return construct.node.metadata
    .filter((entry) => entry.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY)
    .flatMap((entry) => Object.keys(entry.data as Record<string, string>));
}

describe('instances', () => {
  it('boot the latest Amazon Linux 2023 from the public SSM parameter, resolved at deploy time', () => {
    const { template } = build();
    const params = templateJson(template).Parameters ?? {};
    const ssm = Object.entries(params).filter(
      ([, p]) => (p as { Type: string }).Type === 'AWS::SSM::Parameter::Value<AWS::EC2::Image::Id>',
    );
    expect(ssm).toHaveLength(1);
    const [paramId, param] = ssm[0] as [string, { Default: string }];
    expect(param.Default).toBe('/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64');
    expect(AL2023_AMI_PARAMETER).toBe(param.Default);
    template.hasResourceProperties('AWS::EC2::LaunchTemplate', {
      LaunchTemplateData: Match.objectLike({ ImageId: { Ref: paramId } }),
    });
  });

  it('require IMDSv2', () => {
    build().template.hasResourceProperties('AWS::EC2::LaunchTemplate', {
      LaunchTemplateData: Match.objectLike({ MetadataOptions: { HttpTokens: 'required', HttpPutResponseHopLimit: 1 } }),
    });
  });

  it('serve "hello from <instance-id> in <az>" read through IMDSv2', () => {
    const script = (launchTemplateData(build().template).UserData as { 'Fn::Base64': string })['Fn::Base64'];
    expect(script).toMatch(/^#!\/bin\/bash/);
    expect(script).toContain('-X PUT http://169.254.169.254/latest/api/token');
    expect(script).toContain('X-aws-ec2-metadata-token: $TOKEN');
    expect(script).toContain('echo "hello from $(md instance-id) in $(md placement/availability-zone)"');
    expect(script).toContain('systemctl enable --now nginx');
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
    expect(launchTemplateData(template).KeyName).toBeUndefined();
    template.hasResourceProperties('AWS::EC2::LaunchTemplate', {
      LaunchTemplateData: Match.objectLike({ KeyName: Match.absent() }),
    });
    const coversSsh = (rule: IngressRule): boolean =>
      String(rule.protocol) === '-1' || (Number(rule.fromPort) <= 22 && Number(rule.toPort) >= 22);
    expect(ingressRules(template).filter(coversSsh)).toEqual([]);
    expect(ingressRules(template).map((rule) => [rule.protocol, rule.fromPort, rule.toPort])).toEqual([['tcp', 80, 80]]);
  });

  it('get an instance profile with SSM Session Manager access, acknowledged for cdk-nag on the role alone', () => {
    const { stack, fleet, template } = build();
    template.hasResourceProperties('AWS::IAM::Role', {
      AssumeRolePolicyDocument: Match.objectLike({
        Statement: [Match.objectLike({ Principal: { Service: 'ec2.amazonaws.com' } })],
      }),
      ManagedPolicyArns: [
        { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':iam::aws:policy/AmazonSSMManagedInstanceCore']] },
      ],
    });
    template.resourceCountIs('AWS::IAM::InstanceProfile', 1);
    const [[profile, profileProps]] = resourcesOfType(template, 'AWS::IAM::InstanceProfile') as [[string, Record<string, unknown>]];
    expect(profileProps.Roles).toEqual([{ Ref: id(stack, fleet.instanceRole) }]);
    expect(launchTemplateData(template).IamInstanceProfile).toEqual({ Arn: { 'Fn::GetAtt': [profile, 'Arn'] } });
    expect(acknowledged(fleet.instanceRole)).toEqual([
      'AwsSolutions::AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/AmazonSSMManagedInstanceCore]',
    ]);
  });

  it('are tagged through the launch template tag specifications', () => {
    const tags = [
      { Key: 'Name', Value: { 'Fn::Join': ['-', [{ Ref: 'AWS::StackName' }, 'web']] } },
      { Key: 'spotwise:fleet', Value: { 'Fn::Join': ['/', [{ Ref: 'AWS::StackName' }, 'Fleet']] } },
    ];
    build().template.hasResourceProperties('AWS::EC2::LaunchTemplate', {
      LaunchTemplateData: Match.objectLike({
        TagSpecifications: [
          { ResourceType: 'instance', Tags: tags },
          { ResourceType: 'volume', Tags: tags },
        ],
      }),
    });
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
    const { stack, targetGroup, template } = build({}, { withListener: true });
    expect(fleetConfig(template).LoadBalancersConfig).toEqual({ TargetGroupsConfig: { TargetGroups: [{ Arn: { Ref: id(stack, targetGroup) } }] } });
    const [listener] = Object.keys(template.findResources('AWS::ElasticLoadBalancingV2::Listener'));
    expect(listener).toBeDefined();
    template.hasResource('AWS::EC2::SpotFleet', { DependsOn: Match.arrayWith([listener]) });
  });

  it('tags the request through spot-fleet-request tag specifications', () => {
    expect(fleetConfig(build().template).TagSpecifications).toEqual([
      { ResourceType: 'spot-fleet-request', Tags: [{ Key: 'Name', Value: { 'Fn::Join': ['-', [{ Ref: 'AWS::StackName' }, 'fleet']] } }] },
    ]);
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
    template.hasResource('AWS::EC2::SpotFleet', { DependsOn: Match.arrayWith([roleId]) });
    expect(acknowledged(fleet.fleetRole)).toEqual([
      'AwsSolutions::AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonEC2SpotFleetTaggingRole]',
    ]);
  });

  it('does not declare the account-wide Spot service-linked roles, and ensures them before the fleet instead', () => {
    const { stack, fleet, template } = build();
    template.resourceCountIs('AWS::IAM::ServiceLinkedRole', 0);
    const ensure = id(stack, fleet.serviceLinkedRoles.resource);
    expect(Object.keys(template.findResources('Custom::ServiceLinkedRoles'))).toEqual([ensure]);
    template.hasResourceProperties('Custom::ServiceLinkedRoles', {
      Roles: [
        { ServiceName: 'spot.amazonaws.com', RoleName: 'AWSServiceRoleForEC2Spot' },
        { ServiceName: 'spotfleet.amazonaws.com', RoleName: 'AWSServiceRoleForEC2SpotFleet' },
      ],
    });
    template.hasResource('AWS::EC2::SpotFleet', { DependsOn: Match.arrayWith([ensure]) });
    const roles = [
      Match.objectLike({ 'Fn::Join': ['', Match.arrayWith([':role/aws-service-role/spot.amazonaws.com/AWSServiceRoleForEC2Spot'])] }),
      Match.objectLike({ 'Fn::Join': ['', Match.arrayWith([':role/aws-service-role/spotfleet.amazonaws.com/AWSServiceRoleForEC2SpotFleet'])] }),
    ];
    template.hasResourceProperties('AWS::IAM::Policy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          { Action: 'iam:GetRole', Effect: 'Allow', Resource: roles },
          {
            Action: 'iam:CreateServiceLinkedRole',
            Effect: 'Allow',
            Condition: { StringEquals: { 'iam:AWSServiceName': ['spot.amazonaws.com', 'spotfleet.amazonaws.com'] } },
            Resource: roles,
          },
        ]),
      },
    });
  });

  it('takes the allocation strategy, capacity and instance types as props', () => {
    const { template } = build({
      allocationStrategy: SpotAllocationStrategy.CAPACITY_OPTIMIZED,
      targetCapacity: 4,
      instanceTypes: [new InstanceType('m7i.large'), new InstanceType('c7i.large'), new InstanceType('r7i.large')],
    });
    expect(fleetConfig(template)).toMatchObject({ AllocationStrategy: 'capacityOptimized', TargetCapacity: 4 });
    const [config] = fleetConfig(template).LaunchTemplateConfigs as [{ Overrides: { InstanceType: string }[] }];
    expect(config.Overrides).toHaveLength(6);
    expect([...new Set(config.Overrides.map((o) => o.InstanceType))]).toEqual(['m7i.large', 'c7i.large', 'r7i.large']);
  });

  it('takes the capacity as a token, such as a parameter, and leaves its check to deploy time', () => {
    const { stack, vpc, targetGroup, loadBalancerSecurityGroup } = host();
    const capacity = new CfnParameter(stack, 'Capacity', { type: 'Number', default: 3 });
    new SpotFleet(stack, 'Fleet', { vpc, targetGroup, loadBalancerSecurityGroup, targetCapacity: capacity.valueAsNumber });
    expect(fleetConfig(Template.fromStack(stack)).TargetCapacity).toEqual({ Ref: 'Capacity' });
  });
});

describe('validation', () => {
  const path = /^Host\/Fleet: /;
  it.each<[string, Partial<SpotFleetProps>, RegExp]>([
    ['the target capacity is below 1', { targetCapacity: 0 }, /^Host\/Fleet: targetCapacity must be a whole number from 1 to 1000; got 0\. Delete the stack to stop all instances\.$/],
    ['the target capacity is negative', { targetCapacity: -2 }, /targetCapacity must be a whole number from 1 to 1000; got -2/],
    ['the target capacity is not a whole number', { targetCapacity: 1.5 }, /targetCapacity must be a whole number from 1 to 1000; got 1\.5/],
    ['the target capacity is above ELB\'s 1000 targets per target group', { targetCapacity: 1001 }, /targetCapacity must be a whole number from 1 to 1000; got 1001/],
    ['the instance type list is empty', { instanceTypes: [] }, /instanceTypes is empty/],
    ['an instance type is listed twice', { instanceTypes: [new InstanceType('m5.large'), new InstanceType('m5.large')] }, /lists m5\.large twice/],
    ['an instance type is not x86_64 like the AMI', { instanceTypes: [new InstanceType('m5.large'), new InstanceType('m7g.large')] }, /m7g\.large are not x86_64/],
    ['an instance type is misspelt, like m6i.larg', { instanceTypes: [new InstanceType('m5.large'), new InstanceType('m6i.larg')] }, /instanceTypes m6i\.larg are not EC2 instance types/],
  ])('fails when %s', (_name, props, message) => {
    expect(attempt(props)).toThrow(message);
    expect(attempt(props)).toThrow(path);
  });

  it('accepts a capacity of 1', () => {
    expect(attempt({ targetCapacity: 1 })).not.toThrow();
  });
});
