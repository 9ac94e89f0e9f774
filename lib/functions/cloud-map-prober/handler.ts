import type { Context, ScheduledEvent } from 'aws-lambda';
import { setImmediate as nextTurn } from 'node:timers/promises';
import type { HttpInstanceSummary } from '@aws-sdk/client-servicediscovery';
import { logger, metrics } from '../common/observability';
import type { ProberConfig } from './config';
import { loadConfig } from './config';
import { ProberDimension } from './contract';
import { DISCOVER_MAX_RESULTS, createDiscoveryClient, describeError, discoverInstances } from './discovery';
import { probe } from './probe';
import type { ProbeResult } from './report';
import { flushMetrics, logProbeResult, publishRunMetrics } from './report';
import type { ParsedInstance } from './targets';
import { parseInstance } from './targets';
import type { TaskCount } from './tasks';
import { countRunningTasks, createEcsClient, TASK_COUNT_TIMEOUT_MS } from './tasks';

let client: ReturnType<typeof createDiscoveryClient> | undefined;
let ecs: ReturnType<typeof createEcsClient> | undefined;

/**
 * The function's one Cloud Map client, created on first use. Exported so that tests can drive the real
 * middleware stack (retries, serialisation) with a fake transport.
 */
export function discoveryClient(): ReturnType<typeof createDiscoveryClient> {
  client ??= createDiscoveryClient();
  return client;
}

/** The function's one ECS client, created on first use, when a cluster is configured; exported as `discoveryClient` is. */
export function ecsClient(): ReturnType<typeof createEcsClient> {
  ecs ??= createEcsClient();
  return ecs;
}

/** Time left, when the task count's deadline is set, for publishing the metrics and returning. */
const TASK_COUNT_RESERVE_MS = 1_000;

let config: ProberConfig | undefined;

export interface ProbeRunSummary {
  readonly discovered: number;
  readonly succeeded: number;
  readonly failed: number;
}

export const handler = async (_event: ScheduledEvent, context: Context): Promise<ProbeRunSummary> => {
  logger.addContext(context);
  const cfg = (config ??= configure());
  try {
    const instances = await discover(cfg);
    const parsed = instances.map((instance) => parseInstance(instance, cfg));
    const probing = await startProbes(parsed, cfg);
    const [results, taskCount] = await Promise.all([probing.settled, countTasks(parsed, cfg, context)]);
    publishRunMetrics(metrics, instances.length, results, taskCount);
    const succeeded = results.filter((result) => result.ok).length;
    return { discovered: instances.length, succeeded, failed: results.length - succeeded };
  } finally {
    flushMetrics(metrics);
  }
};

/**
 * Once per process: the environment does not change between invocations, and setting the default dimension
 * again would make Powertools warn about overwriting it on every run.
 */
function configure(): ProberConfig {
  const loaded = loadConfig(process.env);
  metrics.setDefaultDimensions({ [ProberDimension.ServiceName]: loaded.serviceName });
  logger.appendPersistentKeys({ cloudMapNamespace: loaded.namespaceName, cloudMapService: loaded.serviceName });
  return loaded;
}

async function discover(cfg: ProberConfig): Promise<HttpInstanceSummary[]> {
  let instances: HttpInstanceSummary[];
  try {
    instances = await discoverInstances(discoveryClient(), cfg);
  } catch (error) {
    logger.error('discovery failed', { reason: describeError(error) });
    throw error;
  }
  if (instances.length === 0) {
    logger.warn('no instances discovered: nothing is registered in Cloud Map for this service');
  } else if (instances.length >= DISCOVER_MAX_RESULTS) {
    logger.warn('discovery returned the maximum number of instances; the service may have more, and those are not probed', {
      discovered: instances.length,
      maxResults: DISCOVER_MAX_RESULTS,
    });
  }
  return instances;
}

/**
 * How many probes start before the loop yields to the event loop. Node writes a request only when its
 * socket's connect callback runs, so starting every probe in one synchronous loop would hold all requests
 * back until the last probe was set up, and charge that wait to every probe's latency and timeout. Yielding
 * every few starts lets the first requests leave while later probes are still being prepared. In paired
 * runs of the `bench/prober.ts` children (100 peers), starting all at once made a warm run about 40 ms slower,
 * 1.29x the floor against the 1.25x goal rather than 1.12x, and the cold run about 40 ms slower too.
 */
const PROBES_PER_TURN = 5;

/**
 * Starts every probe and returns once all have started, with their results to come. No probe waits for
 * another, so they last about as long as the slowest one. Each result is logged as it settles rather than
 * after the last one, so the logging overlaps the wait for slower peers.
 */
async function startProbes(instances: readonly ParsedInstance[], cfg: ProberConfig): Promise<{ settled: Promise<ProbeResult[]> }> {
  const pending: Promise<ProbeResult>[] = [];
  for (const [index, instance] of instances.entries()) {
    if (index > 0 && index % PROBES_PER_TURN === 0) await nextTurn();
    const settled = probeInstance(instance, cfg).then((result) => {
      logProbeResult(logger, result);
      return result;
    });
    // Probes never reject, but should one, it must reach Promise.all below rather than surface as an
    // unhandled rejection while the loop is still yielding.
    settled.catch(() => undefined);
    pending.push(settled);
  }
  return { settled: Promise.all(pending) };
}

async function probeInstance(parsed: ParsedInstance, cfg: ProberConfig): Promise<ProbeResult> {
  if (!parsed.valid) return { ...parsed.identity, ok: false, rejected: true, reason: parsed.reason };
  const { target } = parsed;
  const outcome = await probe(target, cfg.probePath, cfg.probeTimeoutMs);
  return { instanceId: target.instanceId, availabilityZone: target.availabilityZone, address: `${target.ip}:${target.port}`, ...outcome };
}

/**
 * With a cluster configured, the RUNNING tasks among the instances that may be probed, by capacity provider;
 * otherwise undefined. A turn first, so the last probes' requests leave before a first run blocks on loading
 * the ECS SDK (tens of milliseconds), which then overlaps the wait for answers. Never rejects: a failed count
 * is logged and reported as such, and the probes are unaffected.
 */
async function countTasks(parsed: readonly ParsedInstance[], cfg: ProberConfig, context: Context): Promise<TaskCount | undefined> {
  if (cfg.clusterName === undefined) return undefined;
  await nextTurn();
  const ids = parsed.flatMap((instance) => (instance.valid ? [instance.target.instanceId] : []));
  const timeoutMs = Math.min(TASK_COUNT_TIMEOUT_MS, context.getRemainingTimeInMillis() - TASK_COUNT_RESERVE_MS);
  let count: TaskCount;
  try {
    count = await countRunningTasks(ecsClient(), cfg.clusterName, ids, timeoutMs);
  } catch (error) {
    count = { ok: false, reason: `the ECS client could not be created: ${describeError(error)}` };
  }
  if (!count.ok) logger.warn('task count failed: no Tasks metrics this run', { reason: count.reason });
  else if (count.failures.length > 0) {
    logger.warn('DescribeTasks did not describe some instances as tasks of the cluster', { unknown: count.failures.length, failures: count.failures.slice(0, 5) });
  }
  return count;
}
