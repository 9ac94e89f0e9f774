import type { Registration } from './aws';
import { deregister, describeFleet, fleetInstances, register, registrations } from './aws';
import { POLL_INTERVAL_SECONDS } from './contract';

/** Time, injectable so that tests do not wait. */
export interface Clock {
  now(): number;
  sleep(ms: number): Promise<void>;
}

export const systemClock: Clock = { now: () => Date.now(), sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)) };

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

/**
 * Polls one step until `done` answers true, or throws the message `stuck` gives, once the step's own timeout
 * or the invocation's end (`until`, whichever is first) has passed. The last look is at the deadline.
 */
async function poll(clock: Clock, timeoutSeconds: number, until: number, done: () => Promise<boolean>, stuck: (seconds: number) => string): Promise<void> {
  const start = clock.now();
  const deadline = Math.min(start + timeoutSeconds * 1000, until);
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

/**
 * Waits until the fleet has at least its target capacity of instances healthy in the target group.
 * Registers any of its running instances missing from the group first, at every look: on rollback this is
 * the previous fleet, whose instances the handover deregistered. One still draining is left to finish and
 * registered once gone, since the interruption drainer may have drained it for a reason.
 */
export async function waitUntilServing(fleet: FleetBehindTargetGroup, clock: Clock, until: number): Promise<{ healthy: number; capacity: number }> {
  const seen = { healthy: 0, capacity: 0, running: 0, activity: '' };
  await poll(
    clock,
    fleet.healthyTimeoutSeconds,
    until,
    async () => {
      const request = await describeFleet(fleet.fleetId);
      if (request === undefined || ENDED.test(request.state)) {
        throw new HandoverError(`fleet ${fleet.fleetId} is ${request?.state ?? 'not found'}, so it can never serve`);
      }
      const instances = (await fleetInstances(fleet.fleetId)) ?? [];
      const registered = await registrations(fleet.targetGroupArn);
      const missing = instances.filter((id) => !registered.some((r) => r.Id === id));
      if (missing.length > 0) await register(fleet.targetGroupArn, missing);
      const healthy = new Set(registered.filter((r) => r.State === 'healthy' && instances.includes(r.Id)).map((r) => r.Id));
      Object.assign(seen, { healthy: healthy.size, capacity: request.targetCapacity, running: instances.length, activity: request.activity });
      return healthy.size >= request.targetCapacity;
    },
    (seconds) =>
      `fleet ${fleet.fleetId} has ${seen.healthy} of ${seen.capacity} instances healthy in the target group after ${seconds} s ` +
      `(${seen.running} running, fleet activity ${seen.activity}); its instances may be failing the health check, or Spot capacity may be short`,
  );
  return seen;
}

/**
 * Deregisters the previous fleet's instances that are still in the target group and waits until they have
 * left it: gone from DescribeTargetHealth, or `unused`. A fleet EC2 no longer knows has nothing to drain.
 */
export async function drain(previousFleetId: string, fleet: FleetBehindTargetGroup, clock: Clock, until: number): Promise<Registration[]> {
  const instances = new Set((await fleetInstances(previousFleetId)) ?? []);
  const theirs = async () => (await registrations(fleet.targetGroupArn)).filter((r) => instances.has(r.Id) && r.State !== 'unused');
  const targets = instances.size > 0 ? (await theirs()).filter((r) => r.State !== 'draining') : [];
  if (targets.length > 0) await deregister(fleet.targetGroupArn, targets);
  log('Deregistered', { previousFleetId, targets });
  let left = 0;
  await poll(
    clock,
    fleet.drainTimeoutSeconds,
    until,
    async () => (left = instances.size > 0 ? (await theirs()).length : 0) === 0,
    (seconds) =>
      `${left} registrations of fleet ${previousFleetId}'s instances are still in the target group after ${seconds} s; ` +
      'the deregistration delay may be longer than the handover waits',
  );
  return targets;
}

export function log(message: string, detail: object): void {
  console.info(JSON.stringify({ message, ...detail }));
}
