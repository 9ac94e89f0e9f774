import { Duration, Stack } from 'aws-cdk-lib/core';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Topic } from 'aws-cdk-lib/aws-sns';
import { Queue } from 'aws-cdk-lib/aws-sqs';
import type { IConstruct } from 'constructs';
import { describe, expect, it } from 'vitest';
import type { SpotInterruptionNotifierProps } from '../../lib/constructs/spot-interruption-notifier';
import { SpotInterruptionNotifier } from '../../lib/constructs/spot-interruption-notifier';
import { newApp, resourcesOfType, templateJson } from '../support/app';
import { acknowledged } from '../support/constructs';

interface Built {
  readonly stack: Stack;
  readonly topic: Topic;
  readonly deadLetterQueue: Queue;
  readonly notifier: SpotInterruptionNotifier;
  readonly template: Template;
}

/** A fresh stack holding one notifier, `Host/Notifier`, used directly: its own topic and dead-letter queue, no drainer. */
function build(props: Partial<SpotInterruptionNotifierProps> = {}): Built {
  const stack = new Stack(newApp(), 'Host');
  const topic = new Topic(stack, 'Topic');
  const deadLetterQueue = new Queue(stack, 'DeadLetterQueue');
  const notifier = new SpotInterruptionNotifier(stack, 'Notifier', { topic, deadLetterQueue, ...props });
  return { stack, topic, deadLetterQueue, notifier, template: Template.fromStack(stack) };
}

function id(stack: Stack, construct: IConstruct): string {
  return stack.getLogicalId((construct.node.defaultChild ?? construct) as never);
}

describe('what it creates', () => {
  it('gathers reports on an encrypted, TLS-only queue kept 4 days, dead-lettered to the given queue after 5 runs', () => {
    const { stack, notifier, deadLetterQueue, template } = build();
    const queue = id(stack, notifier.queue);
    expect(templateJson(template).Resources[queue]?.Properties).toEqual({
      SqsManagedSseEnabled: true,
      VisibilityTimeout: 45,
      MessageRetentionPeriod: 345_600,
      RedrivePolicy: { deadLetterTargetArn: { 'Fn::GetAtt': [id(stack, deadLetterQueue), 'Arn'] }, maxReceiveCount: 5 },
    });
    template.hasResourceProperties('AWS::SQS::QueuePolicy', {
      Queues: [{ Ref: queue }],
      PolicyDocument: {
        Statement: [Match.objectLike({ Effect: 'Deny', Action: 'sqs:*', Condition: { Bool: { 'aws:SecureTransport': 'false' } } })],
      },
    });
  });

  it('runs its function on a one-minute schedule that alone may invoke it, with no retry of a missed or failed run', () => {
    const { stack, notifier, template } = build();
    const fn = id(stack, notifier.function);
    const schedule = id(stack, notifier.schedule);
    template.resourceCountIs('AWS::Events::Rule', 1);
    template.hasResourceProperties('AWS::Events::Rule', {
      ScheduleExpression: 'rate(1 minute)',
      Targets: [Match.objectLike({ Arn: { 'Fn::GetAtt': [fn, 'Arn'] }, RetryPolicy: { MaximumRetryAttempts: 0 } })],
    });
    expect(resourcesOfType(template, 'AWS::Lambda::Permission').map(([, p]) => p)).toEqual([
      {
        Action: 'lambda:InvokeFunction',
        FunctionName: { 'Fn::GetAtt': [fn, 'Arn'] },
        Principal: 'events.amazonaws.com',
        SourceArn: { 'Fn::GetAtt': [schedule, 'Arn'] },
      },
    ]);
    // Lambda's asynchronous invoke would otherwise retry a failed run twice, on top of the schedule.
    template.hasResourceProperties('AWS::Lambda::EventInvokeConfig', { FunctionName: { Ref: fn }, MaximumRetryAttempts: 0, Qualifier: '$LATEST' });
  });

  it('tells its function the queue, the topic and the stack name, in the Spotwise namespace, with a 30 s timeout', () => {
    const { stack, notifier, topic, template } = build();
    expect(templateJson(template).Resources[id(stack, notifier.function)]?.Properties).toMatchObject({
      Timeout: 30,
      Environment: {
        Variables: {
          POWERTOOLS_SERVICE_NAME: 'spot-interruption-notifier',
          POWERTOOLS_METRICS_NAMESPACE: 'Spotwise',
          NOTIFICATION_QUEUE_URL: { Ref: id(stack, notifier.queue) },
          TOPIC_ARN: { Ref: id(stack, topic) },
          STACK_NAME: { Ref: 'AWS::StackName' },
        },
      },
    });
  });

  it('lets its function receive and delete on its queue and publish to its topic, and nothing more', () => {
    const { stack, notifier, topic, template } = build();
    const role = JSON.stringify([{ Ref: id(stack, notifier.function.executionRole) }]);
    const statements = resourcesOfType(template, 'AWS::IAM::Policy')
      .filter(([, p]) => JSON.stringify(p.Roles) === role)
      .flatMap(([, p]) => (p.PolicyDocument as { Statement: unknown[] }).Statement);
    expect(statements).toEqual([
      { Action: ['logs:CreateLogStream', 'logs:PutLogEvents'], Effect: 'Allow', Resource: expect.anything() as unknown },
      { Action: ['sqs:DeleteMessage', 'sqs:ReceiveMessage'], Effect: 'Allow', Resource: { 'Fn::GetAtt': [id(stack, notifier.queue), 'Arn'] } },
      { Action: 'sns:Publish', Effect: 'Allow', Resource: { Ref: id(stack, topic) } },
    ]);
    expect(acknowledged(notifier.function.executionRole)).toEqual(['AwsSolutions::AwsSolutions-IAM5[Action::kms:GenerateDataKey*]']);
  });

  it('takes the interval, receive count, metrics namespace and log retention as props', () => {
    const { stack, notifier, template } = build({
      interval: Duration.hours(1),
      maxReceiveCount: 10,
      metricsNamespace: 'Shop',
      logRetention: RetentionDays.ONE_WEEK,
    });
    template.hasResourceProperties('AWS::Events::Rule', { ScheduleExpression: 'rate(1 hour)' });
    expect(templateJson(template).Resources[id(stack, notifier.queue)]?.Properties).toMatchObject({ RedrivePolicy: { maxReceiveCount: 10 } });
    template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: { Variables: Match.objectLike({ POWERTOOLS_METRICS_NAMESPACE: 'Shop' }) },
    });
    template.hasResourceProperties('AWS::Logs::LogGroup', { RetentionInDays: 7 });
  });
});

describe('validation', () => {
  const path = /^Host\/Notifier: /;
  it.each<[string, Partial<SpotInterruptionNotifierProps>, RegExp]>([
    ['the interval is under a minute', { interval: Duration.seconds(30) }, /^Host\/Notifier: interval must be whole minutes from 1 to 60; got 30 seconds\.$/],
    ['the interval is not whole minutes', { interval: Duration.seconds(90) }, /interval must be whole minutes from 1 to 60; got 90 seconds\.$/],
    ['the interval is over an hour', { interval: Duration.minutes(61) }, /interval must be whole minutes from 1 to 60; got 61 minutes\.$/],
    ['the interval is zero', { interval: Duration.minutes(0) }, /interval must be whole minutes from 1 to 60/],
    ['the receive count is 0', { maxReceiveCount: 0 }, /^Host\/Notifier: maxReceiveCount must be a whole number from 1 to 1000; got 0\. SQS's limits\.$/],
    ['the receive count is above SQS\'s 1000', { maxReceiveCount: 1001 }, /maxReceiveCount must be a whole number from 1 to 1000; got 1001/],
    ['the receive count is not a whole number', { maxReceiveCount: 2.5 }, /maxReceiveCount must be a whole number from 1 to 1000; got 2\.5/],
  ])('fails when %s', (_name, props, message) => {
    expect(() => build(props)).toThrow(message);
    expect(() => build(props)).toThrow(path);
  });

  it('accepts the bounds: 1 and 60 minutes, 1 and 1000 runs', () => {
    expect(() => build({ interval: Duration.minutes(1), maxReceiveCount: 1 })).not.toThrow();
    expect(() => build({ interval: Duration.minutes(60), maxReceiveCount: 1000 })).not.toThrow();
  });
});
