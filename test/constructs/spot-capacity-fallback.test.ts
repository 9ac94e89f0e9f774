import { Duration, Stack, Validations } from 'aws-cdk-lib/core';
import { Template } from 'aws-cdk-lib/assertions';
import { Vpc } from 'aws-cdk-lib/aws-ec2';
import { Cluster, ContainerImage, ContainerInsights, FargateService, FargateTaskDefinition, LogDrivers } from 'aws-cdk-lib/aws-ecs';
import { Key } from 'aws-cdk-lib/aws-kms';
import { Topic } from 'aws-cdk-lib/aws-sns';
import { AwsSolutionsChecks } from 'cdk-nag';
import { describe, expect, it } from 'vitest';
import type { SpotCapacityFallbackProps } from '../../lib/constructs/spot-capacity-fallback';
import { SpotCapacityFallback } from '../../lib/constructs/spot-capacity-fallback';
import { HALF_SPOT_STRATEGY } from '../../lib/constructs/spot-fargate-service';
import { FALLBACK_TAG_KEY } from '../../lib/functions/spot-capacity-fallback/contract';
import { newApp, resourcesOfType } from '../support/app';
import { acknowledged, roleStatements } from '../support/constructs';

interface Built {
  readonly stack: Stack;
  readonly service: FargateService;
  readonly topic: Topic;
  readonly fallback: SpotCapacityFallback;
  readonly template: Template;
}

function build(props: Partial<SpotCapacityFallbackProps> = {}, nag = false): Built {
  const app = newApp();
  if (nag) Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  const stack = new Stack(app, 'Host');
  const vpc = new Vpc(stack, 'Vpc', { maxAzs: 2, natGateways: 0, restrictDefaultSecurityGroup: false });
  Validations.of(vpc).acknowledge({ id: 'AwsSolutions::AwsSolutions-VPC7', reason: 'A VPC for these tests only; PublicVpc has flow logs.' });
  const cluster = new Cluster(stack, 'Cluster', { vpc, containerInsightsV2: ContainerInsights.ENHANCED });
  const task = new FargateTaskDefinition(stack, 'Task');
  task.addContainer('Web', { image: ContainerImage.fromRegistry('nginxinc/nginx-unprivileged:1.28.0'), logging: LogDrivers.awsLogs({ streamPrefix: 'web' }) });
  const service = new FargateService(stack, 'Service', {
    cluster,
    taskDefinition: task,
    capacityProviderStrategies: [...HALF_SPOT_STRATEGY],
    circuitBreaker: { enable: true, rollback: true },
    minHealthyPercent: 100,
  });
  const topic = new Topic(stack, 'Topic', { masterKey: new Key(stack, 'Key', { enableKeyRotation: true }), enforceSSL: true });
  const fallback = new SpotCapacityFallback(stack, 'Fallback', { service, declaredStrategy: HALF_SPOT_STRATEGY, notificationTopic: topic, ...props });
  return { stack, service, topic, fallback, template: Template.fromStack(stack) };
}

const ref = (stack: Stack, construct: { node: { defaultChild?: unknown } }) => ({ Ref: stack.getLogicalId(construct.node.defaultChild as never) });
const arn = (stack: Stack, construct: { node: { defaultChild?: unknown } }) => ({ 'Fn::GetAtt': [stack.getLogicalId(construct.node.defaultChild as never), 'Arn'] });

describe('SpotCapacityFallback', () => {
  it("matches ECS's placement failures for this service in this cluster only", () => {
    const { stack, service, fallback, template } = build();
    template.hasResourceProperties('AWS::Events::Rule', {
      EventPattern: {
        source: ['aws.ecs'],
        'detail-type': ['ECS Service Action'],
        resources: [ref(stack, service)],
        detail: { eventName: ['SERVICE_TASK_PLACEMENT_FAILURE'], clusterArn: [arn(stack, service.cluster)] },
      },
      Targets: [{ Arn: arn(stack, fallback.function), Id: 'Target0', RetryPolicy: { MaximumRetryAttempts: 2, MaximumEventAgeInSeconds: 3600 } }],
    });
  });

  it('looks every 5 minutes whether the 30-minute cool-off is over', () => {
    const { fallback, template } = build();
    template.hasResourceProperties('AWS::Events::Rule', { ScheduleExpression: 'rate(5 minutes)' });
    expect(resourcesOfType(template, 'AWS::Lambda::Function').map(([, p]) => (p.Environment as { Variables: Record<string, unknown> }).Variables.COOL_OFF_MINUTES)).toEqual(['30']);
    expect(fallback.schedule).toBeDefined();
  });

  it('tells the function the one service, its cluster, the declared strategy and the topic', () => {
    const { stack, service, topic, template } = build({ coolOff: Duration.minutes(45) });
    const [[, fn]] = resourcesOfType(template, 'AWS::Lambda::Function') as [[string, { Environment: { Variables: Record<string, unknown> } }]];
    expect(fn.Environment.Variables).toMatchObject({
      SERVICE_ARN: ref(stack, service),
      CLUSTER_ARN: arn(stack, service.cluster),
      DECLARED_STRATEGY: JSON.stringify([
        { capacityProvider: 'FARGATE', weight: 1, base: 0 },
        { capacityProvider: 'FARGATE_SPOT', weight: 1, base: 0 },
      ]),
      COOL_OFF_MINUTES: '45',
      TOPIC_ARN: ref(stack, topic),
      POWERTOOLS_SERVICE_NAME: 'spot-capacity-fallback',
    });
  });

  it('may describe, update and read the tags of this one service, tag it only with its own key, and publish to the topic', () => {
    const { stack, service, topic, fallback, template } = build();
    const statements = roleStatements<{ Action: string | string[]; Resource: unknown; Condition?: unknown }>(template, fallback.function.executionRole);
    const ecs = statements.filter((s) => JSON.stringify(s.Action).includes('ecs:'));
    expect(ecs).toEqual([
      expect.objectContaining({ Action: ['ecs:DescribeServices', 'ecs:ListTagsForResource', 'ecs:UpdateService'], Resource: ref(stack, service) }),
      expect.objectContaining({
        Action: 'ecs:TagResource',
        Resource: ref(stack, service),
        Condition: { 'ForAllValues:StringEquals': { 'aws:TagKeys': [FALLBACK_TAG_KEY] } },
      }),
    ]);
    expect(statements).toContainEqual(expect.objectContaining({ Action: 'sns:Publish', Resource: ref(stack, topic) }));
    expect(JSON.stringify(statements)).not.toContain('"Resource":"*"');
  });

  it('passes cdk-nag AwsSolutions with only the data-key acknowledgement on its role', () => {
    let built: Built | undefined;
    expect(() => (built = build({}, true))).not.toThrow();
    expect(acknowledged(built?.fallback.function.executionRole as never)).toEqual(['AwsSolutions::AwsSolutions-IAM5[Action::kms:GenerateDataKey*]']);
  });

  it('fails when the declared strategy has no FARGATE_SPOT', () => {
    expect(() => build({ declaredStrategy: [{ capacityProvider: 'FARGATE', weight: 1 }] })).toThrow(/^Host\/Fallback: declaredStrategy has no FARGATE_SPOT/);
  });

  it('fails when the cool-off is not whole minutes from 5 to 1440, or shorter than the check interval', () => {
    expect(() => build({ coolOff: Duration.minutes(4) })).toThrow(/^Host\/Fallback: coolOff must be a whole number from 5 to 1440; got 4\./);
    expect(() => build({ coolOff: Duration.seconds(390) })).toThrow(/^Host\/Fallback: coolOff must be a whole number from 5 to 1440; got 6\.5\./);
    expect(() => build({ coolOff: Duration.minutes(10), checkInterval: Duration.minutes(15) })).toThrow(/^Host\/Fallback: coolOff \(10 min\) is shorter than checkInterval \(15 min\)/);
  });

  it('publishes its metrics per stack under its own service name', () => {
    const { fallback, stack } = build();
    expect(stack.resolve(fallback.metric('OnFallback', 'Maximum').toMetricConfig().metricStat?.dimensions)).toEqual([
      { name: 'Stack', value: { Ref: 'AWS::StackName' } },
      { name: 'service', value: 'spot-capacity-fallback' },
    ]);
  });
});
