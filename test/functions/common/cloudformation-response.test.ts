import type { IncomingMessage, ServerResponse } from 'node:http';
import type { CloudFormationCustomResourceResponse } from 'aws-lambda';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { MAX_DELAY_MS, ResponseNotSent, sendResponse } from '../../../lib/functions/common/cloudformation-response';
import type { Cleanup } from '../../support/loopback';
import { closeAll, closedPort, httpServer } from '../../support/loopback';

const BODY: CloudFormationCustomResourceResponse = {
  Status: 'SUCCESS',
  PhysicalResourceId: 'service-linked-roles',
  StackId: 'arn:aws:cloudformation:us-east-2:123456789012:stack/SpotFleetWebApp/guid',
  RequestId: 'request-1',
  LogicalResourceId: 'Resource',
};

interface Received {
  readonly method?: string;
  readonly contentType?: string;
  readonly body: unknown;
}

const cleanups: Cleanup[] = [];
let warnings: Record<string, unknown>[];
let errors: Record<string, unknown>[];

beforeEach(() => {
  warnings = [];
  errors = [];
  vi.spyOn(console, 'warn').mockImplementation((line: string) => void warnings.push(JSON.parse(line) as Record<string, unknown>));
  vi.spyOn(console, 'error').mockImplementation((line: string) => void errors.push(JSON.parse(line) as Record<string, unknown>));
});

afterEach(async () => {
  await closeAll(cleanups);
  vi.restoreAllMocks();
});

/**
 * A stand-in for the pre-signed URL: `answer` handles the n-th request (from 0) once its body is read, and
 * every request is recorded.
 */
async function s3(answer: (n: number, res: ServerResponse, req: IncomingMessage) => void): Promise<{ url: string; received: Received[] }> {
  const received: Received[] = [];
  const port = await httpServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString()));
    req.on('end', () => {
      received.push({ method: req.method, contentType: req.headers['content-type'], body: JSON.parse(body) });
      answer(received.length - 1, res, req);
    });
  }, cleanups);
  return { url: `http://127.0.0.1:${port}/response?X-Amz-Signature=x`, received };
}

const status = (code: number, text = '') => (res: ServerResponse) => {
  res.statusCode = code;
  res.end(text);
};

describe('sendResponse', () => {
  it('PUTs the body once, as JSON with the empty content type the URL was signed for, when S3 takes it', async () => {
    const { url, received } = await s3((_n, res) => status(200)(res));
    await sendResponse(url, BODY);
    expect(received).toEqual([{ method: 'PUT', contentType: '', body: BODY }]);
    expect(warnings).toEqual([]);
  });

  it('retries the same body after a 503, and stops at the first success', async () => {
    const { url, received } = await s3((n, res) => status(n === 0 ? 503 : 200, n === 0 ? '<Error><Code>SlowDown</Code></Error>' : '')(res));
    await sendResponse(url, BODY);
    expect(received.map((r) => r.body)).toEqual([BODY, BODY]);
    expect(warnings).toEqual([expect.objectContaining({ status: 'SUCCESS', attempt: 1, error: expect.stringMatching(/^S3 answered 503 .*SlowDown/) as unknown })]);
  });

  it('retries after the connection drops without an answer', async () => {
    const { url, received } = await s3((n, res, req) => (n === 0 ? req.socket.destroy() : status(200)(res)));
    await sendResponse(url, BODY);
    expect(received).toHaveLength(2);
    expect(warnings).toEqual([expect.objectContaining({ attempt: 1, error: expect.stringMatching(/fetch failed/) as unknown })]);
  });

  it('retries an attempt that outlasts its own timeout', async () => {
    // The first request is never answered; its attempt ends at 200 ms.
    const { url, received } = await s3((n, res) => (n === 0 ? undefined : status(200)(res)));
    const started = performance.now();
    await sendResponse(url, BODY, { attemptTimeoutMs: 200 });
    expect(performance.now() - started).toBeGreaterThanOrEqual(190);
    expect(received).toHaveLength(2);
    expect(warnings).toEqual([expect.objectContaining({ attempt: 1, error: expect.stringMatching(/TimeoutError/) as unknown })]);
  });

  it('fails at once, without a retry, when S3 refuses the request with a 4xx', async () => {
    const { url, received } = await s3((_n, res) => status(403, '<Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>')(res));
    await expect(sendResponse(url, BODY)).rejects.toThrow(ResponseNotSent);
    await expect(sendResponse(url, BODY)).rejects.toThrow(/after 1 attempts \(CloudFormation refused it\): S3 answered 403 .*Request has expired/);
    expect(received).toHaveLength(2);
    expect(warnings).toEqual([]);
    expect(errors[0]).toMatchObject({ message: 'CloudFormation response not sent: CloudFormation refused it', status: 'SUCCESS', requestId: 'request-1' });
  });

  it('gives up, logging it, once the caller\'s signal fires, the wait and the attempt in flight included', async () => {
    const { url, received } = await s3((_n, res) => status(503)(res));
    const started = performance.now();
    await expect(sendResponse(url, BODY, { signal: AbortSignal.timeout(400), firstDelayMs: 20 })).rejects.toThrow(/no attempt succeeded in \d+ ms\): S3 answered 503/);
    const elapsed = performance.now() - started;
    expect(elapsed).toBeGreaterThanOrEqual(390);
    expect(elapsed).toBeLessThan(1_000);
    expect(received.length).toBeGreaterThanOrEqual(3);
    expect(errors).toEqual([expect.objectContaining({ message: expect.stringMatching(/^CloudFormation response not sent: no attempt succeeded/) as unknown })]);
  });

  it('stops an attempt in flight when the caller\'s signal fires', async () => {
    const { url } = await s3(() => undefined);
    const started = performance.now();
    await expect(sendResponse(url, BODY, { signal: AbortSignal.timeout(150) })).rejects.toThrow(ResponseNotSent);
    expect(performance.now() - started).toBeLessThan(1_000);
  });

  it('names what went wrong before when the caller\'s signal cuts an attempt short', async () => {
    // A 503, then no answer at all until the signal fires.
    const { url } = await s3((n, res) => (n === 0 ? status(503, 'SlowDown')(res) : undefined));
    await expect(sendResponse(url, BODY, { signal: AbortSignal.timeout(300), firstDelayMs: 10 })).rejects.toThrow(/after 2 attempts \(no attempt succeeded in \d+ ms\): S3 answered 503 SlowDown$/);
  });

  it('keeps trying while the connection is refused, within the caller\'s time', async () => {
    const url = `http://127.0.0.1:${await closedPort()}/response`;
    await expect(sendResponse(url, BODY, { signal: AbortSignal.timeout(300), firstDelayMs: 10 })).rejects.toThrow(/ECONNREFUSED/);
    expect(warnings.length).toBeGreaterThanOrEqual(2);
  });

  it('waits a random part of a ceiling that doubles from the first delay up to its maximum', async () => {
    // The smallest draw, so that the waits are short and show their ceilings: 1000, 2000, 4000, 4000 ms.
    vi.spyOn(Math, 'random').mockReturnValue(0.001);
    const { url } = await s3((n, res) => status(n < 4 ? 500 : 200)(res));
    await sendResponse(url, BODY, { firstDelayMs: 1_000 });
    expect(MAX_DELAY_MS).toBe(4_000);
    expect(warnings.map((w) => w.delayMs)).toEqual([1, 2, 4, 4]);
  });
});
