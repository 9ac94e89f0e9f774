import { Duration } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { InstanceType } from 'aws-cdk-lib/aws-ec2';
import { beforeAll, describe, expect, it } from 'vitest';
import { SpotAllocationStrategy } from '../lib/constructs/spot-fleet';
import type { SpotFleetWebAppStackProps } from '../lib/spot-fleet-web-app-stack';
import { SpotFleetWebAppStack } from '../lib/spot-fleet-web-app-stack';
import type { IngressRule } from './support/app';
import { ingressRules, newApp, publicSubnetZones, resourcesOfType, templateJson } from './support/app';

function synth(props: SpotFleetWebAppStackProps = {}): Template {
  return Template.fromStack(new SpotFleetWebAppStack(newApp(), 'SpotFleetWebApp', props));
}

function logicalId(template: Template, type: string): string {
  const ids = Object.keys(template.findResources(type));
  expect(ids).toHaveLength(1);
  return ids[0] as string;
}

let template: Template;
beforeAll(() => {
  template = synth();
});

describe('network', () => {
  it('has one public subnet in each of two AZs, an internet gateway and no NAT gateway', () => {
    template.resourceCountIs('AWS::EC2::VPC', 1);
    template.resourceCountIs('AWS::EC2::Subnet', 2);
    template.resourceCountIs('AWS::EC2::InternetGateway', 1);
    template.resourceCountIs('AWS::EC2::NatGateway', 0);
    expect(publicSubnetZones(template)).toEqual([0, 1].map((index) => ({ 'Fn::Select': [index, { 'Fn::GetAZs': '' }] })));
  });
});

describe('load balancer', () => {
  it('is an internet-facing ALB with an HTTP :80 listener forwarding to an instance target group', () => {
    template.hasResourceProperties('AWS::ElasticLoadBalancingV2::LoadBalancer', {
      Scheme: 'internet-facing',
      Type: 'application',
    });
    const tg = logicalId(template, 'AWS::ElasticLoadBalancingV2::TargetGroup');
    template.hasResourceProperties('AWS::ElasticLoadBalancingV2::Listener', {
      Port: 80,
      Protocol: 'HTTP',
      DefaultActions: [{ Type: 'forward', TargetGroupArn: { Ref: tg } }],
    });
    template.hasResourceProperties('AWS::ElasticLoadBalancingV2::TargetGroup', {
      TargetType: 'instance',
      Port: 80,
      Protocol: 'HTTP',
      HealthCheckPath: '/',
      HealthCheckEnabled: Match.absent(),
      TargetGroupAttributes: Match.arrayWith([{ Key: 'deregistration_delay.timeout_seconds', Value: '90' }]),
    });
  });

  it('takes the deregistration delay as a prop', () => {
    synth({ deregistrationDelay: Duration.seconds(45) }).hasResourceProperties(
      'AWS::ElasticLoadBalancingV2::TargetGroup',
      { TargetGroupAttributes: Match.arrayWith([{ Key: 'deregistration_delay.timeout_seconds', Value: '45' }]) },
    );
  });

  it('fails when the deregistration delay does not fit the notice, naming the load balancer that was given it', () => {
    // The rule itself is tested with WebLoadBalancer; this checks the stack hands its prop to it.
    expect(() => synth({ deregistrationDelay: Duration.seconds(101) })).toThrow(/^SpotFleetWebApp\/Web: .*up to 20 s/);
  });
});

describe('spot fleet', () => {
  function fleetConfig(t: Template): Record<string, unknown> {
    const [[, props]] = resourcesOfType(t, 'AWS::EC2::SpotFleet') as [[string, { SpotFleetRequestConfigData: Record<string, unknown> }]];
    return props.SpotFleetRequestConfigData;
  }

  it('maintains the TargetCapacity parameter\'s instances, 2 by default, diversified, replacing unhealthy ones', () => {
    template.resourceCountIs('AWS::EC2::SpotFleet', 1);
    expect(templateJson(template).Parameters?.TargetCapacity).toEqual({
      Type: 'Number',
      Default: 2,
      MinValue: 1,
      MaxValue: 1000,
      Description: 'Instances the Spot Fleet keeps running.',
    });
    expect(fleetConfig(template)).toMatchObject({
      Type: 'maintain',
      TargetCapacity: { Ref: 'TargetCapacity' },
      AllocationStrategy: 'diversified',
      ReplaceUnhealthyInstances: true,
    });
  });

  it('takes the allocation strategy, capacity and instance types as props', () => {
    const t = synth({
      allocationStrategy: SpotAllocationStrategy.CAPACITY_OPTIMIZED,
      targetCapacity: 4,
      instanceTypes: [new InstanceType('m7i.large'), new InstanceType('c7i.large'), new InstanceType('r7i.large')],
    });
    expect(fleetConfig(t)).toMatchObject({ AllocationStrategy: 'capacityOptimized', TargetCapacity: { Ref: 'TargetCapacity' } });
    expect(templateJson(t).Parameters?.TargetCapacity).toMatchObject({ Default: 4 });
    const [config] = fleetConfig(t).LaunchTemplateConfigs as [{ Overrides: { InstanceType: string }[] }];
    expect(config.Overrides).toHaveLength(6);
  });

  it('registers its instances in the target group, once the group serves the listener', () => {
    const tg = logicalId(template, 'AWS::ElasticLoadBalancingV2::TargetGroup');
    expect(fleetConfig(template).LoadBalancersConfig).toEqual({ TargetGroupsConfig: { TargetGroups: [{ Arn: { Ref: tg } }] } });
    template.hasResource('AWS::EC2::SpotFleet', {
      DependsOn: Match.arrayWith([logicalId(template, 'AWS::ElasticLoadBalancingV2::Listener')]),
    });
  });

  it('spreads over both subnets of the network', () => {
    const subnets = Object.keys(template.findResources('AWS::EC2::Subnet')).sort();
    const [config] = fleetConfig(template).LaunchTemplateConfigs as [{ Overrides: { SubnetId: { Ref: string } }[] }];
    expect([...new Set(config.Overrides.map((o) => o.SubnetId.Ref))].sort()).toEqual(subnets);
    expect(subnets).toHaveLength(2);
  });

  it('admits port 80 to the instances from the ALB security group only, and nothing else', () => {
    const albSg = Object.keys(
      template.findResources('AWS::EC2::SecurityGroup', { Properties: { GroupDescription: Match.stringLikeRegexp('ALB') } }),
    )[0];
    const fleetSg = Object.keys(
      template.findResources('AWS::EC2::SecurityGroup', { Properties: { GroupDescription: Match.stringLikeRegexp('Spot Fleet') } }),
    )[0];
    expect(albSg).toBeDefined();
    expect(fleetSg).toBeDefined();
    const fleetGroup = templateJson(template).Resources[fleetSg as string]?.Properties ?? {};
    expect(fleetGroup.SecurityGroupIngress).toBeUndefined();
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
        SourceSecurityGroupId: { 'Fn::GetAtt': [albSg, 'GroupId'] },
      },
    ]);
  });

  it('fails when the TargetCapacity default is outside the parameter\'s 1 to 1000', () => {
    expect(() => synth({ targetCapacity: 0 })).toThrow(/^SpotFleetWebApp: targetCapacity must be a whole number from 1 to 1000; got 0/);
    expect(() => synth({ targetCapacity: 1001 })).toThrow(/targetCapacity must be a whole number from 1 to 1000; got 1001/);
    expect(() => synth({ targetCapacity: -2 })).toThrow(/targetCapacity/);
  });

  it('fails when the TargetCapacity default is not a whole number', () => {
    expect(() => synth({ targetCapacity: 1.5 })).toThrow(/targetCapacity must be a whole number/);
    expect(() => synth({ targetCapacity: 1.5 })).toThrow(/^SpotFleetWebApp: targetCapacity must be a whole number from 1 to 1000; got 1\.5\.$/);
  });
});

describe('interruption routing', () => {
  it('queues Spot interruption warnings for the drainer, and sends nothing per event to people', () => {
    const rules = resourcesOfType(template, 'AWS::Events::Rule');
    const warnings = rules.filter(([, rule]) => JSON.stringify(rule.EventPattern ?? {}).includes('EC2 Spot Instance Interruption Warning'));
    expect(warnings).toHaveLength(1);
    const targets = (warnings[0]?.[1].Targets ?? []) as { Arn: unknown }[];
    expect(targets).toHaveLength(1);
    const queues = Object.keys(template.findResources('AWS::SQS::Queue'));
    expect(queues).toContain((targets[0]?.Arn as { 'Fn::GetAtt': [string, string] })['Fn::GetAtt'][0]);
    const topic = logicalId(template, 'AWS::SNS::Topic');
    for (const [, rule] of rules) expect(JSON.stringify(rule.Targets)).not.toContain(`"Ref":"${topic}"`);
  });
});

describe('notification topic', () => {
  it('admits no service principal: only the notifier, through its role, publishes', () => {
    const topic = logicalId(template, 'AWS::SNS::Topic');
    const [[, policy]] = resourcesOfType(template, 'AWS::SNS::TopicPolicy') as [[string, { PolicyDocument: { Statement: Record<string, unknown>[] } }]];
    expect(policy.PolicyDocument.Statement.filter((s) => s.Effect === 'Allow')).toEqual([]);
    const publishers = resourcesOfType(template, 'AWS::IAM::Policy').filter(([, p]) =>
      (p.PolicyDocument as { Statement: { Action: unknown }[] }).Statement.some((st) => ([] as unknown[]).concat(st.Action).includes('sns:Publish')),
    );
    expect(publishers).toHaveLength(1);
    expect(JSON.stringify(publishers[0]?.[1].PolicyDocument)).toContain(`{"Action":"sns:Publish","Effect":"Allow","Resource":{"Ref":"${topic}"}}`);
  });

  it('is encrypted with a rotating customer-managed key that no service principal may use', () => {
    const key = logicalId(template, 'AWS::KMS::Key');
    template.hasResourceProperties('AWS::SNS::Topic', { KmsMasterKeyId: { 'Fn::GetAtt': [key, 'Arn'] } });
    expect(JSON.stringify(templateJson(template).Resources)).not.toContain('alias/aws/sns');
    template.hasResourceProperties('AWS::KMS::Key', { EnableKeyRotation: true });
    const [[, keyProps]] = resourcesOfType(template, 'AWS::KMS::Key') as [[string, { KeyPolicy: { Statement: { Principal: unknown }[] } }]];
    expect(JSON.stringify(keyProps.KeyPolicy.Statement.map((st) => st.Principal))).not.toContain('Service');
  });

  it('subscribes an email address from a parameter, and only when one is given', () => {
    const json = templateJson(template);
    expect(json.Parameters?.NotificationEmail).toMatchObject({ Type: 'String', Default: '' });
    const [conditionId, condition] = Object.entries(json.Conditions ?? {})[0] as [string, unknown];
    expect(condition).toEqual({ 'Fn::Not': [{ 'Fn::Equals': [{ Ref: 'NotificationEmail' }, ''] }] });
    template.hasResource('AWS::SNS::Subscription', {
      Condition: conditionId,
      Properties: { Protocol: 'email', Endpoint: { Ref: 'NotificationEmail' }, TopicArn: { Ref: logicalId(template, 'AWS::SNS::Topic') } },
    });
  });

  it('refuses a malformed email address at deploy time through the parameter pattern', () => {
    const pattern = new RegExp((templateJson(template).Parameters?.NotificationEmail as { AllowedPattern: string }).AllowedPattern);
    expect(pattern.test('')).toBe(true);
    expect(pattern.test('ops@example.com')).toBe(true);
    expect(pattern.test('not an email')).toBe(false);
    expect(pattern.test('ops@')).toBe(false);
  });
});

function drainerFunctionId(t: Template): string {
  const ids = Object.keys(
    t.findResources('AWS::Lambda::Function', {
      Properties: { Environment: { Variables: Match.objectLike({ TARGET_GROUP_ARNS: Match.anyValue() }) } },
    }),
  );
  expect(ids).toHaveLength(1);
  return ids[0] as string;
}

describe('drainer function', () => {
  it('is told its target groups through the environment', () => {
    const tg = logicalId(template, 'AWS::ElasticLoadBalancingV2::TargetGroup');
    template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: {
        Variables: Match.objectLike({
          TARGET_GROUP_ARNS: { Ref: tg },
          POWERTOOLS_SERVICE_NAME: 'spot-interruption-drainer',
          POWERTOOLS_METRICS_NAMESPACE: 'Spotwise',
        }),
      },
    });
  });
});

describe('rehearsal', () => {
  it('interrupts one running instance carrying a tag that only this fleet\'s launch template gives, and outputs its id where FIS exists', () => {
    const tagValue = { 'Fn::Join': ['/', [{ Ref: 'AWS::StackName' }, 'SpotFleet']] };
    const [[, launchTemplate]] = resourcesOfType(template, 'AWS::EC2::LaunchTemplate') as [[string, Record<string, unknown>]];
    const specs = (launchTemplate.LaunchTemplateData as { TagSpecifications: { ResourceType: string; Tags: unknown[] }[] }).TagSpecifications;
    expect(specs.find((spec) => spec.ResourceType === 'instance')?.Tags).toContainEqual({ Key: 'spotwise:fleet', Value: tagValue });
    template.hasResourceProperties('AWS::FIS::ExperimentTemplate', {
      Targets: { SpotInstances: Match.objectLike({ ResourceTags: { 'spotwise:fleet': tagValue }, SelectionMode: 'COUNT(1)' }) },
    });
    const [fisId, fis] = Object.entries(template.findResources('AWS::FIS::ExperimentTemplate'))[0] as [string, { Condition: string }];
    template.hasOutput('RehearsalTemplateId', { Value: { Ref: fisId }, Condition: fis.Condition });
  });
});

describe('least privilege', () => {
  it('open no SSH anywhere, and the stack admits nothing from addresses but HTTP :80 to the ALB', () => {
    const albSg = Object.keys(
      template.findResources('AWS::EC2::SecurityGroup', { Properties: { GroupDescription: Match.stringLikeRegexp('ALB') } }),
    )[0];
    const rules = ingressRules(template);
    const coversSsh = (rule: IngressRule): boolean =>
      String(rule.protocol) === '-1' || (Number(rule.fromPort) <= 22 && Number(rule.toPort) >= 22);
    expect(rules.filter(coversSsh)).toEqual([]);
    expect(rules.filter((rule) => !('SourceSecurityGroupId' in rule.source))).toEqual([
      { group: albSg, protocol: 'tcp', fromPort: 80, toPort: 80, source: { CidrIp: '0.0.0.0/0' } },
    ]);
    template.hasResourceProperties('AWS::EC2::LaunchTemplate', {
      LaunchTemplateData: Match.objectLike({ KeyName: Match.absent() }),
    });
  });

  it('grants no mutating action on *', () => {
    const readOnly = /^[a-z0-9-]+:(Describe|Get|List)[A-Za-z]*$/;
    for (const [id, policy] of resourcesOfType(template, 'AWS::IAM::Policy')) {
      const statements = (policy.PolicyDocument as { Statement: { Action: string | string[]; Resource: unknown }[] }).Statement;
      for (const statement of statements) {
        const resources = ([] as unknown[]).concat(statement.Resource);
        if (!resources.includes('*')) continue;
        for (const action of ([] as string[]).concat(statement.Action)) {
          expect(action, `${id} grants ${action} on *`).toMatch(readOnly);
        }
      }
    }
  });
});

describe('deployment', () => {
  it('needs no CDK bootstrap and no assets: all Lambda code is inline', () => {
    const json = templateJson(template);
    expect(Object.keys(json.Parameters ?? {})).not.toContain('BootstrapVersion');
    expect((json as { Rules?: unknown }).Rules).toBeUndefined();
    const functions = resourcesOfType(template, 'AWS::Lambda::Function');
    expect(functions.length).toBeGreaterThan(0);
    for (const [, fn] of functions) {
      expect(Object.keys(fn.Code as object)).toEqual(['ZipFile']);
    }
    expect(JSON.stringify(json)).not.toMatch(/cdk-hnb659fds|AssetParameters|S3Bucket/);
  });

  it('fits in 51,200 bytes, so that --template-file needs no S3 bucket', () => {
    expect(Buffer.byteLength(JSON.stringify(template.toJSON()))).toBeLessThanOrEqual(51_200);
  });

  it('outputs the site URL, target group ARN, fleet request id, topic ARN and function name', () => {
    const outputs = templateJson(template).Outputs ?? {};
    expect(Object.keys(outputs).sort()).toEqual(['DrainerFunctionName', 'RehearsalTemplateId', 'SiteUrl', 'SpotFleetRequestId', 'TargetGroupArn', 'TopicArn']);
    template.hasOutput('SiteUrl', {
      Value: { 'Fn::Join': ['', ['http://', { 'Fn::GetAtt': [logicalId(template, 'AWS::ElasticLoadBalancingV2::LoadBalancer'), 'DNSName'] }, '/']] },
    });
    template.hasOutput('SpotFleetRequestId', { Value: { Ref: logicalId(template, 'AWS::EC2::SpotFleet') } });
    template.hasOutput('TopicArn', { Value: { Ref: logicalId(template, 'AWS::SNS::Topic') } });
    template.hasOutput('TargetGroupArn', { Value: { Ref: logicalId(template, 'AWS::ElasticLoadBalancingV2::TargetGroup') } });
    template.hasOutput('DrainerFunctionName', { Value: { Ref: drainerFunctionId(template) } });
  });
});
