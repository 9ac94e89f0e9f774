import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Readable } from 'node:stream';
import type { EventBridgeEvent } from 'aws-lambda';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';

// Powertools reads its settings when the handler module loads, before any hook could set them; the
// fake credentials let the real SDK client sign requests in the retry tests.
vi.hoisted(() => {
  delete process.env.POWERTOOLS_DEV;
  process.env.POWERTOOLS_SERVICE_NAME = 'spot-drainer';
  process.env.POWERTOOLS_METRICS_NAMESPACE = 'Spotwise';
  process.env.AWS_REGION = 'us-east-2';
  process.env.AWS_ACCESS_KEY_ID = 'AKIAIOSFODNN7EXAMPLE';
  process.env.AWS_SECRET_ACCESS_KEY = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY';
});

import { DrainIncompleteError } from '../../lib/functions/spot-drainer/drain';
import { ELB_CLIENT_CONFIG, elbClient } from '../../lib/functions/spot-drainer/elb';
import { handler } from '../../lib/functions/spot-drainer/handler';
import { FIXTURES_DIR, sampleEvent } from '../support/lambda';
import {
  FakeElb,
  OTHER_INSTANCE_ID,
  SAMPLE_INSTANCE_ID,
  TARGET_GROUP_API,
  TARGET_GROUP_WEB,
  elbError,
  fakeContext,
  interruptionWarning,
  registration,
  runDrainerScenarios,
} from './spot-drainer.scenarios';

const ME = SAMPLE_INSTANCE_ID;
const OTHER = OTHER_INSTANCE_ID;

let output: string[];
let elb: FakeElb | undefined;

beforeEach(() => {
  output = [];
  const capture = (chunk: string | Uint8Array): boolean => {
    output.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8'));
    return true;
  };
  vi.spyOn(process.stdout, 'write').mockImplementation(capture);
  vi.spyOn(process.stderr, 'write').mockImplementation(capture);
  vi.stubEnv('TARGET_GROUP_ARNS', `${TARGET_GROUP_WEB},${TARGET_GROUP_API}`);
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

function invoke(event: EventBridgeEvent<string, unknown>): Promise<void> {
  return handler(event, fakeContext);
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

/** The metrics of the invocation's EMF records, as CloudWatch would read them, summed across invocations. */
function emittedMetrics(): Record<string, number> {
  expect(output.join('')).not.toContain('No application metrics to publish');
  const emf = records().filter((record): record is EmfRecord => '_aws' in record);
  expect(emf.length).toBeGreaterThan(0);
  const totals: Record<string, number> = {};
  for (const record of emf) {
    const [directive] = record._aws.CloudWatchMetrics;
    expect(directive?.Namespace).toBe('Spotwise');
    expect(directive?.Dimensions).toEqual([['service']]);
    expect(record.service).toBe('spot-drainer');
    for (const { Name, Unit } of directive?.Metrics ?? []) {
      expect(Unit).toBe('Count');
      totals[Name] = (totals[Name] ?? 0) + Number(record[Name]);
    }
  }
  return totals;
}

function metrics(values: Partial<Record<string, number>>): Record<string, number> {
  return { InstancesDrained: 0, TargetsDeregistered: 0, EventsIgnored: 0, MalformedEvents: 0, Failures: 0, ...values };
}

describe('draining an interrupted instance', () => {
  it.each(['terminate', 'stop', 'hibernate'])('drains the instance on a %s warning', async (action) => {
    vi.stubEnv('TARGET_GROUP_ARNS', TARGET_GROUP_WEB);
    const fake = fakeElb({ [TARGET_GROUP_WEB]: [registration(ME, 80), registration(OTHER, 80)] });

    await expect(invoke(interruptionWarning({ 'instance-action': action }))).resolves.toBeUndefined();

    expect(fake.calls()).toEqual([
      { command: 'DescribeTargetHealth', input: { TargetGroupArn: TARGET_GROUP_WEB } },
      { command: 'DeregisterTargets', input: { TargetGroupArn: TARGET_GROUP_WEB, Targets: [{ Id: ME, Port: 80 }] } },
    ]);
    expect(fake.state(TARGET_GROUP_WEB).map((target) => target.TargetHealth?.State)).toEqual(['draining', 'healthy']);
    expect(emittedMetrics()).toEqual(metrics({ InstancesDrained: 1, TargetsDeregistered: 1 }));
  });

  it('logs the instance, action, event and target group', async () => {
    fakeElb({ [TARGET_GROUP_WEB]: [registration(ME, 80)], [TARGET_GROUP_API]: [] });

    await invoke(interruptionWarning({ 'instance-action': 'stop' }));

    expect(logs('INFO')).toContainEqual(
      expect.objectContaining({
        message: 'Deregistered the instance from the target group',
        service: 'spot-drainer',
        function_request_id: fakeContext.awsRequestId,
        instanceId: ME,
        action: 'stop',
        eventId: '12345678-1234-1234-1234-123456789012',
        targetGroupArn: TARGET_GROUP_WEB,
      }),
    );
  });

  it('drains the instance from every target group it is in', async () => {
    const fake = fakeElb({
      [TARGET_GROUP_WEB]: [registration(ME, 80)],
      [TARGET_GROUP_API]: [registration(OTHER, 8080), registration(ME, 8080)],
    });

    await invoke(interruptionWarning());

    expect(fake.calls()).toHaveLength(4);
    expect(fake.calls()).toEqual(
      expect.arrayContaining([
        { command: 'DescribeTargetHealth', input: { TargetGroupArn: TARGET_GROUP_WEB } },
        { command: 'DescribeTargetHealth', input: { TargetGroupArn: TARGET_GROUP_API } },
        { command: 'DeregisterTargets', input: { TargetGroupArn: TARGET_GROUP_WEB, Targets: [{ Id: ME, Port: 80 }] } },
        { command: 'DeregisterTargets', input: { TargetGroupArn: TARGET_GROUP_API, Targets: [{ Id: ME, Port: 8080 }] } },
      ]),
    );
    expect(emittedMetrics()).toEqual(metrics({ InstancesDrained: 1, TargetsDeregistered: 2 }));
  });

  it('deregisters a target on a non-default port with that port', async () => {
    // The group's default port is 80; the instance is registered on 8443 only.
    const fake = fakeElb({ [TARGET_GROUP_WEB]: [registration(OTHER, 80), registration(ME, 8443)], [TARGET_GROUP_API]: [] });

    await invoke(interruptionWarning());

    const deregistrations = fake.calls().filter((call) => call.command === 'DeregisterTargets');
    expect(deregistrations).toEqual([{ command: 'DeregisterTargets', input: { TargetGroupArn: TARGET_GROUP_WEB, Targets: [{ Id: ME, Port: 8443 }] } }]);
  });

  it('deregisters every active port of the instance in one call per target group', async () => {
    const fake = fakeElb({
      [TARGET_GROUP_WEB]: [registration(ME, 80), registration(ME, 8080, 'unhealthy'), registration(ME, 9090, 'draining')],
      [TARGET_GROUP_API]: [],
    });

    await invoke(interruptionWarning());

    expect(fake.calls().filter((call) => call.command === 'DeregisterTargets')).toEqual([
      {
        command: 'DeregisterTargets',
        input: { TargetGroupArn: TARGET_GROUP_WEB, Targets: [{ Id: ME, Port: 80 }, { Id: ME, Port: 8080 }] },
      },
    ]);
    expect(emittedMetrics()).toEqual(metrics({ InstancesDrained: 1, TargetsDeregistered: 2 }));
  });

  it('passes the Availability Zone only when the description has one', async () => {
    const fake = fakeElb({ [TARGET_GROUP_WEB]: [registration(ME, 80, 'healthy', 'all')], [TARGET_GROUP_API]: [registration(ME, 80)] });

    await invoke(interruptionWarning());

    expect(fake.calls().filter((call) => call.command === 'DeregisterTargets')).toEqual(
      expect.arrayContaining([
        { command: 'DeregisterTargets', input: { TargetGroupArn: TARGET_GROUP_WEB, Targets: [{ Id: ME, Port: 80, AvailabilityZone: 'all' }] } },
        { command: 'DeregisterTargets', input: { TargetGroupArn: TARGET_GROUP_API, Targets: [{ Id: ME, Port: 80 }] } },
      ]),
    );
  });
});

describe('events that need no action', () => {
  it('ignores instances outside its target groups', async () => {
    const fake = fakeElb({ [TARGET_GROUP_WEB]: [registration(OTHER, 80)], [TARGET_GROUP_API]: [] });

    await expect(invoke(interruptionWarning())).resolves.toBeUndefined();

    expect(fake.calls()).toEqual([
      { command: 'DescribeTargetHealth', input: { TargetGroupArn: TARGET_GROUP_WEB } },
      { command: 'DescribeTargetHealth', input: { TargetGroupArn: TARGET_GROUP_API } },
    ]);
    expect(logs('INFO')).toContainEqual(
      expect.objectContaining({ message: 'Ignoring the warning: the instance is in none of the target groups', instanceId: ME }),
    );
    expect(emittedMetrics()).toEqual(metrics({ EventsIgnored: 1 }));
  });

  it('leaves an instance that is already draining or unused alone', async () => {
    const fake = fakeElb({ [TARGET_GROUP_WEB]: [registration(ME, 80, 'draining')], [TARGET_GROUP_API]: [registration(ME, 80, 'unused')] });

    await expect(invoke(interruptionWarning())).resolves.toBeUndefined();

    expect(fake.calls().map((call) => call.command)).toEqual(['DescribeTargetHealth', 'DescribeTargetHealth']);
    expect(emittedMetrics()).toEqual(metrics({}));
  });

  it('is harmless when the same event is delivered twice', async () => {
    const fake = fakeElb({ [TARGET_GROUP_WEB]: [registration(ME, 80)] });
    vi.stubEnv('TARGET_GROUP_ARNS', TARGET_GROUP_WEB);

    await invoke(interruptionWarning());
    await invoke(interruptionWarning());

    expect(fake.calls().map((call) => call.command)).toEqual(['DescribeTargetHealth', 'DeregisterTargets', 'DescribeTargetHealth']);
    expect(emittedMetrics()).toEqual(metrics({ InstancesDrained: 1, TargetsDeregistered: 1 }));
  });
});

describe('malformed or unexpected events', () => {
  const warning = interruptionWarning();
  const withoutDetail: Record<string, unknown> = { ...warning };
  delete withoutDetail.detail;
  const cases: [string, unknown, RegExp][] = [
    ['no detail', withoutDetail, /detail is missing/],
    ['a null detail', { ...warning, detail: null }, /detail is null/],
    ['a wrong detail-type', { ...warning, 'detail-type': 'EC2 Instance State-change Notification' }, /detail-type/],
    ['a rebalance recommendation', sampleEvent('rebalance-recommendation'), /detail-type is "EC2 Instance Rebalance Recommendation"/],
    ['a wrong source', { ...warning, source: 'custom.spotwise' }, /source/],
    ['a missing instance-id', interruptionWarning({ 'instance-id': undefined }), /instance-id is missing/],
    ['a non-string instance-id', interruptionWarning({ 'instance-id': 1234567890 }), /instance-id is 1234567890/],
    ['an instance-id that is not an EC2 instance ID', interruptionWarning({ 'instance-id': 'i-123' }), /instance-id/],
    ['an unknown action', interruptionWarning({ 'instance-action': 'reboot' }), /instance-action is "reboot"/],
    ['a missing action', interruptionWarning({ 'instance-action': undefined }), /instance-action is missing/],
  ];

  it.each(cases)('drops an event with %s, without calling ELB or throwing', async (_name, event, reason) => {
    const fake = fakeElb({ [TARGET_GROUP_WEB]: [registration(ME, 80)], [TARGET_GROUP_API]: [registration(ME, 80)] });

    await expect(invoke(event as EventBridgeEvent<string, unknown>)).resolves.toBeUndefined();

    expect(fake.mock.calls()).toHaveLength(0);
    const [warn] = logs('WARN');
    expect(warn).toMatchObject({ message: 'Ignoring an event that is not a valid Spot interruption warning' });
    expect(warn?.reason).toMatch(reason);
    expect(emittedMetrics()).toEqual(metrics({ MalformedEvents: 1 }));
  });
});

describe('failures', () => {
  it('fails when a target group denies access, after draining the others', async () => {
    const fake = fakeElb({ [TARGET_GROUP_WEB]: [registration(ME, 80)], [TARGET_GROUP_API]: [registration(ME, 80)] });
    fake.failDescribe(TARGET_GROUP_API, elbError('AccessDenied', 403, 'User is not authorized to perform: elasticloadbalancing:DescribeTargetHealth'));

    const result = invoke(interruptionWarning());

    await expect(result).rejects.toThrow(DrainIncompleteError);
    await expect(result).rejects.toMatchObject({ failedTargetGroupArns: [TARGET_GROUP_API], message: new RegExp(TARGET_GROUP_API) });
    expect(fake.calls()).toContainEqual({ command: 'DeregisterTargets', input: { TargetGroupArn: TARGET_GROUP_WEB, Targets: [{ Id: ME, Port: 80 }] } });
    const errorLog = logs('ERROR').find((log) => log.targetGroupArn === TARGET_GROUP_API);
    expect(errorLog).toMatchObject({ instanceId: ME, error: { name: 'AccessDenied' } });
    expect(emittedMetrics()).toEqual(metrics({ InstancesDrained: 1, TargetsDeregistered: 1, Failures: 1 }));
  });

  it('fails when the deregistration fails', async () => {
    vi.stubEnv('TARGET_GROUP_ARNS', TARGET_GROUP_WEB);
    fakeElb({ [TARGET_GROUP_WEB]: [registration(ME, 80)] }).failDeregister(TARGET_GROUP_WEB, elbError('TargetGroupNotFound', 400));

    await expect(invoke(interruptionWarning())).rejects.toThrow(DrainIncompleteError);

    expect(emittedMetrics()).toEqual(metrics({ Failures: 1 }));
  });

  it('does not count a failed event as ignored', async () => {
    const fake = fakeElb({ [TARGET_GROUP_WEB]: [registration(OTHER, 80)], [TARGET_GROUP_API]: [] });
    fake.failDescribe(TARGET_GROUP_API, elbError('TargetGroupNotFound', 400));

    await expect(invoke(interruptionWarning())).rejects.toThrow(DrainIncompleteError);

    expect(emittedMetrics()).toEqual(metrics({ Failures: 1 }));
  });

  it.each([
    ['missing', undefined, /TARGET_GROUP_ARNS is not set/],
    ['empty', ' ', /TARGET_GROUP_ARNS is not set/],
    ['not a list of target group ARNs', `${TARGET_GROUP_WEB},,`, /TARGET_GROUP_ARNS entry 2 \(""\) is not a target group ARN/],
    ['a load balancer ARN', 'arn:aws:elasticloadbalancing:us-east-2:123456789012:loadbalancer/app/web/0123456789abcdef', /entry 1/],
  ])('fails when TARGET_GROUP_ARNS is %s', async (_name, value, message) => {
    vi.stubEnv('TARGET_GROUP_ARNS', value);
    const fake = fakeElb({ [TARGET_GROUP_WEB]: [registration(ME, 80)] });

    await expect(invoke(interruptionWarning())).rejects.toThrow(message);

    expect(fake.mock.calls()).toHaveLength(0);
    expect(emittedMetrics()).toEqual(metrics({ Failures: 1 }));
  });
});

describe('retries through the SDK', () => {
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
    `<DescribeTargetHealthResponse xmlns="${NS}"><DescribeTargetHealthResult><TargetHealthDescriptions><member>` +
      `<Target><Id>${ME}</Id><Port>80</Port></Target><HealthCheckPort>80</HealthCheckPort><TargetHealth><State>healthy</State></TargetHealth>` +
      `</member></TargetHealthDescriptions></DescribeTargetHealthResult><ResponseMetadata><RequestId>b2</RequestId></ResponseMetadata></DescribeTargetHealthResponse>`,
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
  function fakeTransport(respond: (action: string, attempt: number) => ReturnType<typeof httpResponse>) {
    vi.spyOn(Math, 'random').mockReturnValue(0);
    const seen: { action: string; sdkRequest: string | undefined; body: URLSearchParams }[] = [];
    const transport = elbClient().config.requestHandler as { handle(request: Request): Promise<unknown> };
    vi.spyOn(transport, 'handle').mockImplementation((request: Request) => {
      const body = new URLSearchParams(String(request.body));
      const action = body.get('Action') ?? '';
      seen.push({ action, sdkRequest: request.headers['amz-sdk-request'], body });
      return Promise.resolve(respond(action, seen.filter((request) => request.action === action).length));
    });
    return seen;
  }

  it('retries a throttled call with the production retry strategy, then drains', async () => {
    vi.stubEnv('TARGET_GROUP_ARNS', TARGET_GROUP_WEB);
    const seen = fakeTransport((action, attempt) => {
      if (action === 'DescribeTargetHealth') return attempt === 1 ? httpResponse(400, throttled) : httpResponse(200, described);
      return httpResponse(200, deregistered);
    });

    await expect(invoke(interruptionWarning())).resolves.toBeUndefined();

    expect(seen.map(({ action, sdkRequest }) => [action, sdkRequest])).toEqual([
      ['DescribeTargetHealth', 'attempt=1; max=4'],
      ['DescribeTargetHealth', 'attempt=2; max=4'],
      ['DeregisterTargets', 'attempt=1; max=4'],
    ]);
    const deregistration = seen[2]?.body;
    expect(deregistration?.get('TargetGroupArn')).toBe(TARGET_GROUP_WEB);
    expect(deregistration?.get('Targets.member.1.Id')).toBe(ME);
    expect(deregistration?.get('Targets.member.1.Port')).toBe('80');
    expect(emittedMetrics()).toEqual(metrics({ InstancesDrained: 1, TargetsDeregistered: 1 }));
  });

  it('fails when throttling outlasts the SDK retries', async () => {
    vi.stubEnv('TARGET_GROUP_ARNS', TARGET_GROUP_WEB);
    const seen = fakeTransport(() => httpResponse(400, throttled));

    await expect(invoke(interruptionWarning())).rejects.toThrow(DrainIncompleteError);

    expect(seen).toHaveLength(ELB_CLIENT_CONFIG.maxAttempts);
    expect(logs('ERROR')[0]).toMatchObject({ targetGroupArn: TARGET_GROUP_WEB, error: { name: 'Throttling' } });
    expect(emittedMetrics()).toEqual(metrics({ Failures: 1 }));
  });

  it('bounds every attempt with connection and request timeouts', () => {
    const { retryMode, requestHandler } = ELB_CLIENT_CONFIG;
    expect(['standard', 'adaptive']).toContain(retryMode);
    expect(requestHandler.connectionTimeout).toBeGreaterThan(0);
    expect(requestHandler.requestTimeout).toBeGreaterThan(0);
    expect(requestHandler.throwOnRequestTimeout).toBe(true);
  });
});

describe('shared scenarios', () => {
  it('call only DescribeTargetHealth, and DeregisterTargets on the configured target groups', async () => {
    const calls = await runDrainerScenarios();

    expect(new Set(calls.map((call) => call.command))).toEqual(new Set(['DescribeTargetHealth', 'DeregisterTargets']));
    for (const call of calls.filter((c) => c.command === 'DeregisterTargets')) {
      expect([TARGET_GROUP_WEB, TARGET_GROUP_API]).toContain((call.input as { TargetGroupArn?: string }).TargetGroupArn);
    }
  });
});

describe('AWS sample event fixtures', () => {
  const repoRoot = resolve(__dirname, '..', '..');
  const shared = resolve(repoRoot, '../shared/aws-events');

  it.skipIf(!existsSync(shared)).each(['spot-interruption-warning.json', 'rebalance-recommendation.json', 'scheduled-event.json'])(
    'keeps %s byte-identical to the published sample',
    (file) => {
      expect(readFileSync(join(FIXTURES_DIR, file)).equals(readFileSync(join(shared, file)))).toBe(true);
    },
  );
});
