import type { CfnCondition } from 'aws-cdk-lib/core';
import { Duration, Stack } from 'aws-cdk-lib/core';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { Alarm, Metric } from 'aws-cdk-lib/aws-cloudwatch';
import { Rule, RuleTargetInput, Schedule } from 'aws-cdk-lib/aws-events';
import { Queue } from 'aws-cdk-lib/aws-sqs';
import { describe, expect, it } from 'vitest';
import { NotificationTopic, notificationEmailParameter } from '../../lib/constructs/notification-topic';
import { newApp, resourcesOfType, templateJson } from '../support/app';

type Statement = Record<string, unknown>;

function topicStatements(template: Template): Statement[] {
  const [[, policy]] = resourcesOfType(template, 'AWS::SNS::TopicPolicy') as [[string, { PolicyDocument: { Statement: Statement[] } }]];
  return policy.PolicyDocument.Statement;
}

function keyStatements(template: Template): Statement[] {
  const [[, key]] = resourcesOfType(template, 'AWS::KMS::Key') as [[string, { KeyPolicy: { Statement: Statement[] } }]];
  return key.KeyPolicy.Statement;
}

function from(service: string, statements: Statement[]): Statement[] {
  return statements.filter((s) => JSON.stringify(s.Principal) === JSON.stringify({ Service: service }));
}

/** Drops the statement ids CDK numbers topic policy statements with, which say nothing about access. */
function withoutSid(statements: Statement[]): Statement[] {
  return statements.map(({ Sid: _sid, ...rest }) => rest);
}

function newAlarm(stack: Stack, purpose: string): Alarm {
  return new Alarm(stack, purpose, {
    alarmName: NotificationTopic.alarmName(purpose),
    metric: new Metric({ namespace: 'Test', metricName: 'Things', period: Duration.minutes(1) }),
    threshold: 1,
    evaluationPeriods: 1,
  });
}

/** `arn:aws:cloudwatch:us-east-1:123456789012:alarm:Host-*` and the like, resolved for stack `Host`. */
function resolved(value: unknown): string {
  const refs: Record<string, string> = { 'AWS::Partition': 'aws', 'AWS::Region': 'us-east-1', 'AWS::AccountId': '123456789012', 'AWS::StackName': 'Host' };
  if (typeof value === 'string') return value;
  const object = value as { Ref?: string; 'Fn::Join'?: [string, unknown[]] };
  if (object.Ref !== undefined && refs[object.Ref] !== undefined) return refs[object.Ref] as string;
  if (object['Fn::Join'] !== undefined) return object['Fn::Join'][1].map(resolved).join(object['Fn::Join'][0]);
  throw new Error(`cannot resolve ${JSON.stringify(value)}`);
}

/** IAM's ArnLike: `*` any run of characters, `?` any one. */
function arnLike(pattern: string, arn: string): boolean {
  const regex = pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.');
  return new RegExp(`^${regex}$`).test(arn);
}

function setup(): { stack: Stack; topic: NotificationTopic } {
  const stack = new Stack(newApp(), 'Host');
  return { stack, topic: new NotificationTopic(stack, 'Notifications') };
}

describe('NotificationTopic', () => {
  it("lets the account's IAM policies administer and use the key, and create grants only for AWS services", () => {
    const { stack } = setup();
    const account = { AWS: { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':iam::', { Ref: 'AWS::AccountId' }, ':root']] } };
    const statements = keyStatements(Template.fromStack(stack));
    expect(statements).toEqual([
      { Sid: 'AccountIamPoliciesExceptCreateGrant', Effect: 'Allow', Principal: account, NotAction: 'kms:CreateGrant', Resource: '*' },
      {
        Sid: 'CreateGrantForAwsServicesOnly',
        Effect: 'Allow',
        Principal: account,
        Action: 'kms:CreateGrant',
        Resource: '*',
        Condition: { Bool: { 'kms:GrantIsForAWSResource': 'true' } },
      },
    ]);
    // No statement anywhere in the policy allows kms:* or an unconditioned CreateGrant.
    expect(JSON.stringify(statements)).not.toContain('"kms:*"');
  });

  it('keeps the grant rule when EventBridge and CloudWatch are admitted', () => {
    const { stack, topic } = setup();
    topic.notifyOnAlarm(newAlarm(stack, 'Purpose'));
    topic.notifyOn(new Rule(stack, 'Rule', { schedule: Schedule.rate(Duration.minutes(1)) }), RuleTargetInput.fromText('hello'));
    const statements = keyStatements(Template.fromStack(stack));
    const granting = statements.filter((s) => JSON.stringify(s.Action ?? '').includes('kms:CreateGrant') || JSON.stringify(s.Action ?? '').includes('kms:*'));
    expect(granting).toEqual([expect.objectContaining({ Sid: 'CreateGrantForAwsServicesOnly', Condition: { Bool: { 'kms:GrantIsForAWSResource': 'true' } } })]);
  });

  it('admits EventBridge to neither topic nor key until a rule is wired', () => {
    const { stack } = setup();
    const json = JSON.stringify(Template.fromStack(stack).toJSON());
    expect(json).not.toContain('events.amazonaws.com');
  });

  it('lets only the rules given to notifyOn publish, and EventBridge use the key once', () => {
    const { stack, topic } = setup();
    const rules = [0, 1].map((i) => new Rule(stack, `Rule${i}`, { schedule: Schedule.expression('rate(1 hour)') }));
    const dlq = new Queue(stack, 'Dlq');
    for (const rule of rules) topic.notifyOn(rule, RuleTargetInput.fromText('hello'), { deadLetterQueue: dlq, retryAttempts: 2 });
    const template = Template.fromStack(stack);

    const [[, policy]] = resourcesOfType(template, 'AWS::SNS::TopicPolicy') as [[string, { PolicyDocument: { Statement: Record<string, unknown>[] } }]];
    const allows = policy.PolicyDocument.Statement.filter((s) => s.Effect === 'Allow');
    expect(allows.map((s) => (s.Condition as { ArnEquals: Record<string, unknown> }).ArnEquals['aws:SourceArn'])).toEqual(
      rules.map((rule) => ({ 'Fn::GetAtt': [stack.getLogicalId(rule.node.defaultChild as never), 'Arn'] })),
    );
    const [[, key]] = resourcesOfType(template, 'AWS::KMS::Key') as [[string, { KeyPolicy: { Statement: { Principal?: unknown }[] } }]];
    expect(key.KeyPolicy.Statement.filter((s) => JSON.stringify(s.Principal).includes('events.amazonaws.com'))).toEqual([
      { Effect: 'Allow', Principal: { Service: 'events.amazonaws.com' }, Action: ['kms:Decrypt', 'kms:GenerateDataKey*'], Resource: '*' },
    ]);
    template.hasResourceProperties('AWS::Events::Rule', {
      Targets: [Match.objectLike({ Input: '"hello"', DeadLetterConfig: Match.anyValue(), RetryPolicy: { MaximumRetryAttempts: 2 } })],
    });
  });

  it('keeps the EventBridge key statement unconditioned and the topic statement conditioned on the rule, beside alarms', () => {
    const { stack, topic } = setup();
    const rule = new Rule(stack, 'Rule', { schedule: Schedule.expression('rate(1 hour)') });
    topic.notifyOn(rule, RuleTargetInput.fromText('hello'));
    topic.notifyOnAlarm(newAlarm(stack, 'Things'));
    const template = Template.fromStack(stack);
    expect(from('events.amazonaws.com', keyStatements(template))).toEqual([
      { Effect: 'Allow', Principal: { Service: 'events.amazonaws.com' }, Action: ['kms:Decrypt', 'kms:GenerateDataKey*'], Resource: '*' },
    ]);
    expect(withoutSid(from('events.amazonaws.com', topicStatements(template)))).toEqual([
      {
        Effect: 'Allow',
        Principal: { Service: 'events.amazonaws.com' },
        Action: 'sns:Publish',
        Resource: { Ref: stack.getLogicalId(topic.topic.node.defaultChild as never) },
        Condition: { ArnEquals: { 'aws:SourceArn': { 'Fn::GetAtt': [stack.getLogicalId(rule.node.defaultChild as never), 'Arn'] } } },
      },
    ]);
  });
});

describe('alarms', () => {
  const fromOurAlarms = {
    StringEquals: { 'aws:SourceAccount': { Ref: 'AWS::AccountId' } },
    ArnLike: {
      'aws:SourceArn': {
        'Fn::Join': [
          '',
          ['arn:', { Ref: 'AWS::Partition' }, ':cloudwatch:', { Ref: 'AWS::Region' }, ':', { Ref: 'AWS::AccountId' }, ':alarm:', { Ref: 'AWS::StackName' }, '-*'],
        ],
      },
    },
  };

  it('names an alarm <stack name>-<purpose>', () => {
    const { stack } = setup();
    expect(stack.resolve(NotificationTopic.alarmName('Target5xx'))).toEqual({ 'Fn::Join': ['', [{ Ref: 'AWS::StackName' }, '-Target5xx']] });
  });

  it('admits CloudWatch to neither topic nor key until an alarm is wired', () => {
    const { stack } = setup();
    expect(JSON.stringify(Template.fromStack(stack).toJSON())).not.toContain('cloudwatch.amazonaws.com');
  });

  it('tells the topic when the alarm goes off and when it comes back', () => {
    const { stack, topic } = setup();
    topic.notifyOnAlarm(newAlarm(stack, 'Things'));
    Template.fromStack(stack).hasResourceProperties('AWS::CloudWatch::Alarm', {
      AlarmName: { 'Fn::Join': ['', [{ Ref: 'AWS::StackName' }, '-Things']] },
      AlarmActions: [{ Ref: stack.getLogicalId(topic.topic.node.defaultChild as never) }],
      OKActions: [{ Ref: stack.getLogicalId(topic.topic.node.defaultChild as never) }],
      InsufficientDataActions: Match.absent(),
    });
  });

  it('lets CloudWatch publish and use the key, once however many alarms, only for this account\'s alarms named for this stack', () => {
    const { stack, topic } = setup();
    topic.notifyOnAlarm(newAlarm(stack, 'One'));
    topic.notifyOnAlarm(newAlarm(stack, 'Two'));
    const template = Template.fromStack(stack);
    expect(from('cloudwatch.amazonaws.com', keyStatements(template))).toEqual([
      {
        Effect: 'Allow',
        Principal: { Service: 'cloudwatch.amazonaws.com' },
        Action: ['kms:Decrypt', 'kms:GenerateDataKey*'],
        Resource: '*',
        Condition: fromOurAlarms,
      },
    ]);
    expect(withoutSid(from('cloudwatch.amazonaws.com', topicStatements(template)))).toEqual([
      {
        Effect: 'Allow',
        Principal: { Service: 'cloudwatch.amazonaws.com' },
        Action: 'sns:Publish',
        Resource: { Ref: stack.getLogicalId(topic.topic.node.defaultChild as never) },
        Condition: fromOurAlarms,
      },
    ]);
    // The topic policy otherwise only denies publishing without TLS.
    expect(topicStatements(template).filter((s) => s.Effect === 'Allow')).toHaveLength(1);
  });

  it('admits the ARN of an alarm named with alarmName, and not one named for another stack', () => {
    const { stack, topic } = setup();
    topic.notifyOnAlarm(newAlarm(stack, 'Things'));
    const template = Template.fromStack(stack);
    const [statement] = from('cloudwatch.amazonaws.com', topicStatements(template));
    const pattern = resolved((statement?.Condition as typeof fromOurAlarms).ArnLike['aws:SourceArn']);
    const [[, alarm]] = resourcesOfType(template, 'AWS::CloudWatch::Alarm') as [[string, { AlarmName: unknown }]];
    const arn = (name: string): string => `arn:aws:cloudwatch:us-east-1:123456789012:alarm:${name}`;
    expect(arnLike(pattern, arn(resolved(alarm.AlarmName)))).toBe(true);
    expect(arnLike(pattern, arn('Other-Things'))).toBe(false);
    expect(arnLike(pattern, arn('Host'))).toBe(false);
  });
});

describe('notificationEmailParameter', () => {
  function parameter(): Record<string, unknown> {
    const stack = new Stack(newApp(), 'Host');
    notificationEmailParameter(stack, 'alarms');
    return templateJson(Template.fromStack(stack)).Parameters?.NotificationEmail as Record<string, unknown>;
  }

  it('is an optional NotificationEmail string parameter that says what it is told about', () => {
    expect(parameter()).toEqual({
      Type: 'String',
      Default: '',
      Description: 'Optional: an email address to tell about alarms. Leave empty for none.',
      AllowedPattern: '^$|^[^\\s@]+@[^\\s@]+\\.[^\\s@]+$',
      ConstraintDescription: 'must be empty or an email address',
    });
  });

  it.each(['', 'ops@example.com', 'first.last+spotwise@mail.example.co.uk'])('allows %j', (value) => {
    expect(new RegExp(parameter().AllowedPattern as string).test(value)).toBe(true);
  });

  it.each(['ops', 'ops@example', 'ops @example.com', 'ops@example.com ', '@example.com', 'a@b@c.d'])('refuses %j', (value) => {
    expect(new RegExp(parameter().AllowedPattern as string).test(value)).toBe(false);
  });

  it('makes the subscription conditional on a non-empty value when passed as the email', () => {
    const stack = new Stack(newApp(), 'Host');
    const email = notificationEmailParameter(stack, 'alarms');
    const topic = new NotificationTopic(stack, 'Notifications', { email: email.valueAsString });
    const json = templateJson(Template.fromStack(stack));
    const condition = stack.resolve((topic.node.findChild('HasEmail') as CfnCondition).logicalId) as string;
    expect(json.Conditions).toEqual({ [condition]: { 'Fn::Not': [{ 'Fn::Equals': [{ Ref: 'NotificationEmail' }, ''] }] } });
    const subscriptions = Object.values(json.Resources).filter((r) => r.Type === 'AWS::SNS::Subscription');
    expect(subscriptions.map((r) => [r.Condition, r.Properties?.Protocol, r.Properties?.Endpoint])).toEqual([[condition, 'email', { Ref: 'NotificationEmail' }]]);
  });
});

