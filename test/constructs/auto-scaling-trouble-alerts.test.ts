import { Stack } from 'aws-cdk-lib/core';
import { Template } from 'aws-cdk-lib/assertions';
import { CfnAutoScalingGroup } from 'aws-cdk-lib/aws-autoscaling';
import type { IAutoScalingGroup } from 'aws-cdk-lib/aws-autoscaling';
import { AutoScalingGroup } from 'aws-cdk-lib/aws-autoscaling';
import { describe, expect, it } from 'vitest';
import { AUTO_SCALING_TROUBLE_DETAIL_TYPES, AutoScalingTroubleAlerts } from '../../lib/constructs/auto-scaling-trouble-alerts';
import { NotificationTopic } from '../../lib/constructs/notification-topic';
import { newApp, resourcesOfType } from '../support/app';

const ACCOUNT = '123456789012';
const REGION = 'us-east-1';
const OUR_GROUP = 'Host-ServersGroupASG-AbCdEf123456';

interface Built {
  readonly stack: Stack;
  readonly group: IAutoScalingGroup;
  readonly cfnGroup: CfnAutoScalingGroup;
  readonly notifications: NotificationTopic;
  readonly alerts: AutoScalingTroubleAlerts;
  readonly template: Template;
}

function build(): Built {
  const stack = new Stack(newApp(), 'Host');
  const cfnGroup = new CfnAutoScalingGroup(stack, 'Group', { minSize: '1', maxSize: '2' });
  const group = AutoScalingGroup.fromAutoScalingGroupName(stack, 'Imported', cfnGroup.ref);
  const notifications = new NotificationTopic(stack, 'Notifications');
  const alerts = new AutoScalingTroubleAlerts(stack, 'GroupTrouble', { group, notifications });
  return { stack, group, cfnGroup, notifications, alerts, template: Template.fromStack(stack) };
}

/** An EC2 Auto Scaling event shaped as in the Auto Scaling User Guide's "EC2 Instance Launch Unsuccessful" example. */
function groupEvent(detailType: string, groupName = OUR_GROUP): Record<string, unknown> {
  return {
    version: '0',
    id: '12345678-1234-1234-1234-123456789012',
    'detail-type': detailType,
    source: 'aws.autoscaling',
    account: ACCOUNT,
    time: '2026-12-01T10:00:00Z',
    region: REGION,
    resources: [`arn:aws:autoscaling:${REGION}:${ACCOUNT}:autoScalingGroup:uuid:autoScalingGroupName/${groupName}`],
    detail: {
      StatusCode: 'Failed',
      AutoScalingGroupName: groupName,
      ActivityId: 'activity',
      Details: { 'Availability Zone': 'us-east-1a', 'Subnet ID': 'subnet-12345678' },
      RequestId: 'request',
      StatusMessage: 'We currently do not have sufficient c6i.large capacity in the Availability Zone you requested.',
      EndTime: '2026-12-01T10:00:00Z',
      EC2InstanceId: '',
      StartTime: '2026-12-01T09:59:58Z',
      Cause: 'At 2026-12-01T09:59:58Z an instance was started in response to a difference between desired and actual capacity.',
    },
  };
}

/** The rule's pattern, with the group's Ref as its deployed name. */
function patternOf(built: Built): Record<string, unknown> {
  const [[, rule]] = resourcesOfType(built.template, 'AWS::Events::Rule') as [[string, { EventPattern: Record<string, unknown> }]];
  const text = JSON.stringify(rule.EventPattern).replace(JSON.stringify({ Ref: built.stack.getLogicalId(built.cfnGroup) }), JSON.stringify(OUR_GROUP));
  return JSON.parse(text) as Record<string, unknown>;
}

/** EventBridge's exact-value matching, the only pattern syntax the rule uses; anything else is refused. */
function matches(pattern: Record<string, unknown>, event: Record<string, unknown>): boolean {
  return Object.entries(pattern).every(([key, expected]) => {
    const actual = event[key];
    if (Array.isArray(expected) && expected.every((v) => typeof v === 'string')) return (expected as unknown[]).includes(actual);
    if (typeof expected === 'object' && expected !== null && !Array.isArray(expected)) {
      return typeof actual === 'object' && actual !== null && matches(expected as Record<string, unknown>, actual as Record<string, unknown>);
    }
    throw new Error(`unsupported pattern syntax at ${key}: ${JSON.stringify(expected)}`);
  });
}

describe('rule', () => {
  it('matches failed launches and terminations of this group, by its name', () => {
    const built = build();
    const [[, rule]] = resourcesOfType(built.template, 'AWS::Events::Rule') as [[string, { EventPattern: unknown }]];
    expect(rule.EventPattern).toEqual({
      source: ['aws.autoscaling'],
      'detail-type': ['EC2 Instance Launch Unsuccessful', 'EC2 Instance Terminate Unsuccessful'],
      detail: { AutoScalingGroupName: [{ Ref: built.stack.getLogicalId(built.cfnGroup) }] },
    });
    expect(AUTO_SCALING_TROUBLE_DETAIL_TYPES).toEqual(['EC2 Instance Launch Unsuccessful', 'EC2 Instance Terminate Unsuccessful']);
  });

  it.each(AUTO_SCALING_TROUBLE_DETAIL_TYPES)('matches "%s" of this group', (detailType) => {
    expect(matches(patternOf(build()), groupEvent(detailType))).toBe(true);
  });

  it('never matches another group\'s failed launch: a foreign group\'s events cause no message', () => {
    expect(matches(patternOf(build()), groupEvent('EC2 Instance Launch Unsuccessful', 'someone-elses-group'))).toBe(false);
  });

  it.each(['EC2 Instance Launch Successful', 'EC2 Instance Terminate Successful', 'EC2 Instance-launch Lifecycle Action'])(
    'does not match "%s" of this group, which is routine',
    (detailType) => {
      expect(matches(patternOf(build()), groupEvent(detailType))).toBe(false);
    },
  );
});

describe('message', () => {
  it('sends one readable message per event to the topic, naming the group, the stack, what failed, when, and why', () => {
    const { stack, notifications, template } = build();
    const [[, rule]] = resourcesOfType(template, 'AWS::Events::Rule') as [[string, { Targets: Record<string, unknown>[] }]];
    expect(rule.Targets).toHaveLength(1);
    const [target] = rule.Targets;
    expect(target?.Arn).toEqual({ Ref: stack.getLogicalId(notifications.topic.node.defaultChild as never) });
    const transformer = target?.InputTransformer as { InputPathsMap: Record<string, string>; InputTemplate: { 'Fn::Join': [string, unknown[]] } };
    expect(transformer.InputPathsMap).toEqual({
      'detail-type': '$.detail-type',
      time: '$.time',
      'detail-StatusMessage': '$.detail.StatusMessage',
      'detail-Cause': '$.detail.Cause',
    });
    const event = groupEvent('EC2 Instance Launch Unsuccessful');
    const at = (path: string): unknown => path.slice(2).split('.').reduce<unknown>((o, key) => (o as Record<string, unknown>)[key], event);
    const inputTemplate = transformer.InputTemplate['Fn::Join'][1]
      .map((part) => (typeof part === 'string' ? part : (part as { Ref: string }).Ref === 'AWS::StackName' ? 'Host' : OUR_GROUP))
      .join('');
    const filled = inputTemplate.replace(/<([\w-]+)>/g, (_, name: string) => String(at(transformer.InputPathsMap[name] ?? '')));
    expect(JSON.parse(filled)).toBe(
      `Auto Scaling group ${OUR_GROUP} of Host: EC2 Instance Launch Unsuccessful at 2026-12-01T10:00:00Z. ` +
        'We currently do not have sufficient c6i.large capacity in the Availability Zone you requested. ' +
        '(At 2026-12-01T09:59:58Z an instance was started in response to a difference between desired and actual capacity.)',
    );
  });

  it('lets this rule alone publish to the topic', () => {
    const { stack, alerts, notifications, template } = build();
    const [[, policy]] = resourcesOfType(template, 'AWS::SNS::TopicPolicy') as [[string, { PolicyDocument: { Statement: Record<string, unknown>[] } }]];
    const fromEvents = policy.PolicyDocument.Statement.filter((s) => JSON.stringify(s.Principal) === '{"Service":"events.amazonaws.com"}');
    expect(fromEvents.map(({ Sid: _sid, ...s }) => s)).toEqual([
      {
        Effect: 'Allow',
        Principal: { Service: 'events.amazonaws.com' },
        Action: 'sns:Publish',
        Resource: { Ref: stack.getLogicalId(notifications.topic.node.defaultChild as never) },
        Condition: { ArnEquals: { 'aws:SourceArn': { 'Fn::GetAtt': [stack.getLogicalId(alerts.rule.node.defaultChild as never), 'Arn'] } } },
      },
    ]);
  });
});
