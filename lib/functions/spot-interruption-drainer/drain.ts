import type { ElasticLoadBalancingV2Client, TargetDescription } from '@aws-sdk/client-elastic-load-balancing-v2';
import { logger } from '../common/observability';
import { elbSdk } from './elb';

/** What one target group made of a batch. */
export interface GroupResult {
  readonly targetGroupArn: string;
  /** The batch's instances registered in the group, in any state. */
  readonly registered: ReadonlySet<string>;
  /** The registrations this batch deregistered, by instance. */
  readonly deregistered: ReadonlyMap<string, readonly TargetDescription[]>;
  /** When DeregisterTargets succeeded, if it was called. */
  readonly drainedAt?: Date;
  /** ELB attempts beyond the first, across the group's calls. */
  readonly retries: number;
  /** Set when the group could not be drained: the error, and the instances it leaves undrained or unknown. */
  readonly failure?: { readonly error: unknown; readonly instances: ReadonlySet<string> };
}

/** A registration in either state has already left, or never entered, the load balancer's rotation. */
const INACTIVE_STATES: ReadonlySet<string> = new Set(['draining', 'unused']);

/**
 * Drains every instance in `instanceIds` from every target group, each group independently and
 * concurrently, so that one group's failure neither stops nor delays the others. Per group and batch:
 * one DescribeTargetHealth and at most one DeregisterTargets, whatever the batch's size. Never rejects:
 * failures are results.
 */
export async function drainBatch(
  client: ElasticLoadBalancingV2Client,
  targetGroupArns: readonly string[],
  instanceIds: ReadonlySet<string>,
  abortSignal?: AbortSignal,
): Promise<GroupResult[]> {
  return Promise.all(targetGroupArns.map((arn) => drainGroup(client, arn, instanceIds, abortSignal)));
}

/**
 * The describe has no `Targets` filter: a filter entry without a port is read as the group's default port,
 * and would miss a registration on any other port. The deregistration names exactly the registered id and
 * port and never `AvailabilityZone`, which ELB rejects for instance targets, the only kind a Spot warning
 * names.
 */
async function drainGroup(
  client: ElasticLoadBalancingV2Client,
  targetGroupArn: string,
  instanceIds: ReadonlySet<string>,
  abortSignal: AbortSignal | undefined,
): Promise<GroupResult> {
  const { DescribeTargetHealthCommand, DeregisterTargetsCommand } = elbSdk();
  let retries = 0;
  let described;
  try {
    described = await client.send(new DescribeTargetHealthCommand({ TargetGroupArn: targetGroupArn }), { abortSignal });
    retries += attemptsOf(described) - 1;
  } catch (error) {
    logger.error('Could not describe the target group', { targetGroupArn, error });
    const empty = new Map<string, TargetDescription[]>();
    return { targetGroupArn, registered: new Set(), deregistered: empty, retries: attemptsOf(error) - 1, failure: { error, instances: instanceIds } };
  }

  const registered = new Set<string>();
  const byInstance = new Map<string, TargetDescription[]>();
  for (const { Target, TargetHealth } of described.TargetHealthDescriptions ?? []) {
    const id = Target?.Id;
    if (id === undefined || !instanceIds.has(id)) continue;
    registered.add(id);
    if (INACTIVE_STATES.has(TargetHealth?.State ?? '')) continue;
    const targets = byInstance.get(id) ?? [];
    targets.push({ Id: id, ...(Target?.Port !== undefined && { Port: Target.Port }) });
    byInstance.set(id, targets);
  }
  if (byInstance.size === 0) return { targetGroupArn, registered, deregistered: byInstance, retries };

  const targets = [...byInstance.values()].flat();
  try {
    const deregistered = await client.send(new DeregisterTargetsCommand({ TargetGroupArn: targetGroupArn, Targets: targets }), { abortSignal });
    retries += attemptsOf(deregistered) - 1;
  } catch (error) {
    logger.error('Could not deregister the batch from the target group', { targetGroupArn, targets, error });
    return {
      targetGroupArn,
      registered,
      deregistered: new Map(),
      retries: retries + attemptsOf(error) - 1,
      failure: { error, instances: new Set(byInstance.keys()) },
    };
  }
  return { targetGroupArn, registered, deregistered: byInstance, drainedAt: new Date(), retries };
}

/** How many attempts the SDK made, from the output's or the error's metadata; 1 when it does not say. */
function attemptsOf(outputOrError: unknown): number {
  const attempts = (outputOrError as { $metadata?: { attempts?: unknown } } | undefined)?.$metadata?.attempts;
  return typeof attempts === 'number' && attempts >= 1 ? attempts : 1;
}
