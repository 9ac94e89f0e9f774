import { Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { Rule, RuleTargetInput, Schedule } from 'aws-cdk-lib/aws-events';
import { Queue } from 'aws-cdk-lib/aws-sqs';
import { describe, expect, it } from 'vitest';
import { NotificationTopic } from '../../lib/constructs/notification-topic';
import { newApp, resourcesOfType } from '../support/app';

function setup(): { stack: Stack; topic: NotificationTopic } {
  const stack = new Stack(newApp(), 'Host');
  return { stack, topic: new NotificationTopic(stack, 'Notifications') };
}

describe('NotificationTopic', () => {
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
});
