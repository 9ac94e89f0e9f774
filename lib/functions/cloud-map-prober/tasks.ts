import type * as EcsSdk from '@aws-sdk/client-ecs';
import type { ECSClient, Failure } from '@aws-sdk/client-ecs';
import { boundedClientConfig } from '../common/sdk-config';
import { CAPACITY_PROVIDER_PATTERN, CAPACITY_PROVIDERS, OTHER_CAPACITY_PROVIDER } from './contract';
import { raceDeadline } from '../common/deadline';
import { describeError } from './discovery';

/** DescribeTasks' ceiling of tasks per call. */
export const TASKS_PER_CALL = 100;
/** The most one run spends counting, SDK retries included; less when the run has less time left. */
export const TASK_COUNT_TIMEOUT_MS = 5_000;
/**
 * What a Cloud Map instance id must look like to be asked about: an ECS task id, 32 hex digits (or a UUID in
 * the old ARN format). Anything else, an ARN or another cluster's path included, is not a task of this
 * cluster, and sending it could fail the whole call.
 */
const TASK_ID = /^[0-9a-f]{32}$|^[0-9a-f]{8}(?:-[0-9a-f]{4}){3}-[0-9a-f]{12}$/;

let sdk: typeof EcsSdk | undefined;

/** Loaded on first use, as the Cloud Map SDK is (see discovery.ts): loading it at init would slow every cold start. */
function ecsSdk(): typeof EcsSdk {
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- deferred load, see above
  sdk ??= require('@aws-sdk/client-ecs') as typeof EcsSdk;
  return sdk;
}

/** Three attempts of at most 2 s each; the abort signal in `countRunningTasks` bounds them all. */
export function createEcsClient(): ECSClient {
  return new (ecsSdk().ECSClient)(boundedClientConfig(3, 2_000));
}

export type TaskCount =
  | { readonly ok: true; readonly byCapacityProvider: ReadonlyMap<string, number>; readonly failures: readonly Failure[] }
  | { readonly ok: false; readonly reason: string };

/**
 * RUNNING tasks among `instanceIds` by capacity provider: `FARGATE` and `FARGATE_SPOT` always, other names
 * that match `CAPACITY_PROVIDER_PATTERN`, and `OTHER` for the rest. Ids not shaped like task ids are not
 * asked about; those ECS does not know come back as `failures`. One call per 100 ids, all at once, within
 * `timeoutMs`; any call failing fails the count, since part of a count would read as tasks lost. Never rejects.
 */
export async function countRunningTasks(client: ECSClient, clusterName: string, instanceIds: readonly string[], timeoutMs: number): Promise<TaskCount> {
  const byCapacityProvider = new Map<string, number>(CAPACITY_PROVIDERS.map((name) => [name, 0]));
  const ids = instanceIds.filter((id) => TASK_ID.test(id));
  if (ids.length === 0) return { ok: true, byCapacityProvider, failures: [] };
  const deadline = AbortSignal.timeout(Math.max(0, timeoutMs));
  const { DescribeTasksCommand } = ecsSdk();
  const calls: Promise<EcsSdk.DescribeTasksCommandOutput>[] = [];
  for (let i = 0; i < ids.length; i += TASKS_PER_CALL) {
    calls.push(client.send(new DescribeTasksCommand({ cluster: clusterName, tasks: ids.slice(i, i + TASKS_PER_CALL) }), { abortSignal: deadline }));
  }
  try {
    const responses = await raceDeadline(Promise.all(calls), deadline);
    for (const task of responses.flatMap((response) => response.tasks ?? [])) {
      if (task.lastStatus !== 'RUNNING') continue;
      const name = task.capacityProviderName;
      const key = name !== undefined && CAPACITY_PROVIDER_PATTERN.test(name) ? name : OTHER_CAPACITY_PROVIDER;
      byCapacityProvider.set(key, (byCapacityProvider.get(key) ?? 0) + 1);
    }
    return { ok: true, byCapacityProvider, failures: responses.flatMap((response) => response.failures ?? []) };
  } catch (error) {
    const reason = deadline.aborted
      ? `DescribeTasks on cluster ${JSON.stringify(clusterName)} did not complete within ${timeoutMs} ms, retries included`
      : `DescribeTasks on cluster ${JSON.stringify(clusterName)} failed: ${describeError(error)}`;
    return { ok: false, reason };
  }
}
