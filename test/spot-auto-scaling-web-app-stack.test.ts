import { Duration } from 'aws-cdk-lib/core';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { InstanceType } from 'aws-cdk-lib/aws-ec2';
import { beforeAll, describe, expect, it } from 'vitest';
import type { SpotAutoScalingWebAppStackProps } from '../lib/spot-auto-scaling-web-app-stack';
import { SpotAutoScalingWebAppStack } from '../lib/spot-auto-scaling-web-app-stack';
import { ingressRules, newApp, publicSubnetZones, resourcesOfType, templateJson } from './support/app';
import { alarmsByPurpose } from './support/constructs';

function synth(props: SpotAutoScalingWebAppStackProps = {}): Template {
  return Template.fromStack(new SpotAutoScalingWebAppStack(newApp(), 'SpotAutoScalingWebApp', props));
}

function logicalId(template: Template, type: string): string {
  const ids = Object.keys(template.findResources(type));
  expect(ids).toHaveLength(1);
  return ids[0] as string;
}

function group(t: Template): { Properties: Record<string, unknown>; CreationPolicy: Record<string, unknown>; UpdatePolicy: Record<string, Record<string, unknown>>; DependsOn: string[] } {
  const [[, resource]] = Object.entries(t.findResources('AWS::AutoScaling::AutoScalingGroup')) as [[string, never]];
  return resource;
}

let template: Template;
beforeAll(() => {
  template = synth();
});

describe('network and load balancer', () => {
  it('has one public subnet in each of two AZs and no NAT gateway, and an internet-facing ALB with an instance target group draining for 90 s', () => {
    template.resourceCountIs('AWS::EC2::NatGateway', 0);
    expect(publicSubnetZones(template)).toEqual([0, 1].map((index) => ({ 'Fn::Select': [index, { 'Fn::GetAZs': '' }] })));
    template.hasResourceProperties('AWS::ElasticLoadBalancingV2::LoadBalancer', { Scheme: 'internet-facing', Type: 'application' });
    template.hasResourceProperties('AWS::ElasticLoadBalancingV2::TargetGroup', {
      TargetType: 'instance',
      Port: 80,
      TargetGroupAttributes: Match.arrayWith([{ Key: 'deregistration_delay.timeout_seconds', Value: '90' }]),
    });
    expect(templateJson(template).Parameters?.CertificateArn).toMatchObject({ Type: 'String', Default: '' });
    template.hasResource('AWS::ElasticLoadBalancingV2::Listener', { Condition: Match.anyValue(), Properties: Match.objectLike({ Port: 443, Protocol: 'HTTPS' }) });
  });

  it('fails when the deregistration delay does not fit the notice, naming the load balancer', () => {
    expect(() => synth({ deregistrationDelay: Duration.seconds(101) })).toThrow(/^SpotAutoScalingWebApp\/Web: .*up to 20 s/);
  });
});

describe('auto scaling group', () => {
  it('runs all Spot, price-capacity-optimized over four types in both subnets, with ELB health checks and Capacity Rebalancing, registered in the target group', () => {
    const { Properties: p, DependsOn } = group(template);
    expect(p).toMatchObject({
      MinSize: { Ref: 'MinCapacity' },
      MaxSize: { Ref: 'MaxCapacity' },
      CapacityRebalance: true,
      HealthCheckType: 'ELB',
      TargetGroupARNs: [{ Ref: logicalId(template, 'AWS::ElasticLoadBalancingV2::TargetGroup') }],
      MixedInstancesPolicy: {
        InstancesDistribution: { OnDemandBaseCapacity: 0, OnDemandPercentageAboveBaseCapacity: 0, SpotAllocationStrategy: 'price-capacity-optimized' },
        LaunchTemplate: { Overrides: [{ InstanceType: 'c6i.large' }, { InstanceType: 'm6i.large' }, { InstanceType: 'c5.large' }, { InstanceType: 'm5.large' }] },
      },
    });
    expect(p.VPCZoneIdentifier).toHaveLength(2);
    expect(p).not.toHaveProperty('DesiredCapacity');
    const http = Object.keys(template.findResources('AWS::ElasticLoadBalancingV2::Listener', { Properties: { Port: 80 } }));
    expect(DependsOn).toEqual(expect.arrayContaining(http));
    const parameters = templateJson(template).Parameters ?? {};
    expect(parameters.MinCapacity).toMatchObject({ Type: 'Number', Default: 2, MinValue: 1, MaxValue: 1000 });
    expect(parameters.MaxCapacity).toMatchObject({ Type: 'Number', Default: 10, MinValue: 1, MaxValue: 1000 });
  });

  it('takes the On-Demand base, capacity bounds, scaling target, rebalancing and instance types as props', () => {
    const t = synth({
      onDemandBaseCapacity: 1,
      minCapacity: 3,
      maxCapacity: 30,
      requestsPerTarget: 400,
      capacityRebalance: false,
      instanceTypes: ['m7i.large', 'c7i.large', 'r7i.large', 'm6a.large'].map((name) => new InstanceType(name)),
    });
    expect(group(t).Properties).toMatchObject({
      CapacityRebalance: false,
      MixedInstancesPolicy: { InstancesDistribution: { OnDemandBaseCapacity: 1 } },
    });
    expect((group(t).Properties.MixedInstancesPolicy as { LaunchTemplate: { Overrides: unknown[] } }).LaunchTemplate.Overrides).toHaveLength(4);
    expect(templateJson(t).Parameters).toMatchObject({ MinCapacity: { Default: 3 }, MaxCapacity: { Default: 30 } });
    t.hasResourceProperties('AWS::AutoScaling::ScalingPolicy', { TargetTrackingConfiguration: Match.objectLike({ TargetValue: 400 }) });
  });

  it('scales on requests per target of this load balancer and target group', () => {
    template.hasResourceProperties('AWS::AutoScaling::ScalingPolicy', {
      PolicyType: 'TargetTrackingScaling',
      TargetTrackingConfiguration: {
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
      },
    });
  });

  it.each<[string, SpotAutoScalingWebAppStackProps, RegExp]>([
    ['the minimum is above the maximum', { minCapacity: 5, maxCapacity: 4 }, /^SpotAutoScalingWebApp: minCapacity \(5\) is above maxCapacity \(4\)/],
    ['the minimum equals the maximum, which leaves a rolling update no room', { minCapacity: 4, maxCapacity: 4 }, /^SpotAutoScalingWebApp: minCapacity and maxCapacity are both 4\./],
    ['the On-Demand base is above the maximum', { onDemandBaseCapacity: 11 }, /^SpotAutoScalingWebApp: onDemandBaseCapacity \(11\) is above maxCapacity \(10\)/],
    ['an instance type does not exist', { instanceTypes: [new InstanceType('m6.large')] }, /instanceTypes.*"m6\.large" names no EC2 instance family/],
    ['the scaling target is 0 requests', { requestsPerTarget: 0 }, /requestsPerTarget must be a whole number of at least 1; got 0/],
    ['the signal timeout is over an hour', { signalTimeout: Duration.minutes(61) }, /signalTimeout must be whole minutes, from 1 to 60; got 61 minutes/],
  ])('fails at synth when %s', (_name, props, message) => {
    expect(() => synth(props)).toThrow(message);
  });
});

describe('updates', () => {
  it('launches the image the pinned-image resource chose, from the ImageId and LatestImageParameter parameters', () => {
    const [[imageId]] = resourcesOfType(template, 'Custom::PinnedImage') as [[string, unknown]];
    template.hasResourceProperties('AWS::EC2::LaunchTemplate', { LaunchTemplateData: Match.objectLike({ ImageId: { 'Fn::GetAtt': [imageId, 'ImageId'] } }) });
    template.hasResourceProperties('Custom::PinnedImage', { Newest: { Ref: 'LatestImageParameter' }, Requested: { Ref: 'ImageId' } });
    expect(templateJson(template).Parameters?.ImageId).toMatchObject({ Type: 'String', Default: '' });
    expect(templateJson(template).Parameters?.LatestImageParameter).toMatchObject({
      Type: 'AWS::SSM::Parameter::Value<AWS::EC2::Image::Id>',
      Default: '/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64',
    });
    // No handover: the rolling update does its job.
    template.resourceCountIs('Custom::SpotFleetHandover', 0);
  });

  it('writes the same template when synthesized again, so that a deploy with no change replaces nothing', () => {
    expect(synth().toJSON()).toEqual(template.toJSON());
  });

  it('rolls a new launch template version or instance types one instance at a time, keeping MinCapacity in service, each counted only once it signals', () => {
    const g = group(template);
    expect(g.UpdatePolicy.AutoScalingRollingUpdate).toMatchObject({
      MaxBatchSize: 1,
      MinInstancesInService: { Ref: 'MinCapacity' },
      WaitOnResourceSignals: true,
      MinSuccessfulInstancesPercent: 100,
      PauseTime: 'PT10M',
    });
    expect(g.CreationPolicy).toEqual({ ResourceSignal: { Count: { Ref: 'MinCapacity' }, Timeout: 'PT10M' }, AutoScalingCreationPolicy: { MinSuccessfulInstancesPercent: 100 } });
    expect(group(synth({ signalTimeout: Duration.minutes(15) })).UpdatePolicy.AutoScalingRollingUpdate).toMatchObject({ PauseTime: 'PT15M' });
  });

  it('signals from user data only after the target group reports the instance healthy', () => {
    const userData = JSON.stringify(resourcesOfType(template, 'AWS::EC2::LaunchTemplate')[0]?.[1]);
    expect(userData).toContain('aws elbv2 describe-target-health');
    expect(userData).toContain(`{"Ref":"${logicalId(template, 'AWS::ElasticLoadBalancingV2::TargetGroup')}"}`);
    expect(userData).toContain(`--resource ${logicalId(template, 'AWS::AutoScaling::AutoScalingGroup')} `);
    expect(userData).toContain('dnf install -y nginx');
  });
});

describe('interruptions', () => {
  it('drains on interruption warnings only: the group launches before it terminates on a rebalance recommendation, and deregisters first', () => {
    const rules = resourcesOfType(template, 'AWS::Events::Rule').filter(([, rule]) => JSON.stringify(rule.EventPattern ?? {}).includes('aws.ec2"'));
    expect(rules.map(([, rule]) => rule.EventPattern)).toEqual([{ source: ['aws.ec2'], 'detail-type': ['EC2 Spot Instance Interruption Warning'] }]);
    template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: { Variables: Match.objectLike({ TARGET_GROUP_ARNS: { Ref: logicalId(template, 'AWS::ElasticLoadBalancingV2::TargetGroup') }, DRAIN_ON_REBALANCE: 'false' }) },
    });
  });

  it('tells people, straight from EventBridge, only about this group\'s failed launches and terminations', () => {
    const topic = logicalId(template, 'AWS::SNS::Topic');
    const toPeople = resourcesOfType(template, 'AWS::Events::Rule').filter(([, rule]) => JSON.stringify(rule.Targets).includes(`"Ref":"${topic}"`));
    expect(toPeople.map(([, rule]) => rule.EventPattern)).toEqual([
      {
        source: ['aws.autoscaling'],
        'detail-type': ['EC2 Instance Launch Unsuccessful', 'EC2 Instance Terminate Unsuccessful'],
        detail: { AutoScalingGroupName: [{ Ref: logicalId(template, 'AWS::AutoScaling::AutoScalingGroup') }] },
      },
    ]);
  });

  it('rehearses an interruption on one running instance carrying the tag only this group\'s launch template gives', () => {
    const tagValue = { 'Fn::Join': ['/', [{ Ref: 'AWS::StackName' }, 'Servers']] };
    template.hasResourceProperties('AWS::EC2::LaunchTemplate', {
      LaunchTemplateData: Match.objectLike({ TagSpecifications: [{ ResourceType: 'instance', Tags: Match.arrayWith([{ Key: 'spotwise:fleet', Value: tagValue }]) }] }),
    });
    template.hasResourceProperties('AWS::FIS::ExperimentTemplate', {
      Targets: { SpotInstances: Match.objectLike({ ResourceTags: { 'spotwise:fleet': tagValue }, SelectionMode: 'COUNT(1)' }) },
    });
    const [fisId, fis] = Object.entries(template.findResources('AWS::FIS::ExperimentTemplate'))[0] as [string, { Condition: string }];
    template.hasOutput('RehearsalTemplateId', { Value: { Ref: fisId }, Condition: fis.Condition });
  });
});

describe('least privilege', () => {
  it('opens no SSH, and admits from addresses only HTTP :80 and, with a certificate, HTTPS :443 to the ALB', () => {
    const rules = ingressRules(template);
    expect(rules.filter((rule) => String(rule.protocol) === '-1' || (Number(rule.fromPort) <= 22 && Number(rule.toPort) >= 22))).toEqual([]);
    expect(rules.filter((rule) => !('SourceSecurityGroupId' in rule.source)).map((rule) => rule.fromPort)).toEqual([80, 443]);
    template.hasResourceProperties('AWS::EC2::LaunchTemplate', { LaunchTemplateData: Match.objectLike({ KeyName: Match.absent(), MetadataOptions: { HttpTokens: 'required', HttpPutResponseHopLimit: 1 } }) });
  });

  it('grants no mutating action on * but what the SSM Agent needs for Session Manager, on the instance role', () => {
    const agent = ['ssm:UpdateInstanceInformation', 'ssmmessages:CreateControlChannel', 'ssmmessages:CreateDataChannel', 'ssmmessages:OpenControlChannel', 'ssmmessages:OpenDataChannel'];
    const readOnly = /^[a-z0-9-]+:(Describe|Get|List)[A-Za-z]*$/;
    for (const [id, policy] of resourcesOfType(template, 'AWS::IAM::Policy')) {
      for (const statement of (policy.PolicyDocument as { Statement: { Action: string | string[]; Resource: unknown }[] }).Statement) {
        if (!([] as unknown[]).concat(statement.Resource).includes('*')) continue;
        for (const action of ([] as string[]).concat(statement.Action)) {
          if (agent.includes(action)) expect(id, `${action} on * outside the instance role`).toMatch(/^ServersInstanceRole/);
          else expect(action, `${id} grants ${action} on *`).toMatch(readOnly);
        }
      }
    }
  });
});

describe('alarms, dashboard and outputs', () => {
  it("tells people through the stack's topic when each of the seven alarms goes off and when it comes back", () => {
    const topic = logicalId(template, 'AWS::SNS::Topic');
    expect(Object.keys(alarmsByPurpose(template)).sort()).toEqual([
      'DrainFailures',
      'Drainer-DeadLetters',
      'FunctionErrors',
      'GroupBelowDesired',
      'LoadBalancer5xx',
      'Target5xx',
      'UnhealthyHosts',
    ]);
    for (const [id, alarm] of resourcesOfType(template, 'AWS::CloudWatch::Alarm')) {
      expect(alarm.AlarmActions, id).toEqual([{ Ref: topic }]);
      expect(alarm.OKActions, id).toEqual([{ Ref: topic }]);
    }
  });

  it('alarms when the group has fewer instances in service than desired for 15 minutes', () => {
    const alarm = alarmsByPurpose(template).GroupBelowDesired as Record<string, unknown> & {
      Metrics: { Id: string; Expression?: string; MetricStat?: { Period: number; Stat: string; Metric: { Namespace: string; MetricName: string; Dimensions: unknown[] } } }[];
    };
    const dimension = { Name: 'AutoScalingGroupName', Value: { Ref: logicalId(template, 'AWS::AutoScaling::AutoScalingGroup') } };
    expect(alarm.Metrics.find((m) => m.Expression !== undefined)?.Expression).toBe('expected - actual');
    expect(alarm.Metrics.find((m) => m.Id === 'expected')?.MetricStat).toEqual({
      Metric: { Namespace: 'AWS/AutoScaling', MetricName: 'GroupDesiredCapacity', Dimensions: [dimension] },
      Period: 60,
      Stat: 'Maximum',
    });
    expect(alarm.Metrics.find((m) => m.Id === 'actual')?.MetricStat).toEqual({
      Metric: { Namespace: 'AWS/AutoScaling', MetricName: 'GroupInServiceInstances', Dimensions: [dimension] },
      Period: 60,
      Stat: 'Minimum',
    });
    expect(alarm).toMatchObject({ Threshold: 1, EvaluationPeriods: 15, TreatMissingData: 'notBreaching' });
  });

  it("sums the errors of all three of the stack's functions", () => {
    const alarm = alarmsByPurpose(template).FunctionErrors as { Metrics: { MetricStat?: { Metric: { Dimensions: { Value: unknown }[] } } }[] };
    const functions = resourcesOfType(template, 'AWS::Lambda::Function').map(([id]) => ({ Ref: id }));
    expect(functions).toHaveLength(3);
    expect(alarm.Metrics.filter((m) => m.MetricStat !== undefined).map((m) => m.MetricStat?.Metric.Dimensions[0]?.Value)).toEqual(expect.arrayContaining(functions));
  });

  it('has a dashboard with the Spot signals and drains and the group\'s desired, in-service and pending instances', () => {
    const [[, props]] = resourcesOfType(template, 'AWS::CloudWatch::Dashboard') as [[string, { DashboardBody: unknown }]];
    const body = JSON.stringify(props.DashboardBody);
    for (const title of ['Requests per AZ', 'Healthy hosts per AZ', 'Spot signals and drains', 'Group capacity: desired, in service, pending']) expect(body).toContain(title);
    for (const metric of ['GroupDesiredCapacity', 'GroupInServiceInstances', 'GroupPendingInstances', 'InstancesDrained']) expect(body).toContain(metric);
  });

  it('outputs the site URL, target group ARN, group name, topic ARN, dashboard URL and rehearsal id', () => {
    expect(Object.keys(templateJson(template).Outputs ?? {}).sort()).toEqual(['AutoScalingGroupName', 'DashboardUrl', 'RehearsalTemplateId', 'SiteUrl', 'TargetGroupArn', 'TopicArn']);
    template.hasOutput('AutoScalingGroupName', { Value: { Ref: logicalId(template, 'AWS::AutoScaling::AutoScalingGroup') } });
  });

  it('leaves the operator alarms, the dashboard and its URL out when operations is false, and keeps the dead-letter alarm', () => {
    const t = synth({ operations: false });
    expect(Object.keys(alarmsByPurpose(t))).toEqual(['Drainer-DeadLetters']);
    t.resourceCountIs('AWS::CloudWatch::Dashboard', 0);
    expect(templateJson(t).Outputs?.DashboardUrl).toBeUndefined();
  });

  it('needs no bootstrap and no assets: all Lambda code is inline', () => {
    for (const [, fn] of resourcesOfType(template, 'AWS::Lambda::Function')) expect(Object.keys(fn.Code as object)).toEqual(['ZipFile']);
    expect(Object.keys(templateJson(template).Parameters ?? {})).not.toContain('BootstrapVersion');
  });
});
