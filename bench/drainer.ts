/**
 * The Spot interruption drainer's own figures: the cold start it adds (goal ≤ 50 ms), the first batch in a fresh
 * environment (where the SDK loads land), and the AWS calls one batch makes, counted at a loopback fake of ELB
 * and SQS that the real SDK talks to. bench/mass-reclaim.ts covers the delivery path and many batches.
 */
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import type { SQSEvent } from 'aws-lambda';
import { COLD_INIT_GOAL_RATIO, measureColdInit } from './cold-init';
import type { FakeTargetGroup, RecordedCall } from './fakes/aws-endpoint';
import { ACCOUNT, FakeAws, REGION } from './fakes/aws-endpoint';
import type { InvokeResult } from './fakes/lambda';
import { BENCH_DIR, LambdaFunction } from './fakes/lambda';
import { FakeQueue, md5 } from './fakes/queue';
import { sampleEvent } from '../test/support/lambda';
import { MAX_TARGETS_PER_DEREGISTRATION } from '../lib/functions/spot-interruption-drainer/contract';

const ENTRY = join(__dirname, '..', 'lib', 'functions', 'spot-interruption-drainer', 'handler.ts');
const FIRST_BATCH_RUNS = 5;
const TARGET_GROUP_WEB = `arn:aws:elasticloadbalancing:${REGION}:${ACCOUNT}:targetgroup/spotwise-web/0123456789abcdef`;
const TARGET_GROUP_API = `arn:aws:elasticloadbalancing:${REGION}:${ACCOUNT}:targetgroup/spotwise-api/fedcba9876543210`;
const POWERTOOLS = { POWERTOOLS_SERVICE_NAME: 'spot-interruption-drainer', POWERTOOLS_METRICS_NAMESPACE: 'Spotwise' };

export async function run(): Promise<void> {
  console.log('## Spot interruption drainer');
  const cold = measureColdInit('spot-interruption-drainer', ENTRY, { ...POWERTOOLS, TARGET_GROUP_ARNS: TARGET_GROUP_WEB });
  console.log(`Bundle: ${cold.inlineBytes.toLocaleString('en')} bytes, inlined as the plain esbuild bundle`);
  const coldRatio = cold.medianMs / cold.floorMedianMs;
  console.log(
    `Cold init (the inline code as the template carries it, loaded, median of ${cold.samplesMs.length} fresh processes): ${ms(cold.medianMs)} against a floor of ` +
      `${ms(cold.floorMedianMs)} (Powertools alone, same run) = ${coldRatio.toFixed(2)}x` +
      ` (goal <= ${COLD_INIT_GOAL_RATIO}x: ${coldRatio <= COLD_INIT_GOAL_RATIO ? 'met' : 'NOT met'})`,
  );

  const world = await World.create(cold.bundlePath);
  let failed = false;
  try {
    const first = await world.firstBatches(FIRST_BATCH_RUNS);
    console.log('The SDK modules load on the first batch, so that is where their cost shows:');
    console.log(
      `  first batch (1 warning of ours) in a fresh environment, median of ${FIRST_BATCH_RUNS}: ${ms(first.firstMs)}` +
        ` (ELB and SQS SDK loads, clients, ${first.callsPerBatch} calls to the local fake); the next batch: ${ms(first.warmMs)}`,
    );
    console.log(`  init (process already started) + first batch: ${ms(first.initMs + first.firstMs)}`);

    console.log(
      `AWS calls per batch (goal: per target group one DescribeTargetHealth and, if it holds any of ours, one DeregisterTargets per ${MAX_TARGETS_PER_DEREGISTRATION} of their registrations; one SendMessage if it drained any of ours):`,
    );
    for (const check of CHECKS) {
      const { calls } = await world.batch(check);
      const problem = verdict(check, calls);
      failed ||= problem !== undefined;
      console.log(`  ${check.name.padEnd(44)} ${summarize(calls).padEnd(44)} ${problem === undefined ? 'ok' : `FAIL: ${problem}`}`);
    }
  } finally {
    await world.close();
  }
  const missed: string[] = [];
  if (coldRatio > COLD_INIT_GOAL_RATIO) missed.push(`cold init took ${coldRatio.toFixed(2)}x the floor, goal <= ${COLD_INIT_GOAL_RATIO}x`);
  if (failed) missed.push('AWS call goals not met (see above)');
  if (missed.length > 0) throw new Error(`Spot interruption drainer benchmark missed its goals:\n- ${missed.join('\n- ')}`);
}

interface Check {
  readonly name: string;
  readonly groups: readonly string[];
  /** Warnings about instances registered in every group. */
  readonly ours: number;
  /** Warnings about instances in none of the groups. */
  readonly foreign: number;
  /** Warnings in another account's envelope, about instances registered in every group. */
  readonly otherAccount: number;
}

const CHECKS: readonly Check[] = [
  { name: 'one target group, 10 of ours', groups: [TARGET_GROUP_WEB], ours: 10, foreign: 0, otherAccount: 0 },
  { name: 'one target group, 10 foreign', groups: [TARGET_GROUP_WEB], ours: 0, foreign: 10, otherAccount: 0 },
  { name: 'one target group, 5 ours + 5 foreign', groups: [TARGET_GROUP_WEB], ours: 5, foreign: 5, otherAccount: 0 },
  { name: 'one target group, 1,000 of ours', groups: [TARGET_GROUP_WEB], ours: 1000, foreign: 0, otherAccount: 0 },
  { name: 'two target groups, 10 of ours in both', groups: [TARGET_GROUP_WEB, TARGET_GROUP_API], ours: 10, foreign: 0, otherAccount: 0 },
  { name: 'two target groups, 10 foreign', groups: [TARGET_GROUP_WEB, TARGET_GROUP_API], ours: 0, foreign: 10, otherAccount: 0 },
  { name: "one target group, 10 from another account", groups: [TARGET_GROUP_WEB], ours: 0, foreign: 0, otherAccount: 10 },
];

/** Exactly what the contract allows: anything else is the problem. */
function verdict(check: Check, calls: readonly RecordedCall[]): string | undefined {
  const trusted = check.ours + check.foreign > 0;
  for (const group of check.groups) {
    const inGroup = calls.filter((call) => call.input.TargetGroupArn === group);
    const describes = inGroup.filter((call) => call.action === 'DescribeTargetHealth').length;
    const deregisters = inGroup.filter((call) => call.action === 'DeregisterTargets').length;
    if (describes !== (trusted ? 1 : 0)) return `${describes} DescribeTargetHealth for ${group}`;
    if (deregisters !== Math.ceil(check.ours / MAX_TARGETS_PER_DEREGISTRATION)) return `${deregisters} DeregisterTargets for ${group}`;
    const largest = Math.max(0, ...inGroup.filter((call) => call.action === 'DeregisterTargets').map((call) => ((call.input.Targets ?? []) as unknown[]).length));
    if (largest > MAX_TARGETS_PER_DEREGISTRATION) return `a DeregisterTargets of ${largest} targets for ${group}`;
  }
  const sends = calls.filter((call) => call.action === 'SendMessage').length;
  if (sends !== (check.ours > 0 ? 1 : 0)) return `${sends} SendMessage`;
  const failed = calls.filter((call) => call.status >= 300);
  if (failed.length > 0) return `error answers: ${failed.map((call) => `${call.action} ${call.error ?? call.status}`).join(', ')}`;
  return undefined;
}

function summarize(calls: readonly RecordedCall[]): string {
  const count = (action: string): number => calls.filter((call) => call.action === action).length;
  return `${calls.length} (${count('DescribeTargetHealth')} describe, ${count('DeregisterTargets')} deregister, ${count('SendMessage')} send)`;
}

/** The fake endpoint with both target groups and the notification queue, and the bundle to run against it. */
class World {
  private serial = 0;
  private readonly functions = new Map<string, LambdaFunction>();

  private constructor(
    private readonly aws: FakeAws,
    private readonly groups: ReadonlyMap<string, FakeTargetGroup>,
    private readonly queue: FakeQueue,
    private readonly bundlePath: string,
  ) {}

  static async create(bundlePath: string): Promise<World> {
    // Buckets large enough never to throttle: these checks count calls, the mass-reclaim bench measures throttling.
    const aws = new FakeAws({ describeBucket: { burst: 1e6, refillPerSecond: 1e6 }, mutateBucket: { burst: 1e6, refillPerSecond: 1e6 } });
    await aws.start();
    const groups = new Map([TARGET_GROUP_WEB, TARGET_GROUP_API].map((arn) => [arn, aws.addTargetGroup(arn, 80, 300)]));
    const url = aws.queueUrl('spotwise-notifications');
    const queue = aws.addQueue(new FakeQueue({ name: 'spotwise-notifications', url, arn: `arn:aws:sqs:${REGION}:${ACCOUNT}:spotwise-notifications`, visibilityTimeoutSeconds: 90 }));
    return new World(aws, groups, queue, bundlePath);
  }

  /** A function whose TARGET_GROUP_ARNS is `groups`; warm after its first invocation. */
  private fn(groups: readonly string[]): LambdaFunction {
    const key = groups.join(',');
    let fn = this.functions.get(key);
    if (fn === undefined) {
      fn = this.fresh(groups);
      this.functions.set(key, fn);
    }
    return fn;
  }

  private fresh(groups: readonly string[]): LambdaFunction {
    return new LambdaFunction({
      name: 'drainer',
      arn: `arn:aws:lambda:${REGION}:${ACCOUNT}:function:drainer`,
      bundlePath: this.bundlePath,
      timeoutSeconds: 30,
      memoryMiB: 256,
      logPath: join(BENCH_DIR, 'drainer', 'functions.log'),
      environment: {
        PATH: process.env.PATH ?? '/usr/bin:/bin',
        ...POWERTOOLS,
        TARGET_GROUP_ARNS: groups.join(','),
        NOTIFICATION_QUEUE_URL: this.queue.url,
        AWS_REGION: REGION,
        AWS_LAMBDA_FUNCTION_NAME: 'drainer',
        AWS_LAMBDA_FUNCTION_MEMORY_SIZE: '256',
        AWS_ACCESS_KEY_ID: 'ASIAIOSFODNN7EXAMPLE',
        AWS_SECRET_ACCESS_KEY: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
        AWS_SESSION_TOKEN: 'fake-session-token',
        AWS_ENDPOINT_URL: this.aws.endpoint,
      },
    });
  }

  /** Registers fresh instances as `check` says, runs one batch about them, and returns the calls it made. */
  async batch(check: Check, fn = this.fn(check.groups)): Promise<{ calls: RecordedCall[]; result: InvokeResult }> {
    const ids = (count: number): string[] => Array.from({ length: count }, () => `i-0${(0x7d1e0000000 + this.serial++).toString(16).padStart(16, '0')}`);
    const ours = ids(check.ours);
    const foreign = ids(check.foreign);
    const otherAccount = ids(check.otherAccount);
    for (const arn of check.groups) this.aws.register(this.groups.get(arn) as FakeTargetGroup, [...ours, ...otherAccount].map((id) => ({ id })));
    const event: SQSEvent = {
      Records: [...[...ours, ...foreign].map((id) => record(id, ACCOUNT)), ...otherAccount.map((id) => record(id, '210987654321'))],
    };
    const before = this.aws.calls.length;
    const result = await fn.invoke(event);
    if (!result.ok) throw new Error(`The drainer failed a batch (${check.name}): ${result.error}`);
    return { calls: this.aws.calls.slice(before), result };
  }

  /** Two batches of one warning each in `runs` fresh environments: the first pays the init and the SDK loads. */
  async firstBatches(runs: number): Promise<{ initMs: number; firstMs: number; warmMs: number; callsPerBatch: string }> {
    const samples: { init: number; first: number; warm: number; calls: number }[] = [];
    const one: Check = { name: 'first batch', groups: [TARGET_GROUP_WEB], ours: 1, foreign: 0, otherAccount: 0 };
    for (let i = 0; i < runs; i += 1) {
      const fn = this.fresh(one.groups);
      try {
        const first = await this.batch(one, fn);
        const next = await this.batch(one, fn);
        const init = first.result.initMs ?? 0;
        samples.push({ init, first: first.result.durationMs - init, warm: next.result.durationMs, calls: first.calls.length });
      } finally {
        fn.close();
      }
    }
    return {
      initMs: median(samples.map((s) => s.init)),
      firstMs: median(samples.map((s) => s.first)),
      warmMs: median(samples.map((s) => s.warm)),
      callsPerBatch: [...new Set(samples.map((s) => s.calls))].join('/'),
    };
  }

  async close(): Promise<void> {
    for (const fn of this.functions.values()) fn.close();
    await this.aws.close();
  }
}

/** An SQS record carrying AWS's sample warning for `instanceId`, as the event source mapping delivers it. */
function record(instanceId: string, account: string): SQSEvent['Records'][number] {
  const body = JSON.stringify({
    ...sampleEvent('spot-interruption-warning'),
    account,
    time: new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'),
    resources: [`arn:aws:ec2:${REGION}:${account}:instance/${instanceId}`],
    detail: { 'instance-id': instanceId, 'instance-action': 'terminate' },
  });
  const now = String(Date.now());
  return {
    messageId: randomUUID(),
    receiptHandle: `AQEB${randomUUID()}`,
    body,
    attributes: { ApproximateReceiveCount: '1', SentTimestamp: now, SenderId: 'AIDAIENQZJOLO23YVJ4VO', ApproximateFirstReceiveTimestamp: now },
    messageAttributes: {},
    md5OfBody: md5(body),
    eventSource: 'aws:sqs',
    eventSourceARN: `arn:aws:sqs:${REGION}:${ACCOUNT}:spotwise-drainer-queue`,
    awsRegion: REGION,
  };
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
}

function ms(value: number): string {
  return `${value.toFixed(1)} ms`;
}

if (require.main === module) {
  run().catch((error: unknown) => {
    console.error(error);
    process.exitCode = 1;
  });
}
