import type { Refusal, Registration } from './aws';
import { deregister, describeFleet, fleetInstances, handoverTags, register, registrations, setCapacity, tag } from './aws';
import { POLL_INTERVAL_SECONDS } from './contract';

/** Time, injectable so that tests do not wait. */
export interface Clock {
  now(): number;
  sleep(ms: number): Promise<void>;
}

export const systemClock: Clock = { now: () => Date.now(), sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)) };

/** One invocation: its clock, the time its waits must end by, and when it started, as an ISO time. */
export interface Run {
  readonly clock: Clock;
  readonly until: number;
  readonly start: string;
}

/** A fleet behind a target group, as the resource's properties describe it. */
export interface FleetBehindTargetGroup {
  readonly fleetId: string;
  readonly targetGroupArn: string;
  readonly healthyTimeoutSeconds: number;
  readonly drainTimeoutSeconds: number;
}

/** A step that cannot finish: its message is the reason CloudFormation shows. */
export class HandoverError extends Error {
  override readonly name = 'HandoverError';
}

/** States in which a fleet request will never serve again. */
const ENDED = /^(cancelled|failed)/;
const INTERVAL_MS = POLL_INTERVAL_SECONDS * 1000;
/** The handover tag's value when a handover deregistered the instance, and the time it did. */
const DRAINED = /^drained (.+)$/;

/** The handover tag's value for what `run` does to an instance now. */
const stamp = (run: Run, what: 'drained' | 'registered'): string => `${what} ${new Date(run.clock.now()).toISOString()}`;

/**
 * Polls one step until `done` answers true, or throws the message `stuck` gives, once the step's own timeout
 * or the invocation's end (`until`, whichever is first) has passed. The last look is at the deadline.
 */
async function poll(run: Run, timeoutSeconds: number, done: () => Promise<boolean>, stuck: (seconds: number) => string): Promise<void> {
  const { clock } = run;
  const start = clock.now();
  const deadline = Math.min(start + timeoutSeconds * 1000, run.until);
  for (;;) {
    if (await done()) return;
    const now = clock.now();
    if (now >= deadline) {
      const cut = deadline < start + timeoutSeconds * 1000 ? ' (the function ran out of time)' : '';
      throw new HandoverError(`${stuck(Math.round((now - start) / 1000))}${cut}`);
    }
    await clock.sleep(Math.min(INTERVAL_MS, deadline - now));
  }
}

/** The fleet's target capacity, or 0 when it no longer exists or will never serve again. */
export async function capacityOf(fleetId: string): Promise<number> {
  const request = await describeFleet(fleetId);
  return request && !ENDED.test(request.state) ? request.targetCapacity : 0;
}

/** What {@link waitUntilServing} saw at its last look. */
export interface Serving {
  readonly healthy: number;
  readonly capacity: number;
  /** Instances an earlier handover drained that ELB would not register again at the last look: not running. */
  readonly refused: readonly Refusal[];
}

/**
 * Waits until the fleet has at least its target capacity, and at least `atLeast`, of instances healthy in the
 * target group. Raises its target capacity to `atLeast` once, at the first look that finds it active and
 * below: the fleet it replaces may have been scaled out. At every look, registers again those of its
 * instances missing from the group that an earlier handover drained (on rollback, the previous fleet's);
 * any other missing instance was taken out by someone else, the interruption drainer or a later handover,
 * and stays out. One still draining is left to finish first.
 *
 * An instance that ELB refuses to register again (it is no longer running: interrupted, terminated or
 * stopped) is tried again at every look, but does not keep the others out, nor the answer: the fleet serves
 * once the others make up the capacity less the refused ones, and at least one is healthy. A rollback so
 * restores what can be restored, rather than fail and leave the stack in UPDATE_ROLLBACK_FAILED; Spot Fleet
 * replaces an instance that ended, and registers the replacement itself. `refused` names them.
 */
export async function waitUntilServing(fleet: FleetBehindTargetGroup, run: Run, atLeast = 0): Promise<Serving> {
  const seen = { healthy: 0, capacity: 0, running: 0, activity: '', refused: [] as Refusal[] };
  let raised = false;
  await poll(
    run,
    fleet.healthyTimeoutSeconds,
    async () => {
      const request = await describeFleet(fleet.fleetId);
      if (request === undefined || ENDED.test(request.state)) {
        throw new HandoverError(`fleet ${fleet.fleetId} is ${request?.state ?? 'not found'}, so it can never serve`);
      }
      if (!raised && request.state === 'active' && request.targetCapacity < atLeast) {
        await setCapacity(fleet.fleetId, atLeast);
        raised = true;
        log('Raised', { fleetId: fleet.fleetId, from: request.targetCapacity, to: atLeast });
      }
      const instances = (await fleetInstances(fleet.fleetId)) ?? [];
      const registered = await registrations(fleet.targetGroupArn);
      const tags = await handoverTags(instances.filter((id) => !registered.some((r) => r.Id === id)));
      const back = [...tags].filter(([, value]) => (DRAINED.exec(value)?.[1] ?? run.start) < run.start).map(([id]) => id);
      const refused = back.length > 0 ? await register(fleet.targetGroupArn, back) : [];
      const taken = back.filter((id) => !refused.some((r) => r.id === id));
      if (taken.length > 0) await tag(taken, stamp(run, 'registered'));
      if (refused.map((r) => r.id).join() !== seen.refused.map((r) => r.id).join()) log('Not registered', { fleetId: fleet.fleetId, refused });
      const healthy = new Set(registered.filter((r) => r.State === 'healthy' && instances.includes(r.Id)).map((r) => r.Id));
      const capacity = Math.max(request.targetCapacity, atLeast);
      Object.assign(seen, { healthy: healthy.size, capacity, running: instances.length, activity: request.activity, refused });
      return healthy.size >= capacity || (refused.length > 0 && healthy.size > 0 && healthy.size >= capacity - refused.length);
    },
    (seconds) =>
      `fleet ${fleet.fleetId} has ${seen.healthy} of ${seen.capacity} instances healthy in the target group after ${seconds} s ` +
      `(${seen.running} running, fleet activity ${seen.activity}); ` +
      (seen.refused.length > 0
        ? `${refusals(seen.refused)}; any others may be failing the health check, or Spot capacity may be short`
        : 'its instances may be failing the health check, or Spot capacity may be short'),
  );
  return seen;
}

/** Which instances ELB would not register again, and why, in a sentence for the log and CloudFormation. */
export function refusals(refused: readonly Refusal[]): string {
  return `ELB would not register ${refused.map((r) => r.id).join(', ')} again, which an earlier handover drained (${refused[0]?.reason ?? ''})`;
}

/**
 * Waits until the previous fleet's instances have left the target group: gone from DescribeTargetHealth, or
 * `unused`. At every look, reads the fleet's instances again and deregisters, tagging them drained first,
 * those of their registrations not already draining, so an instance that joins the fleet meanwhile is
 * drained too; except one a handover that started after this one has touched (a rollback registered it
 * again), which is that handover's to keep. A fleet EC2 no longer knows has nothing to drain.
 */
export async function drain(previousFleetId: string, fleet: FleetBehindTargetGroup, run: Run): Promise<void> {
  let left = 0;
  await poll(
    run,
    fleet.drainTimeoutSeconds,
    async () => {
      const instances = new Set((await fleetInstances(previousFleetId)) ?? []);
      const theirs = instances.size > 0 ? (await registrations(fleet.targetGroupArn)).filter((r) => instances.has(r.Id) && r.State !== 'unused') : [];
      const serving = theirs.filter((r) => r.State !== 'draining');
      const tags = await handoverTags(serving.map((r) => r.Id));
      const targets: Registration[] = serving.filter((r) => !((tags.get(r.Id) ?? '').slice(-24) >= run.start));
      if (targets.length > 0) {
        await tag(targets.map((r) => r.Id), stamp(run, 'drained'));
        await deregister(fleet.targetGroupArn, targets);
        log('Deregistered', { previousFleetId, targets });
      }
      return (left = theirs.length - serving.length + targets.length) === 0;
    },
    (seconds) =>
      `${left} registrations of fleet ${previousFleetId}'s instances are still in the target group after ${seconds} s; ` +
      'the deregistration delay may be longer than the handover waits',
  );
}

export function log(message: string, detail: object): void {
  console.info(JSON.stringify({ message, ...detail }));
}
