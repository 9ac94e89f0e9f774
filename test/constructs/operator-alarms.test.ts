import { Duration, Stack } from 'aws-cdk-lib/core';
import { Template } from 'aws-cdk-lib/assertions';
import { ComparisonOperator, Metric, TreatMissingData } from 'aws-cdk-lib/aws-cloudwatch';
import { Vpc } from 'aws-cdk-lib/aws-ec2';
import { ApplicationTargetGroup, TargetType } from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import { Code, Function as LambdaFunction, Runtime } from 'aws-cdk-lib/aws-lambda';
import { describe, expect, it } from 'vitest';
import { NotificationTopic } from '../../lib/constructs/notification-topic';
import { OperatorAlarms } from '../../lib/constructs/operator-alarms';
import { WebLoadBalancer } from '../../lib/constructs/web-load-balancer';
import { SpotInterruptionDrainer } from '../../lib/constructs/spot-interruption-drainer';
import { fleetBehindLoadBalancer, newApp, resourcesOfType, templateJson } from '../support/app';
import { alarmsByPurpose } from '../support/constructs';

interface Built {
  readonly stack: Stack;
  readonly notifications: NotificationTopic;
  readonly alarms: OperatorAlarms;
}

function setup(): Built {
  const stack = new Stack(newApp(), 'Host');
  const notifications = new NotificationTopic(stack, 'Notifications');
  return { stack, notifications, alarms: new OperatorAlarms(stack, 'Alarms', { notifications }) };
}

function id(stack: Stack, construct: { node: { defaultChild?: unknown } }): string {
  return stack.getLogicalId(construct.node.defaultChild as never);
}

/** Alarm properties by the purpose in their name, `<stack name>-<purpose>`. */
function alarmsOf(stack: Stack): Record<string, Record<string, unknown>> {
  return alarmsByPurpose(Template.fromStack(stack));
}

const metric = new Metric({ namespace: 'Test', metricName: 'Things', period: Duration.minutes(1), statistic: 'Sum' });

describe('add', () => {
  it('names the alarm <stack name>-<purpose> and tells the topic when it goes off and when it comes back', () => {
    const { stack, notifications, alarms } = setup();
    const alarm = alarms.add('Things', { metric, description: 'Too many things.', threshold: 3 });
    const topic = { Ref: id(stack, notifications.topic) };
    expect(templateJson(Template.fromStack(stack)).Resources[id(stack, alarm)]?.Properties).toEqual({
      AlarmName: { 'Fn::Join': ['', [{ Ref: 'AWS::StackName' }, '-Things']] },
      AlarmDescription: 'Too many things.',
      Namespace: 'Test',
      MetricName: 'Things',
      Period: 60,
      Statistic: 'Sum',
      Threshold: 3,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      EvaluationPeriods: 1,
      TreatMissingData: 'notBreaching',
      AlarmActions: [topic],
      OKActions: [topic],
    });
    expect(alarms.alarms.get('Things')).toBe(alarm);
  });

  it('takes the comparison, periods, datapoints and missing-data treatment it is given', () => {
    const { stack, alarms } = setup();
    alarms.add('Few', {
      metric,
      description: 'Too few things.',
      threshold: 1,
      comparisonOperator: ComparisonOperator.LESS_THAN_THRESHOLD,
      evaluationPeriods: 5,
      datapointsToAlarm: 2,
      treatMissingData: TreatMissingData.BREACHING,
    });
    expect(alarmsOf(stack).Few).toMatchObject({
      ComparisonOperator: 'LessThanThreshold',
      EvaluationPeriods: 5,
      DatapointsToAlarm: 2,
      TreatMissingData: 'breaching',
    });
  });

  it('lets CloudWatch publish to the topic through one statement however many alarms there are', () => {
    const { stack, alarms } = setup();
    alarms.add('One', { metric, description: 'One.', threshold: 1 });
    alarms.add('Two', { metric, description: 'Two.', threshold: 1 });
    const template = Template.fromStack(stack);
    const [[, policy]] = resourcesOfType(template, 'AWS::SNS::TopicPolicy') as [[string, { PolicyDocument: { Statement: { Principal?: unknown }[] } }]];
    expect(policy.PolicyDocument.Statement.filter((s) => JSON.stringify(s.Principal) === '{"Service":"cloudwatch.amazonaws.com"}')).toHaveLength(1);
  });

  it.each(['', 'has space', 'under_score', 'x'.repeat(65), 'Ünicode'])('fails when the purpose %j is not 1 to 64 letters, digits or hyphens', (purpose) => {
    const { alarms } = setup();
    expect(() => alarms.add(purpose, { metric, description: 'x', threshold: 1 })).toThrow(
      `Host/Alarms: alarm purpose "${purpose}" must be 1 to 64 letters, digits or hyphens: it becomes part of the alarm's name.`,
    );
  });

  it('accepts a purpose of 64 letters, digits and hyphens', () => {
    const { alarms } = setup();
    expect(() => alarms.add(`A-1${'b'.repeat(61)}`, { metric, description: 'x', threshold: 1 })).not.toThrow();
  });

  it('fails when a purpose is used twice', () => {
    const { alarms } = setup();
    alarms.add('Twice', { metric, description: 'x', threshold: 1 });
    expect(() => alarms.add('Twice', { metric, description: 'x', threshold: 1 })).toThrow(
      /^Host\/Alarms: an alarm for "Twice" exists already; give each alarm its own purpose\.$/,
    );
  });

  it('fails when more datapoints must breach than there are periods, which CloudWatch would refuse at deploy', () => {
    const { alarms } = setup();
    expect(() => alarms.add('Many', { metric, description: 'x', threshold: 1, evaluationPeriods: 3, datapointsToAlarm: 4 })).toThrow(
      /^Host\/Alarms: alarm "Many": datapointsToAlarm \(4\) must be from 1 to evaluationPeriods \(3\)\.$/,
    );
    expect(() => alarms.add('Enough', { metric, description: 'x', threshold: 1, evaluationPeriods: 3, datapointsToAlarm: 3 })).not.toThrow();
  });
});

describe('addLoadBalancer', () => {
  function withLoadBalancer(): Built & { web: WebLoadBalancer; byPurpose: Record<string, Record<string, unknown>> } {
    const built = setup();
    const vpc = new Vpc(built.stack, 'Vpc', { maxAzs: 2, natGateways: 0, restrictDefaultSecurityGroup: false });
    const web = new WebLoadBalancer(built.stack, 'Web', { vpc, targetType: TargetType.IP });
    built.alarms.addLoadBalancer(web);
    return { ...built, web, byPurpose: alarmsOf(built.stack) };
  }

  it('adds three alarms, each to the topic both ways', () => {
    const { stack, notifications, byPurpose } = withLoadBalancer();
    expect(Object.keys(byPurpose).sort()).toEqual(['LoadBalancer5xx', 'Target5xx', 'UnhealthyHosts']);
    const topic = { Ref: id(stack, notifications.topic) };
    for (const alarm of Object.values(byPurpose)) expect(alarm).toMatchObject({ AlarmActions: [topic], OKActions: [topic] });
  });

  it('goes off on 10+ load balancer 5xx a minute in 3 of 5 minutes, dimensioned by the load balancer\'s full name alone', () => {
    const { stack, web, byPurpose } = withLoadBalancer();
    expect(byPurpose.LoadBalancer5xx).toMatchObject({
      Namespace: 'AWS/ApplicationELB',
      MetricName: 'HTTPCode_ELB_5XX_Count',
      Dimensions: [{ Name: 'LoadBalancer', Value: { 'Fn::GetAtt': [id(stack, web.loadBalancer), 'LoadBalancerFullName'] } }],
      Statistic: 'Sum',
      Period: 60,
      Threshold: 10,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      EvaluationPeriods: 5,
      DatapointsToAlarm: 3,
      TreatMissingData: 'notBreaching',
    });
  });

  it('goes off on 10+ target 5xx a minute in 3 of 5 minutes, dimensioned by load balancer and target group', () => {
    const { stack, web, byPurpose } = withLoadBalancer();
    expect(byPurpose.Target5xx).toMatchObject({
      Namespace: 'AWS/ApplicationELB',
      MetricName: 'HTTPCode_Target_5XX_Count',
      Dimensions: [
        { Name: 'LoadBalancer', Value: { 'Fn::GetAtt': [id(stack, web.loadBalancer), 'LoadBalancerFullName'] } },
        { Name: 'TargetGroup', Value: { 'Fn::GetAtt': [id(stack, web.targetGroup), 'TargetGroupFullName'] } },
      ],
      Statistic: 'Sum',
      Period: 60,
      Threshold: 10,
      EvaluationPeriods: 5,
      DatapointsToAlarm: 3,
      TreatMissingData: 'notBreaching',
    });
  });

  it('goes off when a target has been unhealthy every minute for 5 minutes', () => {
    const { stack, web, byPurpose } = withLoadBalancer();
    expect(byPurpose.UnhealthyHosts).toMatchObject({
      Namespace: 'AWS/ApplicationELB',
      MetricName: 'UnHealthyHostCount',
      Dimensions: [
        { Name: 'LoadBalancer', Value: { 'Fn::GetAtt': [id(stack, web.loadBalancer), 'LoadBalancerFullName'] } },
        { Name: 'TargetGroup', Value: { 'Fn::GetAtt': [id(stack, web.targetGroup), 'TargetGroupFullName'] } },
      ],
      Statistic: 'Maximum',
      Period: 60,
      Threshold: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      EvaluationPeriods: 5,
      TreatMissingData: 'notBreaching',
    });
    expect(byPurpose.UnhealthyHosts?.DatapointsToAlarm).toBeUndefined();
  });
});

describe('addFunctionErrors', () => {
  function functions(stack: Stack, count: number): LambdaFunction[] {
    return Array.from({ length: count }, (_, i) => new LambdaFunction(stack, `Fn${i}`, { runtime: Runtime.NODEJS_22_X, handler: 'index.handler', code: Code.fromInline('exports.handler = async () => {};') }));
  }

  it('adds no alarm for no functions', () => {
    const { stack, alarms } = setup();
    alarms.addFunctionErrors([]);
    Template.fromStack(stack).resourceCountIs('AWS::CloudWatch::Alarm', 0);
    expect(alarms.alarms.size).toBe(0);
  });

  it('adds one alarm on 1+ error in 5 minutes of any function, each filled with 0 where it has no data', () => {
    const { stack, alarms } = setup();
    const fns = functions(stack, 2);
    alarms.addFunctionErrors(fns);
    const errors = (i: number): Record<string, unknown> => ({
      Id: `e${i}`,
      MetricStat: {
        Metric: { Namespace: 'AWS/Lambda', MetricName: 'Errors', Dimensions: [{ Name: 'FunctionName', Value: { Ref: id(stack, fns[i]!) } }] },
        Period: 300,
        Stat: 'Sum',
      },
      ReturnData: false,
    });
    expect(alarmsOf(stack).FunctionErrors).toMatchObject({
      Metrics: [{ Id: 'expr_1', Expression: 'FILL(e0,0)+FILL(e1,0)', Label: 'Errors', ReturnData: true }, errors(0), errors(1)],
      Threshold: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      EvaluationPeriods: 1,
      TreatMissingData: 'notBreaching',
    });
  });

  it('watches a single function the same way', () => {
    const { stack, alarms } = setup();
    alarms.addFunctionErrors(functions(stack, 1));
    const [expression] = alarmsOf(stack).FunctionErrors?.Metrics as { Expression: string }[];
    expect(expression?.Expression).toBe('FILL(e0,0)');
  });
});

describe('addShortfall', () => {
  const expected = new Metric({ namespace: 'Test', metricName: 'Desired', dimensionsMap: { Service: 'web' } });
  const actual = new Metric({ namespace: 'Test', metricName: 'Running', dimensionsMap: { Service: 'web' } });
  const stat = (metricName: string, statistic: string, period: number): Record<string, unknown> => ({
    Metric: { Namespace: 'Test', MetricName: metricName, Dimensions: [{ Name: 'Service', Value: 'web' }] },
    Period: period,
    Stat: statistic,
  });

  it('goes off when the most expected exceeds the fewest actual by 1+ every minute for the periods given, missing data counting against', () => {
    const { stack, alarms } = setup();
    const alarm = alarms.addShortfall('RunningBelowDesired', { expected, actual, periods: 5, description: 'Fewer running than desired.' });
    expect(alarms.alarms.get('RunningBelowDesired')).toBe(alarm);
    expect(alarmsOf(stack).RunningBelowDesired).toMatchObject({
      AlarmDescription: 'Fewer running than desired.',
      Metrics: [
        { Id: 'expr_1', Expression: 'expected - actual', Label: 'Shortfall', ReturnData: true },
        { Id: 'expected', MetricStat: stat('Desired', 'Maximum', 60), ReturnData: false },
        { Id: 'actual', MetricStat: stat('Running', 'Minimum', 60), ReturnData: false },
      ],
      Threshold: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      EvaluationPeriods: 5,
      TreatMissingData: 'breaching',
    });
  });

  it('takes how a missing data point counts', () => {
    const { stack, alarms } = setup();
    alarms.addShortfall('Sparse', { expected, actual, periods: 3, description: 'x', treatMissingData: TreatMissingData.NOT_BREACHING });
    expect(alarmsOf(stack).Sparse?.TreatMissingData).toBe('notBreaching');
  });

  it('takes the period both metrics publish at', () => {
    const { stack, alarms } = setup();
    alarms.addShortfall('Slow', { expected, actual, periods: 3, period: Duration.minutes(5), description: 'x' });
    const metrics = alarmsOf(stack).Slow?.Metrics as { MetricStat?: { Period: number } }[];
    expect(metrics.map((m) => m.MetricStat?.Period)).toEqual([undefined, 300, 300]);
  });

  it('fails when the purpose is not usable in an alarm name', () => {
    const { alarms } = setup();
    expect(() => alarms.addShortfall('bad purpose', { expected, actual, periods: 5, description: 'x' })).toThrow(/^Host\/Alarms: alarm purpose "bad purpose"/);
  });
});

describe('addFleet', () => {
  it("goes off when the fleet's most target exceeds its fewest fulfilled capacity for three of EC2's five-minute points, a gap raising nothing", () => {
    const { stack, alarms } = setup();
    const { fleet } = fleetBehindLoadBalancer(stack);
    alarms.addFleet(fleet);
    const dimensions = [{ Name: 'FleetRequestId', Value: { Ref: stack.getLogicalId(fleet.fleet) } }];
    expect(alarmsOf(stack).FleetBelowTarget).toMatchObject({
      Metrics: [
        { Expression: 'expected - actual', ReturnData: true },
        { Id: 'expected', MetricStat: { Metric: { Namespace: 'AWS/EC2Spot', MetricName: 'TargetCapacity', Dimensions: dimensions }, Period: 300, Stat: 'Maximum' } },
        { Id: 'actual', MetricStat: { Metric: { Namespace: 'AWS/EC2Spot', MetricName: 'FulfilledCapacity', Dimensions: dimensions }, Period: 300, Stat: 'Minimum' } },
      ],
      Threshold: 1,
      EvaluationPeriods: 3,
      TreatMissingData: 'notBreaching',
    });
  });
});

describe('addDrainer', () => {
  it("goes off on any message the drainer hands back as failed in a minute, under the dimensions it publishes with", () => {
    const { stack, alarms } = setup();
    const drainer = new SpotInterruptionDrainer(stack, 'Drainer', {
      targetGroups: [ApplicationTargetGroup.fromTargetGroupAttributes(stack, 'Tg', { targetGroupArn: 'arn:aws:elasticloadbalancing:us-east-2:123456789012:targetgroup/web/0123456789abcdef' })],
    });
    alarms.addDrainer(drainer);
    expect(alarmsOf(stack).DrainFailures).toMatchObject({
      Namespace: 'Spotwise',
      MetricName: 'Failures',
      Dimensions: [
        { Name: 'Stack', Value: { Ref: 'AWS::StackName' } },
        { Name: 'service', Value: 'spot-interruption-drainer' },
      ],
      Statistic: 'Sum',
      Period: 60,
      Threshold: 1,
      EvaluationPeriods: 1,
      TreatMissingData: 'notBreaching',
    });
  });
});
