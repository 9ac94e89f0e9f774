/**
 * What the Lambda runtime hands a handler: a context, and AWS's published sample events.
 * Framework-free (no vitest import) so that the benchmarks can use it under plain tsx.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Context, EventBridgeEvent, ScheduledEvent } from 'aws-lambda';

export const FIXTURES_DIR = join(__dirname, '..', 'fixtures', 'aws-events');
export type SampleEventName = 'spot-interruption-warning' | 'rebalance-recommendation' | 'scheduled-event';

/** A fresh copy of one of AWS's published sample events, as delivered (a plain JSON object). */
export function sampleEvent(name: SampleEventName): EventBridgeEvent<string, unknown> {
  return JSON.parse(readFileSync(join(FIXTURES_DIR, `${name}.json`), 'utf8')) as EventBridgeEvent<string, unknown>;
}

/** A fresh copy of what an EventBridge schedule rule delivers to its target. */
export function scheduledEvent(): ScheduledEvent {
  return sampleEvent('scheduled-event') as ScheduledEvent;
}

/** The context the runtime passes to `functionName`, with no-op legacy callbacks. */
export function fakeContext(functionName: string): Context {
  return {
    callbackWaitsForEmptyEventLoop: true,
    functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:us-east-2:123456789012:function:${functionName}`,
    memoryLimitInMB: '256',
    awsRequestId: '7f4c2e1a-2b3c-4d5e-8f90-123456789abc',
    logGroupName: `/aws/lambda/${functionName}`,
    logStreamName: '2026/11/23/[$LATEST]0123456789abcdef0123456789abcdef',
    getRemainingTimeInMillis: () => 30_000,
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  } satisfies Context;
}
