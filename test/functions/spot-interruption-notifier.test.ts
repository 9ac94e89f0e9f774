import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { DeleteMessageBatchCommand, ReceiveMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import type { Message } from '@aws-sdk/client-sqs';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';

vi.hoisted(() => {
  delete process.env.POWERTOOLS_DEV;
  process.env.POWERTOOLS_SERVICE_NAME = 'spot-interruption-notifier';
  process.env.POWERTOOLS_METRICS_NAMESPACE = 'Spotwise';
  process.env.AWS_REGION = 'us-east-2';
});

import type { DrainedInstance, DrainReport } from '../../lib/functions/spot-interruption-notifier/contract';
import { handler, MAX_MESSAGES_PER_RUN } from '../../lib/functions/spot-interruption-notifier/handler';
import { composeNotification, MAX_LISTED_INSTANCES, mergeInstances, parseReport } from '../../lib/functions/spot-interruption-notifier/message';
import { fakeContext, scheduledEvent } from '../support/lambda';

const QUEUE_URL = 'https://sqs.us-east-2.amazonaws.com/123456789012/spotwise-notifications';
const TOPIC_ARN = 'arn:aws:sns:us-east-2:123456789012:spotwise-notifications';
const context = fakeContext('spotwise-spot-interruption-notifier');

const sqs = mockClient(SQSClient);
const sns = mockClient(SNSClient);

function instance(n: number, overrides: Partial<DrainedInstance> = {}): DrainedInstance {
  const second = String(n % 60).padStart(2, '0');
  return {
    instanceId: `i-0${n.toString(16).padStart(16, '0')}`,
    action: 'terminate',
    warnedAt: `2026-11-23T12:00:${second}.000Z`,
    drainedAt: `2026-11-23T12:00:${second}.400Z`,
    targets: [{ targetGroup: 'spotwise-web', port: 80 }],
    ...overrides,
  };
}

function report(...instances: DrainedInstance[]): DrainReport {
  return { version: 1, instances };
}

/** Queue messages as ReceiveMessage returns them, ten at a time. */
function queue(...bodies: unknown[]): void {
  const messages: Message[] = bodies.map((body, i) => ({
    MessageId: `m${i}`,
    ReceiptHandle: `rh${i}`,
    Body: typeof body === 'string' ? body : JSON.stringify(body),
  }));
  const receive = sqs.on(ReceiveMessageCommand);
  for (let i = 0; i < messages.length; i += 10) receive.resolvesOnce({ Messages: messages.slice(i, i + 10) });
  receive.resolves({});
}

function deleted(): string[] {
  return sqs.commandCalls(DeleteMessageBatchCommand).flatMap((call) => (call.args[0].input.Entries ?? []).map((e) => e.ReceiptHandle ?? ''));
}

beforeEach(() => {
  sqs.reset();
  sns.reset();
  sqs.on(DeleteMessageBatchCommand).resolves({ Successful: [], Failed: [] });
  sns.on(PublishCommand).resolves({ MessageId: 'n-1' });
  vi.stubEnv('NOTIFICATION_QUEUE_URL', QUEUE_URL);
  vi.stubEnv('TOPIC_ARN', TOPIC_ARN);
  vi.stubEnv('STACK_NAME', 'SpotFleetWebApp');
  vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
  vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
});

afterEach(() => {
  vi.restoreAllMocks();
  vi.unstubAllEnvs();
});

describe('a run', () => {
  it('tells one interruption as one sentence naming the instance, the action, the times and the stack', async () => {
    queue(report(instance(1)));

    await expect(handler(scheduledEvent(), context)).resolves.toEqual({ reports: 1, instances: 1, published: true });

    const [publish] = sns.commandCalls(PublishCommand);
    expect(sns.commandCalls(PublishCommand)).toHaveLength(1);
    expect(publish?.args[0].input).toEqual({
      TopicArn: TOPIC_ARN,
      Subject: 'Spot interruption: i-00000000000000001 drained (SpotFleetWebApp)',
      Message:
        'Stack SpotFleetWebApp: EC2 warned at 2026-11-23 12:00:01 UTC that it will terminate Spot instance i-00000000000000001 two minutes ' +
        'later, and the drainer took it out of the load balancer at 2026-11-23 12:00:01 UTC (spotwise-web port 80).\n',
    });
    expect(deleted()).toEqual(['rh0']);
  });

  it('gathers every report waiting on the queue into one message that lists each instance', async () => {
    const reports = Array.from({ length: 25 }, (_, r) => report(...Array.from({ length: 20 }, (_, i) => instance(r * 20 + i + 1))));
    queue(...reports);

    await expect(handler(scheduledEvent(), context)).resolves.toEqual({ reports: 25, instances: 500, published: true });

    const calls = sns.commandCalls(PublishCommand);
    expect(calls).toHaveLength(1);
    const { Subject, Message } = calls[0]?.args[0].input ?? {};
    expect(Subject).toBe('Spot interruptions: 500 instances drained (SpotFleetWebApp)');
    for (let n = 1; n <= 500; n += 1) expect(Message).toContain(`- i-0${n.toString(16).padStart(16, '0')}: interruption warning (terminate) at`);
    expect(Buffer.byteLength(Message ?? '')).toBeLessThan(256 * 1024);
    expect(deleted()).toHaveLength(25);
  });

  it('publishes nothing and deletes nothing when the queue is empty', async () => {
    queue();

    await expect(handler(scheduledEvent(), context)).resolves.toEqual({ reports: 0, instances: 0, published: false });

    expect(sns.commandCalls(PublishCommand)).toHaveLength(0);
    expect(sqs.commandCalls(DeleteMessageBatchCommand)).toHaveLength(0);
    expect(sqs.commandCalls(ReceiveMessageCommand)[0]?.args[0].input).toMatchObject({ QueueUrl: QUEUE_URL, WaitTimeSeconds: 1, MaxNumberOfMessages: 10 });
  });

  it('deletes messages that are not drain reports, and tells the rest', async () => {
    queue('not json', { version: 2, instances: [] }, { version: 1, instances: [{ instanceId: 'i-1' }] }, report(instance(7)));

    await expect(handler(scheduledEvent(), context)).resolves.toEqual({ reports: 1, instances: 1, published: true });

    expect(deleted().sort()).toEqual(['rh0', 'rh1', 'rh2', 'rh3']);
  });

  it('deletes a valid report that names no instance without publishing, so that it does not come back until the dead-letter queue', async () => {
    queue(report(), report());

    await expect(handler(scheduledEvent(), context)).resolves.toEqual({ reports: 2, instances: 0, published: false });

    expect(sns.commandCalls(PublishCommand)).toHaveLength(0);
    expect(deleted().sort()).toEqual(['rh0', 'rh1']);
  });

  it('deletes a report that names no instance along with the ones it tells', async () => {
    queue(report(), report(instance(3)));

    await expect(handler(scheduledEvent(), context)).resolves.toEqual({ reports: 2, instances: 1, published: true });

    expect(sns.commandCalls(PublishCommand)).toHaveLength(1);
    expect(deleted().sort()).toEqual(['rh0', 'rh1']);
  });

  it('keeps the reports on the queue for the next run when publishing fails', async () => {
    queue(report(instance(1)), 'garbage');
    sns.on(PublishCommand).rejects(new Error('AuthorizationError'));

    await expect(handler(scheduledEvent(), context)).rejects.toThrow('AuthorizationError');

    expect(deleted()).toEqual(['rh1']);
  });

  it('reads at most a bounded number of reports per run', async () => {
    sqs.on(ReceiveMessageCommand).resolves({ Messages: Array.from({ length: 10 }, (_, i) => ({ ReceiptHandle: `rh${i}`, Body: JSON.stringify(report(instance(i + 1))) })) });

    const summary = await handler(scheduledEvent(), context);

    expect(summary.reports).toBe(MAX_MESSAGES_PER_RUN);
    expect(sqs.commandCalls(ReceiveMessageCommand)).toHaveLength(MAX_MESSAGES_PER_RUN / 10);
  });

  it('fails with a clear reason when its settings are missing', async () => {
    vi.stubEnv('TOPIC_ARN', '');

    await expect(handler(scheduledEvent(), context)).rejects.toThrow(/TOPIC_ARN is not set/);
    expect(sqs.commandCalls(ReceiveMessageCommand)).toHaveLength(0);
  });
});

describe('messages', () => {
  it('stays under SNS\'s 256 KiB however many registrations each instance had, and lists each registration once', () => {
    const targets = Array.from({ length: 6 }, (_, g) => ({ targetGroup: `spotwise-group-with-a-long-name-${g}`, port: 10_000 + g }));
    const many = Array.from({ length: MAX_LISTED_INSTANCES }, (_, i) => instance(i + 1, { targets }));
    const merged = mergeInstances([report(...many), report(...many)]);
    expect(merged[0]?.targets).toHaveLength(6);

    const { message } = composeNotification('SpotFleetWebApp', merged);

    expect(Buffer.byteLength(message)).toBeLessThan(256 * 1024);
    expect(message).toMatch(/- and \d+ more: the drainer's log has every one\.\n$/);
  });

  it('lists one line per instance, merging an instance reported twice', () => {
    const merged = mergeInstances([
      report(instance(2), instance(1, { targets: [{ targetGroup: 'spotwise-web', port: 80 }] })),
      report(instance(1, { warnedAt: '2026-11-23T11:59:59.000Z', targets: [{ targetGroup: 'spotwise-api', port: 8080 }] })),
    ]);

    expect(merged.map((i) => i.instanceId)).toEqual(['i-00000000000000001', 'i-00000000000000002']);
    expect(merged[0]).toMatchObject({
      warnedAt: '2026-11-23T11:59:59.000Z',
      targets: [
        { targetGroup: 'spotwise-web', port: 80 },
        { targetGroup: 'spotwise-api', port: 8080 },
      ],
    });
    const { message } = composeNotification('SpotFleetWebApp', merged);
    expect(message).toContain('between 2026-11-23 11:59:59 UTC and 2026-11-23 12:00:02 UTC EC2 warned that it will reclaim 2 of our Spot instances');
    expect(message).toContain(
      '- i-00000000000000001: interruption warning (terminate) at 2026-11-23 11:59:59 UTC, out of the load balancer at 2026-11-23 12:00:01 UTC ' +
        '(spotwise-web port 80, spotwise-api port 8080)',
    );
  });

  it('stays inside SNS limits for a huge reclaim and an overlong stack name', () => {
    const many = Array.from({ length: MAX_LISTED_INSTANCES + 5 }, (_, i) => instance(i + 1));
    const { subject, message } = composeNotification('S'.repeat(128), many);

    expect(subject.length).toBeLessThan(100);
    expect(subject).toMatch(/^[\x20-\x7e]+$/);
    expect(Buffer.byteLength(message)).toBeLessThan(256 * 1024);
    expect(message).toContain('- and 5 more');
  });
});

describe('signals', () => {
  const recommended = (n: number, overrides: Partial<DrainedInstance> = {}): DrainedInstance => {
    const { action: _action, ...rest } = instance(n, { signal: 'rebalance-recommendation', ...overrides });
    return rest;
  };

  it('tells one rebalance recommendation as one sentence that says it was a recommendation, not a warning', () => {
    expect(composeNotification('SpotFleetWebApp', [recommended(1)])).toEqual({
      subject: 'Spot rebalance recommendation: i-00000000000000001 drained (SpotFleetWebApp)',
      message:
        'Stack SpotFleetWebApp: EC2 recommended at 2026-11-23 12:00:01 UTC rebalancing Spot instance i-00000000000000001, which is at ' +
        'elevated risk of interruption, and the drainer took it out of the load balancer at 2026-11-23 12:00:01 UTC (spotwise-web port 80).\n',
    });
  });

  it('tells one interruption warning with its action, and reads a report without a signal as a warning', () => {
    const { signal: _signal, ...legacy } = instance(1, { action: 'stop' });
    for (const one of [instance(1, { signal: 'interruption-warning', action: 'stop' }), legacy]) {
      const { subject, message } = composeNotification('SpotFleetWebApp', [one]);
      expect(subject).toBe('Spot interruption: i-00000000000000001 drained (SpotFleetWebApp)');
      expect(message).toMatch(/^Stack SpotFleetWebApp: EC2 warned at 2026-11-23 12:00:01 UTC that it will stop Spot instance i-00000000000000001 two minutes later, /);
    }
  });

  it('names the signal on each line of a message about many, and counts each kind in the summary', () => {
    const { subject, message } = composeNotification('SpotFleetWebApp', [instance(1), recommended(2), recommended(3)]);

    expect(subject).toBe('Spot interruptions and rebalance recommendations: 3 instances drained (SpotFleetWebApp)');
    expect(message).toBe(
      'Stack SpotFleetWebApp: between 2026-11-23 12:00:01 UTC and 2026-11-23 12:00:03 UTC EC2 warned that it will reclaim 1 of our Spot ' +
        'instances, each two minutes after its warning, and recommended rebalancing 2 more (at elevated risk of interruption), ' +
        'and the drainer took every one of them out of the load balancer.\n\n' +
        '- i-00000000000000001: interruption warning (terminate) at 2026-11-23 12:00:01 UTC, out of the load balancer at 2026-11-23 12:00:01 UTC (spotwise-web port 80)\n' +
        '- i-00000000000000002: rebalance recommendation at 2026-11-23 12:00:02 UTC, out of the load balancer at 2026-11-23 12:00:02 UTC (spotwise-web port 80)\n' +
        '- i-00000000000000003: rebalance recommendation at 2026-11-23 12:00:03 UTC, out of the load balancer at 2026-11-23 12:00:03 UTC (spotwise-web port 80)\n',
    );
  });

  it('says only recommendations when every instance was drained on one', () => {
    const { subject, message } = composeNotification('SpotFleetWebApp', [recommended(1), recommended(2)]);

    expect(subject).toBe('Spot rebalance recommendations: 2 instances drained (SpotFleetWebApp)');
    expect(message).toMatch(
      /^Stack SpotFleetWebApp: between 2026-11-23 12:00:01 UTC and 2026-11-23 12:00:02 UTC EC2 recommended rebalancing 2 of our Spot instances \(at elevated risk of interruption\), and the drainer/,
    );
    expect(message).not.toMatch(/warn/);
  });

  it('merges an instance reported on both signals into one line naming the warning', () => {
    const merged = mergeInstances([
      report(recommended(1, { warnedAt: '2026-11-23T11:58:00.000Z', drainedAt: '2026-11-23T11:58:01.000Z' })),
      report(instance(1, { signal: 'interruption-warning', targets: [{ targetGroup: 'spotwise-api', port: 8080 }] })),
      report(recommended(1, { warnedAt: '2026-11-23T11:57:00.000Z' })),
    ]);

    expect(merged).toEqual([
      {
        instanceId: 'i-00000000000000001',
        signal: 'interruption-warning',
        action: 'terminate',
        warnedAt: '2026-11-23T12:00:01.000Z',
        drainedAt: '2026-11-23T11:58:01.000Z',
        targets: [
          { targetGroup: 'spotwise-web', port: 80 },
          { targetGroup: 'spotwise-api', port: 8080 },
        ],
      },
    ]);
  });

  it('reads reports of either signal, and of none, and drops a warning without an action or an unknown signal', () => {
    const { action: _action, ...noAction } = instance(3);
    expect(parseReport(JSON.stringify(report(recommended(1), instance(2, { signal: 'interruption-warning' }), instance(4))))?.instances).toHaveLength(3);
    expect(parseReport(JSON.stringify(report(noAction)))).toBeUndefined();
    expect(parseReport(JSON.stringify(report({ ...recommended(1), signal: 'reboot' as never })))).toBeUndefined();
  });

  it('tells a recommendation and a warning waiting on the queue in one run', async () => {
    queue(report(recommended(1)), report(instance(2)));

    await expect(handler(scheduledEvent(), context)).resolves.toEqual({ reports: 2, instances: 2, published: true });

    const message = sns.commandCalls(PublishCommand)[0]?.args[0].input.Message ?? '';
    expect(message).toContain('- i-00000000000000001: rebalance recommendation at 2026-11-23 12:00:01 UTC');
    expect(message).toContain('- i-00000000000000002: interruption warning (terminate) at 2026-11-23 12:00:02 UTC');
  });
});
