import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Deployment, Service, UpdateServiceCommandInput } from '@aws-sdk/client-ecs';
import {
  DescribeServicesCommand,
  ECSClient,
  InvalidParameterException,
  ListTagsForResourceCommand,
  ServerException,
  TagResourceCommand,
  UpdateServiceCommand,
} from '@aws-sdk/client-ecs';
import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { FALLBACK_TAG_KEY } from '../../lib/functions/spot-capacity-fallback/contract';
import { clients, handler, ShiftError } from '../../lib/functions/spot-capacity-fallback/handler';
import { fakeContext, FIXTURES_DIR, scheduledEvent } from '../support/lambda';

const SERVICE_ARN = 'arn:aws:ecs:us-east-2:123456789012:service/spotwise/web';
const CLUSTER_ARN = 'arn:aws:ecs:us-east-2:123456789012:cluster/spotwise';
const TOPIC_ARN = 'arn:aws:sns:us-east-2:123456789012:alarms';
const DECLARED = [
  { capacityProvider: 'FARGATE', weight: 1, base: 0 },
  { capacityProvider: 'FARGATE_SPOT', weight: 1, base: 0 },
];
const ON_DEMAND = [{ capacityProvider: 'FARGATE', weight: 1, base: 0 }];
const NOW = new Date('2026-11-23T20:00:00Z');
const minutesAgo = (m: number): Date => new Date(NOW.getTime() - m * 60_000);

const ecs = mockClient(ECSClient);
const sns = mockClient(SNSClient);
const context = fakeContext('spot-capacity-fallback');

type Event = Record<string, unknown> & { detail: Record<string, unknown> };

function fixture(name: string): Event {
  return JSON.parse(readFileSync(join(FIXTURES_DIR, `${name}.json`), 'utf8')) as Event;
}
/** What ECS sends when FARGATE_SPOT has no capacity for a task of our service. */
const spotShortage = (): Event => fixture('ecs-service-action-placement-failure-fargate-spot');
/** The service's schedule, in our account and Region. */
const schedule = (): Record<string, unknown> => ({ ...scheduledEvent(), account: '123456789012', region: 'us-east-2' });

function deployment(id: string, createdAt: Date, rolloutState: 'IN_PROGRESS' | 'COMPLETED', status = 'PRIMARY'): Deployment {
  return { id, status, rolloutState, createdAt };
}

/** The service as DescribeServices and ListTagsForResource report it, and what UpdateService answers. */
function serviceIs(strategy: typeof DECLARED, deployments: Deployment[], tag?: string): void {
  const service: Service = { serviceArn: SERVICE_ARN, status: 'ACTIVE', capacityProviderStrategy: strategy, deployments, desiredCount: 4 };
  ecs.on(DescribeServicesCommand, { cluster: CLUSTER_ARN, services: [SERVICE_ARN] }).resolves({ services: [service], failures: [] });
  ecs.on(ListTagsForResourceCommand, { resourceArn: SERVICE_ARN }).resolves({ tags: tag === undefined ? [] : [{ key: FALLBACK_TAG_KEY, value: tag }] });
  ecs.on(UpdateServiceCommand).callsFake((input: UpdateServiceCommandInput) => {
    // The API reference today: changing the capacity provider strategy needs a new deployment.
    if (input.capacityProviderStrategy !== undefined && input.forceNewDeployment !== true) {
      throw new InvalidParameterException({ message: 'forceNewDeployment is required to update the capacity provider strategy', $metadata: {} });
    }
    return { service: { ...service, capacityProviderStrategy: input.capacityProviderStrategy, deployments: [deployment('ecs-svc/new', NOW, 'IN_PROGRESS'), ...deployments] } };
  });
  ecs.on(TagResourceCommand).resolves({});
}

let output: Record<string, unknown>[] = [];
/** EMF values of `name` this invocation published. */
const metric = (name: string): unknown[] => output.filter((r) => '_aws' in r && name in r).map((r) => r[name]);
const containing = (text: string): string => expect.stringContaining(text) as string;
const updates = () => ecs.commandCalls(UpdateServiceCommand).map((c) => c.args[0].input);

beforeEach(() => {
  ecs.reset();
  sns.reset();
  sns.on(PublishCommand).resolves({ MessageId: 'm-1' });
  vi.useFakeTimers({ now: NOW, toFake: ['Date'] });
  for (const [key, value] of Object.entries({
    SERVICE_ARN,
    CLUSTER_ARN,
    DECLARED_STRATEGY: JSON.stringify(DECLARED),
    COOL_OFF_MINUTES: '30',
    TOPIC_ARN,
    STACK_NAME: 'FargateService',
  })) {
    vi.stubEnv(key, value);
  }
  output = [];
  const record = (chunk: string | Uint8Array): boolean => {
    for (const line of chunk.toString().split('\n')) if (line.trim().startsWith('{')) output.push(JSON.parse(line) as Record<string, unknown>);
    return true;
  };
  vi.spyOn(process.stdout, 'write').mockImplementation(record);
  vi.spyOn(process.stderr, 'write').mockImplementation(record);
});

afterEach(() => {
  vi.restoreAllMocks();
  vi.useRealTimers();
});

describe('on a Fargate Spot placement failure', () => {
  it('moves the service onto FARGATE alone with a new deployment, keeping its desired count, marks the deployment and tells people', async () => {
    serviceIs(DECLARED, [deployment('ecs-svc/1', minutesAgo(120), 'COMPLETED')]);
    await expect(handler(spotShortage(), context)).resolves.toEqual({ invocation: 'spot-shortage', action: 'shift' });
    expect(updates()).toEqual([{ cluster: CLUSTER_ARN, service: SERVICE_ARN, capacityProviderStrategy: [{ capacityProvider: 'FARGATE', weight: 1 }], forceNewDeployment: true }]);
    expect(updates()[0]).not.toHaveProperty('desiredCount');
    expect(ecs.commandCalls(TagResourceCommand).map((c) => c.args[0].input)).toEqual([{ resourceArn: SERVICE_ARN, tags: [{ key: FALLBACK_TAG_KEY, value: 'ecs-svc/new' }] }]);
    const [publish] = sns.commandCalls(PublishCommand).map((c) => c.args[0].input);
    expect(publish?.TopicArn).toBe(TOPIC_ARN);
    expect(publish?.Subject).toBe('FargateService: Fargate Spot has no capacity; all tasks move to on-demand Fargate');
    expect(publish?.Message).toMatch(/spotwise\/web \(RESOURCE:FARGATE\).*FARGATE alone, keeping its desired count, in deployment ecs-svc\/new/s);
    expect(publish?.Message).toMatch(/In 30 minutes it tries the declared strategy/);
    expect(metric('ShiftsToOnDemand')).toEqual([1]);
    expect(metric('OnFallback')).toEqual([1]);
  });

  it('always asks for a new deployment, so the shift works whether or not ECS still requires one to change the strategy', async () => {
    // Required (the mock above refuses a strategy change without it), and not required (this mock takes anything).
    serviceIs(DECLARED, [deployment('ecs-svc/1', minutesAgo(120), 'COMPLETED')]);
    await handler(spotShortage(), context);
    ecs.reset();
    serviceIs(DECLARED, [deployment('ecs-svc/1', minutesAgo(120), 'COMPLETED')]);
    ecs.on(UpdateServiceCommand).resolves({ service: { deployments: [deployment('ecs-svc/lenient', NOW, 'IN_PROGRESS')] } });
    await expect(handler(spotShortage(), context)).resolves.toMatchObject({ action: 'shift' });
    expect(updates()).toEqual([expect.objectContaining({ forceNewDeployment: true })]);
  });

  it('does nothing when the service already runs on FARGATE alone', async () => {
    serviceIs(ON_DEMAND, [deployment('ecs-svc/2', minutesAgo(3), 'IN_PROGRESS')], 'ecs-svc/2');
    await expect(handler(spotShortage(), context)).resolves.toMatchObject({ action: 'none', why: 'the service already runs on FARGATE alone' });
    expect(updates()).toEqual([]);
    expect(sns.commandCalls(PublishCommand)).toEqual([]);
  });

  it('stands aside while a deployment it did not start, such as a CloudFormation deploy, rolls out', async () => {
    serviceIs(DECLARED, [deployment('ecs-svc/deploy', minutesAgo(4), 'IN_PROGRESS'), deployment('ecs-svc/1', minutesAgo(200), 'COMPLETED', 'ACTIVE')], 'ecs-svc/older');
    await expect(handler(spotShortage(), context)).resolves.toMatchObject({ action: 'defer', why: containing('ecs-svc/deploy, which the fallback did not start') });
    expect(updates()).toEqual([]);
    expect(metric('ShiftsDeferred')).toEqual([1]);
  });

  it('falls back again when its own return to the declared strategy is what cannot be placed', async () => {
    serviceIs(DECLARED, [deployment('ecs-svc/return', minutesAgo(2), 'IN_PROGRESS'), deployment('ecs-svc/2', minutesAgo(40), 'COMPLETED', 'ACTIVE')], 'ecs-svc/return');
    await expect(handler(spotShortage(), context)).resolves.toMatchObject({ action: 'shift' });
    expect(updates()).toEqual([expect.objectContaining({ capacityProviderStrategy: [{ capacityProvider: 'FARGATE', weight: 1 }] })]);
  });

  it('leaves a strategy someone else chose alone', async () => {
    serviceIs([{ capacityProvider: 'FARGATE_SPOT', weight: 1, base: 0 }], [deployment('ecs-svc/manual', minutesAgo(60), 'COMPLETED')]);
    await expect(handler(spotShortage(), context)).resolves.toMatchObject({ action: 'none', why: containing('someone chose it') });
    expect(updates()).toEqual([]);
  });
});

describe('events it takes no action on', () => {
  const other = (change: (e: Event) => void): Event => {
    const event = spotShortage();
    change(event);
    return event;
  };

  it.each([
    ['another service', other((e) => (e.resources = ['arn:aws:ecs:us-east-2:123456789012:service/spotwise/api']))],
    ['another cluster', other((e) => (e.detail.clusterArn = 'arn:aws:ecs:us-east-2:123456789012:cluster/other'))],
    ['another account', other((e) => (e.account = '210987654321'))],
    ['another Region', other((e) => (e.region = 'eu-west-1'))],
    ['another service action', other((e) => (e.detail.eventName = 'SERVICE_STEADY_STATE'))],
    ['a placement failure of on-demand FARGATE only', other((e) => (e.detail.capacityProviderArns = ['arn:aws:ecs:us-east-2:123456789012:capacity-provider/FARGATE']))],
    ['a placement failure that names no capacity provider', other((e) => delete e.detail.capacityProviderArns)],
    ['a Fargate Spot failure that is not about capacity (subnet out of addresses)', other((e) => (e.detail.reason = 'RESOURCE:ENI'))],
    ["ECS's documented EC2 sample, for another account's Auto Scaling group provider", fixture('ecs-service-action-placement-failure')],
  ])('ignores %s, calling nothing', async (_what, event) => {
    await expect(handler(event, context)).resolves.toMatchObject({ action: 'ignored' });
    expect(ecs.calls()).toEqual([]);
    expect(sns.calls()).toEqual([]);
    expect(metric('EventsIgnored')).toEqual([1]);
  });

  it.each([
    ['null', null],
    ['a string', 'SERVICE_TASK_PLACEMENT_FAILURE'],
    ['an event without detail', (() => { const e: Record<string, unknown> = spotShortage(); delete e.detail; return e; })()],
    ['resources that are not a list', { ...spotShortage(), resources: SERVICE_ARN }],
    ['a reason that is not a string', (() => { const e = spotShortage(); e.detail.reason = 42; return e; })()],
    ['capacity providers that are not a list', (() => { const e = spotShortage(); e.detail.capacityProviderArns = 'FARGATE_SPOT'; return e; })()],
  ])('logs and counts %s as malformed, never guessing', async (_what, event) => {
    await expect(handler(event, context)).resolves.toMatchObject({ action: 'malformed' });
    expect(ecs.calls()).toEqual([]);
    expect(metric('MalformedEvents')).toEqual([1]);
    expect(output.some((r) => r.level === 'WARN' && r.message === 'Malformed event: no action')).toBe(true);
  });
});

describe('on the schedule', () => {
  it('moves the service back to the declared strategy once its own FARGATE deployment has settled and cooled off', async () => {
    serviceIs(ON_DEMAND, [deployment('ecs-svc/2', minutesAgo(31), 'COMPLETED')], 'ecs-svc/2');
    await expect(handler(schedule(), context)).resolves.toEqual({ invocation: 'schedule', action: 'shift' });
    expect(updates()).toEqual([{ cluster: CLUSTER_ARN, service: SERVICE_ARN, capacityProviderStrategy: DECLARED, forceNewDeployment: true }]);
    expect(ecs.commandCalls(TagResourceCommand).map((c) => c.args[0].input.tags)).toEqual([[{ key: FALLBACK_TAG_KEY, value: 'ecs-svc/new' }]]);
    expect(sns.commandCalls(PublishCommand).map((c) => c.args[0].input.Subject)).toEqual(['FargateService: trying Fargate Spot again']);
    expect(metric('ShiftsToDeclared')).toEqual([1]);
    expect(metric('OnFallback')).toEqual([0]);
  });

  it('waits out the cool-off, reporting that the service is on the fallback', async () => {
    serviceIs(ON_DEMAND, [deployment('ecs-svc/2', minutesAgo(10), 'COMPLETED')], 'ecs-svc/2');
    await expect(handler(schedule(), context)).resolves.toMatchObject({ action: 'none', why: 'cooling off: 20 min until Fargate Spot is tried again' });
    expect(updates()).toEqual([]);
    expect(metric('OnFallback')).toEqual([1]);
  });

  it('waits while its own FARGATE deployment still rolls out', async () => {
    serviceIs(ON_DEMAND, [deployment('ecs-svc/2', minutesAgo(45), 'IN_PROGRESS')], 'ecs-svc/2');
    await expect(handler(schedule(), context)).resolves.toMatchObject({ action: 'none', why: containing('still rolling out') });
    expect(updates()).toEqual([]);
  });

  it('leaves FARGATE alone in place when someone else put the service there', async () => {
    serviceIs(ON_DEMAND, [deployment('ecs-svc/manual', minutesAgo(300), 'COMPLETED')], 'ecs-svc/2');
    await expect(handler(schedule(), context)).resolves.toMatchObject({ action: 'none', why: containing('which the fallback did not start: it stays') });
    expect(updates()).toEqual([]);
  });

  it('does nothing while the service runs its declared strategy', async () => {
    serviceIs(DECLARED, [deployment('ecs-svc/1', minutesAgo(300), 'COMPLETED')]);
    await expect(handler(schedule(), context)).resolves.toMatchObject({ action: 'none', why: 'the service runs its declared strategy' });
    expect(updates()).toEqual([]);
    expect(metric('OnFallback')).toEqual([0]);
  });
});

describe('failures', () => {
  it('retries ECS calls within the invocation: standard retries, five attempts', async () => {
    await expect(clients.ecs.config.maxAttempts()).resolves.toBe(5);
    const strategy = (await clients.ecs.config.retryStrategy()) as { mode?: string };
    expect(strategy.mode).toBe('standard');
  });

  it('fails the invocation when UpdateService keeps failing, so Lambda retries it and FunctionErrors tells people, telling no one of a shift', async () => {
    serviceIs(DECLARED, [deployment('ecs-svc/1', minutesAgo(120), 'COMPLETED')]);
    ecs.on(UpdateServiceCommand).rejects(new ServerException({ message: 'internal error', $metadata: { httpStatusCode: 500 } }));
    await expect(handler(spotShortage(), context)).rejects.toThrow(/internal error/);
    expect(ecs.commandCalls(TagResourceCommand)).toEqual([]);
    expect(sns.calls()).toEqual([]);
  });

  it('still tells people when tagging fails after the shift, then fails the invocation saying the service moved', async () => {
    serviceIs(DECLARED, [deployment('ecs-svc/1', minutesAgo(120), 'COMPLETED')]);
    ecs.on(TagResourceCommand).rejects(new Error('AccessDenied'));
    const run = handler(spotShortage(), context);
    await expect(run).rejects.toBeInstanceOf(ShiftError);
    await expect(run).rejects.toThrow(/^The service was moved to FARGATE alone, but tagging the service failed: .*AccessDenied\.$/);
    expect(sns.commandCalls(PublishCommand)).toHaveLength(1);
  });

  it('fails when DescribeServices does not describe the service', async () => {
    ecs.on(DescribeServicesCommand).resolves({ services: [], failures: [{ arn: SERVICE_ARN, reason: 'MISSING' }] });
    ecs.on(ListTagsForResourceCommand).resolves({ tags: [] });
    await expect(handler(spotShortage(), context)).rejects.toThrow(/DescribeServices did not describe .*MISSING/);
    expect(updates()).toEqual([]);
  });
});
