/**
 * The calls each handler makes in its scenarios must be exactly what its synthesized role grants: an action
 * the handler needs but lacks fails in production, and a grant it never uses is privilege nobody needs.
 */
import { CreateServiceLinkedRoleCommand, GetRoleCommand, IAMClient, NoSuchEntityException } from '@aws-sdk/client-iam';
import { DiscoverInstancesCommand, ServiceDiscoveryClient } from '@aws-sdk/client-servicediscovery';
import { DescribeTasksCommand, ECSClient } from '@aws-sdk/client-ecs';
import { Stack } from 'aws-cdk-lib/core';
import { Template } from 'aws-cdk-lib/assertions';
import { SecurityGroup, Vpc } from 'aws-cdk-lib/aws-ec2';
import { Cluster } from 'aws-cdk-lib/aws-ecs';
import { ApplicationTargetGroup } from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import { PrivateDnsNamespace } from 'aws-cdk-lib/aws-servicediscovery';
import { mockClient } from 'aws-sdk-client-mock';
import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { DeleteMessageBatchCommand, ReceiveMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { Key } from 'aws-cdk-lib/aws-kms';
import { Topic } from 'aws-cdk-lib/aws-sns';
import type { Queue } from 'aws-cdk-lib/aws-sqs';
import { describe, expect, it, vi } from 'vitest';
import { CloudMapProber } from '../lib/constructs/cloud-map-prober';
import { ServiceLinkedRoles, SPOT_SERVICE_LINKED_ROLES } from '../lib/constructs/service-linked-roles';
import { SpotInterruptionDrainer } from '../lib/constructs/spot-interruption-drainer';
import type * as ProberModule from '../lib/functions/cloud-map-prober/handler';
import { EC2Client } from '@aws-sdk/client-ec2';
import { ElasticLoadBalancingV2Client } from '@aws-sdk/client-elastic-load-balancing-v2';
import type { CloudFormationCustomResourceEvent, CloudFormationCustomResourceResponse } from 'aws-lambda';
import { HANDOVER_TAG_KEY, HandoverProperty, PINNED_IMAGE_RESOURCE_TYPE, PinnedImageProperty } from '../lib/functions/fleet-handover/contract';
import { handle as handleCustomResource } from '../lib/functions/fleet-handover/handler';
import { SpotAutoScalingWebAppStack } from '../lib/spot-auto-scaling-web-app-stack';
import { handler as slrHandler } from '../lib/functions/service-linked-roles/handler';
import { handler as notify } from '../lib/functions/spot-interruption-notifier/handler';
import { SpotFleetWebAppStack } from '../lib/spot-fleet-web-app-stack';
import { HANDOVER_TARGET_GROUP, runHandoverReplacement } from './functions/fleet-handover.scenarios';
import { DRAINER_QUEUE_URL, NOTIFICATION_QUEUE_URL, runDrainerScenarios, TARGET_GROUP_API, TARGET_GROUP_WEB } from './functions/spot-interruption-drainer.scenarios';
import { newApp } from './support/app';
import { fakeContext, scheduledEvent } from './support/lambda';
import type { Cleanup } from './support/loopback';
import { closeAll, httpServer } from './support/loopback';

interface Statement {
  Effect: string;
  Action: string | string[];
  Resource: unknown;
  Condition?: unknown;
}

/** Statements of the policies attached to the role of the function whose environment has `envKey`. */
function functionRoleStatements(template: Template, envKey: string): Statement[] {
  const functions = template.findResources('AWS::Lambda::Function');
  const fn = Object.values(functions).find((f) => (f.Properties as { Environment?: { Variables?: Record<string, unknown> } }).Environment?.Variables?.[envKey] !== undefined);
  if (fn === undefined) throw new Error(`no function with ${envKey}`);
  const roleId = (fn.Properties as { Role: { 'Fn::GetAtt': [string, string] } }).Role['Fn::GetAtt'][0];
  return Object.values(template.findResources('AWS::IAM::Policy'))
    .filter((p) => JSON.stringify((p.Properties as { Roles: unknown }).Roles) === JSON.stringify([{ Ref: roleId }]))
    .flatMap((p) => (p.Properties as { PolicyDocument: { Statement: Statement[] } }).PolicyDocument.Statement);
}

/** `{ action: resources[] }` for the statements whose actions belong to `service`. */
function grantsFor(statements: Statement[], service: string): Map<string, unknown[]> {
  const grants = new Map<string, unknown[]>();
  for (const statement of statements) {
    expect(statement.Effect).toBe('Allow');
    expect(statement.Condition).toBeUndefined();
    for (const action of ([] as string[]).concat(statement.Action)) {
      if (!action.startsWith(`${service}:`)) continue;
      grants.set(action, [...(grants.get(action) ?? []), ...([] as unknown[]).concat(statement.Resource)]);
    }
  }
  return grants;
}

describe('the drainer and notifier roles', () => {
  function drainerStack(): { stack: Stack; template: Template; drainer: SpotInterruptionDrainer; topic: Topic } {
    const stack = new Stack(newApp(), 'DrainerOnly');
    const targetGroups = [TARGET_GROUP_WEB, TARGET_GROUP_API].map((arn, i) =>
      ApplicationTargetGroup.fromTargetGroupAttributes(stack, `Tg${i}`, { targetGroupArn: arn }),
    );
    const topic = new Topic(stack, 'Topic', { masterKey: new Key(stack, 'Key') });
    const drainer = new SpotInterruptionDrainer(stack, 'Drainer', { targetGroups, notificationTopic: topic });
    return { stack, template: Template.fromStack(stack), drainer, topic };
  }
  const arnOf = (stack: Stack, construct: { node: { defaultChild?: unknown } }) => ({
    'Fn::GetAtt': [stack.getLogicalId(construct.node.defaultChild as never), 'Arn'],
  });

  it('grants the drainer exactly the calls its handler makes, DeregisterTargets on exactly its target groups', async () => {
    process.env.POWERTOOLS_SERVICE_NAME ??= 'spot-interruption-drainer';
    process.env.POWERTOOLS_METRICS_NAMESPACE ??= 'Spotwise';
    const calls = await runDrainerScenarios({ targetGroupArns: [TARGET_GROUP_WEB, TARGET_GROUP_API] });
    const called = new Map<string, Set<string>>();
    for (const call of calls) {
      // SendMessageBatch is authorised as sqs:SendMessage.
      const action = `${call.service}:${call.command === 'SendMessageBatch' ? 'SendMessage' : call.command}`;
      const input = call.input as { TargetGroupArn?: string; QueueUrl?: string };
      const resource = input.TargetGroupArn ?? input.QueueUrl;
      expect(resource, `${call.command} without a target group or queue`).toBeDefined();
      called.set(action, (called.get(action) ?? new Set()).add(resource as string));
    }
    expect([...called.keys()].sort()).toEqual(['elasticloadbalancing:DeregisterTargets', 'elasticloadbalancing:DescribeTargetHealth', 'sqs:SendMessage']);
    expect(called.get('sqs:SendMessage')).toEqual(new Set([NOTIFICATION_QUEUE_URL, DRAINER_QUEUE_URL]));

    const { stack, template, drainer } = drainerStack();
    const statements = functionRoleStatements(template, 'TARGET_GROUP_ARNS');
    const granted = grantsFor(statements, 'elasticloadbalancing');
    const calledElb = [...called.keys()].filter((a) => a.startsWith('elasticloadbalancing:'));
    expect([...granted.keys()].sort()).toEqual(calledElb.sort());
    expect(new Set(granted.get('elasticloadbalancing:DeregisterTargets'))).toEqual(called.get('elasticloadbalancing:DeregisterTargets'));
    expect(called.get('elasticloadbalancing:DeregisterTargets')).toEqual(new Set([TARGET_GROUP_WEB, TARGET_GROUP_API]));
    // IAM has no resource-level permission for DescribeTargetHealth: a target group ARN would deny it.
    expect(granted.get('elasticloadbalancing:DescribeTargetHealth')).toEqual(['*']);

    // SQS: what the handler calls on the notification queue and, sending recommendations back to wait, on the
    // warning queue, and what Lambda's event source mapping calls on the warning queue with the function's role.
    // Nothing else.
    const sqsGrants = grantsFor(statements, 'sqs');
    const notificationQueue = arnOf(stack, drainer.notifier?.queue as Queue);
    const warningQueue = arnOf(stack, drainer.queue);
    expect(Object.fromEntries(sqsGrants)).toEqual({
      'sqs:SendMessage': [notificationQueue, warningQueue],
      ...Object.fromEntries(
        ['sqs:ChangeMessageVisibility', 'sqs:DeleteMessage', 'sqs:GetQueueAttributes', 'sqs:GetQueueUrl', 'sqs:ReceiveMessage'].map((a) => [a, [warningQueue]]),
      ),
    });
    const services = new Set(statements.flatMap((s) => ([] as string[]).concat(s.Action)).map((a) => a.split(':')[0]));
    expect([...services].sort()).toEqual(['elasticloadbalancing', 'logs', 'sqs']);
  });

  it('grants the notifier exactly the calls its handler makes, on its own queue and topic', async () => {
    const sqs = mockClient(SQSClient);
    const sns = mockClient(SNSClient);
    const drained = { instanceId: 'i-0123456789abcdef0', action: 'stop', warnedAt: '2026-11-23T12:00:00Z', drainedAt: '2026-11-23T12:00:01Z', targets: [] };
    sqs.on(ReceiveMessageCommand).resolvesOnce({ Messages: [{ ReceiptHandle: 'rh', Body: JSON.stringify({ version: 1, instances: [drained] }) }] }).resolves({});
    sqs.on(DeleteMessageBatchCommand).resolves({});
    sns.on(PublishCommand).resolves({});
    const { stack, template, drainer, topic } = drainerStack();
    const env = { NOTIFICATION_QUEUE_URL: 'https://sqs/q', TOPIC_ARN: 'arn:aws:sns:us-east-2:123456789012:t', STACK_NAME: 'S' };
    for (const [key, value] of Object.entries(env)) vi.stubEnv(key, value);
    vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    try {
      await notify(scheduledEvent(), fakeContext('notifier'));
    } finally {
      vi.unstubAllEnvs();
      vi.restoreAllMocks();
    }
    const iamAction = (service: string, command: string): string => `${service}:${command === 'DeleteMessageBatch' ? 'DeleteMessage' : command}`;
    const called = new Set([
      ...sqs.calls().map((c) => iamAction('sqs', c.args[0].constructor.name.replace(/Command$/, ''))),
      ...sns.calls().map((c) => iamAction('sns', c.args[0].constructor.name.replace(/Command$/, ''))),
    ]);
    sqs.restore();
    sns.restore();
    expect([...called].sort()).toEqual(['sns:Publish', 'sqs:DeleteMessage', 'sqs:ReceiveMessage']);

    const statements = functionRoleStatements(template, 'TOPIC_ARN');
    const queue = arnOf(stack, drainer.notifier?.queue as Queue);
    expect(Object.fromEntries(grantsFor(statements, 'sqs'))).toEqual({ 'sqs:ReceiveMessage': [queue], 'sqs:DeleteMessage': [queue] });
    expect(Object.fromEntries(grantsFor(statements, 'sns'))).toEqual({ 'sns:Publish': [{ Ref: stack.getLogicalId(topic.node.defaultChild as never) }] });
    // Publishing to an encrypted topic needs its key, and only its key.
    const kms = grantsFor(statements, 'kms');
    expect(new Set(kms.keys())).toEqual(new Set(['kms:Decrypt', 'kms:GenerateDataKey*']));
    const key = { 'Fn::GetAtt': [stack.getLogicalId(topic.masterKey?.node.defaultChild as never), 'Arn'] };
    for (const resources of kms.values()) expect(resources).toEqual([key]);
    const services = new Set(statements.flatMap((s) => ([] as string[]).concat(s.Action)).map((a) => a.split(':')[0]));
    expect([...services].sort()).toEqual(['kms', 'logs', 'sns', 'sqs']);
  });
});

describe('the prober role', () => {
  it('grants exactly the calls the handler makes: DiscoverInstances on its namespace and service, DescribeTasks on its cluster\'s tasks', async () => {
    const cleanups: Cleanup[] = [];
    const port = await httpServer((_req, res) => res.end('ok'), cleanups);
    const taskId = '0123456789abcdef0123456789abcdef';
    const cloudMap = mockClient(ServiceDiscoveryClient);
    cloudMap.on(DiscoverInstancesCommand).resolves({
      Instances: [{ InstanceId: taskId, Attributes: { AWS_INSTANCE_IPV4: '127.0.0.1', AWS_INSTANCE_PORT: String(port), AVAILABILITY_ZONE: 'us-east-2a' } }],
    });
    const ecs = mockClient(ECSClient);
    ecs.on(DescribeTasksCommand).resolves({ tasks: [{ taskArn: `arn:aws:ecs:us-east-2:123456789012:task/spotwise/${taskId}`, lastStatus: 'RUNNING', capacityProviderName: 'FARGATE_SPOT' }] });
    const env = {
      NAMESPACE_NAME: 'spotwise.internal',
      SERVICE_NAME: 'web',
      ALLOWED_CIDRS: '127.0.0.0/8',
      CLUSTER_NAME: 'spotwise',
      AWS_REGION: 'us-east-2',
      POWERTOOLS_METRICS_NAMESPACE: 'Spotwise',
      POWERTOOLS_SERVICE_NAME: 'cloud-map-prober',
    };
    for (const [key, value] of Object.entries(env)) vi.stubEnv(key, value);
    const output: string[] = [];
    vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => output.push(chunk.toString()) > 0);
    let summary: Awaited<ReturnType<typeof ProberModule.handler>> | undefined;
    try {
      vi.resetModules();
      const { handler } = (await import('../lib/functions/cloud-map-prober/handler.js')) as typeof ProberModule;
      summary = await handler(scheduledEvent(), fakeContext('cloud-map-prober'));
    } finally {
      vi.restoreAllMocks();
      vi.unstubAllEnvs();
      await closeAll(cleanups);
    }
    // Every command the handler sent, by the IAM action it needs (the SDK command name without "Command").
    const action = (service: string, call: { args: readonly unknown[] }): string => `${service}:${(call.args[0] as object).constructor.name.replace(/Command$/, '')}`;
    const called = new Set([...cloudMap.calls().map((call) => action('servicediscovery', call)), ...ecs.calls().map((call) => action('ecs', call))]);
    const describedOn = ecs.commandCalls(DescribeTasksCommand).map((call) => call.args[0].input.cluster);
    cloudMap.restore();
    ecs.restore();
    // A run that got as far as probing what it discovered and counting its task, so that no call of a later step went unseen.
    expect(summary).toEqual({ discovered: 1, succeeded: 1, failed: 0 });
    expect(output.join('')).toContain('"CapacityProvider":"FARGATE_SPOT","Tasks":1');
    expect([...called]).toEqual(['servicediscovery:DiscoverInstances', 'ecs:DescribeTasks']);
    expect(describedOn).toEqual([env.CLUSTER_NAME]);

    const stack = new Stack(newApp(), 'ProberOnly');
    const vpc = new Vpc(stack, 'Vpc', { maxAzs: 2, natGateways: 0, restrictDefaultSecurityGroup: false });
    const namespace = new PrivateDnsNamespace(stack, 'Namespace', { vpc, name: 'spotwise.internal' });
    const service = namespace.createService('Web', { name: 'web' });
    const cluster = new Cluster(stack, 'Cluster', { vpc });
    new CloudMapProber(stack, 'Prober', { service, vpc, targetSecurityGroup: new SecurityGroup(stack, 'Tasks', { vpc }), cluster });
    const template = Template.fromStack(stack);
    const statements = functionRoleStatements(template, 'NAMESPACE_NAME');
    const hasAction = (st: Statement, service: string): boolean => ([] as string[]).concat(st.Action).some((a) => a.startsWith(`${service}:`));
    // DescribeTasks, on the tasks of the cluster whose name the function is given, and only while ECS says the
    // task is in that cluster's ARN. The one statement with a condition, so checked whole here.
    const clusterRef = { Ref: stack.getLogicalId(cluster.node.defaultChild as never) };
    const fn = Object.values(template.findResources('AWS::Lambda::Function')).find((f) => JSON.stringify(f).includes('NAMESPACE_NAME'));
    expect((fn?.Properties as { Environment: { Variables: Record<string, unknown> } }).Environment.Variables.CLUSTER_NAME).toEqual(clusterRef);
    expect(statements.filter((st) => hasAction(st, 'ecs'))).toEqual([
      {
        Effect: 'Allow',
        Action: 'ecs:DescribeTasks',
        Resource: { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':ecs:', { Ref: 'AWS::Region' }, ':', { Ref: 'AWS::AccountId' }, ':task/', clusterRef, '/*']] },
        Condition: { ArnEquals: { 'ecs:cluster': { 'Fn::GetAtt': [clusterRef.Ref, 'Arn'] } } },
      },
    ]);
    const grantedActions = statements.flatMap((st) => ([] as string[]).concat(st.Action)).filter((a) => /^(servicediscovery|ecs):/.test(a));
    expect(grantedActions.sort()).toEqual([...called].sort());
    const rest = statements.filter((st) => !hasAction(st, 'ecs'));
    const granted = grantsFor(rest, 'servicediscovery');
    expect(granted.get('servicediscovery:DiscoverInstances')).toEqual([
      { 'Fn::GetAtt': [stack.getLogicalId(namespace.node.defaultChild as never), 'Arn'] },
      { 'Fn::GetAtt': [stack.getLogicalId(service.node.defaultChild as never), 'Arn'] },
    ]);
    // Beyond Cloud Map and ECS: only its own log group, and the network-interface actions Lambda needs in a VPC.
    const others = rest.filter((st) => !hasAction(st, 'servicediscovery'));
    expect(others.flatMap((st) => ([] as string[]).concat(st.Action)).sort()).toEqual([
      'ec2:AssignPrivateIpAddresses',
      'ec2:CreateNetworkInterface',
      'ec2:DeleteNetworkInterface',
      'ec2:DescribeNetworkInterfaces',
      'ec2:DescribeSubnets',
      'ec2:UnassignPrivateIpAddresses',
      'logs:CreateLogStream',
      'logs:PutLogEvents',
    ]);
  });
});

describe('the service-linked roles custom resource role', () => {
  it('grants exactly the IAM calls the handler makes, on the account\'s service-linked roles, creation only for the listed services', async () => {
    const iam = mockClient(IAMClient);
    iam
      .on(GetRoleCommand)
      .rejects(new NoSuchEntityException({ message: 'not found', $metadata: {} }))
      .on(CreateServiceLinkedRoleCommand)
      .resolves({});
    vi.stubEnv('PROPAGATION_WAIT_MS', '0');
    const cleanups: Cleanup[] = [];
    const received: string[] = [];
    const server = await httpServer((req, res) => {
      let body = '';
      req.on('data', (chunk: Buffer) => (body += chunk.toString()));
      req.on('end', () => {
        received.push(body);
        res.end();
      });
    }, cleanups);
    // Two roles, both missing: the handler reads and creates each.
    const roles = SPOT_SERVICE_LINKED_ROLES;
    try {
      await slrHandler(
        {
          RequestType: 'Create',
          ServiceToken: 'arn:aws:lambda:us-east-2:123456789012:function:slr',
          ResponseURL: `http://127.0.0.1:${server}/`,
          StackId: 'arn:aws:cloudformation:us-east-2:123456789012:stack/S/guid',
          RequestId: 'r',
          LogicalResourceId: 'Slr',
          ResourceType: 'Custom::ServiceLinkedRoles',
          ResourceProperties: { ServiceToken: 'x', Roles: roles.map((r) => ({ ServiceName: r.serviceName, RoleName: r.roleName })) },
        },
        fakeContext('slr'),
      );
    } finally {
      vi.unstubAllEnvs();
      await closeAll(cleanups);
    }
    const calls = iam.calls().map((call) => ({
      action: `iam:${(call.args[0] as { constructor: { name: string } }).constructor.name.replace(/Command$/, '')}`,
      input: (call.args[0] as { input: { RoleName?: string; AWSServiceName?: string } }).input,
    }));
    iam.restore();
    expect(received.map((body) => (JSON.parse(body) as { Status: string }).Status)).toEqual(['SUCCESS']);
    expect(calls.map((c) => c.action)).toEqual(['iam:GetRole', 'iam:CreateServiceLinkedRole', 'iam:GetRole', 'iam:CreateServiceLinkedRole']);
    expect(calls.filter((c) => c.action === 'iam:GetRole').map((c) => c.input)).toEqual(roles.map((r) => ({ RoleName: r.roleName })));
    const created = calls.filter((c) => c.action === 'iam:CreateServiceLinkedRole').map((c) => c.input.AWSServiceName);
    expect(created).toEqual(roles.map((r) => r.serviceName));

    const stack = new Stack(newApp(), 'SlrOnly');
    new ServiceLinkedRoles(stack, 'Slr', { roles });
    const statements = Object.values(Template.fromStack(stack).findResources('AWS::IAM::Policy')).flatMap(
      (p) => (p.Properties as { PolicyDocument: { Statement: Statement[] } }).PolicyDocument.Statement,
    );
    const iamStatements = statements.filter((st) => ([] as string[]).concat(st.Action).some((a) => a.startsWith('iam:')));
    expect(iamStatements.flatMap((st) => ([] as string[]).concat(st.Action)).sort()).toEqual([...new Set(calls.map((c) => c.action))].sort());
    // Service-linked roles live under the path /aws-service-role/<service>/: the grant covers those of this account only.
    const serviceLinkedRoles = {
      'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':iam::', { Ref: 'AWS::AccountId' }, ':role/aws-service-role/*']],
    };
    for (const statement of iamStatements) {
      expect(statement.Effect).toBe('Allow');
      expect(statement.Resource).toEqual(serviceLinkedRoles);
    }
    expect(iamStatements.find((st) => st.Action === 'iam:GetRole')?.Condition).toBeUndefined();
    // Creation is allowed for exactly the services the handler was asked to create roles for, and no other.
    const creation = iamStatements.find((st) => st.Action === 'iam:CreateServiceLinkedRole');
    expect(creation?.Condition).toEqual({ StringEquals: { 'iam:AWSServiceName': roles.map((r) => r.serviceName) } });
    const services = new Set(statements.flatMap((s) => ([] as string[]).concat(s.Action)).map((a) => a.split(':')[0]));
    expect([...services].sort()).toEqual(['iam', 'logs']);
  });
});

describe('the fleet handover role', () => {
  it('grants exactly the calls its handler makes in a replacement and its rollback: reads on *, capacity on the account\'s fleets, its own tag on instances, registration on the stack\'s target group', async () => {
    const { responses, calls, targets, tags } = await runHandoverReplacement();
    // Both went through: B was raised and served, A drained; then A was registered again and B drained. Every step made its calls.
    expect(responses).toMatchObject([
      { Status: 'SUCCESS', PhysicalResourceId: HANDOVER_TARGET_GROUP },
      { Status: 'SUCCESS', PhysicalResourceId: HANDOVER_TARGET_GROUP },
    ]);
    expect(targets).toEqual({ 'i-0aaaaaaaaaaaaaaa1': 'healthy', 'i-0aaaaaaaaaaaaaaa2': 'healthy', 'i-0aaaaaaaaaaaaaaa3': 'healthy' });
    expect(Object.values(tags).map((value) => value.split(' ')[0])).toEqual(['registered', 'registered', 'registered', 'drained', 'drained', 'drained']);
    const called = new Map<string, Set<string>>();
    for (const call of calls) {
      const input = call.input as { TargetGroupArn?: string; Tags?: { Key?: string }[] };
      const action = `${call.service}:${call.command}`;
      const on = call.command === 'CreateTags' ? `tag ${input.Tags?.map((t) => t.Key).join()}` : (input.TargetGroupArn ?? '*');
      called.set(action, (called.get(action) ?? new Set()).add(on));
    }
    expect([...called.keys()].sort()).toEqual([
      'ec2:CreateTags',
      'ec2:DescribeSpotFleetInstances',
      'ec2:DescribeSpotFleetRequests',
      'ec2:DescribeTags',
      'ec2:ModifySpotFleetRequest',
      'elasticloadbalancing:DeregisterTargets',
      'elasticloadbalancing:DescribeTargetHealth',
      'elasticloadbalancing:RegisterTargets',
    ]);
    // The target group the handler changes is the one the custom resource names; the tag it writes is its own.
    expect(called.get('elasticloadbalancing:RegisterTargets')).toEqual(new Set([HANDOVER_TARGET_GROUP]));
    expect(called.get('elasticloadbalancing:DeregisterTargets')).toEqual(new Set([HANDOVER_TARGET_GROUP]));
    expect(called.get('ec2:CreateTags')).toEqual(new Set([`tag ${HANDOVER_TAG_KEY}`]));

    const stack = new SpotFleetWebAppStack(newApp(), 'SpotFleetWebApp');
    const template = Template.fromStack(stack);
    const roleId = stack.getLogicalId(stack.fleetHandover.function.executionRole.node.defaultChild as never);
    const statements = Object.values(template.findResources('AWS::IAM::Policy'))
      .filter((p) => JSON.stringify((p.Properties as { Roles: unknown }).Roles) === JSON.stringify([{ Ref: roleId }]))
      .flatMap((p) => (p.Properties as { PolicyDocument: { Statement: Statement[] } }).PolicyDocument.Statement);
    // The one statement with a condition: CreateTags, on instances of the account and Region, of the handover tag alone.
    const conditional = statements.filter((s) => s.Condition !== undefined);
    expect(conditional).toEqual([
      {
        Action: 'ec2:CreateTags',
        Effect: 'Allow',
        Resource: { 'Fn::Sub': 'arn:${AWS::Partition}:ec2:${AWS::Region}:${AWS::AccountId}:instance/*' },
        Condition: { 'ForAllValues:StringEquals': { 'aws:TagKeys': [HANDOVER_TAG_KEY] } },
      },
    ]);
    const unconditional = statements.filter((s) => s.Condition === undefined);
    const granted = new Map([...grantsFor(unconditional, 'ec2'), ...grantsFor(unconditional, 'elasticloadbalancing'), ['ec2:CreateTags', [conditional[0]?.Resource]]]);
    expect([...granted.keys()].sort()).toEqual([...called.keys()].sort());
    // IAM has no resource-level permissions for these reads: anything but * would deny them.
    for (const read of ['ec2:DescribeSpotFleetInstances', 'ec2:DescribeSpotFleetRequests', 'ec2:DescribeTags', 'elasticloadbalancing:DescribeTargetHealth']) {
      expect(granted.get(read), read).toEqual(['*']);
    }
    expect(granted.get('ec2:ModifySpotFleetRequest')).toEqual([{ 'Fn::Sub': 'arn:${AWS::Partition}:ec2:${AWS::Region}:${AWS::AccountId}:spot-fleet-request/*' }]);
    // Registration is granted on what the handler receives as TargetGroupArn: the stack's own target group.
    const handovers = Object.values(template.findResources('Custom::SpotFleetHandover'));
    expect(handovers).toHaveLength(1);
    const handedOver = (handovers[0]?.Properties as Record<string, unknown>)[HandoverProperty.targetGroupArn];
    expect(handedOver).toEqual({ Ref: stack.getLogicalId(stack.loadBalancer.targetGroup.node.defaultChild as never) });
    expect(granted.get('elasticloadbalancing:RegisterTargets')).toEqual([handedOver]);
    expect(granted.get('elasticloadbalancing:DeregisterTargets')).toEqual([handedOver]);
    const services = new Set(statements.flatMap((s) => ([] as string[]).concat(s.Action)).map((a) => a.split(':')[0]));
    expect([...services].sort()).toEqual(['ec2', 'elasticloadbalancing', 'logs']);
  });
});

describe('the SpotAutoScalingWebApp pinned-image role', () => {
  it('grants no AWS call beyond its logs, and its handler makes none to pin an image, on create or update', async () => {
    const ec2 = mockClient(EC2Client);
    const elb = mockClient(ElasticLoadBalancingV2Client);
    try {
      const answers: CloudFormationCustomResourceResponse[] = [];
      const respond = (_url: string, body: CloudFormationCustomResourceResponse): Promise<void> => {
        answers.push(body);
        return Promise.resolve();
      };
      const base = {
        ServiceToken: 'arn:aws:lambda:us-east-2:123456789012:function:image',
        ResponseURL: 'https://cloudformation-custom-resource-response.example/',
        StackId: 'arn:aws:cloudformation:us-east-2:123456789012:stack/SpotAutoScalingWebApp/1',
        RequestId: 'request',
        LogicalResourceId: 'Image',
        ResourceType: PINNED_IMAGE_RESOURCE_TYPE,
        ResourceProperties: { ServiceToken: 'token', [PinnedImageProperty.latestImageId]: 'ami-0123456789abcdef0', [PinnedImageProperty.requestedImageId]: '' },
      };
      const events: CloudFormationCustomResourceEvent[] = [
        { ...base, RequestType: 'Create' },
        {
          ...base,
          RequestType: 'Update',
          PhysicalResourceId: 'ami-0123456789abcdef0',
          ResourceProperties: { ...base.ResourceProperties, [PinnedImageProperty.latestImageId]: 'ami-0fedcba9876543210' },
          OldResourceProperties: base.ResourceProperties,
        },
      ];
      for (const event of events) await handleCustomResource(event, fakeContext('image'), undefined, respond);
      expect(answers.map((a) => [a.Status, a.PhysicalResourceId])).toEqual([
        ['SUCCESS', 'ami-0123456789abcdef0'],
        ['SUCCESS', 'ami-0123456789abcdef0'],
      ]);
      expect(ec2.calls()).toHaveLength(0);
      expect(elb.calls()).toHaveLength(0);
    } finally {
      ec2.restore();
      elb.restore();
    }

    const stack = new SpotAutoScalingWebAppStack(newApp(), 'SpotAutoScalingWebApp');
    const template = Template.fromStack(stack);
    const roleId = stack.getLogicalId(stack.image.function.executionRole.node.defaultChild as never);
    const statements = Object.values(template.findResources('AWS::IAM::Policy'))
      .filter((p) => JSON.stringify((p.Properties as { Roles: unknown }).Roles) === JSON.stringify([{ Ref: roleId }]))
      .flatMap((p) => (p.Properties as { PolicyDocument: { Statement: Statement[] } }).PolicyDocument.Statement);
    expect(statements.flatMap((s) => ([] as string[]).concat(s.Action))).toEqual(['logs:CreateLogStream', 'logs:PutLogEvents']);
  });
});
