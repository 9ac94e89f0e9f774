import { Duration, Stack } from 'aws-cdk-lib/core';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { ApplicationTargetGroup } from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import { Topic } from 'aws-cdk-lib/aws-sns';
import { describe, expect, it } from 'vitest';
import type { SpotInterruptionDrainerProps } from '../../lib/constructs/spot-interruption-drainer';
import { SpotInterruptionDrainer } from '../../lib/constructs/spot-interruption-drainer';
import { DrainerMetric } from '../../lib/functions/spot-interruption-drainer/contract';
import { newApp, resourcesOfType, templateJson } from '../support/app';

const TG_WEB = 'arn:aws:elasticloadbalancing:us-east-2:123456789012:targetgroup/spotwise-web/0123456789abcdef';
const TG_API = 'arn:aws:elasticloadbalancing:us-east-2:123456789012:targetgroup/spotwise-api/fedcba9876543210';

interface Built {
  readonly stack: Stack;
  readonly drainer: SpotInterruptionDrainer;
  readonly template: Template;
}

/** A fresh stack holding one drainer over two imported target groups and, unless told otherwise, a topic. */
function build(props: Partial<SpotInterruptionDrainerProps> = {}, { withTopic = true } = {}): Built {
  const stack = new Stack(newApp(), 'Host');
  const targetGroups = [TG_WEB, TG_API].map((arn, i) => ApplicationTargetGroup.fromTargetGroupAttributes(stack, `Tg${i}`, { targetGroupArn: arn }));
  const notificationTopic = withTopic ? new Topic(stack, 'Topic') : undefined;
  const drainer = new SpotInterruptionDrainer(stack, 'Drainer', { targetGroups, notificationTopic, ...props });
  return { stack, drainer, template: Template.fromStack(stack) };
}

function resourceProps(template: Template, logicalId: string): Record<string, unknown> {
  return (templateJson(template).Resources[logicalId]?.Properties ?? {});
}

function id(stack: Stack, construct: { node: { defaultChild?: unknown } } | undefined): string {
  return stack.getLogicalId(construct?.node.defaultChild as never);
}

type Statement = { Effect: string; Principal?: unknown; Action: unknown; Resource: unknown; Condition?: unknown };

function queuePolicyStatements(template: Template, queueId: string): Statement[] {
  return resourcesOfType(template, 'AWS::SQS::QueuePolicy')
    .filter(([, policy]) => JSON.stringify(policy.Queues) === JSON.stringify([{ Ref: queueId }]))
    .flatMap(([, policy]) => (policy.PolicyDocument as { Statement: Statement[] }).Statement);
}

describe('delivery', () => {
  it('routes Spot interruption warnings and rebalance recommendations from EC2 to the queue only: no per-event function or topic target', () => {
    const { stack, drainer, template } = build();
    const queue = id(stack, drainer.queue);
    const dlq = id(stack, drainer.deadLetterQueue);
    template.hasResourceProperties('AWS::Events::Rule', {
      EventPattern: { source: ['aws.ec2'], 'detail-type': ['EC2 Spot Instance Interruption Warning', 'EC2 Instance Rebalance Recommendation'] },
      State: 'ENABLED',
      Targets: [
        {
          Id: Match.anyValue(),
          Arn: { 'Fn::GetAtt': [queue, 'Arn'] },
          DeadLetterConfig: { Arn: { 'Fn::GetAtt': [dlq, 'Arn'] } },
          RetryPolicy: { MaximumRetryAttempts: 2, MaximumEventAgeInSeconds: 120 },
        },
      ],
    });
    expect(JSON.stringify(template.toJSON())).not.toContain('InputTransformer');
  });

  it('tells the function to drain on rebalance recommendations by default', () => {
    build().template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: { Variables: Match.objectLike({ TARGET_GROUP_ARNS: Match.anyValue(), DRAIN_ON_REBALANCE: 'true' }) },
    });
  });

  it('matches only the interruption warning, and tells the function so, when drainOnRebalanceRecommendation is false', () => {
    const { stack, drainer, template } = build({ drainOnRebalanceRecommendation: false });
    expect(resourceProps(template, id(stack, drainer.rule)).EventPattern).toEqual({
      source: ['aws.ec2'],
      'detail-type': ['EC2 Spot Instance Interruption Warning'],
    });
    template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: { Variables: Match.objectLike({ TARGET_GROUP_ARNS: Match.anyValue(), DRAIN_ON_REBALANCE: 'false' }) },
    });
  });

  it('encrypts the queue, and lets only this rule send to it, over TLS', () => {
    const { stack, drainer, template } = build();
    const queue = id(stack, drainer.queue);
    const rule = id(stack, drainer.rule);
    template.hasResource('AWS::SQS::Queue', { Properties: Match.objectLike({ SqsManagedSseEnabled: true }), UpdateReplacePolicy: 'Delete' });
    expect(resourceProps(template, queue).SqsManagedSseEnabled).toBe(true);
    const statements = queuePolicyStatements(template, queue);
    expect(statements.filter((s) => s.Effect === 'Allow')).toEqual([
      expect.objectContaining({
        Principal: { Service: 'events.amazonaws.com' },
        // What CDK's SqsQueue target grants, all of it for this rule only.
        Action: ['sqs:GetQueueAttributes', 'sqs:GetQueueUrl', 'sqs:SendMessage'],
        Resource: { 'Fn::GetAtt': [queue, 'Arn'] },
        Condition: { ArnEquals: { 'aws:SourceArn': { 'Fn::GetAtt': [rule, 'Arn'] } } },
      }),
    ]);
    expect(statements.filter((s) => s.Effect === 'Deny')).toEqual([
      expect.objectContaining({ Action: 'sqs:*', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
    ]);
  });

  it('feeds the function through an event source mapping with a 1 s window, large batches, per-message failures and at most 2 batches at once', () => {
    const { stack, drainer, template } = build();
    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      EventSourceArn: { 'Fn::GetAtt': [id(stack, drainer.queue), 'Arn'] },
      FunctionName: { Ref: id(stack, drainer.function) },
      BatchSize: 1000,
      MaximumBatchingWindowInSeconds: 1,
      FunctionResponseTypes: ['ReportBatchItemFailures'],
      // Lambda's lowest: with the handler's pace, what bounds the drainer's ELB calls.
      ScalingConfig: { MaximumConcurrency: 2 },
    });
  });

  it('lets a recommendation wait on its own queue for 5 minutes by default, which the last rebalance drain start includes', () => {
    const { stack, drainer, template } = build();
    template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: { Variables: Match.objectLike({ REBALANCE_QUEUE_URL: { Ref: id(stack, drainer.queue) }, REBALANCE_HOLD_SECONDS: '300' }) },
    });
    expect(drainer.lastRetryStart.toSeconds()).toBe(73);
    expect(drainer.lastRebalanceDrainStart.toSeconds()).toBe(300 + 73);
  });

  it('takes the rebalance hold as a prop, and has none when draining on recommendations is off', () => {
    expect(build({ rebalanceHold: Duration.seconds(90) }).drainer.lastRebalanceDrainStart.toSeconds()).toBe(90 + 73);
    const off = build({ drainOnRebalanceRecommendation: false });
    expect(off.drainer.lastRebalanceDrainStart.toSeconds()).toBe(73);
    const variables = Object.values(off.template.findResources('AWS::Lambda::Function'))
      .map((f) => (f.Properties as { Environment?: { Variables?: Record<string, unknown> } }).Environment?.Variables ?? {})
      .find((v) => 'TARGET_GROUP_ARNS' in v);
    expect(variables).not.toHaveProperty('REBALANCE_QUEUE_URL');
  });

  it('fails when the rebalance hold is not whole seconds', () => {
    expect(() => build({ rebalanceHold: Duration.millis(1500) })).toThrow(/^Host\/Drainer: rebalanceHold must be whole seconds, from 0 to 3600; got 1500 milliseconds\.$/);
  });

  it('retries a failed message inside the notice: visibility of timeout + window + 5 s, three deliveries, then the dead-letter queue', () => {
    const { stack, drainer, template } = build();
    template.hasResourceProperties('AWS::Lambda::Function', { Timeout: 30, MemorySize: 512, Environment: { Variables: Match.objectLike({ TARGET_GROUP_ARNS: `${TG_WEB},${TG_API}` }) } });
    expect(resourceProps(template, id(stack, drainer.queue))).toMatchObject({
      VisibilityTimeout: 36,
      RedrivePolicy: { deadLetterTargetArn: { 'Fn::GetAtt': [id(stack, drainer.deadLetterQueue), 'Arn'] }, maxReceiveCount: 3 },
    });
  });

  it('alarms while any message waits in the encrypted dead-letter queue', () => {
    const { stack, drainer, template } = build();
    const dlq = id(stack, drainer.deadLetterQueue);
    expect(resourceProps(template, dlq)).toMatchObject({ SqsManagedSseEnabled: true, MessageRetentionPeriod: 1209600 });
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: 'AWS/SQS',
      MetricName: 'ApproximateNumberOfMessagesVisible',
      Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [dlq, 'QueueName'] } }],
      Threshold: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      TreatMissingData: 'notBreaching',
      // Named after the stack, as NotificationTopic's alarm policies require, and the drainer, so two drainers in
      // one stack do not collide.
      AlarmName: { 'Fn::Join': ['', [{ Ref: 'AWS::StackName' }, '-Drainer-DeadLetters']] },
    });
  });

  it('takes batch size, window, timeout and receive count as props', () => {
    const { stack, drainer, template } = build({
      batchSize: 200,
      maxBatchingWindow: Duration.seconds(2),
      timeout: Duration.seconds(20),
      maxReceiveCount: 2,
    });
    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', { BatchSize: 200, MaximumBatchingWindowInSeconds: 2 });
    template.hasResourceProperties('AWS::Lambda::Function', { Timeout: 20 });
    expect(resourceProps(template, id(stack, drainer.queue))).toMatchObject({
      VisibilityTimeout: 27,
      RedrivePolicy: { maxReceiveCount: 2 },
    });
  });
});

describe('notifications', () => {
  it('hands drain reports to a scheduled notifier that publishes to the topic, once a minute', () => {
    const { stack, drainer, template } = build();
    const notifier = drainer.notifier;
    expect(notifier).toBeDefined();
    const queue = id(stack, notifier?.queue);
    template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: { Variables: Match.objectLike({ TARGET_GROUP_ARNS: Match.anyValue(), NOTIFICATION_QUEUE_URL: { Ref: queue } }) },
    });
    template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: {
        Variables: Match.objectLike({
          NOTIFICATION_QUEUE_URL: { Ref: queue },
          TOPIC_ARN: { Ref: Match.stringLikeRegexp('^Topic') },
          STACK_NAME: { Ref: 'AWS::StackName' },
          POWERTOOLS_SERVICE_NAME: 'spot-interruption-notifier',
        }),
      },
    });
    template.hasResourceProperties('AWS::Events::Rule', {
      ScheduleExpression: 'rate(1 minute)',
      Targets: [Match.objectLike({ Arn: { 'Fn::GetAtt': [id(stack, notifier?.function), 'Arn'] }, RetryPolicy: { MaximumRetryAttempts: 0 } })],
    });
    expect(resourceProps(template, queue)).toMatchObject({
      SqsManagedSseEnabled: true,
      VisibilityTimeout: 45,
      RedrivePolicy: { deadLetterTargetArn: { 'Fn::GetAtt': [id(stack, drainer.deadLetterQueue), 'Arn'] }, maxReceiveCount: 5 },
    });
  });

  it('takes the notification interval as a prop', () => {
    build({ notificationInterval: Duration.minutes(5) }).template.hasResourceProperties('AWS::Events::Rule', { ScheduleExpression: 'rate(5 minutes)' });
  });

  it('creates no notifier, queue or schedule without a topic', () => {
    const { drainer, template } = build({}, { withTopic: false });
    expect(drainer.notifier).toBeUndefined();
    template.resourceCountIs('AWS::Lambda::Function', 1);
    template.resourceCountIs('AWS::SQS::Queue', 2);
    template.resourceCountIs('AWS::Events::Rule', 1);
    template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: { Variables: Match.objectLike({ NOTIFICATION_QUEUE_URL: Match.absent(), TARGET_GROUP_ARNS: Match.anyValue() }) },
    });
  });
});

describe('validation', () => {
  const path = /Host\/Drainer: /;
  it.each<[string, Partial<SpotInterruptionDrainerProps>, RegExp]>([
    ['it is given no target group', { targetGroups: [] }, /targetGroups is empty/],
    ['the timeout is under 5 s', { timeout: Duration.seconds(4) }, /timeout must be whole seconds, at least 5/],
    ['the timeout does not fit the notice', { timeout: Duration.seconds(100), maxReceiveCount: 1 }, /plus timeout \(100 s\) must be at most 100 s/],
    ['the batching window eats the notice', { maxBatchingWindow: Duration.seconds(30) }, /maxBatchingWindow must be whole seconds from 0 to 20/],
    ['the batch size is 0', { batchSize: 0 }, /^Host\/Drainer: batchSize must be a whole number from 1 to 10000; got 0\. Lambda's limit for a standard queue\.$/],
    ['the batch size is above Lambda\'s limit', { batchSize: 10_001 }, /batchSize must be a whole number from 1 to 10000/],
    ['a batch above 10 has no window', { batchSize: 100, maxBatchingWindow: Duration.seconds(0) }, /batchSize above 10 needs a maxBatchingWindow of at least 1 s/],
    ['the receive count is 0', { maxReceiveCount: 0 }, /maxReceiveCount must be a whole number from 1 to 1000/],
    ['the last retry would start after draining helps', { maxReceiveCount: 4 }, /maxReceiveCount 4 with a 36 s visibility timeout .* starts the last retry 109 s after the warning, past the 100 s/],
  ])('fails when %s', (_name, props, message) => {
    expect(() => build(props)).toThrow(message);
    expect(() => build(props)).toThrow(path);
  });

  it('accepts the most retries that still fit', () => {
    expect(() => build({ maxReceiveCount: 4, timeout: Duration.seconds(25) })).not.toThrow();
  });

  it('fails when the notification interval is not whole minutes within an hour', () => {
    expect(() => build({ notificationInterval: Duration.seconds(30) })).toThrow(/^Host\/Drainer: notificationInterval must be whole minutes, from 1 to 60; got 30 seconds\.$/);
    expect(() => build({ notificationInterval: Duration.hours(2) })).toThrow(/^Host\/Drainer: notificationInterval must be whole minutes, from 1 to 60; got 2 hours\.$/);
  });
});

describe('metrics', () => {
  it("names each metric as the function publishes it: its namespace, its service and the stack's name", () => {
    const { stack, drainer, template } = build({ metricsNamespace: 'Shop' });
    const metric = drainer.metric(DrainerMetric.InstancesDrained);
    const env = (resourceProps(template, id(stack, drainer.function)).Environment as { Variables: Record<string, unknown> }).Variables;
    expect(metric.namespace).toBe('Shop');
    expect(env.POWERTOOLS_METRICS_NAMESPACE).toBe('Shop');
    expect(stack.resolve(metric.dimensions)).toEqual({ service: env.POWERTOOLS_SERVICE_NAME, Stack: env.METRICS_STACK });
    expect(metric.metricName).toBe('InstancesDrained');
    expect([metric.statistic, metric.period.toSeconds()]).toEqual(['Sum', 60]);
    expect(drainer.metric(DrainerMetric.Failures, 'Maximum').statistic).toBe('Maximum');
  });
});
