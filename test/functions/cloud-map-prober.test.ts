import type * as Http from 'node:http';
import type { IncomingMessage, RequestOptions, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createServer as createNetServer } from 'node:net';
import type { HttpInstanceSummary } from '@aws-sdk/client-servicediscovery';
import { DiscoverInstancesCommand, ServiceDiscoveryClient, ServiceNotFound } from '@aws-sdk/client-servicediscovery';
import type { Task } from '@aws-sdk/client-ecs';
import { AccessDeniedException, DescribeTasksCommand, ECSClient } from '@aws-sdk/client-ecs';
import type { AwsClientStub } from 'aws-sdk-client-mock';
import { mockClient } from 'aws-sdk-client-mock';
import type { Mock } from 'vitest';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type * as HandlerModule from '../../lib/functions/cloud-map-prober/handler';
import { fakeContext, scheduledEvent } from '../support/lambda';
import type { Cleanup } from '../support/loopback';
import { closeAll, closedPort, httpServer, silentServer } from '../support/loopback';

/**
 * Every request the prober makes passes through this spy, to the real `node:http` unless a test intercepts it,
 * so a test can assert which addresses were, and were not, sent one.
 */
const http = vi.hoisted(() => ({ request: undefined as unknown as Mock<typeof Http.request> }));
vi.mock('node:http', async (importOriginal) => {
  const real = await importOriginal<typeof Http>();
  http.request = vi.fn(real.request);
  return { ...real, default: { ...real, request: http.request }, request: http.request };
});

// ---------------------------------------------------------------------------------------------------------
// Fixtures

const BASE_ENV = {
  AWS_REGION: 'us-east-2',
  POWERTOOLS_SERVICE_NAME: 'cloud-map-prober',
  POWERTOOLS_METRICS_NAMESPACE: 'Spotwise',
  NAMESPACE_NAME: 'spotwise.local',
  SERVICE_NAME: 'web',
  PROBE_TIMEOUT_MS: '1000',
  PROBE_PATH: '/healthz',
  DISCOVERY_TIMEOUT_MS: '2000',
  // The peers below listen on loopback; the construct never allows it (it passes the VPC's CIDR blocks).
  ALLOWED_CIDRS: '127.0.0.0/8',
  // What the shared observability module puts on every metric as its `Stack` dimension.
  METRICS_STACK: 'SpotwiseTest',
} as const;

const event = scheduledEvent();
const context = fakeContext('cloud-map-prober');

/** A fresh module per test: config, Logger and Metrics are per process, as on a Lambda cold start. */
async function loadHandler(env: Record<string, string | undefined> = {}): Promise<typeof HandlerModule> {
  for (const [key, value] of Object.entries({ ...BASE_ENV, ...env })) vi.stubEnv(key, value);
  vi.resetModules();
  const loaded: typeof HandlerModule = await import('../../lib/functions/cloud-map-prober/handler.js');
  return loaded;
}

function instance(id: string, attributes: Record<string, string>): HttpInstanceSummary {
  return { InstanceId: id, NamespaceName: BASE_ENV.NAMESPACE_NAME, ServiceName: BASE_ENV.SERVICE_NAME, HealthStatus: 'HEALTHY', Attributes: attributes };
}

function at(id: string, port: number, availabilityZone = 'us-east-2a'): HttpInstanceSummary {
  return instance(id, { AWS_INSTANCE_IPV4: '127.0.0.1', AWS_INSTANCE_PORT: String(port), AVAILABILITY_ZONE: availabilityZone });
}

// ---------------------------------------------------------------------------------------------------------
// What Powertools writes: JSON log lines and EMF blobs, on stdout and stderr.

const PROBER_DIMENSIONS = ['service', 'Stack', 'ServiceName', 'AvailabilityZone', 'CapacityProvider'];

interface EmfBlob {
  readonly _aws: {
    readonly CloudWatchMetrics: readonly {
      readonly Namespace: string;
      readonly Dimensions: readonly (readonly string[])[];
      readonly Metrics: readonly { readonly Name: string; readonly Unit: string }[];
    }[];
  };
  readonly [key: string]: unknown;
}

interface LogLine {
  readonly level: string;
  readonly message: string;
  readonly [key: string]: unknown;
}

class CapturedOutput {
  readonly records: Record<string, unknown>[] = [];

  get emf(): EmfBlob[] {
    return this.records.filter((record): record is EmfBlob => '_aws' in record);
  }

  get logs(): LogLine[] {
    return this.records.filter((record): record is LogLine => typeof record.message === 'string' && typeof record.level === 'string');
  }

  probeLog(address: string): LogLine {
    const line = this.logs.find((log) => log.address === address);
    if (line === undefined) throw new Error(`no probe log for ${address}`);
    return line;
  }

  /**
   * Every value published for `name` in blobs whose dimension set holds exactly `service`, `Stack`,
   * `ServiceName` and `dimensions` of the prober's own dimensions, with the test's stack and service and the
   * values given, failing if a blob breaks an EMF limit along the way.
   */
  values(name: string, extra: Record<string, string> = {}): number[] {
    const dimensions: Record<string, string> = { Stack: BASE_ENV.METRICS_STACK, ServiceName: BASE_ENV.SERVICE_NAME, ...extra };
    const wanted = ['service', ...Object.keys(dimensions)].sort().join(',');
    const found: number[] = [];
    for (const blob of this.emf) {
      const [directive] = blob._aws.CloudWatchMetrics;
      if (directive === undefined || !directive.Metrics.some((metric) => metric.Name === name)) continue;
      const sets = directive.Dimensions.map((set) => set.filter((key) => PROBER_DIMENSIONS.includes(key)).sort().join(','));
      if (!sets.includes(wanted)) continue;
      if (Object.entries(dimensions).some(([key, value]) => blob[key] !== value)) continue;
      const value = blob[name];
      const list = Array.isArray(value) ? (value as number[]) : [value as number];
      expect(list.length, `EMF allows at most 100 values of ${name} per blob`).toBeLessThanOrEqual(100);
      found.push(...list);
    }
    return found;
  }

  value(name: string, dimensions?: Record<string, string>): number | undefined {
    const values = this.values(name, dimensions);
    expect(values.length, `${name} should be published once`).toBeLessThanOrEqual(1);
    return values[0];
  }

  /** `Tasks` by its CapacityProvider dimension, over every blob that has one. */
  get tasks(): Record<string, number> {
    const providers = [...new Set(this.emf.map((blob) => blob.CapacityProvider).filter((provider) => typeof provider === 'string'))];
    return Object.fromEntries(providers.map((provider) => [provider, this.value('Tasks', { CapacityProvider: provider }) ?? Number.NaN]));
  }

  /** The AvailabilityZone dimension values of every blob, so a test can show which zones became dimensions. */
  get zones(): unknown[] {
    return [...new Set(this.emf.map((blob) => blob.AvailabilityZone).filter((zone) => zone !== undefined))].sort();
  }

  /** The reason logged for each instance that failed, by instance id. */
  get reasons(): Record<string, unknown> {
    return Object.fromEntries(this.logs.filter((log) => log.status === 'failure').map((log): [string, unknown] => [String(log.instanceId), log.reason]));
  }
}

function captureOutput(): CapturedOutput {
  const output = new CapturedOutput();
  const record = (chunk: string | Uint8Array): boolean => {
    for (const line of chunk.toString().split('\n')) {
      if (line.trim() === '') continue;
      try {
        output.records.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        output.records.push({ text: line });
      }
    }
    return true;
  };
  vi.spyOn(process.stdout, 'write').mockImplementation(record);
  vi.spyOn(process.stderr, 'write').mockImplementation(record);
  return output;
}

// ---------------------------------------------------------------------------------------------------------
// Loopback peers

const cleanups: Cleanup[] = [];

/** An HTTP peer that records the requests it answers. */
async function recordingServer(
  respond: (req: IncomingMessage, res: ServerResponse) => void,
): Promise<{ port: number; requests: IncomingMessage[] }> {
  const requests: IncomingMessage[] = [];
  const port = await httpServer((req, res) => {
    requests.push(req);
    respond(req, res);
  }, cleanups);
  return { port, requests };
}

// ---------------------------------------------------------------------------------------------------------

describe('cloud-map-prober handler', () => {
  let cloudMap: AwsClientStub<ServiceDiscoveryClient>;
  let ecs: AwsClientStub<ECSClient>;

  beforeEach(() => {
    cloudMap = mockClient(ServiceDiscoveryClient);
    ecs = mockClient(ECSClient);
  });

  afterEach(async () => {
    // Back to the real request, and no calls remembered.
    http.request.mockReset();
    cloudMap.restore();
    ecs.restore();
    vi.restoreAllMocks();
    vi.unstubAllEnvs();
    await closeAll(cleanups);
  });

  it('discovers healthy-or-else-all instances at the API maximum and probes each one over HTTP', async () => {
    const ok = await recordingServer((_req, res) => res.end('ok'));
    const unavailable = await recordingServer((_req, res) => {
      res.statusCode = 503;
      res.end();
    });
    const refused = await closedPort();
    cloudMap.on(DiscoverInstancesCommand).resolves({
      Instances: [at('ok', ok.port, 'us-east-2a'), at('unavailable', unavailable.port, 'us-east-2b'), at('refused', refused, 'us-east-2b')],
    });
    const { handler } = await loadHandler();
    const output = captureOutput();

    const summary = await handler(event, context);

    expect(summary).toEqual({ discovered: 3, succeeded: 1, failed: 2 });
    expect(cloudMap.commandCalls(DiscoverInstancesCommand).map((call) => call.args[0].input)).toEqual([
      { NamespaceName: 'spotwise.local', ServiceName: 'web', HealthStatus: 'HEALTHY_OR_ELSE_ALL', MaxResults: 1000 },
    ]);
    expect(ok.requests.map((req) => [req.method, req.url, req.headers['user-agent']])).toEqual([['GET', '/healthz', 'spotwise-cloud-map-prober']]);
    // The spy the rejection tests rely on sees every request the prober makes.
    expect(http.request).toHaveBeenCalledTimes(3);

    expect(output.probeLog(`127.0.0.1:${ok.port}`)).toMatchObject({
      level: 'INFO',
      instanceId: 'ok',
      availabilityZone: 'us-east-2a',
      status: 'success',
      httpStatus: 200,
      latencyMs: expect.any(Number) as number,
      cloudMapService: 'web',
      function_request_id: context.awsRequestId,
    });
    expect(output.probeLog(`127.0.0.1:${unavailable.port}`)).toMatchObject({
      level: 'WARN',
      status: 'failure',
      httpStatus: 503,
      reason: 'HTTP 503',
      latencyMs: expect.any(Number) as number,
    });
    const refusedLog = output.probeLog(`127.0.0.1:${refused}`);
    expect(refusedLog).toMatchObject({ level: 'WARN', status: 'failure', reason: 'ECONNREFUSED' });
    expect(refusedLog).not.toHaveProperty('latencyMs');

    expect(output.value('InstancesDiscovered')).toBe(3);
    expect(output.value('ProbeSuccess')).toBe(1);
    expect(output.value('ProbeFailure')).toBe(2);
    expect(output.value('RejectedInstances')).toBe(0);
    // One latency value per complete HTTP response, 503 included; none for the refused connection.
    expect(output.values('ProbeLatency')).toHaveLength(2);
    const zoneA = { ServiceName: 'web', AvailabilityZone: 'us-east-2a' };
    const zoneB = { ServiceName: 'web', AvailabilityZone: 'us-east-2b' };
    expect(output.value('ProbeSuccess', zoneA)).toBe(1);
    expect(output.value('ProbeFailure', zoneA)).toBe(0);
    expect(output.values('ProbeLatency', zoneA)).toEqual([output.probeLog(`127.0.0.1:${ok.port}`).latencyMs]);
    expect(output.value('ProbeSuccess', zoneB)).toBe(0);
    expect(output.value('ProbeFailure', zoneB)).toBe(2);
    expect(output.values('ProbeLatency', zoneB)).toEqual([output.probeLog(`127.0.0.1:${unavailable.port}`).latencyMs]);
    expect(output.values('RejectedInstances', zoneA)).toEqual([]);
    expect(output.emf.length).toBeGreaterThan(0);
    expect(output.emf.every((blob) => blob._aws.CloudWatchMetrics[0]?.Namespace === 'Spotwise')).toBe(true);
    // Every blob carries the stack it was published from, as a dimension of its one dimension set.
    expect(output.emf.map((blob) => [blob.Stack, blob._aws.CloudWatchMetrics[0]?.Dimensions.length, blob._aws.CloudWatchMetrics[0]?.Dimensions[0]?.includes('Stack')])).toEqual(
      output.emf.map(() => ['SpotwiseTest', 1, true]),
    );
    // No cluster configured: no task counts, and ECS never asked.
    expect(output.emf.filter((blob) => 'Tasks' in blob || 'TaskCountFailures' in blob)).toEqual([]);
    expect(ecs.calls()).toHaveLength(0);
  });

  it('publishes InstancesDiscovered 0 and warns when nothing is registered, without failing', async () => {
    cloudMap.on(DiscoverInstancesCommand).resolves({ Instances: [] });
    const { handler } = await loadHandler();
    const output = captureOutput();

    await expect(handler(event, context)).resolves.toEqual({ discovered: 0, succeeded: 0, failed: 0 });

    expect(output.value('InstancesDiscovered')).toBe(0);
    expect(output.value('ProbeSuccess')).toBe(0);
    expect(output.value('ProbeFailure')).toBe(0);
    expect(output.value('RejectedInstances')).toBe(0);
    expect(output.logs).toContainEqual(expect.objectContaining({ level: 'WARN', message: expect.stringMatching(/no instances discovered/) as string }));
  });

  it('retries a throttled DiscoverInstances through the SDK retry strategy, then probes what it returns', async () => {
    cloudMap.restore();
    const ok = await recordingServer((_req, res) => res.end('ok'));
    const { handler, discoveryClient } = await loadHandler({ AWS_ACCESS_KEY_ID: 'AKIDEXAMPLE', AWS_SECRET_ACCESS_KEY: 'secret', AWS_SESSION_TOKEN: undefined });
    // Full jitter draws the back-off from Math.random; zero keeps the test fast without changing the path taken.
    vi.spyOn(Math, 'random').mockReturnValue(0);
    const sent: { hostname: string; target: unknown; attempt: unknown; body: unknown }[] = [];
    const responses = [
      { statusCode: 400, body: { __type: 'RequestLimitExceeded', Message: 'Rate exceeded' } },
      { statusCode: 200, body: { Instances: [at('ok', ok.port)], InstancesRevision: 7 } },
    ];
    // A fake transport innermost in the stack: serialisation, signing, retries and error parsing stay real.
    discoveryClient().middlewareStack.add(
      () => (args) => {
        const request = args.request as { hostname: string; headers: Record<string, string>; body: string | Uint8Array };
        sent.push({
          hostname: request.hostname,
          target: request.headers['x-amz-target'],
          attempt: request.headers['amz-sdk-request'],
          body: JSON.parse(typeof request.body === 'string' ? request.body : new TextDecoder().decode(request.body)) as unknown,
        });
        const next = responses.shift();
        if (next === undefined) throw new Error('unexpected extra DiscoverInstances attempt');
        return Promise.resolve({
          output: undefined as never,
          response: {
            statusCode: next.statusCode,
            headers: { 'content-type': 'application/x-amz-json-1.1' },
            body: Buffer.from(JSON.stringify(next.body)),
          },
        });
      },
      { step: 'deserialize', priority: 'low', name: 'fakeCloudMapTransport' },
    );
    const output = captureOutput();

    await expect(handler(event, context)).resolves.toEqual({ discovered: 1, succeeded: 1, failed: 0 });

    expect(sent).toHaveLength(2);
    expect(sent[0]).toEqual({
      // The data-plane host that the data-servicediscovery VPC endpoint serves.
      hostname: 'data-servicediscovery.us-east-2.amazonaws.com',
      target: 'Route53AutoNaming_v20170314.DiscoverInstances',
      attempt: 'attempt=1; max=3',
      body: { NamespaceName: 'spotwise.local', ServiceName: 'web', HealthStatus: 'HEALTHY_OR_ELSE_ALL', MaxResults: 1000 },
    });
    expect(sent[1]?.attempt).toBe('attempt=2; max=3');
    expect(output.value('ProbeSuccess')).toBe(1);
  });

  it('fails the invocation with a DiscoveryError when DiscoverInstances fails', async () => {
    cloudMap.on(DiscoverInstancesCommand).rejects(new ServiceNotFound({ message: 'Service not found: web', $metadata: {} }));
    const { handler } = await loadHandler();
    const output = captureOutput();

    await expect(handler(event, context)).rejects.toThrow(/DiscoverInstances for service "web" in namespace "spotwise.local" failed: ServiceNotFound/);

    expect(output.logs).toContainEqual(expect.objectContaining({ level: 'ERROR', message: 'discovery failed' }));
    expect(output.values('InstancesDiscovered')).toEqual([]);
  });

  it('fails the invocation once discovery exceeds DISCOVERY_TIMEOUT_MS', async () => {
    cloudMap.on(DiscoverInstancesCommand).callsFake(() => new Promise(() => undefined));
    const { handler } = await loadHandler({ DISCOVERY_TIMEOUT_MS: '200' });
    captureOutput();
    const started = performance.now();

    await expect(handler(event, context)).rejects.toThrow(/did not complete within 200 ms/);

    expect(performance.now() - started).toBeLessThan(1000);
  });

  it('rejects instances with missing or malformed attributes as failures with every problem named, and never probes them', async () => {
    const ok = await recordingServer((_req, res) => res.end('ok'));
    const zone = { AVAILABILITY_ZONE: 'us-east-2a' };
    cloudMap.on(DiscoverInstancesCommand).resolves({
      Instances: [
        at('valid', ok.port),
        instance('no-port', { AWS_INSTANCE_IPV4: '127.0.0.1', ...zone }),
        instance('no-ip', { AWS_INSTANCE_PORT: String(ok.port), ...zone }),
        instance('bad-ip', { AWS_INSTANCE_IPV4: '127.0.0', AWS_INSTANCE_PORT: String(ok.port), ...zone }),
        instance('ipv6', { AWS_INSTANCE_IPV4: '::1', AWS_INSTANCE_PORT: String(ok.port), ...zone }),
        instance('port-zero', { AWS_INSTANCE_IPV4: '127.0.0.1', AWS_INSTANCE_PORT: '0', ...zone }),
        instance('port-too-big', { AWS_INSTANCE_IPV4: '127.0.0.1', AWS_INSTANCE_PORT: '70000', ...zone }),
        instance('port-not-numeric', { AWS_INSTANCE_IPV4: '127.0.0.1', AWS_INSTANCE_PORT: 'http', ...zone }),
        { InstanceId: 'no-attributes' },
      ],
    });
    const { handler } = await loadHandler();
    const output = captureOutput();

    await expect(handler(event, context)).resolves.toEqual({ discovered: 9, succeeded: 1, failed: 8 });

    expect(ok.requests).toHaveLength(1);
    expect(http.request).toHaveBeenCalledTimes(1);
    expect(output.reasons).toEqual({
      'no-port': 'rejected: AWS_INSTANCE_PORT is missing',
      'no-ip': 'rejected: AWS_INSTANCE_IPV4 is missing',
      'bad-ip': 'rejected: AWS_INSTANCE_IPV4 "127.0.0" is not an IPv4 address',
      ipv6: 'rejected: AWS_INSTANCE_IPV4 "::1" is not an IPv4 address',
      'port-zero': 'rejected: AWS_INSTANCE_PORT "0" is not a port in 1..65535',
      'port-too-big': 'rejected: AWS_INSTANCE_PORT "70000" is not a port in 1..65535',
      'port-not-numeric': 'rejected: AWS_INSTANCE_PORT "http" is not a port in 1..65535',
      'no-attributes': 'rejected: AWS_INSTANCE_IPV4 is missing; AWS_INSTANCE_PORT is missing; AVAILABILITY_ZONE is missing',
    });
    expect(output.value('ProbeFailure')).toBe(8);
    expect(output.value('RejectedInstances')).toBe(8);
    // Only the probe that was sent counts in its zone.
    expect(output.value('ProbeSuccess', { ServiceName: 'web', AvailabilityZone: 'us-east-2a' })).toBe(1);
    expect(output.value('ProbeFailure', { ServiceName: 'web', AvailabilityZone: 'us-east-2a' })).toBe(0);
    expect(output.zones).toEqual(['us-east-2a']);
  });

  describe('addresses', () => {
    /** Outside the test's ALLOWED_CIDRS of 10.0.0.0/16 each, so none may be sent a request. */
    it.each([
      ['a loopback address', '127.0.0.1', 'rejected: AWS_INSTANCE_IPV4 127.0.0.1 is outside the allowed blocks 10.0.0.0/16'],
      ['a link-local address (the instance metadata service)', '169.254.169.254', 'rejected: AWS_INSTANCE_IPV4 169.254.169.254 is outside the allowed blocks 10.0.0.0/16'],
      ['a public address', '8.8.8.8', 'rejected: AWS_INSTANCE_IPV4 8.8.8.8 is outside the allowed blocks 10.0.0.0/16'],
      ['a private address in another block', '10.1.0.5', 'rejected: AWS_INSTANCE_IPV4 10.1.0.5 is outside the allowed blocks 10.0.0.0/16'],
      ['the unspecified address', '0.0.0.0', 'rejected: AWS_INSTANCE_IPV4 0.0.0.0 is outside the allowed blocks 10.0.0.0/16'],
      ['a malformed address: an octet out of range', '10.0.0.256', 'rejected: AWS_INSTANCE_IPV4 "10.0.0.256" is not an IPv4 address'],
      ['a malformed address: a leading zero that some parsers read as octal', '010.0.0.5', 'rejected: AWS_INSTANCE_IPV4 "010.0.0.5" is not an IPv4 address'],
      ['a malformed address: IPv4-mapped IPv6', '::ffff:10.0.0.5', 'rejected: AWS_INSTANCE_IPV4 "::ffff:10.0.0.5" is not an IPv4 address'],
      ['a malformed address: a host name', 'localhost', 'rejected: AWS_INSTANCE_IPV4 "localhost" is not an IPv4 address'],
    ])('never sends a request to an instance registered with %s, and counts it rejected', async (_class, ip, reason) => {
      // No request reaches the network: each one is recorded, then fails as if refused.
      http.request.mockImplementation(() => {
        throw new Error('intercepted by the test');
      });
      cloudMap.on(DiscoverInstancesCommand).resolves({
        Instances: [
          instance('allowed', { AWS_INSTANCE_IPV4: '10.0.255.254', AWS_INSTANCE_PORT: '80', AVAILABILITY_ZONE: 'us-east-2a' }),
          instance('outside', { AWS_INSTANCE_IPV4: ip, AWS_INSTANCE_PORT: '80', AVAILABILITY_ZONE: 'us-east-2b' }),
        ],
      });
      const { handler } = await loadHandler({ ALLOWED_CIDRS: '10.0.0.0/16' });
      const output = captureOutput();

      await expect(handler(event, context)).resolves.toEqual({ discovered: 2, succeeded: 0, failed: 2 });

      // The allowed instance, at the top of the block, was sent its request; the other never was.
      expect(http.request.mock.calls.map(([options]) => (options as RequestOptions).host)).toEqual(['10.0.255.254']);
      expect(output.reasons).toEqual({ allowed: 'intercepted by the test', outside: reason });
      expect(output.logs.find((log) => log.instanceId === 'outside')).toMatchObject({ level: 'WARN', status: 'failure', availabilityZone: 'us-east-2b' });
      expect(output.value('RejectedInstances')).toBe(1);
      expect(output.value('ProbeFailure')).toBe(2);
      expect(output.zones).toEqual(['us-east-2a']);
    });

    it('probes addresses in any of several allowed blocks, edges included', async () => {
      http.request.mockImplementation(() => {
        throw new Error('intercepted by the test');
      });
      const ips = ['10.0.0.0', '10.0.255.255', '100.64.7.1', '10.1.0.0', '9.255.255.255', '100.63.255.255'];
      cloudMap.on(DiscoverInstancesCommand).resolves({
        Instances: ips.map((ip) => instance(ip, { AWS_INSTANCE_IPV4: ip, AWS_INSTANCE_PORT: '80', AVAILABILITY_ZONE: 'us-east-2a' })),
      });
      const { handler } = await loadHandler({ ALLOWED_CIDRS: '10.0.0.0/16, 100.64.0.0/10' });
      const output = captureOutput();

      await handler(event, context);

      expect(http.request.mock.calls.map(([options]) => (options as RequestOptions).host)).toEqual(['10.0.0.0', '10.0.255.255', '100.64.7.1']);
      expect(output.value('RejectedInstances')).toBe(3);
    });
  });

  describe('Availability Zones', () => {
    it.each([
      ['of another Region', 'us-west-2a', 'rejected: AVAILABILITY_ZONE "us-west-2a" is not a zone of us-east-2'],
      ['of a Region that merely starts like this one', 'us-east-21', 'rejected: AVAILABILITY_ZONE "us-east-21" is not a zone of us-east-2'],
      ['too long', 'us-east-2aa', 'rejected: AVAILABILITY_ZONE "us-east-2aa" is not a zone of us-east-2'],
      ['in capitals', 'us-east-2A', 'rejected: AVAILABILITY_ZONE "us-east-2A" is not a zone of us-east-2'],
      ['an AZ id rather than a name', 'use2-az1', 'rejected: AVAILABILITY_ZONE "use2-az1" is not a zone of us-east-2'],
      ['junk', 'x'.repeat(1024), `rejected: AVAILABILITY_ZONE "${'x'.repeat(1024)}" is not a zone of us-east-2`],
      ['empty', '', 'rejected: AVAILABILITY_ZONE "" is not a zone of us-east-2'],
    ])('never probes an instance whose zone is %s, and gives it no zone dimension', async (_class, zone, reason) => {
      const ok = await recordingServer((_req, res) => res.end('ok'));
      cloudMap.on(DiscoverInstancesCommand).resolves({ Instances: [at('good', ok.port, 'us-east-2c'), at('bad', ok.port, zone)] });
      const { handler } = await loadHandler();
      const output = captureOutput();

      await expect(handler(event, context)).resolves.toEqual({ discovered: 2, succeeded: 1, failed: 1 });

      expect(ok.requests).toHaveLength(1);
      expect(http.request).toHaveBeenCalledTimes(1);
      expect(output.reasons).toEqual({ bad: reason });
      expect(output.value('RejectedInstances')).toBe(1);
      expect(output.zones).toEqual(['us-east-2c']);
    });

    it('accepts every one-letter zone of its own Region, a to z', async () => {
      const ok = await recordingServer((_req, res) => res.end('ok'));
      const letters = 'abcdefghijklmnopqrstuvwxyz';
      cloudMap.on(DiscoverInstancesCommand).resolves({ Instances: [...letters].map((letter) => at(letter, ok.port, `eu-west-1${letter}`)) });
      const { handler } = await loadHandler({ AWS_REGION: 'eu-west-1' });
      const output = captureOutput();

      await expect(handler(event, context)).resolves.toEqual({ discovered: 26, succeeded: 26, failed: 0 });

      expect(output.zones).toEqual([...letters].map((letter) => `eu-west-1${letter}`));
      expect(output.value('RejectedInstances')).toBe(0);
    });
  });

  describe('task counts by capacity provider', () => {
    const CLUSTER = { CLUSTER_NAME: 'spotwise' };
    /** A task id as ECS makes them, 32 hex digits, which is also the task's Cloud Map instance id. */
    const taskId = (n: number): string => n.toString(16).padStart(32, 'a');
    const task = (id: string, capacityProviderName: string | undefined, lastStatus = 'RUNNING'): Task => ({
      taskArn: `arn:aws:ecs:us-east-2:123456789012:task/spotwise/${id}`,
      lastStatus,
      capacityProviderName,
    });
    /** Answers each DescribeTasks with the tasks it asks about, described by `describe`. */
    const describeEach = (describe: (id: string) => Task): void => {
      ecs.on(DescribeTasksCommand).callsFake((input: { tasks: string[] }) => ({ tasks: input.tasks.map(describe), failures: [] }));
    };
    const askedAbout = (): (string[] | undefined)[] => ecs.commandCalls(DescribeTasksCommand).map((call) => call.args[0].input.tasks);

    it('counts the RUNNING tasks of the instances it may probe per capacity provider, asking ECS on its cluster about those only', async () => {
      const ok = await recordingServer((_req, res) => res.end('ok'));
      const [onDemand, spot, pending, outside] = [1, 2, 3, 4].map(taskId) as [string, string, string, string];
      cloudMap.on(DiscoverInstancesCommand).resolves({
        Instances: [
          at(onDemand, ok.port),
          at(spot, ok.port, 'us-east-2b'),
          at(pending, ok.port),
          instance(outside, { AWS_INSTANCE_IPV4: '169.254.169.254', AWS_INSTANCE_PORT: '80', AVAILABILITY_ZONE: 'us-east-2a' }),
        ],
      });
      ecs.on(DescribeTasksCommand).resolves({
        tasks: [task(onDemand, 'FARGATE'), task(spot, 'FARGATE_SPOT'), task(pending, 'FARGATE_SPOT', 'PENDING')],
        failures: [],
      });
      const { handler } = await loadHandler(CLUSTER);
      const output = captureOutput();

      await expect(handler(event, context)).resolves.toEqual({ discovered: 4, succeeded: 3, failed: 1 });

      expect(ecs.commandCalls(DescribeTasksCommand).map((call) => call.args[0].input)).toEqual([{ cluster: 'spotwise', tasks: [onDemand, spot, pending] }]);
      expect(ecs.calls()).toHaveLength(1);
      expect(output.tasks).toEqual({ FARGATE: 1, FARGATE_SPOT: 1 });
      expect(output.value('TaskCountFailures')).toBe(0);
      // The run's own figures are unchanged by the count.
      expect(output.value('ProbeSuccess')).toBe(3);
      expect(output.value('RejectedInstances')).toBe(1);
      expect(ok.requests).toHaveLength(3);
    });

    it('publishes FARGATE and FARGATE_SPOT as 0 without asking ECS when no instance may be probed', async () => {
      cloudMap.on(DiscoverInstancesCommand).resolves({ Instances: [instance(taskId(1), { AWS_INSTANCE_IPV4: '8.8.8.8', AWS_INSTANCE_PORT: '80', AVAILABILITY_ZONE: 'us-east-2a' })] });
      const { handler } = await loadHandler(CLUSTER);
      const output = captureOutput();

      await handler(event, context);

      expect(ecs.calls()).toHaveLength(0);
      expect(output.tasks).toEqual({ FARGATE: 0, FARGATE_SPOT: 0 });
      expect(output.value('TaskCountFailures')).toBe(0);
    });

    it('asks about at most 100 tasks a call, all of them once', async () => {
      http.request.mockImplementation(() => {
        throw new Error('intercepted by the test');
      });
      const ids = Array.from({ length: 250 }, (_, i) => taskId(i));
      cloudMap.on(DiscoverInstancesCommand).resolves({
        Instances: ids.map((id, i) => instance(id, { AWS_INSTANCE_IPV4: `10.0.${i >> 8}.${i & 255}`, AWS_INSTANCE_PORT: '80', AVAILABILITY_ZONE: 'us-east-2a' })),
      });
      describeEach((id) => task(id, ids.indexOf(id) % 5 === 0 ? 'FARGATE' : 'FARGATE_SPOT'));
      const { handler } = await loadHandler({ ...CLUSTER, ALLOWED_CIDRS: '10.0.0.0/16' });
      const output = captureOutput();

      await handler(event, context);

      expect(askedAbout().map((tasks) => tasks?.length)).toEqual([100, 100, 50]);
      expect(askedAbout().flat()).toEqual(ids);
      expect(output.tasks).toEqual({ FARGATE: 50, FARGATE_SPOT: 200 });
    });

    it('gives other capacity providers named as ECS names them their own dimension, and counts any other name as OTHER', async () => {
      http.request.mockImplementation(() => {
        throw new Error('intercepted by the test');
      });
      const names: (string | undefined)[] = ['FARGATE', 'EC2_ARM64', 'EC2_ARM64', 'X'.repeat(32), 'X'.repeat(33), 'lowercase', 'WITH-DASH', '', undefined];
      const ids = names.map((_, i) => taskId(i));
      cloudMap.on(DiscoverInstancesCommand).resolves({
        Instances: ids.map((id, i) => instance(id, { AWS_INSTANCE_IPV4: `10.0.0.${i + 1}`, AWS_INSTANCE_PORT: '80', AVAILABILITY_ZONE: 'us-east-2a' })),
      });
      describeEach((id) => task(id, names[ids.indexOf(id)]));
      const { handler } = await loadHandler({ ...CLUSTER, ALLOWED_CIDRS: '10.0.0.0/16' });
      const output = captureOutput();

      await handler(event, context);

      expect(output.tasks).toEqual({ FARGATE: 1, FARGATE_SPOT: 0, EC2_ARM64: 2, ['X'.repeat(32)]: 1, OTHER: 5 });
    });

    it('never asks ECS about an instance whose id is not shaped like a task id', async () => {
      const ok = await recordingServer((_req, res) => res.end('ok'));
      const uuid = '0b1e2f3a-4c5d-6e7f-8091-a2b3c4d5e6f7';
      cloudMap.on(DiscoverInstancesCommand).resolves({
        Instances: [at(taskId(1), ok.port), at(uuid, ok.port), at('web-1', ok.port), at(`${taskId(2)}/x`, ok.port), at(taskId(3).toUpperCase(), ok.port)],
      });
      describeEach((id) => task(id, 'FARGATE'));
      const { handler } = await loadHandler(CLUSTER);
      const output = captureOutput();

      await expect(handler(event, context)).resolves.toEqual({ discovered: 5, succeeded: 5, failed: 0 });

      expect(askedAbout()).toEqual([[taskId(1), uuid]]);
      expect(output.tasks).toEqual({ FARGATE: 2, FARGATE_SPOT: 0 });
    });

    it('warns about the instances ECS does not describe, and still publishes the count', async () => {
      const ok = await recordingServer((_req, res) => res.end('ok'));
      cloudMap.on(DiscoverInstancesCommand).resolves({ Instances: [at(taskId(1), ok.port), at(taskId(2), ok.port)] });
      const missing = { arn: `arn:aws:ecs:us-east-2:123456789012:task/spotwise/${taskId(2)}`, reason: 'MISSING' };
      ecs.on(DescribeTasksCommand).resolves({ tasks: [task(taskId(1), 'FARGATE_SPOT')], failures: [missing] });
      const { handler } = await loadHandler(CLUSTER);
      const output = captureOutput();

      await handler(event, context);

      expect(output.logs.filter((log) => /did not describe/.test(log.message))).toEqual([
        expect.objectContaining({ level: 'WARN', unknown: 1, failures: [missing] }),
      ]);
      expect(output.tasks).toEqual({ FARGATE: 0, FARGATE_SPOT: 1 });
      expect(output.value('TaskCountFailures')).toBe(0);
    });

    it.each([
      ['throttling', Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException' }), /failed: ThrottlingException: Rate exceeded$/],
      ['AccessDenied', new AccessDeniedException({ message: 'not authorized to perform: ecs:DescribeTasks', $metadata: {} }), /failed: AccessDeniedException: not authorized/],
    ])('keeps probing and reports TaskCountFailures 1 with no Tasks when DescribeTasks fails with %s', async (_name, error, reason) => {
      const ok = await recordingServer((_req, res) => res.end('ok'));
      cloudMap.on(DiscoverInstancesCommand).resolves({ Instances: [at(taskId(1), ok.port), at(taskId(2), ok.port, 'us-east-2b')] });
      ecs.on(DescribeTasksCommand).rejects(error);
      const { handler } = await loadHandler(CLUSTER);
      const output = captureOutput();

      await expect(handler(event, context)).resolves.toEqual({ discovered: 2, succeeded: 2, failed: 0 });

      expect(ok.requests).toHaveLength(2);
      const warnings = output.logs.filter((log) => log.message === 'task count failed: no Tasks metrics this run');
      expect(warnings).toEqual([expect.objectContaining({ level: 'WARN', reason: expect.stringMatching(reason) as string })]);
      expect(String(warnings[0]?.reason)).toMatch(/^DescribeTasks on cluster "spotwise" failed: /);
      expect(output.value('TaskCountFailures')).toBe(1);
      expect(output.tasks).toEqual({});
      expect(output.emf.filter((blob) => 'Tasks' in blob)).toEqual([]);
      expect(output.value('ProbeSuccess')).toBe(2);
      expect(output.value('InstancesDiscovered')).toBe(2);
    });

    it('gives up on DescribeTasks within the time the run has left, without failing the run', async () => {
      const ok = await recordingServer((_req, res) => res.end('ok'));
      cloudMap.on(DiscoverInstancesCommand).resolves({ Instances: [at(taskId(1), ok.port)] });
      ecs.on(DescribeTasksCommand).callsFake(() => new Promise(() => undefined));
      const { handler } = await loadHandler(CLUSTER);
      const output = captureOutput();
      // 1.3 s left: the count gets what remains after the 1 s kept for publishing, 300 ms.
      const shortOfTime = { ...context, getRemainingTimeInMillis: () => 1_300 };
      const started = performance.now();

      await expect(handler(event, shortOfTime)).resolves.toEqual({ discovered: 1, succeeded: 1, failed: 0 });

      expect(performance.now() - started).toBeLessThan(300 + 250);
      expect(output.logs).toContainEqual(
        expect.objectContaining({ level: 'WARN', reason: 'DescribeTasks on cluster "spotwise" did not complete within 300 ms, retries included' }),
      );
      expect(output.value('TaskCountFailures')).toBe(1);
      expect(output.tasks).toEqual({});
    });

    it('retries a throttled DescribeTasks through the SDK, three attempts at most against the Region\'s ECS endpoint, then reports the failure', async () => {
      ecs.restore();
      const ok = await recordingServer((_req, res) => res.end('ok'));
      cloudMap.on(DiscoverInstancesCommand).resolves({ Instances: [at(taskId(1), ok.port)] });
      const { handler, ecsClient } = await loadHandler({ ...CLUSTER, AWS_ACCESS_KEY_ID: 'AKIDEXAMPLE', AWS_SECRET_ACCESS_KEY: 'secret', AWS_SESSION_TOKEN: undefined });
      vi.spyOn(Math, 'random').mockReturnValue(0);
      const sent: { hostname: string; target: unknown; attempt: unknown; body: unknown }[] = [];
      ecsClient().middlewareStack.add(
        () => (args) => {
          const request = args.request as { hostname: string; headers: Record<string, string>; body: string | Uint8Array };
          sent.push({
            hostname: request.hostname,
            target: request.headers['x-amz-target'],
            attempt: request.headers['amz-sdk-request'],
            body: JSON.parse(typeof request.body === 'string' ? request.body : new TextDecoder().decode(request.body)) as unknown,
          });
          return Promise.resolve({
            output: undefined as never,
            response: {
              statusCode: 400,
              headers: { 'content-type': 'application/x-amz-json-1.1' },
              body: Buffer.from(JSON.stringify({ __type: 'ThrottlingException', message: 'Rate exceeded' })),
            },
          });
        },
        { step: 'deserialize', priority: 'low', name: 'fakeEcsTransport' },
      );
      const output = captureOutput();

      await expect(handler(event, context)).resolves.toEqual({ discovered: 1, succeeded: 1, failed: 0 });

      expect(sent.map((request) => request.attempt)).toEqual(['attempt=1; max=3', 'attempt=2; max=3', 'attempt=3; max=3']);
      expect(sent[0]).toMatchObject({
        // The host the VPC's `ecs` interface endpoint answers for, with private DNS.
        hostname: 'ecs.us-east-2.amazonaws.com',
        target: 'AmazonEC2ContainerServiceV20141113.DescribeTasks',
        body: { cluster: 'spotwise', tasks: [taskId(1)] },
      });
      expect(output.logs).toContainEqual(expect.objectContaining({ level: 'WARN', reason: expect.stringMatching(/failed: ThrottlingException: Rate exceeded/) as string }));
      expect(output.value('TaskCountFailures')).toBe(1);
    });
  });

  it('warns that instances may be missing when discovery returns MaxResults of them, since the API cannot page', async () => {
    // Attribute-less instances keep the test off the network: only the count matters here.
    const full = Array.from({ length: 1000 }, (_, i) => ({ InstanceId: `i-${i}` }));
    cloudMap.on(DiscoverInstancesCommand).resolvesOnce({ Instances: full.slice(0, 999) }).resolvesOnce({ Instances: full });
    const { handler } = await loadHandler();
    const truncationWarnings = (output: CapturedOutput): LogLine[] =>
      output.logs.filter((log) => log.level === 'WARN' && /maximum number of instances/.test(log.message));

    const below = captureOutput();
    await handler(event, context);
    expect(truncationWarnings(below)).toEqual([]);
    vi.restoreAllMocks();

    const atLimit = captureOutput();
    await handler(event, context);
    expect(truncationWarnings(atLimit)).toEqual([expect.objectContaining({ discovered: 1000, maxResults: 1000 })]);
    expect(atLimit.value('InstancesDiscovered')).toBe(1000);
  });

  it('splits more than 100 latency values across EMF blobs, each keeping its ServiceName and AvailabilityZone dimensions', async () => {
    const ok = await recordingServer((_req, res) => res.end('ok'));
    cloudMap.on(DiscoverInstancesCommand).resolves({ Instances: Array.from({ length: 150 }, (_, i) => at(`i-${i}`, ok.port)) });
    const { handler } = await loadHandler();
    const output = captureOutput();

    await handler(event, context);

    // `values` only counts blobs with exactly the dimensions asked for, and fails on >100 values.
    expect(output.values('ProbeLatency')).toHaveLength(150);
    expect(output.values('ProbeLatency', { ServiceName: 'web', AvailabilityZone: 'us-east-2a' })).toHaveLength(150);
    expect(output.emf.filter((blob) => 'ProbeLatency' in blob)).toHaveLength(4);
    expect(output.value('ProbeSuccess')).toBe(150);
    expect(output.value('ProbeSuccess', { ServiceName: 'web', AvailabilityZone: 'us-east-2a' })).toBe(150);
    expect(output.logs.filter((log) => /No application metrics/.test(log.message))).toEqual([]);
    expect(output.records.filter((record) => typeof record.text === 'string')).toEqual([]);
  });

  it('times out a peer that accepts and never answers, and one whose response body stalls', async () => {
    const silent = await silentServer(cleanups);
    const stalled = await recordingServer((_req, res) => {
      res.writeHead(200, { 'content-length': '100' });
      res.write('partial');
    });
    cloudMap.on(DiscoverInstancesCommand).resolves({ Instances: [at('silent', silent), at('stalled', stalled.port)] });
    const { handler } = await loadHandler({ PROBE_TIMEOUT_MS: '300' });
    const output = captureOutput();
    const started = performance.now();

    await expect(handler(event, context)).resolves.toEqual({ discovered: 2, succeeded: 0, failed: 2 });

    expect(performance.now() - started).toBeLessThan(300 + 250);
    expect(output.probeLog(`127.0.0.1:${silent}`)).toMatchObject({ status: 'failure', reason: 'timeout after 300 ms' });
    expect(output.probeLog(`127.0.0.1:${stalled.port}`)).toMatchObject({ status: 'failure', reason: 'timeout after 300 ms', httpStatus: 200 });
    expect(output.values('ProbeLatency')).toEqual([]);
  });

  it('closes the connection after a complete response even when the peer would keep it alive', async () => {
    // A raw peer that answers with keep-alive and never closes: only the prober can end the connection.
    const closed: Promise<void>[] = [];
    const server = createNetServer((socket) => {
      closed.push(new Promise((resolve) => socket.once('close', () => resolve())));
      socket.once('data', () => socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\nok'));
      socket.on('error', () => undefined);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise((resolve) => server.close(() => resolve())));
    const port = (server.address() as AddressInfo).port;
    cloudMap.on(DiscoverInstancesCommand).resolves({ Instances: [at('a', port), at('b', port)] });
    const { handler } = await loadHandler();
    captureOutput();

    await expect(handler(event, context)).resolves.toEqual({ discovered: 2, succeeded: 2, failed: 0 });

    expect(closed).toHaveLength(2);
    await expect(Promise.race([Promise.all(closed).then(() => 'closed'), new Promise((resolve) => setTimeout(() => resolve('still open'), 500))])).resolves.toBe('closed');
  });

  it('frees the connection of a peer it gave up on as soon as the probe times out', async () => {
    // A raw peer that accepts and never answers: only the prober can end the connection.
    const closedAt: Promise<number>[] = [];
    const server = createNetServer((socket) => {
      closedAt.push(new Promise((resolve) => socket.once('close', () => resolve(performance.now()))));
      socket.on('error', () => undefined);
      // Reads, and so sees the other end close, but never answers.
      socket.resume();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise((resolve) => server.close(() => resolve())));
    const port = (server.address() as AddressInfo).port;
    cloudMap.on(DiscoverInstancesCommand).resolves({ Instances: [at('silent', port)] });
    const { handler } = await loadHandler({ PROBE_TIMEOUT_MS: '200' });
    captureOutput();

    await expect(handler(event, context)).resolves.toEqual({ discovered: 1, succeeded: 0, failed: 1 });
    const returnedAt = performance.now();

    expect(closedAt).toHaveLength(1);
    const closed = await Promise.race([closedAt[0], new Promise<'still open'>((resolve) => setTimeout(() => resolve('still open'), 500))]);
    expect(closed).not.toBe('still open');
    expect(closed as number).toBeLessThan(returnedAt + 100);
  });

  it('keeps every probe in flight at once, so a dozen silent peers cost one timeout, not one each or one per batch', async () => {
    const peers = await Promise.all(Array.from({ length: 12 }, () => silentServer(cleanups)));
    cloudMap.on(DiscoverInstancesCommand).resolves({ Instances: peers.map((port, i) => at(`silent-${i}`, port)) });
    const { handler } = await loadHandler({ PROBE_TIMEOUT_MS: '300' });
    const output = captureOutput();
    const started = performance.now();

    await expect(handler(event, context)).resolves.toEqual({ discovered: 12, succeeded: 0, failed: 12 });

    // Probes awaited one at a time, or one batch at a time, would take 12 or 3 timeouts.
    expect(performance.now() - started).toBeLessThan(300 + 250);
    expect(output.logs.filter((log) => log.reason === 'timeout after 300 ms')).toHaveLength(12);
  });

  it.each([
    ['SERVICE_NAME', { SERVICE_NAME: undefined }, /SERVICE_NAME is not set: it must hold the Cloud Map service name/],
    ['NAMESPACE_NAME', { NAMESPACE_NAME: '' }, /NAMESPACE_NAME is not set: it must hold the Cloud Map namespace name/],
    ['PROBE_TIMEOUT_MS', { PROBE_TIMEOUT_MS: '3s' }, /PROBE_TIMEOUT_MS must be a positive whole number of milliseconds; got "3s"/],
    ['PROBE_PATH', { PROBE_PATH: 'healthz' }, /PROBE_PATH must start with "\/"/],
    ['ALLOWED_CIDRS', { ALLOWED_CIDRS: undefined }, /ALLOWED_CIDRS is not set: it must hold the IPv4 CIDR blocks/],
    ['ALLOWED_CIDRS', { ALLOWED_CIDRS: '10.0.0.0/33' }, /ALLOWED_CIDRS must list IPv4 CIDR blocks with their host bits zero, .*; got "10.0.0.0\/33"/],
    ['ALLOWED_CIDRS', { ALLOWED_CIDRS: '10.0.0.1/16' }, /ALLOWED_CIDRS must list IPv4 CIDR blocks with their host bits zero/],
    ['ALLOWED_CIDRS', { ALLOWED_CIDRS: '10.0.0.0/16,' }, /ALLOWED_CIDRS must list IPv4 CIDR blocks/],
    ['ALLOWED_CIDRS', { ALLOWED_CIDRS: '10.0.0.0' }, /ALLOWED_CIDRS must list IPv4 CIDR blocks/],
    ['AWS_REGION', { AWS_REGION: '' }, /AWS_REGION is not set/],
  ])('fails with a clear ConfigurationError when %s is missing or invalid', async (_name, env, message) => {
    const { handler } = await loadHandler(env);
    captureOutput();

    await expect(handler(event, context)).rejects.toThrow(message);
    expect(cloudMap.commandCalls(DiscoverInstancesCommand)).toHaveLength(0);
  });
});
