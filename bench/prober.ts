/**
 * The Cloud Map prober's figures, judged against this machine rather than in absolute milliseconds: each
 * fan-out is compared with the floor, bare concurrent GETs to the same peers measured in the same run, so
 * that a busy or slow machine moves both alike.
 */
import { spawn } from 'node:child_process';
import { availableParallelism, loadavg } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { fakeContext, scheduledEvent } from '../test/support/lambda';
import type { Cleanup } from '../test/support/loopback';
import { closeAll, httpServer, silentServer } from '../test/support/loopback';
import { COLD_INIT_GOAL_RATIO, measureColdInit, writeInlineBundle } from './cold-init';

const NAME = 'cloud-map-prober';
const ENTRY = join(__dirname, '..', 'lib', 'functions', NAME, 'handler.ts');
const PROJECT_ROOT = join(__dirname, '..');
const INSTANCES = 100;
const HANGING = 10;
const ANSWER_AFTER_MS = 100;
const BOUNDED_PROBE_TIMEOUT_MS = 1000;
const RUNS = 9;

/** A warm invocation may take this much longer than the warm floor. */
const WARM_GOAL = 1.25;
/** A cold process's first invocation, which loads the Cloud Map and ECS SDKs, may take this much longer than the cold floor. */
const COLD_GOAL = 1.75;
/** The run with silent peers may last this much longer than the probe timeout. */
const BOUNDED_GOAL = 1.1;

const BASE_ENV = {
  AWS_REGION: 'us-east-2',
  POWERTOOLS_SERVICE_NAME: NAME,
  POWERTOOLS_METRICS_NAMESPACE: 'Spotwise',
  NAMESPACE_NAME: 'spotwise.local',
  SERVICE_NAME: 'web',
  // The peers listen on loopback, which the construct never allows: the benchmark opens it explicitly.
  ALLOWED_CIDRS: '127.0.0.0/8',
  // The task count by capacity provider is on, as in FargateServiceStack: its DescribeTasks call is faked below.
  CLUSTER_NAME: 'spotwise',
};

interface Summary {
  readonly discovered: number;
  readonly succeeded: number;
  readonly failed: number;
}

/** One fresh process: its first run (cold) and the run after it (warm). */
interface ProcessRuns {
  readonly coldMs: number;
  readonly warmMs: number;
  readonly cold: Summary;
  readonly warm: Summary;
  /** DescribeTasks calls over both runs; the handler's only. */
  readonly describeTasksCalls?: number;
}

/**
 * The handler in a fresh Node process: the inline bundle is loaded, then invoked twice, with the `send` of
 * the ServiceDiscoveryClient from node_modules (what the bundle's external `@aws-sdk/client-servicediscovery`
 * resolves to) stubbed, as the handler's own `require` loads the SDK, to return the instances, and the `send`
 * of the ECSClient likewise, to describe each task asked about as RUNNING, on FARGATE and FARGATE_SPOT in
 * turn. The first invocation pays for loading both SDKs and everything else a Lambda cold start's first run
 * pays for; the second is a warm invocation.
 *
 * A plain stub rather than aws-sdk-client-mock (which the handler tests use): the mock brings sinon into the
 * heap, which no Lambda has, and the garbage collection that extra heap provokes lands inside the timed run.
 */
const HANDLER_SCRIPT = `
const { writeSync } = require('node:fs');
const Module = require('node:module');
const instances = JSON.parse(process.env.BENCH_INSTANCES);
const load = Module._load;
const stubbed = new Set();
let describeTasksCalls = 0;
Module._load = function (request, ...rest) {
  const loaded = load.call(this, request, ...rest);
  if (request === '@aws-sdk/client-servicediscovery' && !stubbed.has(request)) {
    stubbed.add(request);
    loaded.ServiceDiscoveryClient.prototype.send = async (command) => {
      if (command.constructor.name !== 'DiscoverInstancesCommand') throw new Error('unexpected ' + command.constructor.name);
      return { Instances: instances };
    };
  }
  if (request === '@aws-sdk/client-ecs' && !stubbed.has(request)) {
    stubbed.add(request);
    loaded.ECSClient.prototype.send = async (command) => {
      if (command.constructor.name !== 'DescribeTasksCommand') throw new Error('unexpected ' + command.constructor.name);
      describeTasksCalls += 1;
      const tasks = command.input.tasks.map((id, i) => ({ taskArn: 'arn:aws:ecs:us-east-2:123456789012:task/spotwise/' + id, lastStatus: 'RUNNING', capacityProviderName: i % 2 ? 'FARGATE_SPOT' : 'FARGATE' }));
      return { tasks, failures: [] };
    };
  }
  if (stubbed.size === 2) Module._load = load;
  return loaded;
};
const event = ${JSON.stringify(scheduledEvent())};
const context = { ...${JSON.stringify(fakeContext(NAME))}, getRemainingTimeInMillis: () => 15000 };
const { handler } = require(process.env.BENCH_BUNDLE);
const timed = async () => {
  const started = performance.now();
  const summary = await handler(event, context);
  return { ms: performance.now() - started, summary };
};
(async () => {
  const cold = await timed();
  const warm = await timed();
  writeSync(3, JSON.stringify({ coldMs: cold.ms, warmMs: warm.ms, cold: cold.summary, warm: warm.summary, describeTasksCalls }));
  process.exit(0);
})().catch((error) => { console.error(error); process.exit(1); });
`;

/**
 * The floor on this machine: a fresh process with the same heap (the Cloud Map and ECS SDKs loaded before the clock),
 * that GETs every instance at once with bare \`node:http\` requests: no timeouts, logs, metrics or discovery.
 * Twice, like the handler: the first round is the cold floor, the second the warm one. The gap between the
 * handler and this is the prober's own overhead; the rest is the machine.
 */
const FLOOR_SCRIPT = `
const { writeSync } = require('node:fs');
const http = require('node:http');
require('@aws-sdk/client-servicediscovery');
require('@aws-sdk/client-ecs');
const instances = JSON.parse(process.env.BENCH_INSTANCES);
const get = (i) => new Promise((resolve) => {
  const req = http.request({ host: i.Attributes.AWS_INSTANCE_IPV4, port: Number(i.Attributes.AWS_INSTANCE_PORT), path: '/', agent: false }, (res) => {
    res.resume();
    res.on('end', () => resolve(true));
  });
  req.on('error', () => resolve(false));
  req.end();
});
const timed = async () => {
  const started = performance.now();
  const ok = await Promise.all(instances.map(get));
  const succeeded = ok.filter(Boolean).length;
  return { ms: performance.now() - started, summary: { discovered: ok.length, succeeded, failed: ok.length - succeeded } };
};
(async () => {
  const cold = await timed();
  const warm = await timed();
  writeSync(3, JSON.stringify({ coldMs: cold.ms, warmMs: warm.ms, cold: cold.summary, warm: warm.summary }));
  process.exit(0);
})();
`;

/**
 * Runs the benchmark against the handler at `entry`, bundled as `.bench/<name>/index.js`; the defaults are
 * the real handler. Another entry lets a variant of the handler be measured the same way.
 */
export async function run(entry = ENTRY, name = NAME): Promise<void> {
  const { path: bundlePath, bytes } = writeInlineBundle(name, entry);
  const cleanups: Cleanup[] = [];
  try {
    const slowPorts = await Promise.all(
      Array.from({ length: INSTANCES }, () =>
        httpServer((_req, res) => {
          setTimeout(() => res.end('ok'), ANSWER_AFTER_MS);
        }, cleanups),
      ),
    );
    const hangingPorts = await Promise.all(Array.from({ length: HANGING }, () => silentServer(cleanups)));

    const load = loadavg()[0] ?? Number.NaN;
    const { handler: fanOut, floor } = await measure(bundlePath, slowPorts, {});
    const mixed = [...slowPorts.slice(0, INSTANCES - HANGING), ...hangingPorts];
    const { handler: bounded } = await measure(bundlePath, mixed, { PROBE_TIMEOUT_MS: String(BOUNDED_PROBE_TIMEOUT_MS) }, false);
    // Node 20 prints the SDK's Node-version deprecation warning while loading it; Lambda's Node 24 does not.
    const coldInit = measureColdInit(name, entry, { ...BASE_ENV, NODE_NO_WARNINGS: '1' });

    const figures = {
      warm: median(fanOut.map((r) => r.warmMs)),
      warmFloor: median(floor.map((r) => r.warmMs)),
      cold: median(fanOut.map((r) => r.coldMs)),
      coldFloor: median(floor.map((r) => r.coldMs)),
      bounded: median(bounded.map((r) => r.warmMs)),
      boundedCold: median(bounded.map((r) => r.coldMs)),
    };
    const warmRatio = figures.warm / figures.warmFloor;
    const coldRatio = figures.cold / figures.coldFloor;
    const boundedRatio = figures.bounded / BOUNDED_PROBE_TIMEOUT_MS;

    const list = (values: readonly number[]): string => `[${values.map((v) => v.toFixed(0)).join(', ')} ms]`;
    const verdict = (ok: boolean): string => (ok ? 'met' : 'NOT met');
    console.log('\n## Cloud Map prober');
    console.log(`inline bundle: ${bytes} bytes; 1-minute load average at start: ${load.toFixed(2)} on ${availableParallelism()} CPUs`);
    console.log(
      `fan-out to ${INSTANCES} instances answering after ${ANSWER_AFTER_MS} ms, median of ${RUNS} fresh processes, floor and handler interleaved:`,
    );
    console.log(
      `  warm run: ${figures.warm.toFixed(0)} ms against a floor of ${figures.warmFloor.toFixed(0)} ms = ${warmRatio.toFixed(2)}x ` +
        `(goal <= ${WARM_GOAL}x: ${verdict(warmRatio <= WARM_GOAL)}) ${list(fanOut.map((r) => r.warmMs))} floor ${list(floor.map((r) => r.warmMs))}`,
    );
    console.log(
      `  cold run, Cloud Map and ECS SDK loads included: ${figures.cold.toFixed(0)} ms against a floor of ${figures.coldFloor.toFixed(0)} ms = ` +
        `${coldRatio.toFixed(2)}x (goal <= ${COLD_GOAL}x: ${verdict(coldRatio <= COLD_GOAL)}) ${list(fanOut.map((r) => r.coldMs))} ` +
        `floor ${list(floor.map((r) => r.coldMs))}`,
    );
    console.log(
      `bounded under failure: ${HANGING} of ${INSTANCES} accept and never answer, probe timeout ${BOUNDED_PROBE_TIMEOUT_MS} ms, warm run, ` +
        `median of ${RUNS}: ${figures.bounded.toFixed(0)} ms = ${boundedRatio.toFixed(3)}x the timeout (goal <= ${BOUNDED_GOAL}x: ` +
        `${verdict(boundedRatio <= BOUNDED_GOAL)}) ${list(bounded.map((r) => r.warmMs))}; cold run ${figures.boundedCold.toFixed(0)} ms (no goal)`,
    );
    const initRatio = coldInit.medianMs / coldInit.floorMedianMs;
    console.log(
      `cold init (module load, median of ${coldInit.samplesMs.length}): ${coldInit.medianMs.toFixed(1)} ms against a floor of ` +
        `${coldInit.floorMedianMs.toFixed(1)} ms (Powertools alone, same run) = ${initRatio.toFixed(2)}x (goal <= ${COLD_INIT_GOAL_RATIO}x: ` +
        `${verdict(initRatio <= COLD_INIT_GOAL_RATIO)}) ${list(coldInit.samplesMs)}; with the cold run, a cold start's first ` +
        `invocation takes about ${(coldInit.medianMs + figures.cold).toFixed(0)} ms`,
    );

    const missed: string[] = [];
    for (const r of fanOut) {
      for (const summary of [r.cold, r.warm]) {
        if (summary.succeeded !== INSTANCES) missed.push(`fan-out probed ${JSON.stringify(summary)}, expected ${INSTANCES} successes`);
      }
    }
    for (const r of floor) {
      for (const summary of [r.cold, r.warm]) {
        if (summary.succeeded !== INSTANCES) missed.push(`the floor reached ${JSON.stringify(summary)}, expected ${INSTANCES} answers`);
      }
    }
    // One DescribeTasks call per run of up to 100 instances, so two per process: the count ran, and only once.
    for (const r of [...fanOut, ...bounded]) {
      if (r.describeTasksCalls !== 2) missed.push(`a handler process made ${String(r.describeTasksCalls)} DescribeTasks calls, expected 2`);
    }
    for (const r of bounded) {
      for (const summary of [r.cold, r.warm]) {
        if (summary.failed !== HANGING || summary.succeeded !== INSTANCES - HANGING) {
          missed.push(`bounded run probed ${JSON.stringify(summary)}, expected ${HANGING} failures`);
        }
      }
    }
    if (warmRatio > WARM_GOAL) missed.push(`warm run took ${warmRatio.toFixed(2)}x the floor, goal <= ${WARM_GOAL}x`);
    if (coldRatio > COLD_GOAL) missed.push(`cold run took ${coldRatio.toFixed(2)}x the floor, goal <= ${COLD_GOAL}x`);
    if (boundedRatio > BOUNDED_GOAL) missed.push(`bounded run took ${boundedRatio.toFixed(3)}x the probe timeout, goal <= ${BOUNDED_GOAL}x`);
    if (initRatio > COLD_INIT_GOAL_RATIO) missed.push(`cold init took ${initRatio.toFixed(2)}x the floor, goal <= ${COLD_INIT_GOAL_RATIO}x`);
    if (missed.length > 0) throw new Error(`Cloud Map prober benchmark missed its goals:\n- ${missed.join('\n- ')}`);
  } finally {
    await closeAll(cleanups);
  }
}

async function measure(
  bundlePath: string,
  ports: readonly number[],
  env: Record<string, string>,
  withFloor = true,
): Promise<{ handler: ProcessRuns[]; floor: ProcessRuns[] }> {
  const instances = ports.map((port, i) => ({
    // Shaped like the ECS task ids that Cloud Map instance ids are, or the prober would not ask ECS about them.
    InstanceId: i.toString(16).padStart(32, '0'),
    NamespaceName: BASE_ENV.NAMESPACE_NAME,
    ServiceName: BASE_ENV.SERVICE_NAME,
    HealthStatus: 'HEALTHY',
    Attributes: { AWS_INSTANCE_IPV4: '127.0.0.1', AWS_INSTANCE_PORT: String(port), AVAILABILITY_ZONE: `us-east-2${'abc'[i % 3]}` },
  }));
  // Node 20 prints the SDK's Node-version deprecation warning on the tick after loading it, which is inside
  // the timed run; Lambda's Node 24 prints none.
  const childEnv = { ...BASE_ENV, ...env, NODE_NO_WARNINGS: '1', BENCH_BUNDLE: bundlePath, BENCH_INSTANCES: JSON.stringify(instances) };
  const handler: ProcessRuns[] = [];
  const floor: ProcessRuns[] = [];
  // One child at a time, floor and handler interleaved: the servers live in this process, and runs that
  // overlapped or were grouped in time would measure each other or a different moment's load.
  for (let i = 0; i < RUNS; i += 1) {
    handler.push(await runChild(HANDLER_SCRIPT, childEnv));
    if (withFloor) floor.push(await runChild(FLOOR_SCRIPT, childEnv));
  }
  return { handler, floor };
}

/** Asynchronous on purpose: the loopback servers answer from this process's event loop while the child runs. */
function runChild(script: string, env: Record<string, string>): Promise<ProcessRuns> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['-e', script], {
      cwd: PROJECT_ROOT,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'ignore', 'pipe', 'pipe'],
    });
    let result = '';
    let stderr = '';
    (child.stdio[3] as Readable).on('data', (chunk: Buffer) => (result += chunk.toString()));
    child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(timer);
      if (code !== 0 || result === '') {
        reject(new Error(`benchmark child exited with ${code}:\n${stderr}`));
        return;
      }
      resolve(JSON.parse(result) as ProcessRuns);
    });
  });
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
}

if (require.main === module) {
  run().catch((error: unknown) => {
    console.error(error);
    process.exitCode = 1;
  });
}
