import type { ElasticLoadBalancingV2Client, TargetDescription } from '@aws-sdk/client-elastic-load-balancing-v2';
import { logger } from '../common/observability';
import { MAX_TARGETS_PER_DEREGISTRATION } from './contract';
import type { Pace } from './deadline';
import { DeadlineReached, raceDeadline } from '../common/deadline';
import { elbSdk } from './elb';

/** One registration of an instance in a target group, as DescribeTargetHealth reports it. */
export interface Registration {
  readonly id: string;
  readonly port?: number;
  /** `healthy`, `unhealthy`, `initial`, `draining`, `unused`, `unavailable`. */
  readonly state: string;
  /** ELB's reason code, such as `Target.InvalidState` for an `unused` registration of a stopped instance. */
  readonly reason?: string;
}

/** A target group as one DescribeTargetHealth saw it. */
export interface GroupView {
  readonly targetGroupArn: string;
  /** Every registration in the group, by instance; empty when the describe failed. */
  readonly registrations: ReadonlyMap<string, readonly Registration[]>;
  /** ELB attempts beyond the first. */
  readonly retries: number;
  /** Set when the group could not be described. */
  readonly error?: unknown;
}

/** What one target group's deregistrations did. */
export interface DeregistrationResult {
  readonly targetGroupArn: string;
  /** The registrations deregistered, by instance. */
  readonly deregistered: ReadonlyMap<string, readonly TargetDescription[]>;
  /** When the call that carried each instance's registrations succeeded. */
  readonly drainedAt: ReadonlyMap<string, Date>;
  /** Instances at least one of whose registrations could not be deregistered. */
  readonly failed: ReadonlySet<string>;
  readonly retries: number;
}

/** The deadline and paces that every ELB call of one invocation keeps. */
export interface ElbBudget {
  /** Aborts at `deadlineAt`. */
  readonly deadline: AbortSignal;
  /** Epoch milliseconds. */
  readonly deadlineAt: number;
  readonly describePace: Pace;
  readonly deregisterPace: Pace;
}

/** A registration in either state has already left, or never entered, the load balancer's rotation. */
const INACTIVE_STATES: ReadonlySet<string> = new Set(['draining', 'unused']);

export function isActive(registration: Registration): boolean {
  return !INACTIVE_STATES.has(registration.state);
}

/**
 * One DescribeTargetHealth per target group, paced and raced against the deadline. No `Targets` filter: a
 * filter entry without a port is read as the group's default port, and would miss a registration on any
 * other port. Never rejects: a failure is a view with an error.
 */
export async function describeGroups(client: ElasticLoadBalancingV2Client, targetGroupArns: readonly string[], budget: ElbBudget): Promise<GroupView[]> {
  const { DescribeTargetHealthCommand } = elbSdk();
  return Promise.all(
    targetGroupArns.map(async (targetGroupArn): Promise<GroupView> => {
      try {
        if (!(await budget.describePace.turn(budget.deadlineAt, budget.deadline))) throw new DeadlineReached();
        const command = new DescribeTargetHealthCommand({ TargetGroupArn: targetGroupArn });
        const described = await raceDeadline(client.send(command, { abortSignal: budget.deadline }), budget.deadline);
        const registrations = new Map<string, Registration[]>();
        for (const { Target, TargetHealth } of described.TargetHealthDescriptions ?? []) {
          const id = Target?.Id;
          if (id === undefined) continue;
          const list = registrations.get(id) ?? [];
          list.push({
            id,
            ...(Target?.Port !== undefined && { port: Target.Port }),
            state: TargetHealth?.State ?? 'unknown',
            ...(TargetHealth?.Reason !== undefined && { reason: TargetHealth.Reason }),
          });
          registrations.set(id, list);
        }
        return { targetGroupArn, registrations, retries: attemptsOf(described) - 1 };
      } catch (error) {
        logger.error('Could not describe the target group', { targetGroupArn, error });
        return { targetGroupArn, registrations: new Map(), retries: attemptsOf(error) - 1, error };
      }
    }),
  );
}

/**
 * Deregisters `targets` (by instance) from one group in calls of at most {@link MAX_TARGETS_PER_DEREGISTRATION}
 * targets, one after another at the invocation's pace, each raced against the deadline. An instance's
 * registrations stay in one call unless they alone exceed the limit. Each names the exact registered id and
 * port and never `AvailabilityZone`, which ELB rejects for instance targets. Never rejects.
 */
export async function deregisterTargets(
  client: ElasticLoadBalancingV2Client,
  targetGroupArn: string,
  targets: ReadonlyMap<string, readonly TargetDescription[]>,
  budget: ElbBudget,
): Promise<DeregistrationResult> {
  const { DeregisterTargetsCommand } = elbSdk();
  const deregistered = new Map<string, TargetDescription[]>();
  const drainedAt = new Map<string, Date>();
  const failed = new Set<string>();
  let retries = 0;
  for (const chunk of chunks(targets, MAX_TARGETS_PER_DEREGISTRATION)) {
    const instances = new Set(chunk.map((target) => target.Id as string));
    try {
      if (!(await budget.deregisterPace.turn(budget.deadlineAt, budget.deadline))) throw new DeadlineReached();
      const command = new DeregisterTargetsCommand({ TargetGroupArn: targetGroupArn, Targets: chunk });
      const output = await raceDeadline(client.send(command, { abortSignal: budget.deadline }), budget.deadline);
      retries += attemptsOf(output) - 1;
      const at = new Date();
      for (const target of chunk) {
        const id = target.Id as string;
        deregistered.set(id, [...(deregistered.get(id) ?? []), target]);
        if (!drainedAt.has(id)) drainedAt.set(id, at);
      }
    } catch (error) {
      retries += attemptsOf(error) - 1;
      logger.error('Could not deregister targets from the target group', { targetGroupArn, targets: chunk, error });
      for (const id of instances) failed.add(id);
    }
  }
  // An instance split over calls that failed in one of them has not drained.
  for (const id of failed) {
    deregistered.delete(id);
    drainedAt.delete(id);
  }
  return { targetGroupArn, deregistered, drainedAt, failed, retries };
}

/** Packs whole instances into calls of at most `max` targets; only an instance with more than `max` registrations is split. */
export function chunks(targets: ReadonlyMap<string, readonly TargetDescription[]>, max: number): TargetDescription[][] {
  const result: TargetDescription[][] = [];
  let current: TargetDescription[] = [];
  for (const registrations of targets.values()) {
    if (current.length + registrations.length > max && current.length > 0) {
      result.push(current);
      current = [];
    }
    for (const registration of registrations) {
      if (current.length === max) {
        result.push(current);
        current = [];
      }
      current.push(registration);
    }
  }
  if (current.length > 0) result.push(current);
  return result;
}

/** How many attempts the SDK made, from the output's or the error's metadata; 1 when it does not say. */
function attemptsOf(outputOrError: unknown): number {
  const attempts = (outputOrError as { $metadata?: { attempts?: unknown } } | undefined)?.$metadata?.attempts;
  return typeof attempts === 'number' && attempts >= 1 ? attempts : 1;
}
