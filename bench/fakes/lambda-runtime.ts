/**
 * What one simulated Lambda execution environment runs: a fresh Node process that loads the function's code
 * (the init phase), then runs the invocations its parent sends, one at a time, for as long as the parent keeps
 * it. bench/fakes/lambda.ts bundles this file to plain JavaScript, so a cold start pays Node's start and the
 * handler's own module loads, and no TypeScript loader.
 */
import type { Context } from 'aws-lambda';

export interface InvokeMessage {
  readonly type: 'invoke';
  readonly id: number;
  readonly event: unknown;
  /** Epoch milliseconds at which the invocation times out. */
  readonly deadline: number;
  readonly invokedFunctionArn: string;
  readonly requestId: string;
}

/** `cpuMs`: CPU time (user + system) the process spent, which Lambda rations by memory size and this machine does not. */
export type RuntimeMessage =
  | { readonly type: 'ready'; readonly initMs: number; readonly cpuMs: number }
  | { readonly type: 'done'; readonly id: number; readonly ok: true; readonly value: unknown; readonly durationMs: number; readonly cpuMs: number }
  | { readonly type: 'done'; readonly id: number; readonly ok: false; readonly error: string; readonly durationMs: number; readonly cpuMs: number };

type Handler = (event: unknown, context: Context) => Promise<unknown>;

function send(message: RuntimeMessage): void {
  process.send?.(message);
}

function cpuMsSince(start: NodeJS.CpuUsage): number {
  const { user, system } = process.cpuUsage(start);
  return (user + system) / 1000;
}

const started = performance.now();
const startedCpu = process.cpuUsage();
// eslint-disable-next-line @typescript-eslint/no-require-imports -- the handler's path is known at run time only
const { handler } = require(process.env.BENCH_HANDLER_PATH ?? '') as { handler: Handler };
send({ type: 'ready', initMs: performance.now() - started, cpuMs: cpuMsSince(startedCpu) });

process.on('message', (message: InvokeMessage) => {
  const context: Context = {
    callbackWaitsForEmptyEventLoop: true,
    functionName: process.env.AWS_LAMBDA_FUNCTION_NAME ?? '',
    functionVersion: '$LATEST',
    invokedFunctionArn: message.invokedFunctionArn,
    memoryLimitInMB: process.env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE ?? '128',
    awsRequestId: message.requestId,
    logGroupName: `/aws/lambda/${process.env.AWS_LAMBDA_FUNCTION_NAME ?? ''}`,
    logStreamName: `2026/11/23/[$LATEST]${process.pid}`,
    getRemainingTimeInMillis: () => Math.max(0, message.deadline - Date.now()),
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  handler(message.event, context).then(
    (value) => send({ type: 'done', id: message.id, ok: true, value, durationMs: performance.now() - t0, cpuMs: cpuMsSince(cpu0) }),
    (error: unknown) => {
      // Lambda logs the error and answers the poller with an error result: the whole batch failed.
      console.error('Invoke Error', error);
      const text = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
      send({ type: 'done', id: message.id, ok: false, error: text, durationMs: performance.now() - t0, cpuMs: cpuMsSince(cpu0) });
    },
  );
});
