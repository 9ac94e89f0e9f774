import { Readable } from 'node:stream';
import { DeregisterTargetsCommand, DescribeTargetHealthCommand } from '@aws-sdk/client-elastic-load-balancing-v2';
import { SendMessageBatchCommand, SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';

// Powertools reads its settings when the handler module loads, before any hook could set them; the
// fake credentials let the real SDK client sign requests in the retry tests.
vi.hoisted(() => {
  delete process.env.POWERTOOLS_DEV;
  process.env.POWERTOOLS_SERVICE_NAME = 'spot-interruption-drainer';
  process.env.POWERTOOLS_METRICS_NAMESPACE = 'Spotwise';
  process.env.AWS_REGION = 'us-east-2';
  process.env.AWS_ACCESS_KEY_ID = 'AKIAIOSFODNN7EXAMPLE';
  process.env.AWS_SECRET_ACCESS_KEY = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY';
});

import { DrainerMetric } from '../../lib/functions/spot-interruption-drainer/contract';
import { ELB_CLIENT_CONFIG, elbClient } from '../../lib/functions/spot-interruption-drainer/elb';
import { handle, handler, RESERVED_MS } from '../../lib/functions/spot-interruption-drainer/handler';
import type { DrainReport } from '../../lib/functions/spot-interruption-notifier/contract';
import {
  FakeElb,
  OTHER_INSTANCE_ID,
  SAMPLE_INSTANCE_ID,
  TARGET_GROUP_API,
  TARGET_GROUP_WEB,
  elbError,
  fakeContext,
  interruptionWarning,
  rebalanceRecommendation,
  recommendationFor,
  registration,
  sqsEvent,
  sqsRecord,
  warningFor,
} from './spot-interruption-drainer.scenarios';

const ME = SAMPLE_INSTANCE_ID;
const OTHER = OTHER_INSTANCE_ID;
const THIRD = 'i-0123456789abcdef1';
const FOREIGN = 'i-0fedcba9876543210';
const QUEUE_URL = 'https://sqs.us-east-2.amazonaws.com/123456789012/spotwise-notifications';

let output: string[];
let elb: FakeElb | undefined;
const sqs = mockClient(SQSClient);

beforeEach(() => {
  output = [];
  const capture = (chunk: string | Uint8Array): boolean => {
    output.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8'));
    return true;
  };
  vi.spyOn(process.stdout, 'write').mockImplementation(capture);
  vi.spyOn(process.stderr, 'write').mockImplementation(capture);
  vi.stubEnv('TARGET_GROUP_ARNS', `${TARGET_GROUP_WEB},${TARGET_GROUP_API}`);
  vi.stubEnv('NOTIFICATION_QUEUE_URL', QUEUE_URL);
  vi.stubEnv('DRAIN_ON_REBALANCE', 'true');
  sqs.reset();
  sqs.on(SendMessageCommand).resolves({ MessageId: 'm-1' });
});

afterEach(() => {
  elb?.restore();
  elb = undefined;
  vi.restoreAllMocks();
  vi.unstubAllEnvs();
});

/** A fake ELB for this test, restored after it. */
function fakeElb(groups: ConstructorParameters<typeof FakeElb>[0]): FakeElb {
  elb = new FakeElb(groups);
  return elb;
}

/** The handler without its ELB pace, which only the tests of the pace wait out (they call `handler`, as Lambda does). */
function invoke(event: SQSEvent, context = fakeContext): Promise<SQSBatchResponse> {
  return handle(event, context, { describe: 0, deregister: 0 });
}

type JsonRecord = Record<string, unknown>;

function records(): JsonRecord[] {
  return output
    .join('')
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as JsonRecord);
}

function logs(level: 'INFO' | 'WARN' | 'ERROR'): JsonRecord[] {
  return records().filter((record) => record.level === level);
}

interface EmfRecord {
  _aws: { CloudWatchMetrics: { Namespace: string; Dimensions: string[][]; Metrics: { Name: string; Unit: string }[] }[] };
  [key: string]: unknown;
}

/** The metrics of the invocations' EMF records, as CloudWatch would read them, summed across invocations. */
function emittedMetrics(): Record<string, number> {
  const emf = records().filter((record): record is EmfRecord => '_aws' in record);
  expect(emf.length).toBeGreaterThan(0);
  const totals: Record<string, number> = {};
  for (const record of emf) {
    const [directive] = record._aws.CloudWatchMetrics;
    expect(directive?.Namespace).toBe('Spotwise');
    expect(directive?.Dimensions).toEqual([['service']]);
    expect(record.service).toBe('spot-interruption-drainer');
    for (const { Name, Unit } of directive?.Metrics ?? []) {
      expect(Unit).toBe('Count');
      totals[Name] = (totals[Name] ?? 0) + Number(record[Name]);
    }
  }
  return totals;
}

function metrics(values: Partial<Record<string, number>>): Record<string, number> {
  return { ...Object.fromEntries(Object.values(DrainerMetric).map((name) => [name, 0])), ...values } as Record<string, number>;
}

/** The drain reports the batch handed to the notifier. */
function reports(): DrainReport[] {
  return sqs.commandCalls(SendMessageCommand).map((call) => {
    expect(call.args[0].input.QueueUrl).toBe(QUEUE_URL);
    return JSON.parse(call.args[0].input.MessageBody ?? '') as DrainReport;
  });
}

const NO_FAILURES: SQSBatchResponse = { batchItemFailures: [] };

describe('draining interrupted instances', () => {
  it.each(['terminate', 'stop', 'hibernate'])('drains the instance on a %s warning', async (action) => {
    vi.stubEnv('TARGET_GROUP_ARNS', TARGET_GROUP_WEB);
    const fake = fakeElb({ [TARGET_GROUP_WEB]: [registration(ME, 80), registration(OTHER, 80)] });

    await expect(invoke(sqsEvent(interruptionWarning({ 'instance-action': action })))).resolves.toEqual(NO_FAILURES);

    expect(fake.calls()).toEqual([
      { command: 'DescribeTargetHealth', input: { TargetGroupArn: TARGET_GROUP_WEB } },
      { command: 'DeregisterTargets', input: { TargetGroupArn: TARGET_GROUP_WEB, Targets: [{ Id: ME, Port: 80 }] } },
    ]);
    expect(fake.state(TARGET_GROUP_WEB).map((target) => target.TargetHealth?.State)).toEqual(['draining', 'healthy']);
    expect(emittedMetrics()).toEqual(metrics({ Messages: 1, Interruptions: 1, InstancesDrained: 1, TargetsDeregistered: 1 }));
  });

  it('drains a whole batch with one describe and one deregistration per target group', async () => {
    const fake = fakeElb({
      [TARGET_GROUP_WEB]: [registration(ME, 80), registration(OTHER, 80), registration(THIRD, 80), registration('i-0aaaaaaaaaaaaaaa1', 80)],
      [TARGET_GROUP_API]: [registration(ME, 8080), registration(THIRD, 8080)],
    });
    const batch = sqsEvent(warningFor(ME), warningFor(OTHER), warningFor(THIRD), warningFor(FOREIGN));

    await expect(invoke(batch)).resolves.toEqual(NO_FAILURES);

    expect(fake.calls()).toHaveLength(4);
    expect(fake.calls()).toEqual(
      expect.arrayContaining([
        { command: 'DescribeTargetHealth', input: { TargetGroupArn: TARGET_GROUP_WEB } },
        { command: 'DescribeTargetHealth', input: { TargetGroupArn: TARGET_GROUP_API } },
        {
          command: 'DeregisterTargets',
          input: { TargetGroupArn: TARGET_GROUP_WEB, Targets: [{ Id: ME, Port: 80 }, { Id: OTHER, Port: 80 }, { Id: THIRD, Port: 80 }] },
        },
        { command: 'DeregisterTargets', input: { TargetGroupArn: TARGET_GROUP_API, Targets: [{ Id: ME, Port: 8080 }, { Id: THIRD, Port: 8080 }] } },
      ]),
    );
    // The never-warned instance keeps serving.
    expect(fake.state(TARGET_GROUP_WEB).find((d) => d.Target?.Id === 'i-0aaaaaaaaaaaaaaa1')?.TargetHealth?.State).toBe('healthy');
    expect(emittedMetrics()).toEqual(
      metrics({ Messages: 4, Interruptions: 4, InstancesDrained: 3, TargetsDeregistered: 5, EventsIgnored: 1 }),
    );
  });

  it('handles a batch mixing ours, foreign, malformed and duplicates, acknowledging all but nothing failed', async () => {
    vi.stubEnv('TARGET_GROUP_ARNS', TARGET_GROUP_WEB);
    const fake = fakeElb({ [TARGET_GROUP_WEB]: [registration(ME, 80), registration(OTHER, 80)] });
    const batch = sqsEvent(
      warningFor(ME, '2026-11-23T12:00:03Z'),
      warningFor(FOREIGN),
      'not json',
      rebalanceRecommendation({ 'instance-id': undefined }),
      recommendationFor(FOREIGN),
      warningFor(ME, '2026-11-23T12:00:01Z'),
      warningFor(OTHER),
    );

    await expect(invoke(batch)).resolves.toEqual(NO_FAILURES);

    expect(fake.calls()).toEqual([
      { command: 'DescribeTargetHealth', input: { TargetGroupArn: TARGET_GROUP_WEB } },
      { command: 'DeregisterTargets', input: { TargetGroupArn: TARGET_GROUP_WEB, Targets: [{ Id: ME, Port: 80 }, { Id: OTHER, Port: 80 }] } },
    ]);
    expect(emittedMetrics()).toEqual(
      metrics({ Messages: 7, Interruptions: 4, RebalanceRecommendations: 1, InstancesDrained: 2, TargetsDeregistered: 2, EventsIgnored: 2, MalformedEvents: 2 }),
    );
  });

  it('deregisters exactly the registered ports, every active one, on non-default ports too', async () => {
    vi.stubEnv('TARGET_GROUP_ARNS', TARGET_GROUP_WEB);
    const fake = fakeElb({
      [TARGET_GROUP_WEB]: [registration(OTHER, 80), registration(ME, 8443), registration(ME, 8080, 'unhealthy'), registration(ME, 9090, 'draining')],
    });

    await invoke(sqsEvent(interruptionWarning()));

    expect(fake.calls().filter((call) => call.command === 'DeregisterTargets')).toEqual([
      { command: 'DeregisterTargets', input: { TargetGroupArn: TARGET_GROUP_WEB, Targets: [{ Id: ME, Port: 8443 }, { Id: ME, Port: 8080 }] } },
    ]);
    expect(emittedMetrics()).toMatchObject({ InstancesDrained: 1, TargetsDeregistered: 2 });
  });

  it('never sends an Availability Zone, which ELB rejects for instance targets', async () => {
    vi.stubEnv('TARGET_GROUP_ARNS', TARGET_GROUP_WEB);
    const fake = fakeElb({ [TARGET_GROUP_WEB]: [registration(ME, 80, 'healthy', 'us-east-2a')] });

    await expect(invoke(sqsEvent(interruptionWarning()))).resolves.toEqual(NO_FAILURES);

    expect(fake.calls()[1]).toEqual({ command: 'DeregisterTargets', input: { TargetGroupArn: TARGET_GROUP_WEB, Targets: [{ Id: ME, Port: 80 }] } });
  });

  it('logs each drained instance with its action and registrations', async () => {
    fakeElb({ [TARGET_GROUP_WEB]: [registration(ME, 80)], [TARGET_GROUP_API]: [] });

    await invoke(sqsEvent(interruptionWarning({ 'instance-action': 'stop' })));

    expect(logs('INFO')).toContainEqual(
      expect.objectContaining({
        message: 'Deregistered the instance from its target groups',
        service: 'spot-interruption-drainer',
        function_request_id: fakeContext.awsRequestId,
        instanceId: ME,
        action: 'stop',
        targets: [{ targetGroup: 'spotwise-web', port: 80 }],
      }),
    );
  });
});

describe('rebalance recommendations', () => {
  it('drains our registered instance on a recommendation at once when nothing waits and another instance is healthy in each group, and reports it as one', async () => {
    const fake = fakeElb({
      [TARGET_GROUP_WEB]: [registration(ME, 80), registration(OTHER, 80)],
      [TARGET_GROUP_API]: [registration(ME, 8080), registration(OTHER, 8080)],
    });

    await expect(invoke(sqsEvent(rebalanceRecommendation()))).resolves.toEqual(NO_FAILURES);

    expect(fake.calls().filter((call) => call.command === 'DeregisterTargets')).toEqual(
      expect.arrayContaining([
        { command: 'DeregisterTargets', input: { TargetGroupArn: TARGET_GROUP_WEB, Targets: [{ Id: ME, Port: 80 }] } },
        { command: 'DeregisterTargets', input: { TargetGroupArn: TARGET_GROUP_API, Targets: [{ Id: ME, Port: 8080 }] } },
      ]),
    );
    expect(fake.calls()).toHaveLength(4);
    expect(fake.state(TARGET_GROUP_WEB).map((target) => target.TargetHealth?.State)).toEqual(['draining', 'healthy']);
    expect(fake.state(TARGET_GROUP_API).map((target) => target.TargetHealth?.State)).toEqual(['draining', 'healthy']);
    const [instance] = reports()[0]?.instances ?? [];
    expect(instance).toEqual({
      instanceId: ME,
      signal: 'rebalance-recommendation',
      warnedAt: '2026-11-23T12:00:00.000Z',
      drainedAt: expect.any(String) as string,
      targets: [
        { targetGroup: 'spotwise-web', port: 80 },
        { targetGroup: 'spotwise-api', port: 8080 },
      ],
    });
    expect(emittedMetrics()).toEqual(metrics({ Messages: 1, RebalanceRecommendations: 1, InstancesDrained: 1, TargetsDeregistered: 2 }));
  });

  it('ignores a recommendation for an instance outside its target groups', async () => {
    const fake = fakeElb({ [TARGET_GROUP_WEB]: [registration(OTHER, 80)], [TARGET_GROUP_API]: [] });

    await expect(invoke(sqsEvent(recommendationFor(FOREIGN)))).resolves.toEqual(NO_FAILURES);

    expect(fake.calls().map((call) => call.command)).toEqual(['DescribeTargetHealth', 'DescribeTargetHealth']);
    expect(sqs.commandCalls(SendMessageCommand)).toHaveLength(0);
    expect(emittedMetrics()).toEqual(metrics({ Messages: 1, RebalanceRecommendations: 1, EventsIgnored: 1 }));
  });

  it.each([
    ['another account', { account: '210987654321' }, /account is "210987654321"/],
    ['another Region', { region: 'eu-west-1' }, /region is "eu-west-1"/],
  ])('acknowledges a recommendation from %s without acting on it, counted as untrusted', async (_name, envelope, reason) => {
    const fake = fakeElb({ [TARGET_GROUP_WEB]: [registration(ME, 80)], [TARGET_GROUP_API]: [registration(ME, 80)] });

    await expect(invoke(sqsEvent(rebalanceRecommendation({}, envelope)))).resolves.toEqual(NO_FAILURES);

    expect(fake.mock.calls()).toHaveLength(0);
    expect(logs('WARN')[0]?.reason).toMatch(reason);
    expect(emittedMetrics()).toEqual(metrics({ Messages: 1, UntrustedEvents: 1 }));
  });

  it.each([
    ['the recommendation first', [recommendationFor(ME, '2026-11-23T11:58:00Z'), warningFor(ME, '2026-11-23T12:00:00Z')]],
    ['the warning first', [warningFor(ME, '2026-11-23T12:00:00Z'), recommendationFor(ME, '2026-11-23T12:00:01Z')]],
  ])('deregisters an instance named by both events in one batch once, and reports the warning (%s)', async (_name, bodies) => {
    vi.stubEnv('TARGET_GROUP_ARNS', TARGET_GROUP_WEB);
    const fake = fakeElb({ [TARGET_GROUP_WEB]: [registration(ME, 80), registration(OTHER, 80)] });

    await expect(invoke(sqsEvent(...bodies))).resolves.toEqual(NO_FAILURES);

    expect(fake.calls()).toEqual([
      { command: 'DescribeTargetHealth', input: { TargetGroupArn: TARGET_GROUP_WEB } },
      { command: 'DeregisterTargets', input: { TargetGroupArn: TARGET_GROUP_WEB, Targets: [{ Id: ME, Port: 80 }] } },
    ]);
    expect(reports()).toHaveLength(1);
    expect(reports()[0]?.instances).toEqual([
      expect.objectContaining({ instanceId: ME, signal: 'interruption-warning', action: 'terminate', warnedAt: '2026-11-23T12:00:00.000Z' }),
    ]);
    expect(emittedMetrics()).toEqual(
      metrics({ Messages: 2, Interruptions: 1, RebalanceRecommendations: 1, InstancesDrained: 1, TargetsDeregistered: 1 }),
    );
  });

  it('finds the instance already draining when the warning follows the recommendation in a later batch', async () => {
    vi.stubEnv('TARGET_GROUP_ARNS', TARGET_GROUP_WEB);
    const fake = fakeElb({ [TARGET_GROUP_WEB]: [registration(ME, 80), registration(OTHER, 80)] });

    await invoke(sqsEvent(rebalanceRecommendation()));
    await expect(invoke(sqsEvent(interruptionWarning()))).resolves.toEqual(NO_FAILURES);

    expect(fake.calls().map((call) => call.command)).toEqual(['DescribeTargetHealth', 'DeregisterTargets', 'DescribeTargetHealth']);
    expect(reports().map((report) => report.instances.map((i) => i.signal))).toEqual([['rebalance-recommendation']]);
  });

  it('reports both messages as failed when the instance they name could not be drained', async () => {
    vi.stubEnv('TARGET_GROUP_ARNS', TARGET_GROUP_WEB);
    fakeElb({ [TARGET_GROUP_WEB]: [registration(ME, 80)] }).failDeregister(TARGET_GROUP_WEB, elbError('TargetGroupNotFound', 400));
    const recommendation = sqsRecord(rebalanceRecommendation(), { messageId: 'recommendation' });
    const warning = sqsRecord(interruptionWarning(), { messageId: 'warning' });

    await expect(invoke({ Records: [recommendation, warning] })).resolves.toEqual({
      batchItemFailures: [{ itemIdentifier: 'recommendation' }, { itemIdentifier: 'warning' }],
    });

    expect(sqs.commandCalls(SendMessageCommand)).toHaveLength(0);
    expect(emittedMetrics()).toMatchObject({ Failures: 2, InstancesDrained: 0 });
  });

  describe('when draining on them is off', () => {
    beforeEach(() => vi.stubEnv('DRAIN_ON_REBALANCE', 'false'));

    it('acknowledges a recommendation for our registered instance without draining it, counted as ignored', async () => {
      const fake = fakeElb({ [TARGET_GROUP_WEB]: [registration(ME, 80)], [TARGET_GROUP_API]: [registration(ME, 8080)] });

      await expect(invoke(sqsEvent(rebalanceRecommendation()))).resolves.toEqual(NO_FAILURES);

      expect(fake.mock.calls()).toHaveLength(0);
      expect(fake.state(TARGET_GROUP_WEB)[0]?.TargetHealth?.State).toBe('healthy');
      expect(sqs.commandCalls(SendMessageCommand)).toHaveLength(0);
      expect(logs('INFO')).toContainEqual(expect.objectContaining({ message: 'Ignoring a rebalance recommendation: draining on them is off', instanceId: ME }));
      expect(emittedMetrics()).toEqual(metrics({ Messages: 1, EventsIgnored: 1 }));
    });

    it('still drains on the warning for the same instance in the same batch', async () => {
      vi.stubEnv('TARGET_GROUP_ARNS', TARGET_GROUP_WEB);
      const fake = fakeElb({ [TARGET_GROUP_WEB]: [registration(ME, 80), registration(OTHER, 80)] });

      await expect(invoke(sqsEvent(recommendationFor(OTHER), rebalanceRecommendation(), interruptionWarning()))).resolves.toEqual(NO_FAILURES);

      expect(fake.calls()[1]).toEqual({ command: 'DeregisterTargets', input: { TargetGroupArn: TARGET_GROUP_WEB, Targets: [{ Id: ME, Port: 80 }] } });
      expect(reports()[0]?.instances).toEqual([expect.objectContaining({ instanceId: ME, signal: 'interruption-warning' })]);
      expect(emittedMetrics()).toEqual(metrics({ Messages: 3, Interruptions: 1, EventsIgnored: 2, InstancesDrained: 1, TargetsDeregistered: 1 }));
    });
  });

  it('drains on recommendations when the setting is absent, as the construct defaults to', async () => {
    vi.stubEnv('DRAIN_ON_REBALANCE', undefined);
    vi.stubEnv('TARGET_GROUP_ARNS', TARGET_GROUP_WEB);
    expect(process.env).not.toHaveProperty('DRAIN_ON_REBALANCE');
    const fake = fakeElb({ [TARGET_GROUP_WEB]: [registration(ME, 80), registration(OTHER, 80)] });

    await invoke(sqsEvent(rebalanceRecommendation()));

    expect(fake.calls().map((call) => call.command)).toEqual(['DescribeTargetHealth', 'DeregisterTargets']);
  });

  it('fails the whole batch when the setting is neither true nor false', async () => {
    vi.stubEnv('DRAIN_ON_REBALANCE', 'yes');
    const fake = fakeElb({ [TARGET_GROUP_WEB]: [registration(ME, 80)] });

    await expect(invoke(sqsEvent(rebalanceRecommendation(), interruptionWarning()))).rejects.toThrow(/DRAIN_ON_REBALANCE is "yes": set it to true or false/);

    expect(fake.mock.calls()).toHaveLength(0);
    expect(emittedMetrics()).toEqual(metrics({ Messages: 2, Failures: 2 }));
  });
});

describe('messages that need no action', () => {
  it('ignores instances outside its target groups, with one describe per group and no deregistration', async () => {
    const fake = fakeElb({ [TARGET_GROUP_WEB]: [registration(OTHER, 80)], [TARGET_GROUP_API]: [] });

    await expect(invoke(sqsEvent(interruptionWarning(), warningFor(FOREIGN)))).resolves.toEqual(NO_FAILURES);

    expect(fake.calls().map((call) => call.command)).toEqual(['DescribeTargetHealth', 'DescribeTargetHealth']);
    expect(sqs.commandCalls(SendMessageCommand)).toHaveLength(0);
    expect(emittedMetrics()).toEqual(metrics({ Messages: 2, Interruptions: 2, EventsIgnored: 2 }));
  });

  it('leaves an instance that is already draining or unused alone', async () => {
    const fake = fakeElb({ [TARGET_GROUP_WEB]: [registration(ME, 80, 'draining')], [TARGET_GROUP_API]: [registration(ME, 80, 'unused')] });

    await expect(invoke(sqsEvent(interruptionWarning()))).resolves.toEqual(NO_FAILURES);

    expect(fake.calls().map((call) => call.command)).toEqual(['DescribeTargetHealth', 'DescribeTargetHealth']);
    expect(sqs.commandCalls(SendMessageCommand)).toHaveLength(0);
    expect(emittedMetrics()).toEqual(metrics({ Messages: 1, Interruptions: 1 }));
  });

  it('is harmless when the same warning is delivered again in a later batch', async () => {
    vi.stubEnv('TARGET_GROUP_ARNS', TARGET_GROUP_WEB);
    const fake = fakeElb({ [TARGET_GROUP_WEB]: [registration(ME, 80)] });

    await invoke(sqsEvent(interruptionWarning()));
    await expect(invoke(sqsEvent(interruptionWarning()))).resolves.toEqual(NO_FAILURES);

    expect(fake.calls().map((call) => call.command)).toEqual(['DescribeTargetHealth', 'DeregisterTargets', 'DescribeTargetHealth']);
    expect(reports()).toHaveLength(1);
  });

  it('makes no ELB call for a batch with nothing to act on', async () => {
    const fake = fakeElb({ [TARGET_GROUP_WEB]: [registration(ME, 80)], [TARGET_GROUP_API]: [] });

    await expect(invoke(sqsEvent('{}', rebalanceRecommendation({}, { account: '210987654321' })))).resolves.toEqual(NO_FAILURES);

    expect(fake.mock.calls()).toHaveLength(0);
  });
});

describe('trust', () => {
  it.each([
    ['another account', { account: '210987654321' }, /account is "210987654321", not this function's 123456789012/],
    ['another Region', { region: 'eu-west-1' }, /region is "eu-west-1", not this function's us-east-2/],
    ['no account', { account: undefined }, /account is missing/],
  ])('acknowledges a warning from %s without acting on it, counted as untrusted', async (_name, envelope, reason) => {
    const fake = fakeElb({ [TARGET_GROUP_WEB]: [registration(ME, 80)], [TARGET_GROUP_API]: [registration(ME, 80)] });
    const event = { ...interruptionWarning(), ...envelope };

    await expect(invoke(sqsEvent(event))).resolves.toEqual(NO_FAILURES);

    expect(fake.mock.calls()).toHaveLength(0);
    expect(logs('WARN')[0]?.reason).toMatch(reason);
    expect(emittedMetrics()).toEqual(metrics({ Messages: 1, UntrustedEvents: 1 }));
  });

  it('takes its own account and Region from the invoked function ARN', async () => {
    vi.stubEnv('TARGET_GROUP_ARNS', TARGET_GROUP_WEB);
    const fake = fakeElb({ [TARGET_GROUP_WEB]: [registration(ME, 80)] });
    const elsewhere = { ...fakeContext, invokedFunctionArn: 'arn:aws:lambda:eu-west-1:210987654321:function:drainer:live' };

    await invoke(sqsEvent(interruptionWarning()), elsewhere);
    expect(fake.mock.calls()).toHaveLength(0);

    await invoke(sqsEvent(interruptionWarning({}, { account: '210987654321', region: 'eu-west-1' })), elsewhere);
    expect(fake.calls().map((call) => call.command)).toEqual(['DescribeTargetHealth', 'DeregisterTargets']);
  });
});

describe('malformed messages', () => {
  const warning = interruptionWarning();
  const withoutDetail: Record<string, unknown> = { ...warning };
  delete withoutDetail.detail;
  const cases: [string, unknown, RegExp][] = [
    ['a body that is not JSON', '{"source":', /not JSON/],
    ['a body that is a JSON array', '[1,2]', /not an object/],
    ['no detail', withoutDetail, /detail is missing/],
    ['a null detail', { ...warning, detail: null }, /detail is null/],
    ['a state-change notification', { ...warning, 'detail-type': 'EC2 Instance State-change Notification' }, /detail-type is "EC2 Instance State-change Notification", not "EC2 Spot Instance Interruption Warning" or "EC2 Instance Rebalance Recommendation"/],
    ['a recommendation without instance-id', rebalanceRecommendation({ 'instance-id': undefined }), /instance-id is missing/],
    ['a recommendation whose instance-id is not an EC2 instance ID', rebalanceRecommendation({ 'instance-id': 'i-XYZ' }), /instance-id is "i-XYZ"/],
    ['a recommendation whose time is not a timestamp', rebalanceRecommendation({}, { time: 'soon' }), /time is "soon"/],
    ['a recommendation from another source', rebalanceRecommendation({}, { source: 'custom.spotwise' }), /source/],
    ['a wrong source', { ...warning, source: 'custom.spotwise' }, /source/],
    ['a time that is not a timestamp', { ...warning, time: 'soon' }, /time is "soon"/],
    ['a missing instance-id', interruptionWarning({ 'instance-id': undefined }), /instance-id is missing/],
    ['a non-string instance-id', interruptionWarning({ 'instance-id': 1234567890 }), /instance-id is 1234567890/],
    ['an instance-id that is not an EC2 instance ID', interruptionWarning({ 'instance-id': 'i-123' }), /instance-id/],
    ['an unknown action', interruptionWarning({ 'instance-action': 'reboot' }), /instance-action is "reboot"/],
    ['a missing action', interruptionWarning({ 'instance-action': undefined }), /instance-action is missing/],
  ];

  it.each(cases)('acknowledges a message with %s, without calling ELB or failing it', async (_name, body, reason) => {
    const fake = fakeElb({ [TARGET_GROUP_WEB]: [registration(ME, 80)], [TARGET_GROUP_API]: [registration(ME, 80)] });

    await expect(invoke(sqsEvent(body))).resolves.toEqual(NO_FAILURES);

    expect(fake.mock.calls()).toHaveLength(0);
    const [warn] = logs('WARN');
    expect(warn).toMatchObject({ message: 'Acknowledging a message that is not a Spot interruption warning or rebalance recommendation' });
    expect(warn?.reason).toMatch(reason);
    expect(emittedMetrics()).toEqual(metrics({ Messages: 1, MalformedEvents: 1 }));
  });
});

describe('failures', () => {
  it('reports every warning of the batch as failed when a target group cannot be described, after draining the others', async () => {
    const fake = fakeElb({ [TARGET_GROUP_WEB]: [registration(ME, 80)], [TARGET_GROUP_API]: [registration(ME, 80)] });
    fake.failDescribe(TARGET_GROUP_API, elbError('AccessDenied', 403, 'User is not authorized to perform: elasticloadbalancing:DescribeTargetHealth'));
    const mine = sqsRecord(interruptionWarning(), { messageId: 'mine' });
    const unknown = sqsRecord(warningFor(FOREIGN), { messageId: 'unknown' });
    const malformed = sqsRecord('garbage', { messageId: 'malformed' });

    await expect(invoke({ Records: [mine, unknown, malformed] })).resolves.toEqual({
      batchItemFailures: [{ itemIdentifier: 'mine' }, { itemIdentifier: 'unknown' }],
    });

    expect(fake.calls()).toContainEqual({ command: 'DeregisterTargets', input: { TargetGroupArn: TARGET_GROUP_WEB, Targets: [{ Id: ME, Port: 80 }] } });
    expect(logs('ERROR')[0]).toMatchObject({ targetGroupArn: TARGET_GROUP_API, error: { name: 'AccessDenied' } });
    expect(emittedMetrics()).toEqual(metrics({ Messages: 3, Interruptions: 2, MalformedEvents: 1, Failures: 2 }));
  });

  it('reports only the instances a failed deregistration carried, and acknowledges the rest', async () => {
    vi.stubEnv('TARGET_GROUP_ARNS', TARGET_GROUP_WEB);
    fakeElb({ [TARGET_GROUP_WEB]: [registration(ME, 80), registration(OTHER, 80, 'draining')] }).failDeregister(
      TARGET_GROUP_WEB,
      elbError('TargetGroupNotFound', 400),
    );
    const mine = sqsRecord(interruptionWarning(), { messageId: 'mine' });
    const duplicate = sqsRecord(interruptionWarning(), { messageId: 'duplicate' });
    const draining = sqsRecord(warningFor(OTHER), { messageId: 'draining' });
    const foreign = sqsRecord(warningFor(FOREIGN), { messageId: 'foreign' });

    await expect(invoke({ Records: [mine, draining, duplicate, foreign] })).resolves.toEqual({
      batchItemFailures: [{ itemIdentifier: 'mine' }, { itemIdentifier: 'duplicate' }],
    });

    expect(sqs.commandCalls(SendMessageCommand)).toHaveLength(0);
    expect(emittedMetrics()).toMatchObject({ Failures: 2, InstancesDrained: 0, EventsIgnored: 1 });
  });

  it.each([
    ['missing', undefined, /TARGET_GROUP_ARNS is not set/],
    ['empty', ' ', /TARGET_GROUP_ARNS is not set/],
    ['not a list of target group ARNs', `${TARGET_GROUP_WEB},,`, /TARGET_GROUP_ARNS entry 2 \(""\) is not a target group ARN/],
    ['a load balancer ARN', 'arn:aws:elasticloadbalancing:us-east-2:123456789012:loadbalancer/app/web/0123456789abcdef', /entry 1/],
  ])('fails the whole batch when TARGET_GROUP_ARNS is %s', async (_name, value, message) => {
    vi.stubEnv('TARGET_GROUP_ARNS', value);
    const fake = fakeElb({ [TARGET_GROUP_WEB]: [registration(ME, 80)] });

    await expect(invoke(sqsEvent(interruptionWarning(), interruptionWarning()))).rejects.toThrow(message);

    expect(fake.mock.calls()).toHaveLength(0);
    expect(emittedMetrics()).toEqual(metrics({ Messages: 2, Failures: 2 }));
  });
});

describe('notifications', () => {
  it('hands the notifier one report per batch naming each drained instance of ours, and no foreign one', async () => {
    fakeElb({ [TARGET_GROUP_WEB]: [registration(ME, 80), registration(OTHER, 80)], [TARGET_GROUP_API]: [registration(ME, 8080)] });

    await invoke(sqsEvent(warningFor(ME, '2026-11-23T12:00:02Z'), warningFor(OTHER, '2026-11-23T12:00:01Z'), warningFor(FOREIGN)));

    const [report] = reports();
    expect(reports()).toHaveLength(1);
    expect(report?.version).toBe(1);
    expect(report?.instances.map((i) => i.instanceId).sort()).toEqual([ME, OTHER].sort());
    expect(report?.instances.find((i) => i.instanceId === ME)).toMatchObject({
      action: 'terminate',
      warnedAt: '2026-11-23T12:00:02.000Z',
      targets: [
        { targetGroup: 'spotwise-web', port: 80 },
        { targetGroup: 'spotwise-api', port: 8080 },
      ],
    });
    expect(Date.parse(report?.instances[0]?.drainedAt ?? '')).not.toBeNaN();
    // Bounded by the invocation's end, as the ELB calls are: a timeout would fail the whole batch.
    const options = (sqs.commandCalls(SendMessageCommand)[0]?.args as unknown[] | undefined)?.[1] as { abortSignal?: AbortSignal } | undefined;
    expect(options?.abortSignal).toBeInstanceOf(AbortSignal);
  });

  it('reports the earliest warning of an instance delivered twice in one batch', async () => {
    vi.stubEnv('TARGET_GROUP_ARNS', TARGET_GROUP_WEB);
    fakeElb({ [TARGET_GROUP_WEB]: [registration(ME, 80)] });

    await invoke(sqsEvent(warningFor(ME, '2026-11-23T12:00:09Z'), warningFor(ME, '2026-11-23T12:00:04Z')));

    expect(reports()[0]?.instances).toEqual([expect.objectContaining({ instanceId: ME, warnedAt: '2026-11-23T12:00:04.000Z' })]);
  });

  it('still acknowledges the batch when the report cannot be sent', async () => {
    vi.stubEnv('TARGET_GROUP_ARNS', TARGET_GROUP_WEB);
    fakeElb({ [TARGET_GROUP_WEB]: [registration(ME, 80)] });
    sqs.on(SendMessageCommand).rejects(new Error('KMS.DisabledException'));

    await expect(invoke(sqsEvent(interruptionWarning()))).resolves.toEqual(NO_FAILURES);

    expect(logs('ERROR')[0]).toMatchObject({ message: 'Could not hand the drain report to the notifier', instances: [ME] });
    expect(emittedMetrics()).toMatchObject({ InstancesDrained: 1, NotificationFailures: 1, Failures: 0 });
  });

  it('sends no report when no notification queue is configured', async () => {
    vi.stubEnv('NOTIFICATION_QUEUE_URL', '');
    vi.stubEnv('TARGET_GROUP_ARNS', TARGET_GROUP_WEB);
    fakeElb({ [TARGET_GROUP_WEB]: [registration(ME, 80)] });

    await expect(invoke(sqsEvent(interruptionWarning()))).resolves.toEqual(NO_FAILURES);

    expect(sqs.commandCalls(SendMessageCommand)).toHaveLength(0);
  });
});

describe('throttling, through the real SDK client', () => {
  interface Request {
    readonly headers: Record<string, string>;
    readonly body?: unknown;
  }
  const xml = (body: string): string => `<?xml version="1.0"?>${body}`;
  const NS = 'http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/';
  const throttled = xml(
    `<ErrorResponse xmlns="${NS}"><Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message></Error><RequestId>a1</RequestId></ErrorResponse>`,
  );
  const described = xml(
    `<DescribeTargetHealthResponse xmlns="${NS}"><DescribeTargetHealthResult><TargetHealthDescriptions>` +
      [ME, OTHER]
        .map((id) => `<member><Target><Id>${id}</Id><Port>80</Port></Target><HealthCheckPort>80</HealthCheckPort><TargetHealth><State>healthy</State></TargetHealth></member>`)
        .join('') +
      `</TargetHealthDescriptions></DescribeTargetHealthResult><ResponseMetadata><RequestId>b2</RequestId></ResponseMetadata></DescribeTargetHealthResponse>`,
  );
  const deregistered = xml(
    `<DeregisterTargetsResponse xmlns="${NS}"><DeregisterTargetsResult/><ResponseMetadata><RequestId>c3</RequestId></ResponseMetadata></DeregisterTargetsResponse>`,
  );
  const httpResponse = (statusCode: number, body: string) => ({
    response: { statusCode, headers: { 'content-type': 'text/xml' }, body: Readable.from([Buffer.from(body)]) },
  });

  /**
   * Replaces only the HTTP transport of the function's real client, so that requests go through the
   * production retry strategy, signing and XML parsing. Jitter is pinned to zero to keep back-off short.
   */
  function fakeTransport(respond: (action: string, attempt: number) => ReturnType<typeof httpResponse> | 'hang') {
    vi.spyOn(Math, 'random').mockReturnValue(0);
    const seen: { action: string; sdkRequest: string | undefined; body: URLSearchParams }[] = [];
    const transport = elbClient().config.requestHandler as { handle(request: Request, options?: { abortSignal?: AbortSignal }): Promise<unknown> };
    vi.spyOn(transport, 'handle').mockImplementation((request: Request, options?: { abortSignal?: AbortSignal }) => {
      const body = new URLSearchParams(String(request.body));
      const action = body.get('Action') ?? '';
      seen.push({ action, sdkRequest: request.headers['amz-sdk-request'], body });
      const response = respond(action, seen.filter((r) => r.action === action).length);
      if (response !== 'hang') return Promise.resolve(response);
      // As the real node:http handler does: only the caller's abort signal ends a request nobody answers.
      return new Promise((_resolve, reject) => {
        const abort = (): void => reject(Object.assign(new Error('Request aborted'), { name: 'AbortError' }));
        if (options?.abortSignal?.aborted === true) abort();
        options?.abortSignal?.addEventListener('abort', abort);
      });
    });
    return seen;
  }

  it('retries throttled calls with jittered back-off inside the invocation, then drains the batch', async () => {
    vi.stubEnv('TARGET_GROUP_ARNS', TARGET_GROUP_WEB);
    const seen = fakeTransport((action, attempt) => {
      if (action === 'DescribeTargetHealth') return attempt <= 2 ? httpResponse(400, throttled) : httpResponse(200, described);
      return attempt === 1 ? httpResponse(400, throttled) : httpResponse(200, deregistered);
    });

    await expect(invoke(sqsEvent(warningFor(ME), warningFor(OTHER)))).resolves.toEqual(NO_FAILURES);

    const max = ELB_CLIENT_CONFIG.maxAttempts;
    expect(seen.map(({ action, sdkRequest }) => [action, sdkRequest])).toEqual([
      ['DescribeTargetHealth', `attempt=1; max=${max}`],
      ['DescribeTargetHealth', `attempt=2; max=${max}`],
      ['DescribeTargetHealth', `attempt=3; max=${max}`],
      ['DeregisterTargets', `attempt=1; max=${max}`],
      ['DeregisterTargets', `attempt=2; max=${max}`],
    ]);
    const deregistration = seen[4]?.body;
    expect(deregistration?.get('TargetGroupArn')).toBe(TARGET_GROUP_WEB);
    expect([deregistration?.get('Targets.member.1.Id'), deregistration?.get('Targets.member.2.Id')]).toEqual([ME, OTHER]);
    expect(deregistration?.has('Targets.member.1.AvailabilityZone')).toBe(false);
    expect(emittedMetrics()).toMatchObject({ InstancesDrained: 2, TargetsDeregistered: 2, ElbRetries: 3, Failures: 0 });
  });

  it('reports the batch as failed, not thrown, when throttling outlasts the SDK retries', async () => {
    vi.stubEnv('TARGET_GROUP_ARNS', TARGET_GROUP_WEB);
    const seen = fakeTransport(() => httpResponse(400, throttled));
    const batch = sqsEvent(warningFor(ME), warningFor(OTHER));

    await expect(invoke(batch)).resolves.toEqual({
      batchItemFailures: batch.Records.map((record) => ({ itemIdentifier: record.messageId })),
    });

    expect(seen).toHaveLength(ELB_CLIENT_CONFIG.maxAttempts);
    expect(logs('ERROR')[0]).toMatchObject({ targetGroupArn: TARGET_GROUP_WEB, error: { name: 'Throttling' } });
    expect(emittedMetrics()).toMatchObject({ Failures: 2, ElbRetries: ELB_CLIENT_CONFIG.maxAttempts - 1 });
  });

  it('stops calling ELB at its deadline and reports the batch as failed rather than timing out', async () => {
    vi.stubEnv('TARGET_GROUP_ARNS', TARGET_GROUP_WEB);
    // Nothing answers: only the deadline can end the call.
    const seen = fakeTransport(() => 'hang');
    const nearlyOutOfTime = { ...fakeContext, getRemainingTimeInMillis: () => RESERVED_MS + 100 };
    const started = Date.now();

    const response = await invoke(sqsEvent(interruptionWarning()), nearlyOutOfTime);

    expect(Date.now() - started).toBeLessThan(1_500);
    expect(response.batchItemFailures).toHaveLength(1);
    expect(seen).toHaveLength(1);
  });

  it('bounds every attempt with connection and request timeouts', () => {
    const { retryMode, requestHandler } = ELB_CLIENT_CONFIG;
    expect(retryMode).toBe('standard');
    expect(requestHandler.connectionTimeout).toBeGreaterThan(0);
    expect(requestHandler.requestTimeout).toBeGreaterThan(0);
    expect(requestHandler.throwOnRequestTimeout).toBe(true);
  });
});

describe('recommendations wait until a replacement serves', () => {
  const DRAINER_QUEUE = 'https://sqs.us-east-2.amazonaws.com/123456789012/spotwise-drainer-queue';
  const REPLACEMENT = 'i-0bbbbccccddddeeee';
  const SECOND_REPLACEMENT = 'i-0ccccddddeeeeffff';
  const fresh = (): string => new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
  const heldOut = (): string => new Date(Date.now() - 301_000).toISOString().replace(/\.\d{3}Z$/, 'Z');
  /** A recommendation as the drainer sends it back to wait: the same body, with the healthy count of its first look. */
  const waiting = (instanceId: string, time: string, healthy: string, dataType = 'Number') => {
    const record = sqsRecord(recommendationFor(instanceId, time), { messageId: `waiting-${instanceId}` });
    return { ...record, messageAttributes: { 'spotwise-healthy-at-recommendation': { dataType, stringValue: healthy, stringListValues: [], binaryListValues: [] } } };
  };
  const sentBack = () =>
    sqs.commandCalls(SendMessageBatchCommand).flatMap((call) => {
      expect(call.args[0].input.QueueUrl).toBe(DRAINER_QUEUE);
      return (call.args[0].input.Entries ?? []).map((entry) => ({
        instanceId: (JSON.parse(entry.MessageBody ?? '{}') as { detail: { 'instance-id': string } }).detail['instance-id'],
        delaySeconds: entry.DelaySeconds,
        healthy: entry.MessageAttributes?.['spotwise-healthy-at-recommendation']?.StringValue,
      }));
    });
  const deregistered = (fake: FakeElb): string[] =>
    fake.calls().flatMap((call) => (call.command === 'DeregisterTargets' ? ((call.input as { Targets: { Id: string }[] }).Targets.map((t) => t.Id)) : []));

  beforeEach(() => {
    vi.stubEnv('TARGET_GROUP_ARNS', TARGET_GROUP_WEB);
    vi.stubEnv('REBALANCE_QUEUE_URL', DRAINER_QUEUE);
    vi.stubEnv('REBALANCE_HOLD_SECONDS', '300');
    sqs.on(SendMessageBatchCommand).callsFake((input: { Entries?: { Id?: string }[] }) => ({
      Successful: (input.Entries ?? []).map((entry) => ({ Id: entry.Id, MessageId: `m-${entry.Id}`, MD5OfMessageBody: '' })),
      Failed: [],
    }));
  });

  it('drains none of the instances when every instance in service is recommended, and sends each back to wait with its group\'s healthy count', async () => {
    const fake = fakeElb({ [TARGET_GROUP_WEB]: [registration(ME, 80), registration(OTHER, 80)] });
    const body = (id: string) => recommendationFor(id, fresh());

    await expect(invoke(sqsEvent(body(ME), body(OTHER)))).resolves.toEqual(NO_FAILURES);

    expect(deregistered(fake)).toEqual([]);
    expect(fake.state(TARGET_GROUP_WEB).map((t) => t.TargetHealth?.State)).toEqual(['healthy', 'healthy']);
    expect(sentBack()).toEqual(
      expect.arrayContaining([
        { instanceId: ME, delaySeconds: 30, healthy: '2' },
        { instanceId: OTHER, delaySeconds: 30, healthy: '2' },
      ]),
    );
    expect(sentBack()).toHaveLength(2);
    expect(emittedMetrics()).toEqual(metrics({ Messages: 2, RebalanceRecommendations: 2, RecommendationsDeferred: 2 }));
  });

  it('drains one recommended instance per healthy replacement, never both before both replacements serve', async () => {
    const fake = fakeElb({ [TARGET_GROUP_WEB]: [registration(ME, 80), registration(OTHER, 80), registration(REPLACEMENT, 80), registration(SECOND_REPLACEMENT, 80, 'initial')] });

    await expect(invoke({ Records: [waiting(ME, fresh(), '2'), waiting(OTHER, fresh(), '2')] })).resolves.toEqual(NO_FAILURES);

    // One of the two (the first by instance id) leaves; the other keeps the group at its two healthy instances.
    expect(deregistered(fake)).toEqual([OTHER]);
    expect(sentBack()).toEqual([{ instanceId: ME, delaySeconds: 30, healthy: '2' }]);
    expect(emittedMetrics()).toEqual(metrics({ Messages: 2, InstancesDrained: 1, TargetsDeregistered: 1, RecommendationsDeferred: 1 }));
  });

  it('drains every recommended instance once their replacements serve', async () => {
    const fake = fakeElb({ [TARGET_GROUP_WEB]: [registration(ME, 80), registration(OTHER, 80), registration(REPLACEMENT, 80), registration(SECOND_REPLACEMENT, 80)] });

    await expect(invoke({ Records: [waiting(ME, fresh(), '2'), waiting(OTHER, fresh(), '2')] })).resolves.toEqual(NO_FAILURES);

    expect(deregistered(fake).sort()).toEqual([ME, OTHER].sort());
    expect(sentBack()).toEqual([]);
    expect(reports()[0]?.instances.map((i) => i.signal)).toEqual(['rebalance-recommendation', 'rebalance-recommendation']);
  });

  it('once the hold runs out without a replacement, drains all but the last healthy instance, which stays in service', async () => {
    const fake = fakeElb({ [TARGET_GROUP_WEB]: [registration(ME, 80), registration(OTHER, 80)] });

    await expect(invoke({ Records: [waiting(ME, heldOut(), '2'), waiting(OTHER, heldOut(), '2')] })).resolves.toEqual(NO_FAILURES);

    expect(deregistered(fake)).toEqual([OTHER]);
    expect(fake.state(TARGET_GROUP_WEB).map((t) => [t.Target?.Id, t.TargetHealth?.State])).toEqual([
      [ME, 'healthy'],
      [OTHER, 'draining'],
    ]);
    expect(sentBack()).toEqual([]);
    expect(logs('WARN')).toContainEqual(expect.objectContaining({ instanceId: ME, message: expect.stringMatching(/last healthy target/) as string }));
    expect(emittedMetrics()).toEqual(metrics({ Messages: 2, InstancesDrained: 1, TargetsDeregistered: 1, RecommendationsKept: 1 }));
  });

  it('never drains an instance that is never replaced while it is the only healthy one: it waits, then stays', async () => {
    const fake = fakeElb({ [TARGET_GROUP_WEB]: [registration(ME, 80), registration(OTHER, 80, 'unhealthy')] });

    await invoke(sqsEvent(recommendationFor(ME, fresh())));
    await invoke({ Records: [waiting(ME, fresh(), '1')] });
    await invoke({ Records: [waiting(ME, heldOut(), '1')] });

    expect(deregistered(fake)).toEqual([]);
    expect(sentBack().map((s) => s.instanceId)).toEqual([ME, ME]);
    expect(emittedMetrics()).toMatchObject({ RecommendationsDeferred: 2, RecommendationsKept: 1, InstancesDrained: 0, Failures: 0 });
  });

  it('still drains every instance at once on interruption warnings after their recommendations, the last healthy one too', async () => {
    const fake = fakeElb({ [TARGET_GROUP_WEB]: [registration(ME, 80), registration(OTHER, 80)] });

    await invoke(sqsEvent(recommendationFor(ME, fresh()), recommendationFor(OTHER, fresh())));
    await expect(invoke(sqsEvent(warningFor(ME, fresh()), warningFor(OTHER, fresh())))).resolves.toEqual(NO_FAILURES);

    expect(deregistered(fake).sort()).toEqual([ME, OTHER].sort());
    expect(fake.state(TARGET_GROUP_WEB).map((t) => t.TargetHealth?.State)).toEqual(['draining', 'draining']);
  });

  it('drains at once a recommendation whose instance serves nothing', async () => {
    const fake = fakeElb({ [TARGET_GROUP_WEB]: [registration(ME, 80, 'unhealthy'), registration(OTHER, 80)] });

    await invoke(sqsEvent(recommendationFor(ME, fresh())));

    expect(deregistered(fake)).toEqual([ME]);
    expect(sentBack()).toEqual([]);
  });

  it('treats a waiting count it cannot read as a first look: it only ever waits, never drains the last', async () => {
    const fake = fakeElb({ [TARGET_GROUP_WEB]: [registration(ME, 80), registration(OTHER, 80)] });

    await expect(invoke({ Records: [waiting(ME, fresh(), 'lots'), waiting(OTHER, heldOut(), '0', 'String')] })).resolves.toEqual(NO_FAILURES);

    expect(deregistered(fake)).toEqual([OTHER]);
    expect(sentBack()).toEqual([{ instanceId: ME, delaySeconds: 30, healthy: '2' }]);
    expect(logs('WARN').filter((w) => w.message === 'Ignoring a malformed waiting-recommendation attribute')).toHaveLength(2);
  });

  it('cannot be made to drain the last healthy instance by a forged count', async () => {
    const fake = fakeElb({ [TARGET_GROUP_WEB]: [registration(ME, 80)] });

    await expect(invoke({ Records: [waiting(ME, fresh(), '1')] })).resolves.toEqual(NO_FAILURES);

    expect(deregistered(fake)).toEqual([]);
    expect(sentBack()).toEqual([{ instanceId: ME, delaySeconds: 30, healthy: '1' }]);
  });

  it('does not hold a recommendation dated ahead of its clock', async () => {
    const fake = fakeElb({ [TARGET_GROUP_WEB]: [registration(ME, 80), registration(OTHER, 80)] });

    await invoke(sqsEvent(recommendationFor(ME, '2099-01-01T00:00:00Z')));

    expect(deregistered(fake)).toEqual([ME]);
    expect(sentBack()).toEqual([]);
  });

  it('waits no longer than the hold: the last look comes at its end', async () => {
    fakeElb({ [TARGET_GROUP_WEB]: [registration(ME, 80), registration(OTHER, 80)] });

    await invoke(sqsEvent(recommendationFor(ME, new Date(Date.now() - 290_000).toISOString())));

    const [entry] = sentBack();
    expect(entry?.delaySeconds).toBeGreaterThanOrEqual(8);
    expect(entry?.delaySeconds).toBeLessThanOrEqual(10);
  });

  it('reports a recommendation as failed when it cannot be sent back to wait, so that it is not lost', async () => {
    fakeElb({ [TARGET_GROUP_WEB]: [registration(ME, 80), registration(OTHER, 80)] });
    sqs.on(SendMessageBatchCommand).rejects(new Error('AccessDenied'));
    const record = sqsRecord(recommendationFor(ME, fresh()), { messageId: 'recommendation' });

    await expect(invoke({ Records: [record] })).resolves.toEqual({ batchItemFailures: [{ itemIdentifier: 'recommendation' }] });

    expect(emittedMetrics()).toMatchObject({ Failures: 1, RecommendationsDeferred: 0 });
  });

  it('reports only the entries SQS refused as failed', async () => {
    fakeElb({ [TARGET_GROUP_WEB]: [registration(ME, 80), registration(OTHER, 80)] });
    // SQS refuses the entry for OTHER and takes the one for ME.
    sqs.on(SendMessageBatchCommand).callsFake((input: { Entries?: { Id?: string; MessageBody?: string }[] }) => {
      const entries = input.Entries ?? [];
      const refused = entries.filter((entry) => entry.MessageBody?.includes(OTHER) === true);
      return {
        Successful: entries.filter((entry) => !refused.includes(entry)).map((entry) => ({ Id: entry.Id, MessageId: 'm', MD5OfMessageBody: '' })),
        Failed: refused.map((entry) => ({ Id: entry.Id, Code: 'InternalError', SenderFault: false })),
      };
    });
    const records = [sqsRecord(recommendationFor(ME, fresh()), { messageId: 'me' }), sqsRecord(recommendationFor(OTHER, fresh()), { messageId: 'other' })];

    await expect(invoke({ Records: records })).resolves.toEqual({ batchItemFailures: [{ itemIdentifier: 'other' }] });
  });

  it('counts a recommendation once, when EventBridge delivers it, not each time it comes back', async () => {
    fakeElb({ [TARGET_GROUP_WEB]: [registration(ME, 80), registration(OTHER, 80)] });

    await invoke(sqsEvent(recommendationFor(ME, fresh())));
    await invoke({ Records: [waiting(ME, fresh(), '2')] });

    expect(emittedMetrics()).toMatchObject({ RebalanceRecommendations: 1, RecommendationsDeferred: 2 });
  });
});

describe('chunks and pace', () => {
  const many = (count: number): string[] => Array.from({ length: count }, (_, i) => `i-0${(0xabc0000000000 + i).toString(16).padStart(16, '0')}`);

  it('deregisters in calls of at most 200 targets, keeping each instance\'s ports in one call, one call a second', async () => {
    vi.stubEnv('TARGET_GROUP_ARNS', TARGET_GROUP_WEB);
    const ids = many(449);
    const fake = fakeElb({ [TARGET_GROUP_WEB]: [...ids.map((id) => registration(id, 80)), registration(ids[199] as string, 8080)] });
    const started = Date.now();

    await expect(handler(sqsEvent(...ids.map((id) => warningFor(id))), fakeContext)).resolves.toEqual(NO_FAILURES);

    const calls = fake.calls().filter((call) => call.command === 'DeregisterTargets');
    const sizes = calls.map((call) => (call.input as { Targets: { Id: string }[] }).Targets.length);
    expect(sizes).toEqual([199, 200, 51]);
    const second = (calls[1]?.input as { Targets: { Id: string; Port: number }[] }).Targets;
    expect(second.filter((t) => t.Id === ids[199])).toHaveLength(2);
    // Three calls a second apart, and the slot held for one more second after the last.
    expect(Date.now() - started).toBeGreaterThanOrEqual(3 * 1_000 - 50);
    expect(fake.state(TARGET_GROUP_WEB).every((t) => t.TargetHealth?.State === 'draining')).toBe(true);
    expect(emittedMetrics()).toMatchObject({ InstancesDrained: 449, TargetsDeregistered: 450, Failures: 0 });
  });

  it('fails only the instances of a chunk that failed', async () => {
    vi.stubEnv('TARGET_GROUP_ARNS', TARGET_GROUP_WEB);
    const ids = many(250);
    const fake = fakeElb({ [TARGET_GROUP_WEB]: ids.map((id) => registration(id, 80)) });
    let call = 0;
    fake.mock.on(DeregisterTargetsCommand).callsFake(() => {
      call += 1;
      if (call === 2) throw elbError('Throttling', 400, 'Rate exceeded');
      return {};
    });
    const records = ids.map((id) => sqsRecord(warningFor(id), { messageId: id }));

    const { batchItemFailures } = await invoke({ Records: records });

    expect(batchItemFailures.map((f) => f.itemIdentifier)).toEqual(ids.slice(200));
    expect(emittedMetrics()).toMatchObject({ InstancesDrained: 200, Failures: 50 });
  });
});

describe('deadlines that hold whatever the SDK does', () => {
  const nearlyOutOfTime = { ...fakeContext, getRemainingTimeInMillis: () => RESERVED_MS + 300 };
  const never = () => new Promise<never>(() => undefined);

  it('answers before the timeout, with every message failed, when a describe never settles and ignores its abort signal', async () => {
    vi.stubEnv('TARGET_GROUP_ARNS', TARGET_GROUP_WEB);
    const fake = fakeElb({ [TARGET_GROUP_WEB]: [registration(ME, 80)] });
    fake.mock.on(DescribeTargetHealthCommand).callsFake(never);
    const batch = sqsEvent(warningFor(ME), warningFor(OTHER));
    const started = Date.now();

    const response = await invoke(batch, nearlyOutOfTime);

    expect(Date.now() - started).toBeLessThan(RESERVED_MS);
    expect(response).toEqual({ batchItemFailures: batch.Records.map((r) => ({ itemIdentifier: r.messageId })) });
    expect(emittedMetrics()).toMatchObject({ Failures: 2 });
  });

  it('answers before the timeout, failing the instances a hung deregistration carried and acknowledging the rest', async () => {
    vi.stubEnv('TARGET_GROUP_ARNS', TARGET_GROUP_WEB);
    const fake = fakeElb({ [TARGET_GROUP_WEB]: [registration(ME, 80), registration(OTHER, 80, 'draining')] });
    fake.mock.on(DeregisterTargetsCommand).callsFake(never);
    const mine = sqsRecord(warningFor(ME), { messageId: 'mine' });
    const done = sqsRecord(warningFor(OTHER), { messageId: 'done' });
    const started = Date.now();

    await expect(invoke({ Records: [mine, done] }, nearlyOutOfTime)).resolves.toEqual({ batchItemFailures: [{ itemIdentifier: 'mine' }] });

    expect(Date.now() - started).toBeLessThan(RESERVED_MS);
  });

  it('answers before the timeout when sending recommendations back never settles', async () => {
    vi.stubEnv('TARGET_GROUP_ARNS', TARGET_GROUP_WEB);
    vi.stubEnv('REBALANCE_QUEUE_URL', 'https://sqs.us-east-2.amazonaws.com/123456789012/spotwise-drainer-queue');
    vi.stubEnv('REBALANCE_HOLD_SECONDS', '300');
    fakeElb({ [TARGET_GROUP_WEB]: [registration(ME, 80), registration(OTHER, 80)] });
    sqs.on(SendMessageBatchCommand).callsFake(never);
    const record = sqsRecord(recommendationFor(ME, new Date().toISOString()), { messageId: 'recommendation' });
    const timeoutMs = RESERVED_MS + 1_000;
    const end = Date.now() + timeoutMs;
    const context = { ...fakeContext, getRemainingTimeInMillis: () => Math.max(0, end - Date.now()) };

    await expect(invoke({ Records: [record] }, context)).resolves.toEqual({ batchItemFailures: [{ itemIdentifier: 'recommendation' }] });

    expect(Date.now()).toBeLessThan(end);
  });
});

describe('registrations that are not in use', () => {
  it('logs an unused registration by its reason, not as draining', async () => {
    vi.stubEnv('TARGET_GROUP_ARNS', TARGET_GROUP_WEB);
    fakeElb({
      [TARGET_GROUP_WEB]: [
        { Target: { Id: ME, Port: 80 }, HealthCheckPort: '80', TargetHealth: { State: 'unused', Reason: 'Target.InvalidState' } },
        { Target: { Id: OTHER, Port: 80 }, HealthCheckPort: '80', TargetHealth: { State: 'unused', Reason: 'Target.NotRegistered' } },
      ],
    });

    await expect(invoke(sqsEvent(warningFor(ME), warningFor(OTHER)))).resolves.toEqual(NO_FAILURES);

    const info = logs('INFO');
    expect(info).toContainEqual(expect.objectContaining({ instanceId: ME, state: 'unused', reason: 'Target.InvalidState', message: "The instance's registration is not in use: Target.InvalidState" }));
    expect(info).toContainEqual(expect.objectContaining({ instanceId: OTHER, reason: 'Target.NotRegistered' }));
    expect(info.filter((record) => record.message === 'The instance is already draining from its target groups')).toEqual([]);
  });
});
