/**
 * A fake EC2 and target group for the fleet handover, on a fake clock, and the replacement scenario that
 * makes its handler call every AWS action it has. For the IAM test, which compares those calls with the
 * role's grants. Framework-free (no vitest import), like the drainer's scenarios.
 */
import { DescribeSpotFleetInstancesCommand, DescribeSpotFleetRequestsCommand, EC2Client } from '@aws-sdk/client-ec2';
import type { DescribeSpotFleetInstancesCommandInput, DescribeSpotFleetRequestsCommandInput } from '@aws-sdk/client-ec2';
import {
  DeregisterTargetsCommand,
  DescribeTargetHealthCommand,
  ElasticLoadBalancingV2Client,
  RegisterTargetsCommand,
} from '@aws-sdk/client-elastic-load-balancing-v2';
import type { DeregisterTargetsCommandInput, RegisterTargetsCommandInput } from '@aws-sdk/client-elastic-load-balancing-v2';
import type { CloudFormationCustomResourceEvent, CloudFormationCustomResourceResponse, Context } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { FLEET_HANDOVER_RESOURCE_TYPE, HandoverProperty } from '../../lib/functions/fleet-handover/contract';
import { handle } from '../../lib/functions/fleet-handover/handler';
import type { RecordedCall } from './spot-interruption-drainer.scenarios';

export type { RecordedCall };

export const HANDOVER_TARGET_GROUP = 'arn:aws:elasticloadbalancing:us-east-2:123456789012:targetgroup/spotwise-web/0123456789abcdef';
export const FLEET_A = 'sfr-aaaaaaaa-1111-4111-8111-aaaaaaaaaaaa';
export const FLEET_B = 'sfr-bbbbbbbb-2222-4222-8222-bbbbbbbbbbbb';
const A1 = 'i-0aaaaaaaaaaaaaaa1';
const A2 = 'i-0aaaaaaaaaaaaaaa2';
const B1 = 'i-0bbbbbbbbbbbbbbb1';
const B2 = 'i-0bbbbbbbbbbbbbbb2';
const HEALTHY_TIMEOUT_S = 600;
const DRAIN_TIMEOUT_S = 120;
/** The function's timeout as the construct sets it for these timeouts: healthy + drain + 30 s reserved. */
const FUNCTION_MS = (HEALTHY_TIMEOUT_S + DRAIN_TIMEOUT_S + 30) * 1000;
const HEALTH_CHECK_MS = 40_000;
const DEREGISTRATION_DELAY_MS = 90_000;

interface Target {
  readonly Id: string;
  readonly Port: number;
  State: string;
  /** When an `initial` registration turns healthy. */
  readyAt?: number;
  /** When a `draining` registration leaves the group. */
  goneAt?: number;
}

/**
 * EC2's Spot Fleet requests and one target group, as the handler sees them: a registration passes its health
 * check `HEALTH_CHECK_MS` after it is made, and a deregistered one leaves the group `DEREGISTRATION_DELAY_MS` after.
 */
class World {
  now = 1_800_000_000_000;
  readonly fleets = new Map<string, string[]>();
  readonly targets: Target[] = [];
  readonly calls: RecordedCall[] = [];
  readonly clock = {
    now: (): number => this.now,
    sleep: (ms: number): Promise<void> => {
      this.now += ms;
      return Promise.resolve();
    },
  };

  register(ids: readonly string[], State: string): void {
    for (const Id of ids) this.targets.push({ Id, Port: 80, State, readyAt: this.now + HEALTH_CHECK_MS });
  }

  tick(): void {
    for (const target of [...this.targets]) {
      if (target.State === 'initial' && target.readyAt !== undefined && this.now >= target.readyAt) target.State = 'healthy';
      if (target.State === 'draining' && target.goneAt !== undefined && this.now >= target.goneAt) this.targets.splice(this.targets.indexOf(target), 1);
    }
  }

  context(): Context {
    const end = this.now + FUNCTION_MS;
    return {
      callbackWaitsForEmptyEventLoop: true,
      functionName: 'fleet-handover',
      functionVersion: '$LATEST',
      invokedFunctionArn: 'arn:aws:lambda:us-east-2:123456789012:function:fleet-handover',
      memoryLimitInMB: '256',
      awsRequestId: 'request',
      logGroupName: '/aws/lambda/fleet-handover',
      logStreamName: '2026/11/23/[$LATEST]abc',
      getRemainingTimeInMillis: () => end - this.now,
      done: () => undefined,
      fail: () => undefined,
      succeed: () => undefined,
    } satisfies Context;
  }
}

const notFound = (id: string): Error =>
  Object.assign(new Error(`The spot fleet request ID '${id}' does not exist`), { name: 'InvalidSpotFleetRequestId.NotFound' });

/** Fakes EC2 and ELB over `world` until the returned function restores the clients. */
function fakeAws(world: World): () => void {
  const ec2 = mockClient(EC2Client);
  const elb = mockClient(ElasticLoadBalancingV2Client);
  const record = (service: string, command: string, input: object): void => {
    world.calls.push({ service, command, input });
  };
  ec2.on(DescribeSpotFleetRequestsCommand).callsFake((input: DescribeSpotFleetRequestsCommandInput) => {
    record('ec2', 'DescribeSpotFleetRequests', input);
    const id = input.SpotFleetRequestIds?.[0] ?? '';
    const instances = world.fleets.get(id);
    if (instances === undefined) throw notFound(id);
    return {
      SpotFleetRequestConfigs: [
        { SpotFleetRequestId: id, SpotFleetRequestState: 'active', ActivityStatus: 'fulfilled', SpotFleetRequestConfig: { TargetCapacity: instances.length } },
      ],
    };
  });
  ec2.on(DescribeSpotFleetInstancesCommand).callsFake((input: DescribeSpotFleetInstancesCommandInput) => {
    record('ec2', 'DescribeSpotFleetInstances', input);
    const id = input.SpotFleetRequestId ?? '';
    const instances = world.fleets.get(id);
    if (instances === undefined) throw notFound(id);
    return { SpotFleetRequestId: id, ActiveInstances: instances.map((InstanceId) => ({ InstanceId, InstanceType: 'c6i.large' })) };
  });
  elb.on(DescribeTargetHealthCommand).callsFake((input: object) => {
    record('elasticloadbalancing', 'DescribeTargetHealth', input);
    world.tick();
    return { TargetHealthDescriptions: world.targets.map((t) => ({ Target: { Id: t.Id, Port: t.Port }, TargetHealth: { State: t.State } })) };
  });
  elb.on(RegisterTargetsCommand).callsFake((input: RegisterTargetsCommandInput) => {
    record('elasticloadbalancing', 'RegisterTargets', input);
    const ids = (input.Targets ?? []).map((t) => t.Id ?? '').filter((id) => !world.targets.some((r) => r.Id === id));
    world.register(ids, 'initial');
    return {};
  });
  elb.on(DeregisterTargetsCommand).callsFake((input: DeregisterTargetsCommandInput) => {
    record('elasticloadbalancing', 'DeregisterTargets', input);
    for (const t of input.Targets ?? []) {
      const target = world.targets.find((r) => r.Id === t.Id && r.Port === (t.Port ?? 80));
      if (target !== undefined) Object.assign(target, { State: 'draining', goneAt: world.now + DEREGISTRATION_DELAY_MS });
    }
    return {};
  });
  return () => {
    ec2.restore();
    elb.restore();
  };
}

function properties(fleetId: string): Record<string, unknown> {
  return {
    ServiceToken: 'arn:aws:lambda:us-east-2:123456789012:function:fleet-handover',
    [HandoverProperty.fleetRequestId]: fleetId,
    [HandoverProperty.targetGroupArn]: HANDOVER_TARGET_GROUP,
    // As CloudFormation delivers them: strings.
    [HandoverProperty.healthyTimeoutSeconds]: String(HEALTHY_TIMEOUT_S),
    [HandoverProperty.drainTimeoutSeconds]: String(DRAIN_TIMEOUT_S),
  };
}

export interface HandoverScenarioResult {
  /** What the handler answered CloudFormation. */
  readonly response: CloudFormationCustomResourceResponse;
  /** Every AWS call it made, in order; `command` is also the IAM action. */
  readonly calls: readonly RecordedCall[];
  /** The fleets' instances in the target group afterwards, by state. */
  readonly targets: Readonly<Record<string, string>>;
}

/**
 * A replacement of fleet A by fleet B, as CloudFormation sends it: A's two instances serve; B's first is
 * registered and still in its health check, its second not registered yet. The handler registers B's second
 * instance, waits until both are healthy, deregisters A's and waits until they have drained.
 */
export async function runHandoverReplacement(): Promise<HandoverScenarioResult> {
  const world = new World();
  world.fleets.set(FLEET_A, [A1, A2]).set(FLEET_B, [B1, B2]);
  world.register([A1, A2], 'healthy');
  world.register([B1], 'initial');
  const event = {
    RequestType: 'Update',
    ServiceToken: 'arn:aws:lambda:us-east-2:123456789012:function:fleet-handover',
    ResponseURL: 'https://cloudformation-custom-resource-response.example/x',
    StackId: 'arn:aws:cloudformation:us-east-2:123456789012:stack/SpotFleetWebApp/guid',
    RequestId: 'request-1',
    LogicalResourceId: 'FleetHandover',
    ResourceType: FLEET_HANDOVER_RESOURCE_TYPE,
    PhysicalResourceId: HANDOVER_TARGET_GROUP,
    ResourceProperties: properties(FLEET_B),
    OldResourceProperties: properties(FLEET_A),
  } as CloudFormationCustomResourceEvent;
  const responses: CloudFormationCustomResourceResponse[] = [];
  const restore = fakeAws(world);
  // The handler logs each step with console.info.
  const info = Object.getOwnPropertyDescriptor(console, 'info');
  console.info = () => undefined;
  try {
    await handle(event, world.context(), world.clock, (_url, body) => {
      responses.push(body);
      return Promise.resolve();
    });
  } finally {
    if (info !== undefined) Object.defineProperty(console, 'info', info);
    restore();
  }
  const [response, ...more] = responses;
  if (response === undefined || more.length > 0) throw new Error(`the handler answered ${responses.length} times; CloudFormation takes exactly one answer`);
  world.tick();
  return { response, calls: world.calls, targets: Object.fromEntries(world.targets.map((t) => [t.Id, t.State])) };
}
