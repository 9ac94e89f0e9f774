/**
 * A fake EC2 (Spot Fleet requests, their capacity, the handover tag) and target group for the fleet handover, on a fake clock, shared by the handler's unit tests and the
 * IAM test; and the replacement scenario that makes its handler call every AWS action it has, for the IAM test,
 * which compares those calls with the role's grants. Framework-free (no vitest import), like the drainer's scenarios.
 */
import {
  CreateTagsCommand,
  DescribeSpotFleetInstancesCommand,
  DescribeSpotFleetRequestsCommand,
  DescribeTagsCommand,
  EC2Client,
  ModifySpotFleetRequestCommand,
} from '@aws-sdk/client-ec2';
import type {
  CreateTagsCommandInput,
  DescribeSpotFleetInstancesCommandInput,
  DescribeSpotFleetRequestsCommandInput,
  DescribeTagsCommandInput,
  ModifySpotFleetRequestCommandInput,
} from '@aws-sdk/client-ec2';
import {
  DeregisterTargetsCommand,
  DescribeTargetHealthCommand,
  ElasticLoadBalancingV2Client,
  InvalidTargetException,
  RegisterTargetsCommand,
} from '@aws-sdk/client-elastic-load-balancing-v2';
import type { DeregisterTargetsCommandInput, RegisterTargetsCommandInput } from '@aws-sdk/client-elastic-load-balancing-v2';
import type { CloudFormationCustomResourceEvent, CloudFormationCustomResourceResponse, Context } from 'aws-lambda';
import type { AwsClientStub } from 'aws-sdk-client-mock';
import { mockClient } from 'aws-sdk-client-mock';
import { FLEET_HANDOVER_RESOURCE_TYPE, HANDOVER_TAG_KEY, HandoverProperty } from '../../lib/functions/fleet-handover/contract';
import { handle } from '../../lib/functions/fleet-handover/handler';
import { fakeContext } from '../support/lambda';
import type { RecordedCall } from './spot-interruption-drainer.scenarios';

export type { RecordedCall };

export const HANDOVER_TARGET_GROUP = 'arn:aws:elasticloadbalancing:us-east-2:123456789012:targetgroup/spotwise-web/0123456789abcdef';
export const FLEET_A = 'sfr-aaaaaaaa-1111-4111-8111-aaaaaaaaaaaa';
export const FLEET_B = 'sfr-bbbbbbbb-2222-4222-8222-bbbbbbbbbbbb';
export const A1 = 'i-0aaaaaaaaaaaaaaa1';
export const A2 = 'i-0aaaaaaaaaaaaaaa2';
export const A3 = 'i-0aaaaaaaaaaaaaaa3';
export const B1 = 'i-0bbbbbbbbbbbbbbb1';
export const B2 = 'i-0bbbbbbbbbbbbbbb2';
export const B3 = 'i-0bbbbbbbbbbbbbbb3';

/** `count` instance ids of a fleet, the letter telling which: `ids('a', 2)` for two of fleet A. */
export function ids(letter: string, count: number, from = 1): string[] {
  return Array.from({ length: count }, (_, i) => `i-0${letter.repeat(13)}${String(from + i).padStart(3, '0')}`);
}
export const HEALTHY_TIMEOUT_S = 600;
export const DRAIN_TIMEOUT_S = 120;
/** The function's timeout as the construct sets it for these timeouts: healthy + drain + 30 s reserved. */
const FUNCTION_MS = (HEALTHY_TIMEOUT_S + DRAIN_TIMEOUT_S + 30) * 1000;

interface Fleet {
  state: string;
  capacity: number;
  instances: string[];
}

interface Target {
  Id: string;
  Port: number;
  State: string;
  /** When an `initial` registration turns healthy (or unhealthy, for an instance in `failing`). */
  readyAt?: number;
  /** When a `draining` registration leaves the group. */
  goneAt?: number;
}

/** An SDK call the handler made, with the time on the fake clock when it made it. */
export interface HandoverCall extends RecordedCall {
  readonly at: number;
}

/**
 * EC2's Spot Fleet requests and one target group, as the handler sees them, on a fake clock: a registration passes
 * its health check `healthCheckMs` after it is made, and a deregistered one leaves the group `delayMs` after.
 */
export class World {
  now = 1_800_000_000_000;
  readonly fleets = new Map<string, Fleet>();
  readonly targets: Target[] = [];
  /** Instances that never pass the health check. */
  readonly failing = new Set<string>();
  /** Instances not yet running: ELB refuses to register them. */
  readonly pending = new Set<string>();
  /** The handover tag's value on each instance that carries it. */
  readonly tags = new Map<string, string>();
  healthCheckMs = 40_000;
  delayMs = 90_000;
  /** Each SDK call, in order; `command` is also the IAM action. */
  readonly calls: HandoverCall[] = [];
  /** What the handler answered CloudFormation, in order. */
  readonly responses: CloudFormationCustomResourceResponse[] = [];
  respondedAt = 0;

  readonly clock = {
    now: (): number => this.now,
    sleep: (ms: number): Promise<void> => {
      this.now += ms;
      return Promise.resolve();
    },
  };

  /** Runs `step` after each of the clock's sleeps: something that happens while the handler waits. */
  duringEachSleep(step: () => void | Promise<void>): void {
    const sleep = this.clock.sleep;
    this.clock.sleep = async (ms) => {
      await sleep(ms);
      await step();
    };
  }

  fleet(id: string, instances: string[], capacity = instances.length, state = 'active'): this {
    this.fleets.set(id, { state, capacity, instances });
    return this;
  }

  /**
   * What Spot Fleet does when the fleet's target capacity rises: launches the difference, and registers each
   * new instance in the target group itself (TargetGroupsConfig).
   */
  launch(fleetId: string, count: number): string[] {
    const fleet = this.fleets.get(fleetId);
    if (fleet === undefined) throw new Error(`no fleet ${fleetId}`);
    const launched = ids(`${fleetId[4]}`, count, 100 + fleet.instances.length);
    fleet.instances.push(...launched);
    this.register(launched, 'initial');
    return launched;
  }

  /** The time `ms` after now on the fake clock, in the form the handover writes in its tag. */
  iso(ms = 0): string {
    return new Date(this.now + ms).toISOString();
  }

  /** Registrations as they were some time ago: `initial` ones pass their health check as usual from now. */
  register(ids: readonly string[], State = 'healthy', Port = 80): this {
    for (const Id of ids) this.targets.push({ Id, Port, State, readyAt: this.now + this.healthCheckMs });
    return this;
  }

  tick(): void {
    for (const target of [...this.targets]) {
      if (target.State === 'initial' && target.readyAt !== undefined && this.now >= target.readyAt) {
        target.State = this.failing.has(target.Id) ? 'unhealthy' : 'healthy';
      }
      if (target.State === 'draining' && target.goneAt !== undefined && this.now >= target.goneAt) {
        this.targets.splice(this.targets.indexOf(target), 1);
      }
    }
  }

  stateOf(id: string): string | undefined {
    this.tick();
    return this.targets.find((t) => t.Id === id)?.State;
  }

  called(command: string): HandoverCall[] {
    return this.calls.filter((c) => c.command === command);
  }

  commands(): string[] {
    return this.calls.map((c) => c.command);
  }

  /** The context of an invocation with `remainingMs` left on the fake clock. */
  context(remainingMs = FUNCTION_MS): Context {
    const end = this.now + remainingMs;
    return { ...fakeContext('fleet-handover'), getRemainingTimeInMillis: () => end - this.now };
  }

  /** Invokes the handler with `event` and returns its answer; throws unless it answered exactly once. */
  async run(event: CloudFormationCustomResourceEvent, remainingMs?: number): Promise<CloudFormationCustomResourceResponse> {
    const answers: CloudFormationCustomResourceResponse[] = [];
    await handle(event, this.context(remainingMs), this.clock, (_url, body) => {
      answers.push(body);
      this.responses.push(body);
      this.respondedAt = this.now;
      return Promise.resolve();
    });
    const [response, ...more] = answers;
    if (response === undefined || more.length > 0) throw new Error(`the handler answered ${answers.length} times; CloudFormation takes exactly one answer`);
    return response;
  }
}

const notFound = (id: string): Error =>
  Object.assign(new Error(`The spot fleet request ID '${id}' does not exist`), { name: 'InvalidSpotFleetRequestId.NotFound' });

/** The mocked clients, for a test to override a call, and how to restore the real ones. */
export interface FakeAws {
  readonly ec2: AwsClientStub<EC2Client>;
  readonly elb: AwsClientStub<ElasticLoadBalancingV2Client>;
  restore(): void;
}

/** Fakes EC2 and ELB over `world` until `restore` is called. */
export function fakeAws(world: World): FakeAws {
  const ec2 = mockClient(EC2Client);
  const elb = mockClient(ElasticLoadBalancingV2Client);
  const record = (service: string, command: string, input: object): void => {
    world.calls.push({ service, command, input, at: world.now });
  };
  ec2.on(DescribeSpotFleetRequestsCommand).callsFake((input: DescribeSpotFleetRequestsCommandInput) => {
    record('ec2', 'DescribeSpotFleetRequests', input);
    const id = input.SpotFleetRequestIds?.[0] ?? '';
    const fleet = world.fleets.get(id);
    if (fleet === undefined) throw notFound(id);
    return {
      SpotFleetRequestConfigs: [
        { SpotFleetRequestId: id, SpotFleetRequestState: fleet.state, ActivityStatus: 'fulfilled', SpotFleetRequestConfig: { TargetCapacity: fleet.capacity } },
      ],
    };
  });
  ec2.on(DescribeSpotFleetInstancesCommand).callsFake((input: DescribeSpotFleetInstancesCommandInput) => {
    record('ec2', 'DescribeSpotFleetInstances', input);
    const id = input.SpotFleetRequestId ?? '';
    const fleet = world.fleets.get(id);
    if (fleet === undefined) throw notFound(id);
    return { SpotFleetRequestId: id, ActiveInstances: fleet.instances.map((InstanceId) => ({ InstanceId, InstanceType: 'c6i.large' })) };
  });
  ec2.on(ModifySpotFleetRequestCommand).callsFake((input: ModifySpotFleetRequestCommandInput) => {
    record('ec2', 'ModifySpotFleetRequest', input);
    const id = input.SpotFleetRequestId ?? '';
    const fleet = world.fleets.get(id);
    if (fleet === undefined) throw notFound(id);
    const capacity = input.TargetCapacity ?? fleet.capacity;
    if (capacity > fleet.instances.length) world.launch(id, capacity - fleet.instances.length);
    fleet.capacity = capacity;
    return { Return: true };
  });
  ec2.on(DescribeTagsCommand).callsFake((input: DescribeTagsCommandInput) => {
    record('ec2', 'DescribeTags', input);
    const filter = (name: string) => new Set(input.Filters?.find((f) => f.Name === name)?.Values);
    const [resources, keys] = [filter('resource-id'), filter('key')];
    const Tags = [...world.tags]
      .filter(([id]) => resources.has(id) && keys.has(HANDOVER_TAG_KEY))
      .map(([ResourceId, Value]) => ({ ResourceId, ResourceType: 'instance' as const, Key: HANDOVER_TAG_KEY, Value }));
    return { Tags };
  });
  ec2.on(CreateTagsCommand).callsFake((input: CreateTagsCommandInput) => {
    record('ec2', 'CreateTags', input);
    // The role's aws:TagKeys condition: any other key is denied.
    if (input.Tags?.some((t) => t.Key !== HANDOVER_TAG_KEY)) throw Object.assign(new Error('not authorized to perform: ec2:CreateTags'), { name: 'UnauthorizedOperation' });
    for (const id of input.Resources ?? []) world.tags.set(id, `${input.Tags?.[0]?.Value}`);
    return {};
  });
  elb.on(DescribeTargetHealthCommand).callsFake((input: object) => {
    record('elasticloadbalancing', 'DescribeTargetHealth', input);
    world.tick();
    return {
      TargetHealthDescriptions: world.targets.map((t) => ({ Target: { Id: t.Id, Port: t.Port }, HealthCheckPort: String(t.Port), TargetHealth: { State: t.State } })),
    };
  });
  elb.on(RegisterTargetsCommand).callsFake((input: RegisterTargetsCommandInput) => {
    record('elasticloadbalancing', 'RegisterTargets', input);
    const ids = (input.Targets ?? []).map((t) => t.Id ?? '');
    const refused = ids.filter((id) => world.pending.has(id));
    if (refused.length > 0) {
      throw new InvalidTargetException({ message: `The following targets are not in a running state and cannot be registered: '${refused[0]}'`, $metadata: {} });
    }
    for (const id of ids) if (!world.targets.some((r) => r.Id === id)) world.register([id], 'initial');
    return {};
  });
  elb.on(DeregisterTargetsCommand).callsFake((input: DeregisterTargetsCommandInput) => {
    record('elasticloadbalancing', 'DeregisterTargets', input);
    for (const t of input.Targets ?? []) {
      const target = world.targets.find((r) => r.Id === t.Id && r.Port === (t.Port ?? 80));
      if (target !== undefined) Object.assign(target, { State: 'draining', goneAt: world.now + world.delayMs });
    }
    return {};
  });
  return {
    ec2,
    elb,
    restore: () => {
      ec2.restore();
      elb.restore();
    },
  };
}

/** The handover resource's properties for `fleetId`, as CloudFormation delivers them, with some replaced. */
export function handoverProperties(fleetId: string, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    ServiceToken: 'arn:aws:lambda:us-east-2:123456789012:function:fleet-handover',
    [HandoverProperty.fleetRequestId]: fleetId,
    [HandoverProperty.targetGroupArn]: HANDOVER_TARGET_GROUP,
    // As CloudFormation delivers them: strings.
    [HandoverProperty.healthyTimeoutSeconds]: String(HEALTHY_TIMEOUT_S),
    [HandoverProperty.drainTimeoutSeconds]: String(DRAIN_TIMEOUT_S),
    ...overrides,
  };
}

/** A request for the handover resource; Update and Delete carry the target group as the physical id. */
export function handoverEvent(
  requestType: 'Create' | 'Update' | 'Delete',
  next: Record<string, unknown>,
  previous?: Record<string, unknown>,
  responseUrl = 'https://cloudformation-custom-resource-response.example/x',
): CloudFormationCustomResourceEvent {
  return {
    RequestType: requestType,
    ServiceToken: 'arn:aws:lambda:us-east-2:123456789012:function:fleet-handover',
    ResponseURL: responseUrl,
    StackId: 'arn:aws:cloudformation:us-east-2:123456789012:stack/SpotFleetWebApp/guid',
    RequestId: 'request-1',
    LogicalResourceId: 'FleetHandover',
    ResourceType: FLEET_HANDOVER_RESOURCE_TYPE,
    ResourceProperties: next,
    ...(requestType === 'Create' ? {} : { PhysicalResourceId: HANDOVER_TARGET_GROUP, OldResourceProperties: previous ?? next }),
  } as CloudFormationCustomResourceEvent;
}

export interface HandoverScenarioResult {
  /** What the handler answered CloudFormation: to the replacement, then to its rollback. */
  readonly responses: readonly CloudFormationCustomResourceResponse[];
  /** Every AWS call it made, in order; `command` is also the IAM action. */
  readonly calls: readonly RecordedCall[];
  /** The fleets' instances in the target group afterwards, by state. */
  readonly targets: Readonly<Record<string, string>>;
  /** The handover tag's value on each instance afterwards. */
  readonly tags: Readonly<Record<string, string>>;
}

/**
 * A replacement of fleet A by fleet B, then its rollback, as CloudFormation sends them. A was scaled out to
 * three instances, which serve; B was created at two, its first healthy, its second still in its health check.
 * The handler raises B to three (Spot Fleet launches and registers the third), waits until all three are
 * healthy, tags A's instances drained, deregisters them and waits until they have drained. Then a later
 * resource fails and CloudFormation updates back from B to A: the handler registers A's instances again, since
 * an earlier handover drained them, tags them registered, waits until they are healthy, and drains B's.
 */
export async function runHandoverReplacement(): Promise<HandoverScenarioResult> {
  const world = new World().fleet(FLEET_A, [A1, A2, A3]).fleet(FLEET_B, [B1, B2]).register([A1, A2, A3]).register([B1]).register([B2], 'initial');
  const aws = fakeAws(world);
  // The handler logs each step with console.info.
  const info = Object.getOwnPropertyDescriptor(console, 'info');
  console.info = () => undefined;
  const responses: CloudFormationCustomResourceResponse[] = [];
  try {
    responses.push(await world.run(handoverEvent('Update', handoverProperties(FLEET_B), handoverProperties(FLEET_A))));
    world.now += 60_000;
    responses.push(await world.run(handoverEvent('Update', handoverProperties(FLEET_A), handoverProperties(FLEET_B))));
  } finally {
    if (info !== undefined) Object.defineProperty(console, 'info', info);
    aws.restore();
  }
  world.tick();
  return { responses, calls: world.calls, targets: Object.fromEntries(world.targets.map((t) => [t.Id, t.State])), tags: Object.fromEntries(world.tags) };
}
