import type { HttpInstanceSummary } from '@aws-sdk/client-servicediscovery';
import { DiscoverInstancesCommand, ServiceDiscoveryClient } from '@aws-sdk/client-servicediscovery';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type * as HandlerModule from '../../lib/functions/cloud-map-prober/handler';
import { fakeContext, scheduledEvent } from '../support/lambda';
import type { Cleanup } from '../support/loopback';
import { closeAll, silentServer } from '../support/loopback';
import type { RunningNginx } from '../support/nginx';
import { assertNginxInstalled, freePort, processUid, startNginx } from '../support/nginx';
import { SERVER_ERRORS_FILTER_PATTERN } from '../../lib/constructs/spot-fargate-service';

const PROBE_TIMEOUT_MS = 1000;
/**
 * Loopback connects and nginx answers take milliseconds, so the run should end just after the silent
 * socket's timeout; the margin absorbs a CI machine busy with other test files.
 */
const RUN_MARGIN_MS = 250;

const event = scheduledEvent();
const context = fakeContext('cloud-map-prober');

function nginxInstalled(): boolean {
  try {
    assertNginxInstalled();
    return true;
  } catch {
    return false;
  }
}

function at(id: string, port: number, availabilityZone: string): HttpInstanceSummary {
  return {
    InstanceId: id,
    NamespaceName: 'spotwise.local',
    ServiceName: 'web',
    HealthStatus: 'HEALTHY',
    Attributes: { AWS_INSTANCE_IPV4: '127.0.0.1', AWS_INSTANCE_PORT: String(port), AVAILABILITY_ZONE: availabilityZone, ECS_CLUSTER_NAME: 'spotwise' },
  };
}

/**
 * A log line split as CloudWatch Logs splits it for a space-delimited pattern: on spaces, with a run inside
 * double quotes or square brackets as one field.
 */
function spaceDelimitedFields(line: string): string[] {
  return [...line.matchAll(/"[^"]*"|\[[^\]]*\]|[^ ]+/g)].map((match) => match[0]);
}

/** Which field of a space-delimited pattern such as `[ip, user, status=5*, ...]` is named `name`, from 0. */
function fieldIndex(pattern: string, name: string): number {
  const fields = pattern.replace(/^\[|\]$/g, '').split(',').map((field) => field.trim().split('=')[0]);
  return fields.indexOf(name);
}

describe('cloud-map-prober against a real nginx', () => {
  let nginx: RunningNginx | undefined;
  const cleanups: Cleanup[] = [];
  const ports = { healthyA: 0, healthyB: 0, unavailable: 0, closed: 0, hanging: 0 };

  beforeAll(async () => {
    // Without nginx the test below fails on the same check; throwing here would only mark it skipped.
    if (!nginxInstalled()) return;
    ports.healthyA = await freePort();
    ports.healthyB = await freePort();
    ports.unavailable = await freePort();
    ports.closed = await freePort();
    nginx = await startNginx([
      { port: ports.healthyA, status: 200 },
      { port: ports.healthyB, status: 200 },
      { port: ports.unavailable, status: 503 },
    ]);
    ports.hanging = await silentServer(cleanups);
  });

  afterAll(async () => {
    await closeAll(cleanups);
    await nginx?.stop();
  });

  it('classifies 200s as successes, 503 as HTTP 503, a closed port as refused and a silent socket as timed out, within the probe timeout', async () => {
    assertNginxInstalled();
    const cloudMap = mockClient(ServiceDiscoveryClient);
    cloudMap.on(DiscoverInstancesCommand).resolves({
      Instances: [
        at('healthy-a', ports.healthyA, 'us-east-2a'),
        at('healthy-b', ports.healthyB, 'us-east-2b'),
        at('unavailable', ports.unavailable, 'us-east-2a'),
        at('closed', ports.closed, 'us-east-2b'),
        at('hanging', ports.hanging, 'us-east-2c'),
      ],
    });
    for (const [key, value] of Object.entries({
      AWS_REGION: 'us-east-2',
      POWERTOOLS_SERVICE_NAME: 'cloud-map-prober',
      POWERTOOLS_METRICS_NAMESPACE: 'Spotwise',
      NAMESPACE_NAME: 'spotwise.local',
      SERVICE_NAME: 'web',
      PROBE_TIMEOUT_MS: String(PROBE_TIMEOUT_MS),
      // nginx listens on loopback, which the construct never allows: this test alone opens it, explicitly.
      ALLOWED_CIDRS: '127.0.0.0/8',
      METRICS_STACK: 'SpotwiseNginx',
    })) {
      vi.stubEnv(key, value);
    }
    vi.resetModules();
    const { handler } = (await import('../../lib/functions/cloud-map-prober/handler.js')) as typeof HandlerModule;
    const records: Record<string, unknown>[] = [];
    const record = (chunk: string | Uint8Array): boolean => {
      for (const line of chunk.toString().split('\n')) if (line.trim() !== '') records.push(JSON.parse(line) as Record<string, unknown>);
      return true;
    };
    vi.spyOn(process.stdout, 'write').mockImplementation(record);
    vi.spyOn(process.stderr, 'write').mockImplementation(record);

    const started = performance.now();
    let summary: Awaited<ReturnType<typeof handler>>;
    try {
      summary = await handler(event, context);
    } finally {
      vi.restoreAllMocks();
      vi.unstubAllEnvs();
      cloudMap.restore();
    }
    const elapsedMs = performance.now() - started;

    expect(summary).toEqual({ discovered: 5, succeeded: 2, failed: 3 });

    // As the task runs it: not root, and nothing written outside its scratch directory.
    if (nginx === undefined) throw new Error('nginx did not start');
    expect(processUid(nginx.pid)).not.toBe(0);
    expect(nginx.pathsOutsideScratch()).toEqual(['nginx.conf']);
    // The 5xx metric filter's status field is the status in the images' access-log format: 503 once, 200 twice.
    const status = fieldIndex(SERVER_ERRORS_FILTER_PATTERN, 'status_code');
    expect(status).toBe(5);
    const statuses = nginx.accessLog().map((line) => spaceDelimitedFields(line)[status]);
    expect(statuses.sort()).toEqual(['200', '200', '503']);
    expect(elapsedMs).toBeLessThan(PROBE_TIMEOUT_MS + RUN_MARGIN_MS);

    const probeLog = (port: number): Record<string, unknown> | undefined => records.find((r) => r.address === `127.0.0.1:${port}`);
    expect(probeLog(ports.healthyA)).toMatchObject({ status: 'success', httpStatus: 200, availabilityZone: 'us-east-2a' });
    expect(probeLog(ports.healthyB)).toMatchObject({ status: 'success', httpStatus: 200, availabilityZone: 'us-east-2b' });
    expect(probeLog(ports.unavailable)).toMatchObject({ status: 'failure', httpStatus: 503, reason: 'HTTP 503' });
    expect(probeLog(ports.closed)).toMatchObject({ status: 'failure', reason: 'ECONNREFUSED' });
    expect(probeLog(ports.hanging)).toMatchObject({ status: 'failure', reason: `timeout after ${PROBE_TIMEOUT_MS} ms` });
    for (const port of [ports.healthyA, ports.healthyB, ports.unavailable]) {
      expect(probeLog(port)?.latencyMs).toEqual(expect.any(Number));
    }

    // The run-level blob: dimensions service + Stack + ServiceName, no AvailabilityZone.
    const runBlobs = records.filter((r) => '_aws' in r && r.AvailabilityZone === undefined);
    const metric = (name: string): unknown[] => runBlobs.filter((r) => name in r).map((r) => r[name]);
    expect(metric('InstancesDiscovered')).toEqual([5]);
    expect(metric('ProbeSuccess')).toEqual([2]);
    expect(metric('ProbeFailure')).toEqual([3]);
    expect(metric('RejectedInstances')).toEqual([0]);
    expect(metric('ProbeLatency').flat()).toEqual([expect.any(Number), expect.any(Number), expect.any(Number)]);
    expect(runBlobs[0]).toMatchObject({
      service: 'cloud-map-prober',
      Stack: 'SpotwiseNginx',
      ServiceName: 'web',
      _aws: { CloudWatchMetrics: [{ Namespace: 'Spotwise', Dimensions: [['service', 'Stack', 'ServiceName']] }] },
    });
    // No CLUSTER_NAME, so no task counts.
    expect(records.filter((r) => 'Tasks' in r || 'TaskCountFailures' in r)).toEqual([]);
    const zoneBlobs = records.filter((r) => '_aws' in r && typeof r.AvailabilityZone === 'string');
    expect(zoneBlobs.map((r) => r.Stack)).toEqual(['SpotwiseNginx', 'SpotwiseNginx', 'SpotwiseNginx']);
    const perZone = (name: string): Record<string, unknown> => Object.fromEntries(zoneBlobs.map((r): [string, unknown] => [String(r.AvailabilityZone), r[name]]));
    expect(perZone('ProbeSuccess')).toEqual({ 'us-east-2a': 1, 'us-east-2b': 1, 'us-east-2c': 0 });
    expect(perZone('ProbeFailure')).toEqual({ 'us-east-2a': 1, 'us-east-2b': 1, 'us-east-2c': 1 });
    // One latency per complete response in its zone: 200 and 503 in a, 200 in b, none for the silent socket in c.
    const latencies = perZone('ProbeLatency');
    expect([latencies['us-east-2a'], latencies['us-east-2b'], latencies['us-east-2c']]).toEqual([
      [expect.any(Number), expect.any(Number)],
      expect.any(Number),
      undefined,
    ]);
  });
});
