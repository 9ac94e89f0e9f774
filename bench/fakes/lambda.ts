import type { ChildProcess } from 'node:child_process';
import { fork } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { closeSync, mkdirSync, openSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { buildSync } from 'esbuild';
import type { SQSEvent, SQSRecord } from 'aws-lambda';
import type { FakeQueue, Received } from './queue';
import type { InvokeMessage, RuntimeMessage } from './lambda-runtime';

/**
 * Lambda as the drainer and the notifier meet it, in real time: execution environments are child processes
 * that run the real bundle, one invocation at a time each, kept warm and reused; a new one pays a cold start
 * (Node's start plus the bundle's module loads; not Lambda's own sandbox start, which is not modelled). On a
 * 2-core machine, many environments starting at once compete for CPU, as they would not in Lambda.
 */

export const BENCH_DIR = join(__dirname, '..', '..', '.bench');

export interface FunctionConfig {
  readonly name: string;
  readonly arn: string;
  /** The function's code as written to disk, inside the project so its externals resolve from node_modules. */
  readonly bundlePath: string;
  /** The whole environment of the process: the function's variables plus what Lambda and the fake add. */
  readonly environment: Readonly<Record<string, string>>;
  readonly timeoutSeconds: number;
  readonly memoryMiB: number;
  /** Where the environments' stdout and stderr (the function's logs) go. */
  readonly logPath: string;
}

/** `durationMs` includes the init of a cold start (`initMs`); `cpuMs` is the CPU time of both, when the runtime answered. */
export type InvokeResult =
  | { readonly ok: true; readonly value: unknown; readonly cold: boolean; readonly initMs?: number; readonly durationMs: number; readonly cpuMs?: number }
  | { readonly ok: false; readonly error: string; readonly cold: boolean; readonly initMs?: number; readonly durationMs: number; readonly cpuMs?: number };

let runtimePath: string | undefined;

/** The environment's runtime loop, bundled once to plain JavaScript. */
function runtimeScript(): string {
  if (runtimePath === undefined) {
    const outfile = join(BENCH_DIR, 'lambda-runtime.js');
    buildSync({ entryPoints: [join(__dirname, 'lambda-runtime.ts')], bundle: true, platform: 'node', target: 'node20', format: 'cjs', outfile, logLevel: 'silent' });
    runtimePath = outfile;
  }
  return runtimePath;
}

/** One execution environment: a process that has run, or is running, the function's init. */
class ExecutionEnvironment {
  readonly ready: Promise<{ initMs: number; cpuMs: number }>;
  private readonly child: ChildProcess;
  private waiting?: (message: RuntimeMessage | undefined) => void;
  private exited = false;

  constructor(config: FunctionConfig, logFd: number) {
    this.child = fork(runtimeScript(), [], {
      env: { ...config.environment, BENCH_HANDLER_PATH: config.bundlePath },
      // Not the parent's tsx loader: the environment runs plain JavaScript, as Lambda does.
      execArgv: [],
      stdio: ['ignore', logFd, logFd, 'ipc'],
    });
    this.ready = new Promise((resolve, reject) => {
      this.child.on('message', (message: RuntimeMessage) => {
        if (message.type === 'ready') resolve({ initMs: message.initMs, cpuMs: message.cpuMs });
        else this.waiting?.(message);
      });
      this.child.once('exit', (code, signal) => {
        this.exited = true;
        reject(new Error(`Runtime.ExitError: the environment exited during init (${signal ?? code})`));
        this.waiting?.(undefined);
      });
    });
    // Observed by invoke(); this only keeps an init failure from being reported as unhandled too.
    this.ready.catch(() => undefined);
    // A send to a process that has just died fails here; its 'exit' then fails the invocation.
    this.child.on('error', () => undefined);
  }

  /** The runtime's answer, `undefined` if the process died, or 'timeout'. */
  run(message: InvokeMessage, timeoutMs: number): Promise<RuntimeMessage | undefined | 'timeout'> {
    if (this.exited) return Promise.resolve(undefined);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.waiting = undefined;
        resolve('timeout');
      }, timeoutMs);
      this.waiting = (answer) => {
        clearTimeout(timer);
        this.waiting = undefined;
        resolve(answer);
      };
      this.child.send(message);
    });
  }

  kill(): void {
    if (!this.exited) this.child.kill('SIGKILL');
  }
}

export class LambdaFunction {
  readonly stats = { invocations: 0, coldStarts: 0, errors: 0, timeouts: 0, peakConcurrency: 0 };
  private readonly idle: ExecutionEnvironment[] = [];
  private readonly all = new Set<ExecutionEnvironment>();
  private readonly logFd: number;
  private running = 0;
  private nextId = 1;
  private closed = false;

  constructor(readonly config: FunctionConfig) {
    mkdirSync(dirname(config.logPath), { recursive: true });
    this.logFd = openSync(config.logPath, 'a');
  }

  get busy(): number {
    return this.running;
  }

  /** A synchronous invoke: a warm environment if one is idle, else a new one (a cold start). */
  async invoke(event: unknown, invokedFunctionArn = this.config.arn): Promise<InvokeResult> {
    this.stats.invocations += 1;
    this.running += 1;
    this.stats.peakConcurrency = Math.max(this.stats.peakConcurrency, this.running);
    try {
      return await this.invokeIn(event, invokedFunctionArn);
    } finally {
      this.running -= 1;
    }
  }

  /** Ends every environment; once. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const environment of this.all) environment.kill();
    this.all.clear();
    this.idle.length = 0;
    closeSync(this.logFd);
  }

  private async invokeIn(event: unknown, invokedFunctionArn: string): Promise<InvokeResult> {
    let environment = this.idle.pop();
    const cold = environment === undefined;
    let initMs: number | undefined;
    let initCpuMs = 0;
    const started = performance.now();
    if (environment === undefined) {
      this.stats.coldStarts += 1;
      environment = new ExecutionEnvironment(this.config, this.logFd);
      this.all.add(environment);
      try {
        ({ initMs, cpuMs: initCpuMs } = await environment.ready);
      } catch (error) {
        this.all.delete(environment);
        this.stats.errors += 1;
        return { ok: false, error: String(error), cold, durationMs: performance.now() - started };
      }
    }
    const timeoutMs = this.config.timeoutSeconds * 1000;
    const id = this.nextId++;
    const answer = await environment.run(
      { type: 'invoke', id, event, deadline: Date.now() + timeoutMs, invokedFunctionArn, requestId: randomUUID() },
      timeoutMs,
    );
    const durationMs = performance.now() - started;
    if (answer === 'timeout' || answer === undefined || answer.type !== 'done') {
      // Lambda discards an environment that timed out or crashed; the next invoke gets a fresh one.
      environment.kill();
      this.all.delete(environment);
      this.stats.errors += 1;
      if (answer === 'timeout') this.stats.timeouts += 1;
      const error = answer === 'timeout' ? `Task timed out after ${this.config.timeoutSeconds.toFixed(2)} seconds` : 'Runtime.ExitError';
      return { ok: false, error, cold, initMs, durationMs };
    }
    this.idle.push(environment);
    const cpuMs = initCpuMs + answer.cpuMs;
    if (!answer.ok) {
      this.stats.errors += 1;
      return { ok: false, error: answer.error, cold, initMs, durationMs, cpuMs };
    }
    return { ok: true, value: answer.value, cold, initMs, durationMs, cpuMs };
  }
}

export interface EventSourceMappingConfig {
  readonly batchSize: number;
  readonly maximumBatchingWindowSeconds: number;
  readonly reportBatchItemFailures: boolean;
  /** The lower of `ScalingConfig.MaximumConcurrency` and the function's reserved concurrency, if either is set. */
  readonly maximumConcurrency?: number;
}

/**
 * The poller model. Lambda's developer guide ("Configuring scaling behavior for SQS event source mappings",
 * read 2026-11): for a standard queue, Lambda long-polls; when messages are available it "starts processing
 * five batches at a time with five concurrent invocations", and while messages are still available "increases
 * the number of processes that are reading batches by up to 300 more instances per minute", to at most 1,000
 * batches at once; `ScalingConfig.MaximumConcurrency` "limits the number of concurrent instances that the
 * Amazon SQS event source can invoke". Modelled as min(5, MaximumConcurrency) pollers from the start and one
 * more every 200 ms while any message is visible, up to MaximumConcurrency or 1,000; each poller holds at
 * most one batch, gathering or invoking, so no batch is read that could not be invoked. Lambda's own scaling
 * down and error back-off are not modelled.
 */
export const POLLER_MODEL = {
  initialPollers: 5,
  addedPerMinute: 300,
  maxPollers: 1000,
  longPollSeconds: 20,
  /** SQS's ReceiveMessage limit. */
  messagesPerReceive: 10,
  /** Lambda's synchronous invocation payload limit. */
  payloadBytes: 6 * 1024 * 1024,
} as const;

export interface BatchRecord {
  /** When the invoke started. */
  readonly startedAt: number;
  /** From the oldest message's arrival on the queue to the invoke. */
  readonly waitedMs: number;
  /** The init of a new environment, for a cold start. */
  readonly initMs?: number;
  /** CPU time of the init and the invocation. */
  readonly cpuMs?: number;
  readonly size: number;
  readonly cold: boolean;
  readonly ok: boolean;
  /** Messages that went back to the queue: reported in batchItemFailures, or all of them when the invoke failed. */
  readonly failed: number;
  readonly durationMs: number;
  readonly error?: string;
}

/**
 * An SQS event source mapping: pollers that gather batches (until BatchSize, the batching window counted from
 * the batch's first message, or 6 MB) and invoke the function synchronously, one batch per poller at a time.
 * Successful messages are deleted; failed ones are left to reappear when their visibility timeout runs out.
 */
export class SqsEventSource {
  readonly batches: BatchRecord[] = [];
  peakPollers = 0;
  private pollers = 0;
  /** Pollers holding messages: gathering a batch or waiting on its invocation. */
  private holding = 0;
  private readonly loops: Promise<void>[] = [];
  private readonly stopping = new AbortController();
  private scaler?: NodeJS.Timeout;

  constructor(
    private readonly queue: FakeQueue,
    private readonly fn: LambdaFunction,
    private readonly config: EventSourceMappingConfig,
    private readonly region: string,
  ) {}

  /** Pollers start at 5 (or the maximum concurrency, if lower) and grow while messages are visible, to at most the maximum concurrency. */
  start(): void {
    const max = Math.min(POLLER_MODEL.maxPollers, this.config.maximumConcurrency ?? Infinity);
    for (let i = 0; i < Math.min(POLLER_MODEL.initialPollers, max); i += 1) this.addPoller();
    this.scaler = setInterval(() => {
      if (this.pollers < max && this.queue.visibleCount() > 0) this.addPoller();
    }, 60_000 / POLLER_MODEL.addedPerMinute);
  }

  /** No batch is being gathered or processed. */
  get idle(): boolean {
    return this.holding === 0;
  }

  async stop(): Promise<void> {
    clearInterval(this.scaler);
    this.stopping.abort();
    await Promise.all(this.loops);
  }

  private addPoller(): void {
    this.pollers += 1;
    this.peakPollers = Math.max(this.peakPollers, this.pollers);
    this.loops.push(this.poll());
  }

  private async poll(): Promise<void> {
    const { batchSize, maximumBatchingWindowSeconds } = this.config;
    const signal = this.stopping.signal;
    while (!signal.aborted) {
      const batch: Received[] = [];
      let bytes = 0;
      let windowEnd: number | undefined;
      while (!signal.aborted && batch.length < batchSize && bytes < POLLER_MODEL.payloadBytes) {
        const waitMs = windowEnd === undefined ? POLLER_MODEL.longPollSeconds * 1000 : windowEnd - Date.now();
        if (waitMs <= 0) break;
        const received = await this.queue.receiveWait(Math.min(POLLER_MODEL.messagesPerReceive, batchSize - batch.length), waitMs, signal);
        if (received.length > 0 && batch.length === 0) {
          this.holding += 1;
          windowEnd = Date.now() + maximumBatchingWindowSeconds * 1000;
        }
        for (const item of received) {
          batch.push(item);
          bytes += Buffer.byteLength(item.message.body) + 1024;
        }
        // Without a batching window Lambda invokes with what one receive returned.
        if (batch.length > 0 && maximumBatchingWindowSeconds === 0) break;
      }
      if (batch.length === 0) continue;
      try {
        await this.invoke(batch);
      } finally {
        this.holding -= 1;
      }
    }
  }

  private async invoke(batch: readonly Received[]): Promise<void> {
    const startedAt = Date.now();
    const event: SQSEvent = { Records: batch.map((item) => this.record(item)) };
    const result = await this.fn.invoke(event);
    const ids = batch.map((item) => item.message.messageId);
    const failed = !result.ok ? new Set(ids) : this.config.reportBatchItemFailures ? reportedFailures(result.value, ids) : new Set<string>();
    for (const item of batch) if (!failed.has(item.message.messageId)) this.queue.delete(item.receiptHandle);
    this.batches.push({
      startedAt,
      waitedMs: startedAt - Math.min(...batch.map((item) => item.message.sentTimestamp)),
      ...(result.initMs !== undefined && { initMs: result.initMs }),
      ...(result.cpuMs !== undefined && { cpuMs: result.cpuMs }),
      size: batch.length,
      cold: result.cold,
      ok: result.ok,
      failed: failed.size,
      durationMs: result.durationMs,
      ...(!result.ok && { error: result.error }),
    });
  }

  private record({ message, receiptHandle, receiveCount }: Received): SQSRecord {
    return {
      messageId: message.messageId,
      receiptHandle,
      body: message.body,
      attributes: {
        ApproximateReceiveCount: String(receiveCount),
        SentTimestamp: String(message.sentTimestamp),
        SenderId: 'AIDAIENQZJOLO23YVJ4VO',
        ApproximateFirstReceiveTimestamp: String(message.firstReceiveTimestamp ?? message.sentTimestamp),
      },
      messageAttributes: Object.fromEntries(
        Object.entries(message.attributes ?? {}).map(([name, { dataType, stringValue }]) => [name, { dataType, stringValue, stringListValues: [], binaryListValues: [] }]),
      ),
      md5OfBody: message.md5OfBody,
      eventSource: 'aws:sqs',
      eventSourceARN: this.queue.arn,
      awsRegion: this.region,
    };
  }
}

/**
 * Which messages a partial batch response sends back, as Lambda reads it (developer guide, "Implementing
 * partial batch responses"): a null or empty response or list is full success; an item identifier that is
 * empty, null, or not a message of the batch, or a response of the wrong shape, fails the whole batch.
 */
export function reportedFailures(value: unknown, messageIds: readonly string[]): Set<string> {
  const all = new Set(messageIds);
  if (value === null || value === undefined) return new Set();
  if (typeof value !== 'object') return all;
  const list = (value as { batchItemFailures?: unknown }).batchItemFailures;
  if (list === null || list === undefined) return new Set();
  if (!Array.isArray(list)) return all;
  const failed = new Set<string>();
  for (const item of list) {
    const id = (item as { itemIdentifier?: unknown } | null)?.itemIdentifier;
    if (typeof id !== 'string' || !all.has(id)) return all;
    failed.add(id);
  }
  return failed;
}

/**
 * An EventBridge schedule target: invokes the function (asynchronously, as EventBridge does: a run still
 * going when the next tick comes runs alongside it) at `phaseMs` and every `rateMs` after. Lambda's
 * asynchronous retries of a failed run are not modelled; failures are recorded.
 */
export class Schedule {
  readonly runs: { readonly at: number; readonly result: InvokeResult }[] = [];
  private readonly running = new Set<Promise<void>>();
  private timer?: NodeJS.Timeout;
  private stopped = false;

  constructor(
    private readonly fn: LambdaFunction,
    readonly rateMs: number,
    private readonly event: (at: Date) => unknown,
  ) {}

  start(phaseMs: number): void {
    const origin = Date.now() + phaseMs;
    const tick = (n: number): void => {
      if (this.stopped) return;
      const at = Date.now();
      const run = this.fn.invoke(this.event(new Date(at))).then((result) => {
        this.runs.push({ at, result });
      });
      this.running.add(run);
      void run.finally(() => this.running.delete(run));
      this.timer = setTimeout(() => tick(n + 1), origin + (n + 1) * this.rateMs - Date.now());
    };
    this.timer = setTimeout(() => tick(0), phaseMs);
  }

  get busy(): boolean {
    return this.running.size > 0;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await Promise.all(this.running);
  }
}
