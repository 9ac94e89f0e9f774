import type { ElasticLoadBalancingV2Client, TargetDescription } from '@aws-sdk/client-elastic-load-balancing-v2';
import { elbSdk } from './elb';
import { logger } from './observability';

/** One or more target groups could not be drained; thrown so that Lambda's async retries take over. */
export class DrainIncompleteError extends Error {
  override readonly name = 'DrainIncompleteError';

  constructor(
    readonly instanceId: string,
    readonly failedTargetGroupArns: readonly string[],
    options?: ErrorOptions,
  ) {
    super(`Could not deregister ${instanceId} from ${failedTargetGroupArns.join(', ')}`, options);
  }
}

export type TargetGroupOutcome =
  | { readonly targetGroupArn: string; readonly status: 'deregistered'; readonly targets: readonly TargetDescription[] }
  | { readonly targetGroupArn: string; readonly status: 'already-draining' }
  | { readonly targetGroupArn: string; readonly status: 'not-registered' }
  | { readonly targetGroupArn: string; readonly status: 'failed'; readonly error: unknown };

/** A registration in either state has already left, or never entered, the load balancer's rotation. */
const INACTIVE_STATES: ReadonlySet<string> = new Set(['draining', 'unused']);

/**
 * Drains `instanceId` from every target group, each independently and concurrently, so that one
 * group's failure neither stops nor delays the others. Never rejects: failures are outcomes.
 */
export async function drainInstance(
  client: ElasticLoadBalancingV2Client,
  targetGroupArns: readonly string[],
  instanceId: string,
): Promise<TargetGroupOutcome[]> {
  return Promise.all(
    targetGroupArns.map(async (targetGroupArn): Promise<TargetGroupOutcome> => {
      try {
        return await drainTargetGroup(client, targetGroupArn, instanceId);
      } catch (error) {
        logger.error('Could not drain the instance from the target group', { targetGroupArn, error });
        return { targetGroupArn, status: 'failed', error };
      }
    }),
  );
}

/**
 * At most two calls. The describe has no `Targets` filter: a filter entry without a port is read as the
 * group's default port, and would miss a registration of the instance on any other port.
 */
async function drainTargetGroup(
  client: ElasticLoadBalancingV2Client,
  targetGroupArn: string,
  instanceId: string,
): Promise<TargetGroupOutcome> {
  const { DescribeTargetHealthCommand, DeregisterTargetsCommand } = elbSdk();
  const { TargetHealthDescriptions = [] } = await client.send(new DescribeTargetHealthCommand({ TargetGroupArn: targetGroupArn }));
  const registrations = TargetHealthDescriptions.filter((description) => description.Target?.Id === instanceId);
  if (registrations.length === 0) {
    // Debug: the rule sees every Spot instance in the account, so this is the common case.
    logger.debug('The instance is not registered in the target group', { targetGroupArn });
    return { targetGroupArn, status: 'not-registered' };
  }

  const targets: TargetDescription[] = [];
  for (const { Target, TargetHealth } of registrations) {
    if (Target === undefined || INACTIVE_STATES.has(TargetHealth?.State ?? '')) continue;
    targets.push({
      Id: Target.Id,
      ...(Target.Port !== undefined && { Port: Target.Port }),
      ...(Target.AvailabilityZone !== undefined && { AvailabilityZone: Target.AvailabilityZone }),
    });
  }
  if (targets.length === 0) {
    logger.info('The instance is already draining from the target group', {
      targetGroupArn,
      states: registrations.map((registration) => registration.TargetHealth?.State),
    });
    return { targetGroupArn, status: 'already-draining' };
  }

  await client.send(new DeregisterTargetsCommand({ TargetGroupArn: targetGroupArn, Targets: targets }));
  logger.info('Deregistered the instance from the target group', { targetGroupArn, targets });
  return { targetGroupArn, status: 'deregistered', targets };
}
