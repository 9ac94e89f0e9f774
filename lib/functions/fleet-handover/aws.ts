import {
  CreateTagsCommand,
  DescribeSpotFleetInstancesCommand,
  DescribeSpotFleetRequestsCommand,
  DescribeTagsCommand,
  EC2Client,
  ModifySpotFleetRequestCommand,
} from '@aws-sdk/client-ec2';
import {
  DeregisterTargetsCommand,
  DescribeTargetHealthCommand,
  ElasticLoadBalancingV2Client,
  RegisterTargetsCommand,
} from '@aws-sdk/client-elastic-load-balancing-v2';
import type { TargetDescription } from '@aws-sdk/client-elastic-load-balancing-v2';
import { boundedClientConfig } from '../common/sdk-config';
import { HANDOVER_TAG_KEY } from './contract';

/**
 * Standard retries, 3 attempts of at most 5 s each: a call in flight at a deadline overruns it by about 17 s
 * at worst, inside the time the handler keeps back (RESERVED_SECONDS). A throttled poll that still fails is
 * an error of the step, not a guess.
 */
const config = boundedClientConfig(3, 5_000);
const ec2 = new EC2Client(config);
const elb = new ElasticLoadBalancingV2Client(config);
/** Every call's options: the abort signal of the current invocation, set by {@link abortAt}. */
const options: { abortSignal?: AbortSignal } = {};

/** Aborts every call still in flight when `signal` fires: none outlives the invocation. */
export function abortAt(signal: AbortSignal): void {
  options.abortSignal = signal;
}

/** The parts of a Spot Fleet request the handover looks at. */
export interface FleetRequest {
  /** `submitted`, `active`, `modifying`, `cancelled_running`, `cancelled_terminating`, `cancelled` or `failed`. */
  readonly state: string;
  /** `error`, `pending_fulfillment`, `pending_termination` or `fulfilled`, when EC2 says. */
  readonly activity?: string;
  readonly targetCapacity: number;
}

/** One registration of an instance in the target group. */
export interface Registration {
  readonly Id: string;
  readonly Port?: number;
  readonly State: string;
}

/** What `call` answers, or undefined when EC2 no longer knows the fleet. */
async function unlessGone<T>(call: Promise<T>): Promise<T | undefined> {
  try {
    return await call;
  } catch (error) {
    if ((error as Error).name === 'InvalidSpotFleetRequestId.NotFound') return undefined;
    throw error;
  }
}

/** The fleet request, or undefined when EC2 no longer knows it. */
export async function describeFleet(fleetId: string): Promise<FleetRequest | undefined> {
  const fleet = (await unlessGone(ec2.send(new DescribeSpotFleetRequestsCommand({ SpotFleetRequestIds: [fleetId] }), options)))?.SpotFleetRequestConfigs?.[0];
  return fleet && { state: `${fleet.SpotFleetRequestState}`, activity: fleet.ActivityStatus, targetCapacity: fleet.SpotFleetRequestConfig?.TargetCapacity ?? 0 };
}

/** Sets the fleet's target capacity; Spot Fleet launches the difference and registers it itself. */
export async function setCapacity(fleetId: string, targetCapacity: number): Promise<void> {
  await ec2.send(new ModifySpotFleetRequestCommand({ SpotFleetRequestId: fleetId, TargetCapacity: targetCapacity }), options);
}

/** The fleet's active instance ids, or undefined when EC2 no longer knows the fleet. */
export function fleetInstances(fleetId: string): Promise<string[] | undefined> {
  return unlessGone(
    (async () => {
      const ids: string[] = [];
      let NextToken: string | undefined;
      do {
        const page = await ec2.send(new DescribeSpotFleetInstancesCommand({ SpotFleetRequestId: fleetId, MaxResults: 1000, NextToken }), options);
        for (const { InstanceId } of page.ActiveInstances ?? []) if (InstanceId) ids.push(InstanceId);
        NextToken = page.NextToken;
      } while (NextToken);
      return ids;
    })(),
  );
}

/** The handover tag's value on each of the instances that carry it. No call for no instances. */
export async function handoverTags(instanceIds: readonly string[]): Promise<Map<string, string>> {
  if (instanceIds.length === 0) return new Map();
  const Filters = [
    { Name: 'resource-id', Values: [...instanceIds] },
    { Name: 'key', Values: [HANDOVER_TAG_KEY] },
  ];
  const { Tags = [] } = await ec2.send(new DescribeTagsCommand({ Filters }), options);
  return new Map(Tags.map((t) => [`${t.ResourceId}`, `${t.Value}`]));
}

/** Sets the handover tag on the instances. */
export async function tag(instanceIds: readonly string[], value: string): Promise<void> {
  await ec2.send(new CreateTagsCommand({ Resources: [...new Set(instanceIds)], Tags: [{ Key: HANDOVER_TAG_KEY, Value: value }] }), options);
}

/**
 * Every registration in the group. No `Targets` filter: an entry without a port is read as the group's
 * default port and would miss a registration on any other.
 */
export async function registrations(targetGroupArn: string): Promise<Registration[]> {
  const { TargetHealthDescriptions = [] } = await elb.send(new DescribeTargetHealthCommand({ TargetGroupArn: targetGroupArn }), options);
  return TargetHealthDescriptions.flatMap(({ Target, TargetHealth }) =>
    Target?.Id ? [{ Id: Target.Id, ...(Target.Port !== undefined && { Port: Target.Port }), State: `${TargetHealth?.State}` }] : [],
  );
}

/** An instance ELB would not register, and what it said. */
export interface Refusal {
  readonly id: string;
  readonly reason: string;
}

/**
 * Registers the instances on the group's port, and answers those ELB refused. ELB refuses the whole call
 * (InvalidTarget) while any one of them is not running; then each is tried alone, so that one instance that
 * cannot be registered does not keep the others out.
 */
export async function register(targetGroupArn: string, instanceIds: readonly string[]): Promise<Refusal[]> {
  const refusal = async (ids: readonly string[]): Promise<string | undefined> => {
    try {
      await elb.send(new RegisterTargetsCommand({ TargetGroupArn: targetGroupArn, Targets: ids.map((Id) => ({ Id })) }), options);
      return undefined;
    } catch (error) {
      if ((error as Error).name !== 'InvalidTargetException') throw error;
      return (error as Error).message;
    }
  };
  const all = await refusal(instanceIds);
  if (all === undefined) return [];
  if (instanceIds.length === 1) return instanceIds.map((id) => ({ id, reason: all }));
  const refused: Refusal[] = [];
  for (const id of instanceIds) {
    const reason = await refusal([id]);
    if (reason !== undefined) refused.push({ id, reason });
  }
  return refused;
}

/** Deregisters exactly these registrations: id, and port when registered with one. */
export async function deregister(targetGroupArn: string, targets: readonly Registration[]): Promise<void> {
  const Targets: TargetDescription[] = targets.map(({ Id, Port }) => ({ Id, ...(Port !== undefined && { Port }) }));
  await elb.send(new DeregisterTargetsCommand({ TargetGroupArn: targetGroupArn, Targets }), options);
}
