import { spawn } from 'node:child_process';
import { availableParallelism, loadavg } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { fakeContext, scheduledEvent } from '../test/support/lambda';
import type { Cleanup } from '../test/support/loopback';
import { closeAll, httpServer, silentServer } from '../test/support/loopback';
import { measureColdInit, writeInlineBundle } from './cold-init';

const ENTRY = join(__dirname, '..', 'lib', 'functions', 'cloud-map-prober', 'handler.ts');
const PROJECT_ROOT = join(__dirname, '..');
const INSTANCES = 100;
const HANGING = 10;
const ANSWER_AFTER_MS = 100;
const BOUNDED_PROBE_TIMEOUT_MS = 1000;
const COLD_RUNS = 9;

const FAN_OUT_GOAL = 1.5;
const BOUNDED_GOAL = 1.1;
const COLD_INIT_GOAL_MS = 50;

const BASE_ENV = {
  AWS_REGION: 'us-east-2',
  POWERTOOLS_SERVICE_NAME: 'cloud-map-prober',
  POWERTOOLS_METRICS_NAMESPACE: 'Spotwise',
  NAMESPACE_NAME: 'spotwise.local',
  SERVICE_NAME: 'web',
};

interface ColdRun {
  readonly runMs: number;
  readonly summary: { readonly discovered: number; readonly succeeded: number; readonly failed: number };
}

/**
 * Runs in a fresh Node process: the inline bundle is loaded and invoked once, with the `send` of the
 * ServiceDiscoveryClient from node_modules (what the bundle's external `@aws-sdk/client-servicediscovery`
 * resolves to) stubbed to return the instances.
 *
 * By default the SDK is loaded and stubbed before the clock starts, as any SDK mock does, so the run is the
 * fan-out itself. With BENCH_SDK_IN_RUN the stub is applied as the handler's own first `require` loads the
 * SDK, so the run also pays that load, as a real cold start's first run does.
 *
 * A plain stub rather than aws-sdk-client-mock (which the handler tests use): the mock brings sinon into the
 * heap, which no Lambda has, and the garbage collection that extra heap provokes lands inside the timed run.
 */
const CHILD_SCRIPT = `
const { writeSync } = require('node:fs');
const Module = require('node:module');
const instances = JSON.parse(process.env.BENCH_INSTANCES);
const stub = (sdk) => {
  sdk.ServiceDiscoveryClient.prototype.send = async (command) => {
    if (command.constructor.name !== 'DiscoverInstancesCommand') throw new Error('unexpected ' + command.constructor.name);
    return { Instances: instances };
  };
  return sdk;
};
if (process.env.BENCH_SDK_IN_RUN) {
  const load = Module._load;
  Module._load = function (request, ...rest) {
    const loaded = load.call(this, request, ...rest);
    if (request === '@aws-sdk/client-servicediscovery') {
      Module._load = load;
      stub(loaded);
    }
    return loaded;
  };
} else {
  stub(require('@aws-sdk/client-servicediscovery'));
}
const event = ${JSON.stringify(scheduledEvent())};
const context = { ...${JSON.stringify(fakeContext('cloud-map-prober'))}, getRemainingTimeInMillis: () => 15000 };
const { handler } = require(process.env.BENCH_BUNDLE);
const t1 = performance.now();
handler(event, context).then((summary) => {
  const t2 = performance.now();
  writeSync(3, JSON.stringify({ runMs: t2 - t1, summary }));
  process.exit(0);
}, (error) => { console.error(error); process.exit(1); });
`;

/**
 * The floor on this machine: the same cold process and stub, then bare concurrent \`node:http\` GETs with no
 * timeouts, logs or metrics, started five per event-loop turn as the handler starts its probes. The gap
 * between this and the handler is the prober's own overhead; the rest is the machine (a shared 2-core runner
 * puts both well above 100 ms).
 */
const FLOOR_SCRIPT = `
const { writeSync } = require('node:fs');
const http = require('node:http');
// Loaded only so that the heap holds what the handler's child holds; the floor never calls discovery.
require('@aws-sdk/client-servicediscovery');
const instances = JSON.parse(process.env.BENCH_INSTANCES);
const get = (i) => new Promise((resolve) => {
  const req = http.request({ host: i.Attributes.AWS_INSTANCE_IPV4, port: Number(i.Attributes.AWS_INSTANCE_PORT), path: '/', agent: false }, (res) => {
    res.resume();
    res.on('end', () => resolve(true));
  });
  req.on('error', () => resolve(false));
  req.end();
});
const t1 = performance.now();
(async () => {
  const pending = [];
  for (const [index, i] of instances.entries()) {
    if (index > 0 && index % 5 === 0) await new Promise((resolve) => setImmediate(resolve));
    pending.push(get(i));
  }
  const ok = await Promise.all(pending);
  const succeeded = ok.filter(Boolean).length;
  writeSync(3, JSON.stringify({ runMs: performance.now() - t1, summary: { discovered: ok.length, succeeded, failed: ok.length - succeeded } }));
  process.exit(0);
})();
`;

export async function run(): Promise<void> {
  const { path: bundlePath, bytes } = writeInlineBundle('cloud-map-prober', ENTRY);
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
    const { handler: fanOutRuns, floor: floorRuns } = await coldRuns(bundlePath, slowPorts, {});
    const fanOut = median(fanOutRuns.map((r) => r.runMs));
    const fanOutRatio = fanOut / ANSWER_AFTER_MS;
    const floor = median(floorRuns.map((r) => r.runMs));

    const mixed = [...slowPorts.slice(0, INSTANCES - HANGING), ...hangingPorts];
    const { handler: boundedRuns } = await coldRuns(bundlePath, mixed, { PROBE_TIMEOUT_MS: String(BOUNDED_PROBE_TIMEOUT_MS) }, false);
    const bounded = median(boundedRuns.map((r) => r.runMs));
    const boundedRatio = bounded / BOUNDED_PROBE_TIMEOUT_MS;

    const { handler: sdkInRunRuns } = await coldRuns(bundlePath, slowPorts, { BENCH_SDK_IN_RUN: '1' }, false);
    const sdkInRun = median(sdkInRunRuns.map((r) => r.runMs));

    // Node 20 prints the SDK's Node-version deprecation warning while loading it; Lambda's Node 24 does not.
    const coldInit = measureColdInit('cloud-map-prober', ENTRY, { ...BASE_ENV, NODE_NO_WARNINGS: '1' });

    const ms = (runs: readonly ColdRun[]): string => runs.map((r) => r.runMs.toFixed(0)).join(', ');
    console.log('\n## Cloud Map prober');
    console.log(`inline bundle: ${bytes} bytes; 1-minute load average at start: ${load.toFixed(2)} on ${availableParallelism()} CPUs`);
    console.log(
      `fan-out: ${INSTANCES} instances answering after ${ANSWER_AFTER_MS} ms, first run in a cold process, median of ${COLD_RUNS}: ` +
        `${fanOut.toFixed(0)} ms = ${fanOutRatio.toFixed(2)}x (goal <= ${FAN_OUT_GOAL}x; sequential would be ${INSTANCES}x) [${ms(fanOutRuns)} ms]`,
    );
    console.log(
      `  floor, bare concurrent node:http GETs in the same cold process: ${floor.toFixed(0)} ms = ${(floor / ANSWER_AFTER_MS).toFixed(2)}x ` +
        `[${ms(floorRuns)} ms]; prober overhead over the floor: ${(fanOut - floor).toFixed(0)} ms`,
    );
    console.log(
      `bounded under failure: ${HANGING} of ${INSTANCES} accept and never answer, probe timeout ${BOUNDED_PROBE_TIMEOUT_MS} ms, median of ${COLD_RUNS}: ` +
        `${bounded.toFixed(0)} ms = ${boundedRatio.toFixed(3)}x the timeout (goal <= ${BOUNDED_GOAL}x) [${ms(boundedRuns)} ms]`,
    );
    console.log(
      `cold init (module load, median of ${coldInit.samplesMs.length}): ${coldInit.medianMs.toFixed(1)} ms (goal <= ${COLD_INIT_GOAL_MS} ms) ` +
        `[${coldInit.samplesMs.map((sample) => sample.toFixed(0)).join(', ')} ms]`,
    );
    console.log(
      `the same fan-out with the Cloud Map SDK loaded inside the run by the handler's first discovery, as on a real cold start ` +
        `(no goal), median of ${COLD_RUNS}: ${sdkInRun.toFixed(0)} ms = ${(sdkInRun / ANSWER_AFTER_MS).toFixed(2)}x [${ms(sdkInRunRuns)} ms]; ` +
        `with cold init, a cold start's first invocation takes about ${(coldInit.medianMs + sdkInRun).toFixed(0)} ms`,
    );

    const missed: string[] = [];
    for (const r of fanOutRuns) {
      if (r.summary.succeeded !== INSTANCES) missed.push(`fan-out probed ${JSON.stringify(r.summary)}, expected ${INSTANCES} successes`);
    }
    for (const r of sdkInRunRuns) {
      if (r.summary.succeeded !== INSTANCES) missed.push(`fan-out with the SDK load probed ${JSON.stringify(r.summary)}, expected ${INSTANCES} successes`);
    }
    for (const r of boundedRuns) {
      if (r.summary.failed !== HANGING || r.summary.succeeded !== INSTANCES - HANGING) {
        missed.push(`bounded run probed ${JSON.stringify(r.summary)}, expected ${HANGING} failures`);
      }
    }
    if (fanOutRatio > FAN_OUT_GOAL) missed.push(`fan-out took ${fanOutRatio.toFixed(2)}x, goal <= ${FAN_OUT_GOAL}x`);
    if (coldInit.medianMs > COLD_INIT_GOAL_MS) missed.push(`cold init took ${coldInit.medianMs.toFixed(1)} ms, goal <= ${COLD_INIT_GOAL_MS} ms`);
    if (boundedRatio > BOUNDED_GOAL) missed.push(`bounded run took ${boundedRatio.toFixed(3)}x the probe timeout, goal <= ${BOUNDED_GOAL}x`);
    if (missed.length > 0) throw new Error(`Cloud Map prober benchmark missed its goals:\n- ${missed.join('\n- ')}`);
  } finally {
    await closeAll(cleanups);
  }
}

async function coldRuns(
  bundlePath: string,
  ports: readonly number[],
  env: Record<string, string>,
  withFloor = true,
): Promise<{ handler: ColdRun[]; floor: ColdRun[] }> {
  const instances = ports.map((port, i) => ({
    InstanceId: `task-${i}`,
    NamespaceName: BASE_ENV.NAMESPACE_NAME,
    ServiceName: BASE_ENV.SERVICE_NAME,
    HealthStatus: 'HEALTHY',
    Attributes: { AWS_INSTANCE_IPV4: '127.0.0.1', AWS_INSTANCE_PORT: String(port), AVAILABILITY_ZONE: `us-east-2${'abc'[i % 3]}` },
  }));
  // Node 20 prints the SDK's Node-version deprecation warning on the tick after loading it, which is inside
  // the timed run; Lambda's Node 24 prints none.
  const childEnv = { ...BASE_ENV, ...env, NODE_NO_WARNINGS: '1', BENCH_BUNDLE: bundlePath, BENCH_INSTANCES: JSON.stringify(instances) };
  const handler: ColdRun[] = [];
  const floor: ColdRun[] = [];
  // One child at a time, floor and handler interleaved: the servers live in this process, and runs that
  // overlapped or were grouped in time would measure each other or a different moment's load.
  for (let i = 0; i < COLD_RUNS; i += 1) {
    handler.push(await coldRun(CHILD_SCRIPT, childEnv));
    if (withFloor) floor.push(await coldRun(FLOOR_SCRIPT, childEnv));
  }
  return { handler, floor };
}

/** Asynchronous on purpose: the loopback servers answer from this process's event loop while the child runs. */
function coldRun(script: string, env: Record<string, string>): Promise<ColdRun> {
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
      resolve(JSON.parse(result) as ColdRun);
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
