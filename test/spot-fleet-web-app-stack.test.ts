import { Duration } from 'aws-cdk-lib/core';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { InstanceType } from 'aws-cdk-lib/aws-ec2';
import { beforeAll, describe, expect, it } from 'vitest';
import { SpotAllocationStrategy } from '../lib/constructs/spot-fleet';
import type { SpotFleetWebAppStackProps } from '../lib/spot-fleet-web-app-stack';
import { SpotFleetWebAppStack } from '../lib/spot-fleet-web-app-stack';
import type { IngressRule } from './support/app';
import { ingressRules, newApp, publicSubnetZones, resourcesOfType, templateJson } from './support/app';
import { alarmsByPurpose } from './support/constructs';

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
  it('is an internet-facing ALB whose :80 listener forwards to an instance target group, or redirects to :443 given a CertificateArn', () => {
    template.hasResourceProperties('AWS::ElasticLoadBalancingV2::LoadBalancer', {
      Scheme: 'internet-facing',
      Type: 'application',
    });
    const tg = logicalId(template, 'AWS::ElasticLoadBalancingV2::TargetGroup');
    const json = templateJson(template);
    expect(json.Parameters?.CertificateArn).toMatchObject({ Type: 'String', Default: '' });
    const listeners = resourcesOfType(template, 'AWS::ElasticLoadBalancingV2::Listener');
    const http = listeners.find(([, l]) => l.Port === 80)?.[1];
    const https = template.findResources('AWS::ElasticLoadBalancingV2::Listener', { Properties: { Port: 443 } });
    expect(Object.values(https)).toHaveLength(1);
    const [httpsResource] = Object.values(https) as [{ Condition: string; Properties: Record<string, unknown> }];
    expect(httpsResource.Properties).toMatchObject({ Protocol: 'HTTPS', Certificates: [{ CertificateArn: { Ref: 'CertificateArn' } }] });
    expect(json.Conditions?.[httpsResource.Condition]).toEqual({ 'Fn::Not': [{ 'Fn::Equals': [{ Ref: 'CertificateArn' }, ''] }] });
    const [, redirect, forward] = (http?.DefaultActions as { 'Fn::If': [string, unknown, unknown] })['Fn::If'];
    expect(forward).toEqual([{ Type: 'forward', TargetGroupArn: { Ref: tg } }]);
    expect(JSON.stringify(redirect)).toContain('"Protocol":"HTTPS"');
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

  it('starts at the MinCapacity parameter\'s instances, 2 by default, diversified, replacing unhealthy ones and rebalancing', () => {
    template.resourceCountIs('AWS::EC2::SpotFleet', 1);
    const parameters = templateJson(template).Parameters ?? {};
    expect(parameters.TargetCapacity).toBeUndefined();
    expect(parameters.MinCapacity).toEqual({ Type: 'Number', Default: 2, MinValue: 1, MaxValue: 1000, Description: 'Fewest instances; scale-in stops here.' });
    expect(parameters.MaxCapacity).toEqual({ Type: 'Number', Default: 10, MinValue: 1, MaxValue: 1000, Description: 'Most instances; at least MinCapacity.' });
    expect(fleetConfig(template)).toMatchObject({
      Type: 'maintain',
      TargetCapacity: { Ref: 'MinCapacity' },
      AllocationStrategy: 'diversified',
      ReplaceUnhealthyInstances: true,
      ExcessCapacityTerminationPolicy: 'default',
      // 20 s to react + the drainer's 300 s rebalance hold + its last retry at 73 s + 90 s of draining + 30 s of margin.
      SpotMaintenanceStrategies: { CapacityRebalance: { ReplacementStrategy: 'launch-before-terminate', TerminationDelay: 513 } },
    });
  });

  it('scales between the MinCapacity and MaxCapacity parameters on requests per target, labelled with this load balancer and target group', () => {
    template.hasResourceProperties('AWS::ApplicationAutoScaling::ScalableTarget', {
      ServiceNamespace: 'ec2',
      ScalableDimension: 'ec2:spot-fleet-request:TargetCapacity',
      ResourceId: { 'Fn::Join': ['', ['spot-fleet-request/', { Ref: logicalId(template, 'AWS::EC2::SpotFleet') }]] },
      MinCapacity: { Ref: 'MinCapacity' },
      MaxCapacity: { Ref: 'MaxCapacity' },
    });
    template.hasResourceProperties('AWS::ApplicationAutoScaling::ScalingPolicy', {
      PolicyType: 'TargetTrackingScaling',
      TargetTrackingScalingPolicyConfiguration: Match.objectLike({
        TargetValue: 1000,
        PredefinedMetricSpecification: {
          PredefinedMetricType: 'ALBRequestCountPerTarget',
          ResourceLabel: {
            'Fn::Join': [
              '',
              [
                { 'Fn::GetAtt': [logicalId(template, 'AWS::ElasticLoadBalancingV2::LoadBalancer'), 'LoadBalancerFullName'] },
                '/',
                { 'Fn::GetAtt': [logicalId(template, 'AWS::ElasticLoadBalancingV2::TargetGroup'), 'TargetGroupFullName'] },
              ],
            ],
          },
        },
      }),
    });
  });

  it('launches the image the pinned-image resource chose, never an SSM parameter resolved anew on each deploy', () => {
    const [[imageId]] = resourcesOfType(template, 'Custom::PinnedImage') as [[string, unknown]];
    template.hasResourceProperties('AWS::EC2::LaunchTemplate', {
      LaunchTemplateData: Match.objectLike({ ImageId: { 'Fn::GetAtt': [imageId, 'ImageId'] } }),
    });
    template.hasResourceProperties('Custom::PinnedImage', { Newest: { Ref: 'LatestImageParameter' }, Requested: { Ref: 'ImageId' } });
    expect(templateJson(template).Parameters?.ImageId).toMatchObject({ Type: 'String', Default: '' });
  });

  it('hands the target group over to a replacement fleet before the old one is deleted', () => {
    template.hasResourceProperties('Custom::SpotFleetHandover', {
      SpotFleetRequestId: { Ref: logicalId(template, 'AWS::EC2::SpotFleet') },
      TargetGroupArn: { Ref: logicalId(template, 'AWS::ElasticLoadBalancingV2::TargetGroup') },
    });
  });

  it('takes the allocation strategy, capacity bounds, rebalancing and instance types as props', () => {
    const t = synth({
      allocationStrategy: SpotAllocationStrategy.CAPACITY_OPTIMIZED,
      minCapacity: 4,
      maxCapacity: 40,
      requestsPerTarget: 300,
      capacityRebalance: false,
      instanceTypes: [new InstanceType('m7i.large'), new InstanceType('c7i.large'), new InstanceType('r7i.large')],
    });
    expect(fleetConfig(t)).toMatchObject({ AllocationStrategy: 'capacityOptimized', TargetCapacity: { Ref: 'MinCapacity' } });
    expect(fleetConfig(t).SpotMaintenanceStrategies).toBeUndefined();
    expect(templateJson(t).Parameters).toMatchObject({ MinCapacity: { Default: 4 }, MaxCapacity: { Default: 40 } });
    t.hasResourceProperties('AWS::ApplicationAutoScaling::ScalingPolicy', {
      TargetTrackingScalingPolicyConfiguration: Match.objectLike({ TargetValue: 300 }),
    });
    const [config] = fleetConfig(t).LaunchTemplateConfigs as [{ Overrides: { InstanceType: string }[] }];
    expect(config.Overrides).toHaveLength(6);
  });

  it('registers its instances in the target group, once the group serves the listener', () => {
    const tg = logicalId(template, 'AWS::ElasticLoadBalancingV2::TargetGroup');
    expect(fleetConfig(template).LoadBalancersConfig).toEqual({ TargetGroupsConfig: { TargetGroups: [{ Arn: { Ref: tg } }] } });
    const http = Object.keys(template.findResources('AWS::ElasticLoadBalancingV2::Listener', { Properties: { Port: 80 } }));
    expect(http).toHaveLength(1);
    template.hasResource('AWS::EC2::SpotFleet', {
      DependsOn: Match.arrayWith([http[0]]),
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

  it('fails when the minimum is above the maximum, or either is outside 1 to 1000, naming the stack whose parameter defaults they are', () => {
    expect(() => synth({ minCapacity: 5, maxCapacity: 4 })).toThrow(/^SpotFleetWebApp: minCapacity \(5\) is above maxCapacity \(4\); raise maxCapacity or lower minCapacity\.$/);
    expect(() => synth({ minCapacity: -1 })).toThrow(
      /^SpotFleetWebApp: minCapacity must be a whole number from 1 to 1000; got -1\. At least one instance must run; to stop them all, delete the stack\.$/,
    );
    expect(() => synth({ maxCapacity: 1001 })).toThrow(
      /^SpotFleetWebApp: maxCapacity must be a whole number from 1 to 1000; got 1001\. 1,000 is ELB's default quota of targets per target group\.$/,
    );
  });

  it('fails when the scaling target is 0 requests per instance', () => {
    expect(() => synth({ requestsPerTarget: 0 })).toThrow(/^SpotFleetWebApp: requestsPerTarget must be a whole number of at least 1; got 0\.$/);
  });

  it('fails when the termination delay is shorter than the drain: 20 s to react, the 300 s rebalance hold, the last retry at 73 s, the 90 s delay', () => {
    expect(() => synth({ terminationDelay: Duration.seconds(480) })).toThrow(
      /^SpotFleetWebApp\/SpotFleet: terminationDelay \(480 s\) is shorter than the drain \(483 s: .*give at least 483 s\.$/,
    );
    expect(() => synth({ terminationDelay: Duration.seconds(483) })).not.toThrow();
  });

  it('lengthens the termination delay by the drainer\'s rebalance hold', () => {
    expect(fleetConfig(synth({ drainer: { rebalanceHold: Duration.seconds(60) } }))).toMatchObject({
      SpotMaintenanceStrategies: { CapacityRebalance: { ReplacementStrategy: 'launch-before-terminate', TerminationDelay: 20 + 60 + 73 + 90 + 30 } },
    });
  });
});

describe('interruption routing', () => {
  it('queues Spot interruption warnings and rebalance recommendations for the drainer, and sends nothing per instance to people', () => {
    const rules = resourcesOfType(template, 'AWS::Events::Rule');
    const warnings = rules.filter(([, rule]) => JSON.stringify(rule.EventPattern ?? {}).includes('EC2 Spot Instance Interruption Warning'));
    expect(warnings).toHaveLength(1);
    expect((warnings[0]?.[1].EventPattern as { 'detail-type': string[] })['detail-type']).toEqual([
      'EC2 Spot Instance Interruption Warning',
      'EC2 Instance Rebalance Recommendation',
    ]);
    const targets = (warnings[0]?.[1].Targets ?? []) as { Arn: unknown }[];
    expect(targets).toHaveLength(1);
    const queues = Object.keys(template.findResources('AWS::SQS::Queue'));
    expect(queues).toContain((targets[0]?.Arn as { 'Fn::GetAtt': [string, string] })['Fn::GetAtt'][0]);
    const topic = logicalId(template, 'AWS::SNS::Topic');
    const toPeople = rules.filter(([, rule]) => JSON.stringify(rule.Targets).includes(`"Ref":"${topic}"`));
    // Only the fleet's own trouble events go to people straight from EventBridge.
    expect(toPeople.map(([, rule]) => (rule.EventPattern as { source: string[] }).source)).toEqual([['aws.ec2spotfleet']]);
  });
});

describe('rebalance draining', () => {
  it('drains on rebalance recommendations only while the fleet replaces the instances they name', () => {
    const patterns = (t: Template): string[][] =>
      resourcesOfType(t, 'AWS::Events::Rule')
        .map(([, rule]) => (rule.EventPattern as { 'detail-type'?: string[] } | undefined)?.['detail-type'] ?? [])
        .filter((types) => types.includes('EC2 Spot Instance Interruption Warning'));
    expect(patterns(template)).toEqual([['EC2 Spot Instance Interruption Warning', 'EC2 Instance Rebalance Recommendation']]);
    // Without capacity rebalancing a drained instance would keep running, out of rotation, still counted as capacity.
    expect(patterns(synth({ capacityRebalance: false }))).toEqual([['EC2 Spot Instance Interruption Warning']]);
  });
});

describe('notification topic', () => {
  it('admits only the fleet-trouble rule and this stack\'s alarms as services; the notifier publishes through its role', () => {
    const topic = logicalId(template, 'AWS::SNS::Topic');
    const [[, policy]] = resourcesOfType(template, 'AWS::SNS::TopicPolicy') as [[string, { PolicyDocument: { Statement: Record<string, unknown>[] } }]];
    const allowed = policy.PolicyDocument.Statement.filter((s) => s.Effect === 'Allow');
    expect(allowed.map((s) => s.Principal)).toEqual([{ Service: 'events.amazonaws.com' }, { Service: 'cloudwatch.amazonaws.com' }]);
    const [[troubleRule]] = resourcesOfType(template, 'AWS::Events::Rule').filter(([, rule]) =>
      JSON.stringify(rule.EventPattern ?? {}).includes('aws.ec2spotfleet'),
    ) as [[string, unknown]];
    expect(allowed[0]?.Condition).toEqual({ ArnEquals: { 'aws:SourceArn': { 'Fn::GetAtt': [troubleRule, 'Arn'] } } });
    expect(allowed[1]?.Condition).toMatchObject({ StringEquals: { 'aws:SourceAccount': { Ref: 'AWS::AccountId' } } });
    const publishers = resourcesOfType(template, 'AWS::IAM::Policy').filter(([, p]) =>
      (p.PolicyDocument as { Statement: { Action: unknown }[] }).Statement.some((st) => ([] as unknown[]).concat(st.Action).includes('sns:Publish')),
    );
    expect(publishers).toHaveLength(1);
    expect(JSON.stringify(publishers[0]?.[1].PolicyDocument)).toContain(`{"Action":"sns:Publish","Effect":"Allow","Resource":{"Ref":"${topic}"}}`);
  });

  it('is encrypted with a rotating customer-managed key that only EventBridge and this stack\'s alarms may use as services', () => {
    const key = logicalId(template, 'AWS::KMS::Key');
    template.hasResourceProperties('AWS::SNS::Topic', { KmsMasterKeyId: { 'Fn::GetAtt': [key, 'Arn'] } });
    expect(JSON.stringify(templateJson(template).Resources)).not.toContain('alias/aws/sns');
    template.hasResourceProperties('AWS::KMS::Key', { EnableKeyRotation: true });
    const [[, keyProps]] = resourcesOfType(template, 'AWS::KMS::Key') as [[string, { KeyPolicy: { Statement: { Principal: { Service?: string }; Condition?: unknown }[] } }]];
    const services = keyProps.KeyPolicy.Statement.filter((st) => st.Principal.Service !== undefined);
    expect(services.map((st) => st.Principal.Service)).toEqual(['events.amazonaws.com', 'cloudwatch.amazonaws.com']);
    expect(JSON.stringify(services[1]?.Condition)).toContain('"aws:SourceAccount"');
    expect(JSON.stringify(services[1]?.Condition)).toContain(':alarm:');
  });

  it('subscribes an email address from a parameter, and only when one is given', () => {
    const json = templateJson(template);
    expect(json.Parameters?.NotificationEmail).toMatchObject({ Type: 'String', Default: '' });
    const [conditionId] = Object.entries(json.Conditions ?? {}).find(
      ([, condition]) => JSON.stringify(condition) === JSON.stringify({ 'Fn::Not': [{ 'Fn::Equals': [{ Ref: 'NotificationEmail' }, ''] }] }),
    ) as [string, unknown];
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
  it('open no SSH anywhere, and the stack admits nothing from addresses but HTTP :80 and, with a certificate, HTTPS :443 to the ALB', () => {
    const albSg = Object.keys(
      template.findResources('AWS::EC2::SecurityGroup', { Properties: { GroupDescription: Match.stringLikeRegexp('ALB') } }),
    )[0];
    const rules = ingressRules(template);
    const coversSsh = (rule: IngressRule): boolean =>
      String(rule.protocol) === '-1' || (Number(rule.fromPort) <= 22 && Number(rule.toPort) >= 22);
    expect(rules.filter(coversSsh)).toEqual([]);
    expect(rules.filter((rule) => !('SourceSecurityGroupId' in rule.source))).toEqual([
      { group: albSg, protocol: 'tcp', fromPort: 80, toPort: 80, source: { CidrIp: '0.0.0.0/0' } },
      { group: albSg, protocol: 'tcp', fromPort: 443, toPort: 443, source: { CidrIp: '0.0.0.0/0' } },
    ]);
    const [https] = Object.values(template.findResources('AWS::EC2::SecurityGroupIngress', { Properties: { FromPort: 443 } })) as [{ Condition?: string }];
    expect(https.Condition).toBeDefined();
    template.hasResourceProperties('AWS::EC2::LaunchTemplate', {
      LaunchTemplateData: Match.objectLike({ KeyName: Match.absent() }),
    });
  });

  it('grants no mutating action on * but what the SSM Agent needs for Session Manager', () => {
    // Session Manager's documented minimum: the agent registers its own instance and opens its channels.
    const agent = ['ssm:UpdateInstanceInformation', 'ssmmessages:CreateControlChannel', 'ssmmessages:CreateDataChannel', 'ssmmessages:OpenControlChannel', 'ssmmessages:OpenDataChannel'];
    const readOnly = /^[a-z0-9-]+:(Describe|Get|List)[A-Za-z]*$/;
    for (const [id, policy] of resourcesOfType(template, 'AWS::IAM::Policy')) {
      const statements = (policy.PolicyDocument as { Statement: { Action: string | string[]; Resource: unknown }[] }).Statement;
      for (const statement of statements) {
        const resources = ([] as unknown[]).concat(statement.Resource);
        if (!resources.includes('*')) continue;
        for (const action of ([] as string[]).concat(statement.Action)) {
          if (agent.includes(action)) expect(id, `${action} on * outside the instance role`).toMatch(/^SpotFleetInstanceRole/);
          else expect(action, `${id} grants ${action} on *`).toMatch(readOnly);
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

  it('outputs the site URL, target group ARN, fleet request id, topic ARN and dashboard URL', () => {
    const outputs = templateJson(template).Outputs ?? {};
    expect(Object.keys(outputs).sort()).toEqual(['DashboardUrl', 'RehearsalTemplateId', 'SiteUrl', 'SpotFleetRequestId', 'TargetGroupArn', 'TopicArn']);
    const [certificateCondition] = Object.values(template.findResources('AWS::ElasticLoadBalancingV2::Listener', { Properties: { Port: 443 } })).map(
      (l) => (l as { Condition: string }).Condition,
    );
    template.hasOutput('SiteUrl', {
      Value: {
        'Fn::Join': [
          '',
          [{ 'Fn::If': [certificateCondition, 'https', 'http'] }, '://', { 'Fn::GetAtt': [logicalId(template, 'AWS::ElasticLoadBalancingV2::LoadBalancer'), 'DNSName'] }, '/'],
        ],
      },
    });
    template.hasOutput('SpotFleetRequestId', { Value: { Ref: logicalId(template, 'AWS::EC2::SpotFleet') } });
    template.hasOutput('TopicArn', { Value: { Ref: logicalId(template, 'AWS::SNS::Topic') } });
    template.hasOutput('TargetGroupArn', { Value: { Ref: logicalId(template, 'AWS::ElasticLoadBalancingV2::TargetGroup') } });
  });
});

describe('alarms and dashboard', () => {
  it("tells people through the stack's topic when each alarm goes off and when it comes back", () => {
    const topic = logicalId(template, 'AWS::SNS::Topic');
    const alarms = resourcesOfType(template, 'AWS::CloudWatch::Alarm');
    expect(Object.keys(alarmsByPurpose(template)).sort()).toEqual([
      'DrainFailures',
      'Drainer-DeadLetters',
      'FleetBelowTarget',
      'FunctionErrors',
      'LoadBalancer5xx',
      'Target5xx',
      'UnhealthyHosts',
    ]);
    for (const [id, alarm] of alarms) {
      expect(alarm.AlarmActions, id).toEqual([{ Ref: topic }]);
      expect(alarm.OKActions, id).toEqual([{ Ref: topic }]);
      expect(alarm.AlarmName, id).toEqual({ 'Fn::Join': ['', [{ Ref: 'AWS::StackName' }, expect.stringMatching(/^-/)]] });
      expect(String(alarm.AlarmDescription).length, id).toBeGreaterThan(40);
    }
  });

  it("alarms on the load balancer's 5xx and on unhealthy targets of this stack's load balancer and target group", () => {
    const alarms = alarmsByPurpose(template);
    const lb = { Name: 'LoadBalancer', Value: { 'Fn::GetAtt': [logicalId(template, 'AWS::ElasticLoadBalancingV2::LoadBalancer'), 'LoadBalancerFullName'] } };
    const tg = { Name: 'TargetGroup', Value: { 'Fn::GetAtt': [logicalId(template, 'AWS::ElasticLoadBalancingV2::TargetGroup'), 'TargetGroupFullName'] } };
    expect(alarms.LoadBalancer5xx).toMatchObject({ Namespace: 'AWS/ApplicationELB', MetricName: 'HTTPCode_ELB_5XX_Count', Dimensions: [lb], Threshold: 10 });
    expect(alarms.Target5xx).toMatchObject({ MetricName: 'HTTPCode_Target_5XX_Count', Dimensions: [lb, tg], Threshold: 10 });
    expect(alarms.UnhealthyHosts).toMatchObject({ MetricName: 'UnHealthyHostCount', Dimensions: [lb, tg], Threshold: 1, EvaluationPeriods: 5 });
  });

  it("sums the errors of every one of the stack's functions, missing data as zero", () => {
    const alarm = alarmsByPurpose(template).FunctionErrors as { Metrics: { Id: string; Expression?: string; MetricStat?: { Metric: { MetricName: string; Dimensions: { Value: unknown }[] } } }[] };
    const functions = resourcesOfType(template, 'AWS::Lambda::Function').map(([id]) => ({ Ref: id }));
    expect(functions).toHaveLength(4);
    const summed = alarm.Metrics.filter((m) => m.MetricStat !== undefined);
    expect(summed.map((m) => m.MetricStat?.Metric.MetricName)).toEqual(['Errors', 'Errors', 'Errors', 'Errors']);
    expect(summed.map((m) => m.MetricStat?.Metric.Dimensions[0]?.Value)).toEqual(expect.arrayContaining(functions));
    expect(alarm.Metrics.find((m) => m.Expression !== undefined)?.Expression).toBe(summed.map((m) => `FILL(${m.Id},0)`).join('+'));
  });

  it("alarms on any message the drainer hands back as failed, in this stack's drainer metrics", () => {
    expect(alarmsByPurpose(template).DrainFailures).toMatchObject({
      Namespace: 'Spotwise',
      MetricName: 'Failures',
      Dimensions: [
        { Name: 'Stack', Value: { Ref: 'AWS::StackName' } },
        { Name: 'service', Value: 'spot-interruption-drainer' },
      ],
      Statistic: 'Sum',
      Period: 60,
      Threshold: 1,
      TreatMissingData: 'notBreaching',
    });
  });

  it("alarms when the fleet's fulfilled capacity stays below its target for 15 minutes", () => {
    const alarm = alarmsByPurpose(template).FleetBelowTarget as Record<string, unknown> & {
      Metrics: { Id: string; Expression?: string; MetricStat?: { Period: number; Stat: string; Metric: { Namespace: string; MetricName: string; Dimensions: unknown[] } } }[];
    };
    const fleet = { Name: 'FleetRequestId', Value: { Ref: logicalId(template, 'AWS::EC2::SpotFleet') } };
    expect(alarm.Metrics.find((m) => m.Expression !== undefined)?.Expression).toBe('expected - actual');
    expect(alarm.Metrics.find((m) => m.Id === 'expected')?.MetricStat).toEqual({
      Metric: { Namespace: 'AWS/EC2Spot', MetricName: 'TargetCapacity', Dimensions: [fleet] },
      Period: 300,
      Stat: 'Maximum',
    });
    expect(alarm.Metrics.find((m) => m.Id === 'actual')?.MetricStat).toEqual({
      Metric: { Namespace: 'AWS/EC2Spot', MetricName: 'FulfilledCapacity', Dimensions: [fleet] },
      Period: 300,
      Stat: 'Minimum',
    });
    expect(alarm).toMatchObject({ Threshold: 1, EvaluationPeriods: 3, ComparisonOperator: 'GreaterThanOrEqualToThreshold', TreatMissingData: 'notBreaching' });
  });

  it('has a dashboard with requests, 5xx and healthy hosts per AZ, the Spot signals and drains, and the fleet target against fulfilled, and outputs its URL', () => {
    const [[dashboard, props]] = resourcesOfType(template, 'AWS::CloudWatch::Dashboard') as [[string, Record<string, unknown>]];
    // The body with each reference written as {Name} or {Name.Attribute}, parsed.
    const parts = (props.DashboardBody as { 'Fn::Join': [string, unknown[]] })['Fn::Join'][1];
    const text = parts
      .map((part) => (typeof part === 'string' ? part : 'Ref' in (part as object) ? `{${(part as { Ref: string }).Ref}}` : `{${(part as { 'Fn::GetAtt': string[] })['Fn::GetAtt'].join('.')}}`))
      .join('');
    const widgets = (JSON.parse(text) as { widgets: { properties: { title: string; metrics: unknown[][] } }[] }).widgets.map((w) => w.properties);
    const lb = `{${logicalId(template, 'AWS::ElasticLoadBalancingV2::LoadBalancer')}.LoadBalancerFullName}`;
    const tg = `{${logicalId(template, 'AWS::ElasticLoadBalancingV2::TargetGroup')}.TargetGroupFullName}`;
    const searches = (title: string): string[] =>
      (widgets.find((w) => w.title === title)?.metrics ?? []).map((m) => (m[0] as { expression: string }).expression);
    expect(searches('Requests per AZ')).toEqual([`SEARCH('{AWS/ApplicationELB,AvailabilityZone,LoadBalancer} MetricName="RequestCount" LoadBalancer="${lb}"', 'Sum', 60)`]);
    expect(searches('5xx per AZ (load balancer, targets)')).toEqual([
      `SEARCH('{AWS/ApplicationELB,AvailabilityZone,LoadBalancer} MetricName="HTTPCode_ELB_5XX_Count" LoadBalancer="${lb}"', 'Sum', 60)`,
      `SEARCH('{AWS/ApplicationELB,AvailabilityZone,LoadBalancer,TargetGroup} MetricName="HTTPCode_Target_5XX_Count" TargetGroup="${tg}"', 'Sum', 60)`,
    ]);
    expect(searches('Healthy hosts per AZ')).toEqual([
      `SEARCH('{AWS/ApplicationELB,AvailabilityZone,LoadBalancer,TargetGroup} MetricName="HealthyHostCount" TargetGroup="${tg}"', 'Minimum', 60)`,
    ]);
    const plain = (title: string): unknown[][] => (widgets.find((w) => w.title === title)?.metrics ?? []).map((m) => m.slice(0, -1));
    expect(plain('Spot signals and drains')).toEqual(
      ['Interruptions', 'RebalanceRecommendations', 'InstancesDrained', 'EventsIgnored'].map((name) => ['Spotwise', name, 'Stack', '{AWS::StackName}', 'service', 'spot-interruption-drainer']),
    );
    const fleet = `{${logicalId(template, 'AWS::EC2::SpotFleet')}}`;
    expect(plain('Fleet capacity: target and fulfilled')).toEqual([
      ['AWS/EC2Spot', 'TargetCapacity', 'FleetRequestId', fleet],
      ['AWS/EC2Spot', 'FulfilledCapacity', 'FleetRequestId', fleet],
    ]);
    expect(JSON.stringify(templateJson(template).Outputs?.DashboardUrl)).toContain(dashboard);
  });

  it('leaves the operator alarms, the dashboard and its URL out when operations is false, and keeps the dead-letter alarm', () => {
    const lean = synth({ operations: false });
    expect(Object.keys(alarmsByPurpose(lean))).toEqual(['Drainer-DeadLetters']);
    lean.resourceCountIs('AWS::CloudWatch::Dashboard', 0);
    expect(Object.keys(templateJson(lean).Outputs ?? {})).not.toContain('DashboardUrl');
  });
});
