import { DescribeSpotFleetInstancesCommand } from '@aws-sdk/client-ec2';
import { DescribeTargetHealthCommand } from '@aws-sdk/client-elastic-load-balancing-v2';
import type { DeregisterTargetsCommandInput, RegisterTargetsCommandInput } from '@aws-sdk/client-elastic-load-balancing-v2';
import type { CloudFormationCustomResourceEvent, CloudFormationCustomResourceResponse } from 'aws-lambda';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { HANDOVER_TAG_KEY, HandoverProperty, PINNED_IMAGE_RESOURCE_TYPE, PinnedImageProperty } from '../../lib/functions/fleet-handover/contract';
import { ResponseNotSent } from '../../lib/functions/common/cloudformation-response';
import { handler } from '../../lib/functions/fleet-handover/handler';
import type { Cleanup } from '../support/loopback';
import { closeAll, httpServer } from '../support/loopback';
import type { FakeAws } from './fleet-handover.scenarios';
import {
  A1,
  A2,
  B1,
  B2,
  B3,
  FLEET_A,
  FLEET_B,
  fakeAws,
  HANDOVER_TARGET_GROUP as TARGET_GROUP,
  handoverEvent as event,
  handoverProperties as properties,
  HEALTHY_TIMEOUT_S,
  ids,
  World,
} from './fleet-handover.scenarios';

let world: World;
let aws: FakeAws;

beforeEach(() => {
  world = new World();
  aws = fakeAws(world);
  vi.spyOn(console, 'info').mockImplementation(() => undefined);
});

afterEach(() => {
  aws.restore();
  vi.restoreAllMocks();
});

const update = (from: string, to: string) => event('Update', properties(to), properties(from));

describe('fleet handover on create', () => {
  it('answers SUCCESS only once the fleet has its target capacity healthy in the target group', async () => {
    world.fleet(FLEET_B, [B1, B2]).register([B1, B2], 'initial');
    const start = world.now;
    const response = await world.run(event('Create', properties(FLEET_B)));
    expect(response).toMatchObject({ Status: 'SUCCESS', PhysicalResourceId: TARGET_GROUP, RequestId: 'request-1', LogicalResourceId: 'FleetHandover' });
    expect(world.respondedAt - start).toBeGreaterThanOrEqual(world.healthCheckMs);
    expect([world.stateOf(B1), world.stateOf(B2)]).toEqual(['healthy', 'healthy']);
    expect(world.called('DeregisterTargets')).toEqual([]);
    expect(world.called('DescribeSpotFleetRequests')[0]?.input).toEqual({ SpotFleetRequestIds: [FLEET_B] });
    expect(world.called('DescribeTargetHealth')[0]?.input).toEqual({ TargetGroupArn: TARGET_GROUP });
  });

  it('fails, naming the fleet and what it saw, when the fleet is not healthy within its healthy timeout', async () => {
    world.fleet(FLEET_B, [B1, B2]).register([B1, B2], 'initial');
    world.failing.add(B2);
    const start = world.now;
    const response = await world.run(event('Create', properties(FLEET_B)));
    expect(response).toMatchObject({ Status: 'FAILED', PhysicalResourceId: TARGET_GROUP });
    expect(response.Reason).toMatch(
      new RegExp(
        `^Handover failed waiting for fleet ${FLEET_B} to serve: fleet ${FLEET_B} has 1 of 2 instances healthy in the target group after 600 s ` +
          '\\(2 running, fleet activity fulfilled\\); its instances may be failing the health check, or Spot capacity may be short \\(log stream 2026/11/23/\\[\\$LATEST\\]0123456789abcdef0123456789abcdef\\)$',
      ),
    );
    expect(world.respondedAt - start).toBe(HEALTHY_TIMEOUT_S * 1000);
  });

  it('fails at once, without waiting, when the fleet request has failed or been cancelled', async () => {
    world.fleet(FLEET_B, [], 2, 'failed');
    const start = world.now;
    const response = await world.run(event('Create', properties(FLEET_B)));
    expect(response.Reason).toMatch(`fleet ${FLEET_B} is failed, so it can never serve`);
    expect(world.respondedAt).toBe(start);
  });

  it('answers FAILED before the function times out when its remaining time is shorter than the step timeout', async () => {
    world.fleet(FLEET_B, [B1, B2]).register([B1, B2], 'initial');
    world.failing.add(B1);
    const start = world.now;
    const remaining = 300_000;
    const response = await world.run(event('Create', properties(FLEET_B)), remaining);
    expect(response.Status).toBe('FAILED');
    expect(response.Reason).toMatch(/has 1 of 2 instances healthy in the target group after 270 s .*\(the function ran out of time\)/);
    expect(world.respondedAt - start).toBeLessThan(remaining);
  });

  it('reads every page of the fleet\'s instances', async () => {
    world.fleet(FLEET_B, [B1, B2]).register([B1, B2]);
    aws.ec2
      .on(DescribeSpotFleetInstancesCommand)
      .resolvesOnce({ ActiveInstances: [{ InstanceId: B1 }], NextToken: 'page-2' })
      .resolves({ ActiveInstances: [{ InstanceId: B2 }] });
    const response = await world.run(event('Create', properties(FLEET_B)));
    expect(response.Status).toBe('SUCCESS');
    expect(aws.ec2.commandCalls(DescribeSpotFleetInstancesCommand).map((c) => c.args[0].input.NextToken)).toEqual([undefined, 'page-2']);
  });

  it('keeps polling while ELB refuses to register again an instance an earlier handover drained, until it runs', async () => {
    world.fleet(FLEET_B, [B1, B2]).register([B1], 'initial');
    world.tags.set(B2, `drained ${world.iso(-60_000)}`);
    world.pending.add(B2);
    world.duringEachSleep(() => {
      world.pending.delete(B2);
    });
    const response = await world.run(event('Create', properties(FLEET_B)));
    expect(response.Status).toBe('SUCCESS');
    expect(world.called('RegisterTargets').map((c) => c.input)).toEqual([
      { TargetGroupArn: TARGET_GROUP, Targets: [{ Id: B2 }] },
      { TargetGroupArn: TARGET_GROUP, Targets: [{ Id: B2 }] },
    ]);
    // Tagged registered only once ELB took it, at the second look.
    expect(world.called('CreateTags').map((c) => c.input)).toEqual([{ Resources: [B2], Tags: [{ Key: HANDOVER_TAG_KEY, Value: `registered ${new Date(world.called('RegisterTargets')[1]?.at ?? 0).toISOString()}` }] }]);
  });

  it('does not register a missing instance no handover drained: Spot Fleet registers its own, and someone else took this one out', async () => {
    world.fleet(FLEET_B, [B1, B2, B3], 2).register([B1, B3]);
    const response = await world.run(event('Create', properties(FLEET_B)));
    expect(response.Status).toBe('SUCCESS');
    expect(world.called('DescribeTags').map((c) => c.input)).toEqual([
      { Filters: [{ Name: 'resource-id', Values: [B2] }, { Name: 'key', Values: [HANDOVER_TAG_KEY] }] },
    ]);
    expect(world.called('RegisterTargets')).toEqual([]);
    expect(world.stateOf(B2)).toBeUndefined();
  });

  it('gives every AWS call an abort signal, so that none outlives the invocation', async () => {
    world.fleet(FLEET_B, [B1]).register([B1]);
    await world.run(event('Create', properties(FLEET_B)));
    const calls = [...aws.ec2.calls(), ...aws.elb.calls()];
    expect(calls.length).toBeGreaterThanOrEqual(3);
    for (const call of calls) expect(((call.args as unknown[])[1] as { abortSignal?: unknown } | undefined)?.abortSignal).toBeInstanceOf(AbortSignal);
  });
});

describe('fleet handover on replacement', () => {
  it('deregisters the old fleet only once the new one is healthy, then waits for the old to drain before answering', async () => {
    // A serves; B was just created, and Spot Fleet registers its instances as they start.
    world.fleet(FLEET_A, [A1, A2]).fleet(FLEET_B, [B1, B2]).register([A1]).register([A2], 'healthy', 8080).register([B1, B2], 'initial');
    const start = world.now;
    const response = await world.run(update(FLEET_A, FLEET_B));

    expect(response).toMatchObject({ Status: 'SUCCESS', PhysicalResourceId: TARGET_GROUP });
    const [deregistration, ...more] = world.called('DeregisterTargets');
    expect(more).toEqual([]);
    expect(deregistration?.input).toEqual({ TargetGroupArn: TARGET_GROUP, Targets: [{ Id: A1, Port: 80 }, { Id: A2, Port: 8080 }] });
    // No DeregisterTargets until a describe has seen both of B's instances healthy.
    expect(deregistration?.at).toBeGreaterThanOrEqual(start + world.healthCheckMs);
    const commands = world.commands();
    expect(commands.indexOf('DeregisterTargets')).toBeGreaterThan(commands.lastIndexOf('DescribeSpotFleetRequests'));
    // The answer waits for the draining to end, and the old instances are gone by then.
    expect(world.respondedAt).toBeGreaterThanOrEqual((deregistration?.at ?? 0) + world.delayMs);
    expect([world.stateOf(A1), world.stateOf(A2), world.stateOf(B1), world.stateOf(B2)]).toEqual([undefined, undefined, 'healthy', 'healthy']);
    expect(world.called('DescribeSpotFleetInstances').map((c) => c.input)).toContainEqual({ SpotFleetRequestId: FLEET_A, MaxResults: 1000 });
  });

  it('re-registers the previous fleet on rollback and drains the failed one, leaving the stack serving', async () => {
    // The forward update drained A before a later resource failed; CloudFormation now updates from B back to A.
    world.fleet(FLEET_A, [A1, A2]).fleet(FLEET_B, [B1, B2]).register([B1, B2]);
    for (const id of [A1, A2]) world.tags.set(id, `drained ${world.iso(-120_000)}`);
    const response = await world.run(update(FLEET_B, FLEET_A));

    expect(response.Status).toBe('SUCCESS');
    const registration = world.called('RegisterTargets');
    expect(registration.map((c) => c.input)).toEqual([{ TargetGroupArn: TARGET_GROUP, Targets: [{ Id: A1 }, { Id: A2 }] }]);
    const [deregistration] = world.called('DeregisterTargets');
    expect(deregistration?.input).toEqual({ TargetGroupArn: TARGET_GROUP, Targets: [{ Id: B1, Port: 80 }, { Id: B2, Port: 80 }] });
    expect(deregistration?.at).toBeGreaterThanOrEqual((registration[0]?.at ?? Infinity) + world.healthCheckMs);
    expect([world.stateOf(A1), world.stateOf(A2), world.stateOf(B1), world.stateOf(B2)]).toEqual(['healthy', 'healthy', undefined, undefined]);
    const registered = `registered ${new Date(registration[0]?.at ?? 0).toISOString()}`;
    const drained = `drained ${new Date(deregistration?.at ?? 0).toISOString()}`;
    expect(Object.fromEntries(world.tags)).toEqual({ [A1]: registered, [A2]: registered, [B1]: drained, [B2]: drained });
  });

  it('does not register an instance of the fleet that is still draining, and registers it once it has left', async () => {
    // Rollback while A's instances are still draining from a forward handover that timed out.
    world.fleet(FLEET_A, [A1]).fleet(FLEET_B, [B1]).register([B1]);
    world.targets.push({ Id: A1, Port: 80, State: 'draining', goneAt: world.now + 30_000 });
    world.tags.set(A1, `drained ${world.iso(-90_000)}`);
    const start = world.now;
    const response = await world.run(update(FLEET_B, FLEET_A));
    expect(response.Status).toBe('SUCCESS');
    const [registration, ...more] = world.called('RegisterTargets');
    expect(more).toEqual([]);
    expect(registration?.at).toBeGreaterThanOrEqual(start + 30_000);
    expect(world.stateOf(A1)).toBe('healthy');
  });

  it('registers the rest of the previous fleet on rollback when ELB refuses one that no longer runs, and answers SUCCESS naming it', async () => {
    // The forward update drained A; since then A1 was interrupted and is shutting down, still listed by the fleet.
    world.fleet(FLEET_A, [A1, A2]).fleet(FLEET_B, [B1, B2]).register([B1, B2]);
    for (const id of [A1, A2]) world.tags.set(id, `drained ${world.iso(-120_000)}`);
    world.pending.add(A1);
    const drainedTag = world.tags.get(A1);
    const start = world.now;
    const response = await world.run(update(FLEET_B, FLEET_A));

    expect(response.Status).toBe('SUCCESS');
    expect(response.Reason).toBe(
      `Fleet ${FLEET_A} serves with 1 of 2 instances healthy: ELB would not register ${A1} again, which an earlier handover drained ` +
        `(The following targets are not in a running state and cannot be registered: '${A1}') (log stream 2026/11/23/[$LATEST]0123456789abcdef0123456789abcdef)`,
    );
    const [together, alone, other, ...later] = world.called('RegisterTargets').map((c) => c.input);
    // ELB refuses the pair; each alone, A2 goes in. A1 is tried again at every later look, in case it runs again.
    expect([together, alone, other]).toEqual([
      { TargetGroupArn: TARGET_GROUP, Targets: [{ Id: A1 }, { Id: A2 }] },
      { TargetGroupArn: TARGET_GROUP, Targets: [{ Id: A1 }] },
      { TargetGroupArn: TARGET_GROUP, Targets: [{ Id: A2 }] },
    ]);
    expect(later.length).toBeGreaterThan(0);
    expect(new Set(later.map((input) => JSON.stringify(input)))).toEqual(new Set([JSON.stringify({ TargetGroupArn: TARGET_GROUP, Targets: [{ Id: A1 }] })]));
    // Served by A2 alone once it is healthy, B is drained: the stack is back on the fleet it rolled back to.
    const [deregistration, ...more] = world.called('DeregisterTargets');
    expect(more).toEqual([]);
    expect(deregistration?.input).toEqual({ TargetGroupArn: TARGET_GROUP, Targets: [{ Id: B1, Port: 80 }, { Id: B2, Port: 80 }] });
    expect(deregistration?.at).toBeGreaterThanOrEqual(start + world.healthCheckMs);
    expect(deregistration?.at).toBeLessThan(start + HEALTHY_TIMEOUT_S * 1000);
    expect([world.stateOf(A1), world.stateOf(A2), world.stateOf(B1), world.stateOf(B2)]).toEqual([undefined, 'healthy', undefined, undefined]);
    // A1 keeps its drained tag, so a later handover may still register it should it run again.
    expect(world.tags.get(A1)).toBe(drainedTag);
    expect(world.tags.get(A2)).toMatch(/^registered /);
    expect(console.info).toHaveBeenCalledWith(expect.stringMatching(new RegExp(`"message":"Not registered".*"${A1}"`)));
  });

  it('registers on rollback an instance ELB refused at first once it runs, and then answers SUCCESS without naming any', async () => {
    world.fleet(FLEET_A, [A1, A2]).fleet(FLEET_B, [B1, B2]).register([B1, B2]);
    for (const id of [A1, A2]) world.tags.set(id, `drained ${world.iso(-120_000)}`);
    world.pending.add(A1);
    world.duringEachSleep(() => {
      world.pending.delete(A1);
    });
    const response = await world.run(update(FLEET_B, FLEET_A));

    expect(response.Status).toBe('SUCCESS');
    expect(response.Reason).toBeUndefined();
    expect(world.called('RegisterTargets').map((c) => (c.input as RegisterTargetsCommandInput).Targets)).toEqual([[{ Id: A1 }, { Id: A2 }], [{ Id: A1 }], [{ Id: A2 }], [{ Id: A1 }]]);
    expect([world.stateOf(A1), world.stateOf(A2), world.stateOf(B1), world.stateOf(B2)]).toEqual(['healthy', 'healthy', undefined, undefined]);
  });

  it('fails on rollback, naming the instances and leaving the failed fleet serving, when ELB refuses every one of the previous fleet', async () => {
    world.fleet(FLEET_A, [A1, A2]).fleet(FLEET_B, [B1, B2]).register([B1, B2]);
    for (const id of [A1, A2]) world.tags.set(id, `drained ${world.iso(-120_000)}`);
    world.pending.add(A1).add(A2);
    const response = await world.run(update(FLEET_B, FLEET_A));

    expect(response.Status).toBe('FAILED');
    expect(response.Reason).toMatch(
      `Handover failed waiting for fleet ${FLEET_A} to serve: fleet ${FLEET_A} has 0 of 2 instances healthy in the target group after 600 s ` +
        `(2 running, fleet activity fulfilled); ELB would not register ${A1}, ${A2} again, which an earlier handover drained ` +
        `(The following targets are not in a running state and cannot be registered: '${A1}'); any others may be failing the health check`,
    );
    expect(world.called('DeregisterTargets')).toEqual([]);
    expect([world.stateOf(B1), world.stateOf(B2)]).toEqual(['healthy', 'healthy']);
  });

  it('waits on rollback for the capacity less the refused instances, not for fewer', async () => {
    // B was scaled out to 3: A is raised to 3, and its new instance must be healthy too before B is drained.
    world.fleet(FLEET_A, [A1, A2]).fleet(FLEET_B, [B1, B2, B3]).register([B1, B2, B3]);
    for (const id of [A1, A2]) world.tags.set(id, `drained ${world.iso(-120_000)}`);
    world.pending.add(A1);
    const response = await world.run(update(FLEET_B, FLEET_A));

    expect(response.Status).toBe('SUCCESS');
    expect(response.Reason).toMatch(`Fleet ${FLEET_A} serves with 2 of 3 instances healthy: ELB would not register ${A1} again`);
    const launched = (world.fleets.get(FLEET_A)?.instances ?? []).slice(2);
    expect(launched).toHaveLength(1);
    expect([A2, ...launched].map((id) => world.stateOf(id))).toEqual(['healthy', 'healthy']);
    expect(world.called('DeregisterTargets').map((c) => (c.input as DeregisterTargetsCommandInput).Targets?.length)).toEqual([3]);
  });

  it('fails without deregistering anything of the old fleet when the new one never gets healthy', async () => {
    world.fleet(FLEET_A, [A1, A2]).fleet(FLEET_B, [B1, B2]).register([A1, A2]).register([B1, B2], 'initial');
    world.failing.add(B1).add(B2);
    const response = await world.run(update(FLEET_A, FLEET_B));
    expect(response).toMatchObject({ Status: 'FAILED', PhysicalResourceId: TARGET_GROUP });
    expect(response.Reason).toMatch(`waiting for fleet ${FLEET_B} to serve: fleet ${FLEET_B} has 0 of 2 instances healthy in the target group after 600 s`);
    expect(world.called('DeregisterTargets')).toEqual([]);
    expect([world.stateOf(A1), world.stateOf(A2)]).toEqual(['healthy', 'healthy']);
  });

  it('succeeds with nothing to drain when the old fleet no longer exists', async () => {
    world.fleet(FLEET_B, [B1, B2]).register([B1, B2]);
    const response = await world.run(update(FLEET_A, FLEET_B));
    expect(response.Status).toBe('SUCCESS');
    expect(world.called('DescribeSpotFleetInstances').map((c) => c.input)).toContainEqual({ SpotFleetRequestId: FLEET_A, MaxResults: 1000 });
    expect(world.called('DeregisterTargets')).toEqual([]);
  });

  it('waits for, without deregistering again, old registrations already draining', async () => {
    world.fleet(FLEET_A, [A1, A2]).fleet(FLEET_B, [B1, B2]).register([A1, B1, B2]);
    world.targets.push({ Id: A2, Port: 80, State: 'draining', goneAt: world.now + 60_000 });
    const start = world.now;
    const response = await world.run(update(FLEET_A, FLEET_B));
    expect(response.Status).toBe('SUCCESS');
    expect(world.called('DeregisterTargets').map((c) => c.input)).toEqual([{ TargetGroupArn: TARGET_GROUP, Targets: [{ Id: A1, Port: 80 }] }]);
    expect(world.respondedAt - start).toBeGreaterThanOrEqual(world.delayMs);
  });

  it('fails, naming the draining step, when the old fleet\'s instances outlast the drain timeout', async () => {
    world.fleet(FLEET_A, [A1]).fleet(FLEET_B, [B1]).register([A1, B1]);
    world.delayMs = 300_000;
    const response = await world.run(update(FLEET_A, FLEET_B));
    expect(response.Status).toBe('FAILED');
    expect(response.Reason).toMatch(
      `Handover failed draining fleet ${FLEET_A}: 1 registrations of fleet ${FLEET_A}'s instances are still in the target group after 120 s; ` +
        'the deregistration delay may be longer than the handover waits',
    );
  });

  it('answers SUCCESS at once, calling nothing, when the fleet is the same (only its capacity changed, say)', async () => {
    const start = world.now;
    const response = await world.run(event('Update', properties(FLEET_A), properties(FLEET_A, { [HandoverProperty.healthyTimeoutSeconds]: '300' })));
    expect(response).toMatchObject({ Status: 'SUCCESS', PhysicalResourceId: TARGET_GROUP });
    expect(world.calls).toEqual([]);
    expect(world.respondedAt).toBe(start);
  });

  it('fails with the SDK error and the step when AWS refuses a call', async () => {
    world.fleet(FLEET_A, [A1]).fleet(FLEET_B, [B1]);
    aws.elb.on(DescribeTargetHealthCommand).rejects(Object.assign(new Error('User is not authorized to perform: elasticloadbalancing:DescribeTargetHealth'), { name: 'AccessDenied' }));
    const response = await world.run(update(FLEET_A, FLEET_B));
    expect(response.Status).toBe('FAILED');
    expect(response.Reason).toMatch(`Handover failed waiting for fleet ${FLEET_B} to serve: AccessDenied: User is not authorized`);
    expect(world.called('DeregisterTargets')).toEqual([]);
  });
});

describe('fleet handover of a scaled-out fleet, and its fence', () => {
  it('raises the new fleet to the old one\'s scaled-out capacity and drains the old only once that many of the new are healthy', async () => {
    // Application Auto Scaling took A to 10; B was created at its template capacity, 2.
    const a = ids('a', 10);
    world.fleet(FLEET_A, a).fleet(FLEET_B, [B1, B2]).register(a).register([B1, B2]);
    const response = await world.run(update(FLEET_A, FLEET_B));

    expect(response.Status).toBe('SUCCESS');
    const [raise, ...more] = world.called('ModifySpotFleetRequest');
    expect(more).toEqual([]);
    expect(raise?.input).toEqual({ SpotFleetRequestId: FLEET_B, TargetCapacity: 10 });
    const [deregistration] = world.called('DeregisterTargets');
    expect(deregistration?.input).toEqual({ TargetGroupArn: TARGET_GROUP, Targets: a.map((Id) => ({ Id, Port: 80 })) });
    // B's eight new instances pass their health check healthCheckMs after Spot Fleet registers them.
    expect(deregistration?.at).toBeGreaterThanOrEqual((raise?.at ?? Infinity) + world.healthCheckMs);
    const b = world.fleets.get(FLEET_B)?.instances ?? [];
    expect(b).toHaveLength(10);
    expect(b.map((id) => world.stateOf(id))).toEqual(Array(10).fill('healthy'));
    expect(a.map((id) => world.stateOf(id))).toEqual(Array(10).fill(undefined));
  });

  it('leaves the new fleet\'s capacity alone when it is already at least the old one\'s', async () => {
    world.fleet(FLEET_A, [A1]).fleet(FLEET_B, [B1, B2]).register([A1, B1, B2]);
    const response = await world.run(update(FLEET_A, FLEET_B));
    expect(response.Status).toBe('SUCCESS');
    expect(world.called('DescribeSpotFleetRequests')[0]?.input).toEqual({ SpotFleetRequestIds: [FLEET_A] });
    expect(world.called('ModifySpotFleetRequest')).toEqual([]);
  });

  it('does not register again an instance of the new fleet that the interruption drainer drained meanwhile', async () => {
    // B2 got a rebalance recommendation: the drainer deregistered it, and Spot Fleet launched B3 in its place.
    world.fleet(FLEET_A, [A1, A2]).fleet(FLEET_B, [B1, B2, B3], 2).register([A1, A2, B1]).register([B3], 'initial');
    world.targets.push({ Id: B2, Port: 80, State: 'draining', goneAt: world.now + 20_000 });
    const response = await world.run(update(FLEET_A, FLEET_B));

    expect(response.Status).toBe('SUCCESS');
    // B2 was seen missing from the group at the looks after 20 s, and stayed out.
    expect(world.called('DescribeTags').map((c) => c.input)).toContainEqual({ Filters: [{ Name: 'resource-id', Values: [B2] }, { Name: 'key', Values: [HANDOVER_TAG_KEY] }] });
    expect(world.called('RegisterTargets')).toEqual([]);
    expect([world.stateOf(B1), world.stateOf(B2), world.stateOf(B3)]).toEqual(['healthy', undefined, 'healthy']);
  });

  it('leaves the old fleet serving when a rollback drains the new fleet while the forward handover still waits for it', async () => {
    // Forward A to B: B's instances are in their health check. Another resource fails, and CloudFormation
    // updates back from B to A while the forward run still polls; the rollback finds A serving and drains B.
    world.fleet(FLEET_A, [A1, A2]).fleet(FLEET_B, [B1, B2]).register([A1, A2]).register([B1, B2], 'initial');
    let rollback: Promise<CloudFormationCustomResourceResponse> | undefined;
    world.duringEachSleep(async () => {
      // After the forward run's first look, the rollback runs to its end before the forward run looks again.
      if (rollback === undefined) await (rollback = world.run(update(FLEET_B, FLEET_A)));
    });
    const forward = await world.run(update(FLEET_A, FLEET_B));

    expect(await rollback).toMatchObject({ Status: 'SUCCESS' });
    // The forward run sees B's instances missing, drained by a handover that started after it: they stay out.
    expect(forward.Status).toBe('FAILED');
    expect(forward.Reason).toMatch(`waiting for fleet ${FLEET_B} to serve: fleet ${FLEET_B} has 0 of 2 instances healthy`);
    expect(world.called('RegisterTargets')).toEqual([]);
    expect(world.called('DeregisterTargets').map((c) => c.input)).toEqual([{ TargetGroupArn: TARGET_GROUP, Targets: [{ Id: B1, Port: 80 }, { Id: B2, Port: 80 }] }]);
    expect([world.stateOf(A1), world.stateOf(A2), world.stateOf(B1), world.stateOf(B2)]).toEqual(['healthy', 'healthy', undefined, undefined]);
  });

  it('does not deregister again an old instance that a rollback registered while the forward handover was still draining', async () => {
    world.fleet(FLEET_A, [A1]).fleet(FLEET_B, [B1]).register([A1, B1]);
    let rollback: Promise<CloudFormationCustomResourceResponse> | undefined;
    world.duringEachSleep(async () => {
      // The forward run's first sleep is in its drain, A1 deregistered; the rollback waits for A1 to leave,
      // registers it again and drains B.
      if (rollback === undefined) await (rollback = world.run(update(FLEET_B, FLEET_A)));
    });
    const forward = await world.run(update(FLEET_A, FLEET_B));

    expect(await rollback).toMatchObject({ Status: 'SUCCESS' });
    expect(forward.Status).toBe('SUCCESS');
    expect(world.called('DeregisterTargets').map((c) => c.input)).toEqual([
      { TargetGroupArn: TARGET_GROUP, Targets: [{ Id: A1, Port: 80 }] },
      { TargetGroupArn: TARGET_GROUP, Targets: [{ Id: B1, Port: 80 }] },
    ]);
    expect(world.called('RegisterTargets').map((c) => c.input)).toEqual([{ TargetGroupArn: TARGET_GROUP, Targets: [{ Id: A1 }] }]);
    expect([world.stateOf(A1), world.stateOf(B1)]).toEqual(['healthy', undefined]);
  });

  it('deregisters an instance that joins the old fleet while it drains, and waits for it too', async () => {
    world.fleet(FLEET_A, [A1, A2]).fleet(FLEET_B, [B1, B2]).register([A1, A2, B1, B2]);
    let joined: string[] | undefined;
    world.duringEachSleep(() => {
      // Once A is draining, Spot Fleet launches a replacement in A (an interruption) and registers it.
      if (joined === undefined && world.called('DeregisterTargets').length > 0) joined = world.launch(FLEET_A, 1);
    });
    const response = await world.run(update(FLEET_A, FLEET_B));

    expect(response.Status).toBe('SUCCESS');
    const [first, second, ...more] = world.called('DeregisterTargets');
    expect(more).toEqual([]);
    expect(first?.input).toEqual({ TargetGroupArn: TARGET_GROUP, Targets: [{ Id: A1, Port: 80 }, { Id: A2, Port: 80 }] });
    expect(second?.input).toEqual({ TargetGroupArn: TARGET_GROUP, Targets: [{ Id: joined?.[0], Port: 80 }] });
    expect(world.tags.get(joined?.[0] ?? '')).toBe(`drained ${new Date(second?.at ?? 0).toISOString()}`);
    expect(world.respondedAt).toBeGreaterThanOrEqual((second?.at ?? Infinity) + world.delayMs);
    expect([A1, A2, ...(joined ?? [])].map((id) => world.stateOf(id))).toEqual([undefined, undefined, undefined]);
  });
});

describe('fleet handover on delete', () => {
  it('answers SUCCESS with the same physical id and calls nothing', async () => {
    const response = await world.run(event('Delete', properties(FLEET_A)));
    expect(response).toMatchObject({ Status: 'SUCCESS', PhysicalResourceId: TARGET_GROUP });
    expect(world.calls).toEqual([]);
  });

  it('PUTs its answer to the pre-signed ResponseURL', async () => {
    const cleanups: Cleanup[] = [];
    const received: { method?: string; contentType?: string; body: unknown }[] = [];
    const port = await httpServer((req, res) => {
      let body = '';
      req.on('data', (chunk: Buffer) => (body += chunk.toString()));
      req.on('end', () => {
        received.push({ method: req.method, contentType: req.headers['content-type'], body: JSON.parse(body) });
        res.end();
      });
    }, cleanups);
    try {
      await handler(event('Delete', properties(FLEET_A), undefined, `http://127.0.0.1:${port}/response?X-Amz-Signature=x`), world.context());
    } finally {
      await closeAll(cleanups);
    }
    expect(received).toEqual([
      {
        method: 'PUT',
        contentType: '',
        body: {
          Status: 'SUCCESS',
          PhysicalResourceId: TARGET_GROUP,
          StackId: 'arn:aws:cloudformation:us-east-2:123456789012:stack/SpotFleetWebApp/guid',
          RequestId: 'request-1',
          LogicalResourceId: 'FleetHandover',
        },
      },
    ]);
  });
});

describe('answering CloudFormation', () => {
  const cleanups: Cleanup[] = [];
  afterEach(() => closeAll(cleanups));

  /** A response URL on 127.0.0.1 that answers each PUT with the next of `statuses`, then 200, and records the bodies. */
  async function responseUrl(...statuses: number[]): Promise<{ url: string; bodies: CloudFormationCustomResourceResponse[] }> {
    const bodies: CloudFormationCustomResourceResponse[] = [];
    const port = await httpServer((req, res) => {
      let body = '';
      req.on('data', (chunk: Buffer) => (body += chunk.toString()));
      req.on('end', () => {
        bodies.push(JSON.parse(body) as CloudFormationCustomResourceResponse);
        res.statusCode = statuses.shift() ?? 200;
        res.end();
      });
    }, cleanups);
    return { url: `http://127.0.0.1:${port}/response?X-Amz-Signature=x`, bodies };
  }

  function imageDelete(url: string): CloudFormationCustomResourceEvent {
    return {
      RequestType: 'Delete',
      ServiceToken: 'arn:aws:lambda:us-east-2:123456789012:function:fleet-handover',
      ResponseURL: url,
      StackId: 'arn:aws:cloudformation:us-east-2:123456789012:stack/SpotFleetWebApp/guid',
      RequestId: 'request-2',
      LogicalResourceId: 'FleetHandoverImage',
      ResourceType: PINNED_IMAGE_RESOURCE_TYPE,
      PhysicalResourceId: 'ami-0123456789abcdef0',
      ResourceProperties: { ServiceToken: 'arn:aws:lambda:us-east-2:123456789012:function:fleet-handover', [PinnedImageProperty.requestedImageId]: '' },
    };
  }

  beforeEach(() => {
    vi.spyOn(console, 'warn').mockImplementation(() => undefined);
    vi.spyOn(console, 'error').mockImplementation(() => undefined);
  });

  it('sends the same SUCCESS again, and never a FAILED, when the response URL answers a Delete with 503', async () => {
    const { url, bodies } = await responseUrl(503);
    await handler(event('Delete', properties(FLEET_A), undefined, url), world.context());
    expect(bodies).toHaveLength(2);
    expect(bodies[1]).toEqual(bodies[0]);
    expect(bodies[0]).toMatchObject({ Status: 'SUCCESS', PhysicalResourceId: TARGET_GROUP });
  });

  it('answers a pinned image\'s Delete with SUCCESS again after a 503, never with FAILED', async () => {
    const { url, bodies } = await responseUrl(503, 503);
    await handler(imageDelete(url), world.context());
    expect(bodies.map((b) => b.Status)).toEqual(['SUCCESS', 'SUCCESS', 'SUCCESS']);
    expect(new Set(bodies.map((b) => JSON.stringify(b))).size).toBe(1);
  });

  it('fails the invocation, logged, after its one answer when the response URL refuses it, and sends no other', async () => {
    const { url, bodies } = await responseUrl(403);
    await expect(handler(imageDelete(url), world.context())).rejects.toThrow(ResponseNotSent);
    expect(bodies.map((b) => b.Status)).toEqual(['SUCCESS']);
    expect(console.error).toHaveBeenCalledWith(expect.stringMatching(/CloudFormation response not sent.*"status":"SUCCESS"/));
  });

  it('sends a handover\'s FAILED again as it is after a 503', async () => {
    const { url, bodies } = await responseUrl(503);
    await handler(event('Create', properties(FLEET_B, { [HandoverProperty.fleetRequestId]: 'sfr-nope' }), undefined, url), world.context());
    expect(bodies.map((b) => b.Status)).toEqual(['FAILED', 'FAILED']);
    expect(bodies[1]).toEqual(bodies[0]);
  });

  it('stops retrying its answer shortly before the function would time out', async () => {
    const { url, bodies } = await responseUrl(...Array<number>(1_000).fill(503));
    const started = performance.now();
    // 1.5 s left: the answer gets the first 0.5 s, the rest is for logging the error and returning.
    await expect(handler(event('Delete', properties(FLEET_A), undefined, url), world.context(1_500))).rejects.toThrow(/no attempt succeeded/);
    expect(performance.now() - started).toBeLessThan(1_500);
    expect(bodies.length).toBeGreaterThanOrEqual(2);
  });
});

describe('fleet handover with malformed properties', () => {
  it.each([
    ['a missing fleet id', { [HandoverProperty.fleetRequestId]: undefined }, /SpotFleetRequestId must look like sfr-<uuid>; got undefined/],
    ['a fleet id that is not one', { [HandoverProperty.fleetRequestId]: 'i-0123456789abcdef0' }, /SpotFleetRequestId must look like sfr-<uuid>; got "i-0123456789abcdef0"/],
    ['a target group ARN that is a load balancer\'s', { [HandoverProperty.targetGroupArn]: 'arn:aws:elasticloadbalancing:us-east-2:123456789012:loadbalancer/app/web/0123456789abcdef' }, /TargetGroupArn must look like a target group ARN/],
    ['a zero healthy timeout', { [HandoverProperty.healthyTimeoutSeconds]: '0' }, /HealthyTimeoutSeconds must look like 600 \(whole seconds\); got "0"/],
    ['a fractional drain timeout', { [HandoverProperty.drainTimeoutSeconds]: '1.5' }, /DrainTimeoutSeconds must look like 600 \(whole seconds\); got "1.5"/],
  ])('answers FAILED, calling nothing, on create with %s', async (_case, overrides, reason) => {
    const response = await world.run(event('Create', properties(FLEET_B, overrides)));
    expect(response.Status).toBe('FAILED');
    expect(response.Reason).toMatch(/^Handover failed reading the resource properties: /);
    expect(response.Reason).toMatch(reason);
    expect(world.calls).toEqual([]);
  });

  it('answers FAILED, calling nothing, on update when the old properties are malformed', async () => {
    const response = await world.run(event('Update', properties(FLEET_B), { [HandoverProperty.fleetRequestId]: 'sfr-nope' }));
    expect(response).toMatchObject({ Status: 'FAILED', PhysicalResourceId: TARGET_GROUP });
    expect(response.Reason).toMatch(/SpotFleetRequestId must look like sfr-<uuid>; got "sfr-nope"/);
    expect(world.calls).toEqual([]);
  });
});

describe('pinned image', () => {
  const NEWEST = 'ami-0aaaaaaaaaaaaaaa1';
  const NEWER = 'ami-0bbbbbbbbbbbbbbb2';
  const REQUESTED = 'ami-0123456789abcdef0';
  const PREVIOUS = 'ami-0fedcba9876543210';

  function image(newest: unknown, requested: unknown): Record<string, unknown> {
    return {
      ServiceToken: 'arn:aws:lambda:us-east-2:123456789012:function:fleet-handover',
      [PinnedImageProperty.latestImageId]: newest,
      [PinnedImageProperty.requestedImageId]: requested,
    };
  }

  /** A request for the PinnedImage resource; Update and Delete carry the image chosen before as the physical id. */
  function imageEvent(requestType: 'Create' | 'Update' | 'Delete', next: Record<string, unknown>, previous?: Record<string, unknown>, physicalId = PREVIOUS): CloudFormationCustomResourceEvent {
    return {
      RequestType: requestType,
      ServiceToken: 'arn:aws:lambda:us-east-2:123456789012:function:fleet-handover',
      ResponseURL: 'https://cloudformation-custom-resource-response.example/x',
      StackId: 'arn:aws:cloudformation:us-east-2:123456789012:stack/SpotFleetWebApp/guid',
      RequestId: 'request-2',
      LogicalResourceId: 'FleetHandoverImage',
      ResourceType: PINNED_IMAGE_RESOURCE_TYPE,
      ResourceProperties: next,
      ...(requestType === 'Create' ? {} : { PhysicalResourceId: physicalId, OldResourceProperties: previous ?? next }),
    } as CloudFormationCustomResourceEvent;
  }

  /** The answer, which must name the image as both the physical id and the ImageId attribute, without any AWS call. */
  async function chosen(event: CloudFormationCustomResourceEvent): Promise<string> {
    const response = await world.run(event);
    expect(response).toMatchObject({ Status: 'SUCCESS', StackId: event.StackId, RequestId: 'request-2', LogicalResourceId: 'FleetHandoverImage' });
    expect(response.Data).toEqual({ ImageId: response.PhysicalResourceId });
    expect(world.calls).toEqual([]);
    return response.PhysicalResourceId;
  }

  it('takes the newest image on create when none is requested', async () => {
    expect(await chosen(imageEvent('Create', image(NEWEST, '')))).toBe(NEWEST);
  });

  it('takes the requested image on create, whatever the newest', async () => {
    expect(await chosen(imageEvent('Create', image(NEWEST, REQUESTED)))).toBe(REQUESTED);
  });

  it('keeps the image it chose before when the newest changed but the request did not', async () => {
    expect(await chosen(imageEvent('Update', image(NEWER, ''), image(NEWEST, ''), NEWEST))).toBe(NEWEST);
  });

  it('keeps the image it chose before on an update that changes nothing it reads', async () => {
    const same = image(NEWEST, '');
    expect(await chosen(imageEvent('Update', { ...same, ServiceToken: 'arn:aws:lambda:us-east-2:123456789012:function:other' }, same, PREVIOUS))).toBe(PREVIOUS);
  });

  it('keeps a requested image while the request stays the same, even as the newest moves on', async () => {
    expect(await chosen(imageEvent('Update', image(NEWER, REQUESTED), image(NEWEST, REQUESTED), REQUESTED))).toBe(REQUESTED);
  });

  it('takes the requested image when the request changed', async () => {
    expect(await chosen(imageEvent('Update', image(NEWER, REQUESTED), image(NEWEST, ''), NEWEST))).toBe(REQUESTED);
    world.responses.length = 0;
    expect(await chosen(imageEvent('Update', image(NEWER, 'ami-0cccccc1'), image(NEWER, REQUESTED), REQUESTED))).toBe('ami-0cccccc1');
  });

  it('takes the newest image again when the request is emptied', async () => {
    expect(await chosen(imageEvent('Update', image(NEWER, ''), image(NEWEST, REQUESTED), REQUESTED))).toBe(NEWER);
  });

  it('answers SUCCESS on delete, keeping the physical id, with no AWS call', async () => {
    expect(await chosen(imageEvent('Delete', image(NEWEST, ''), undefined, NEWEST))).toBe(NEWEST);
  });

  it('answers SUCCESS on delete after a create that failed, whose physical id is not an image', async () => {
    // CloudFormation deletes a custom resource whose create failed when it rolls back; a FAILED answer here
    // would leave the stack in ROLLBACK_FAILED.
    const response = await world.run(imageEvent('Delete', image('not-an-image', ''), undefined, 'FleetHandoverImage'));
    expect(response).toMatchObject({ Status: 'SUCCESS', PhysicalResourceId: 'FleetHandoverImage' });
  });

  it.each([
    ['the newest is not an AMI id', image('/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64', ''), '"/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64"'],
    ['the newest is missing', image(undefined, ''), '"undefined"'],
    ['the requested image is not an AMI id', image(NEWEST, 'ami-123'), '"ami-123"'],
    ['the requested image is in capitals', image(NEWEST, 'AMI-0123456789ABCDEF0'), '"AMI-0123456789ABCDEF0"'],
  ])('answers FAILED on create, with the reason and the log stream, when %s', async (_case, properties, got) => {
    const response = await world.run(imageEvent('Create', properties));
    expect(response).toMatchObject({ Status: 'FAILED', PhysicalResourceId: 'FleetHandoverImage', RequestId: 'request-2' });
    expect(response.Reason).toBe(
      `Image: Error: the image must be an AMI id like ami-0123456789abcdef0; got ${got} (log stream 2026/11/23/[$LATEST]0123456789abcdef0123456789abcdef)`,
    );
    expect(response.Data).toBeUndefined();
    expect(world.calls).toEqual([]);
  });

  it('answers FAILED on update when the new request is malformed, keeping the image it chose before as the physical id', async () => {
    const response = await world.run(imageEvent('Update', image(NEWEST, 'ami-nope'), image(NEWEST, ''), NEWEST));
    expect(response).toMatchObject({ Status: 'FAILED', PhysicalResourceId: NEWEST });
    expect(response.Reason).toMatch(/^Image: .*got "ami-nope"/);
  });
});
