/**
 * Fakes and scenarios for the Spot drainer, shared by its unit tests, the IAM test and `bench/drainer.ts`.
 * Framework-free (no vitest import) so that the benchmark can run it under plain tsx.
 *
 * Importing this module loads the handler, and Powertools reads POWERTOOLS_SERVICE_NAME and
 * POWERTOOLS_METRICS_NAMESPACE then: set them first if the handler's output matters to the caller.
 */
import {
  DeregisterTargetsCommand,
  DescribeTargetHealthCommand,
  ElasticLoadBalancingV2Client,
  ElasticLoadBalancingV2ServiceException,
} from '@aws-sdk/client-elastic-load-balancing-v2';
import type {
  DeregisterTargetsCommandInput,
  DescribeTargetHealthCommandInput,
  TargetHealthDescription,
  TargetHealthStateEnum,
} from '@aws-sdk/client-elastic-load-balancing-v2';
import type { EventBridgeEvent } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { handler } from '../../lib/functions/spot-drainer/handler';
import { fakeContext as contextFor, sampleEvent } from '../support/lambda';

export const TARGET_GROUP_WEB = 'arn:aws:elasticloadbalancing:us-east-2:123456789012:targetgroup/spotwise-web/0123456789abcdef';
export const TARGET_GROUP_API = 'arn:aws:elasticloadbalancing:us-east-2:123456789012:targetgroup/spotwise-api/fedcba9876543210';
/** The instance in AWS's published sample events. */
export const SAMPLE_INSTANCE_ID = 'i-1234567890abcdef0';
export const OTHER_INSTANCE_ID = 'i-0aaaabbbbccccdddd';

/** The sample interruption warning with some `detail` fields replaced (a value of `undefined` deletes the field). */
export function interruptionWarning(detail: Record<string, unknown> = {}): EventBridgeEvent<string, unknown> {
  const event = sampleEvent('spot-interruption-warning');
  const merged: Record<string, unknown> = { ...(event.detail as Record<string, unknown>), ...detail };
  for (const [key, value] of Object.entries(merged)) if (value === undefined) delete merged[key];
  return { ...event, detail: merged };
}

/** The drainer's context, a plain object so that `bench/drainer.ts` can serialise it into its child processes. */
export const fakeContext = contextFor('spotwise-spot-drainer');

export function registration(
  id: string,
  port: number,
  state: TargetHealthStateEnum = 'healthy',
  availabilityZone?: string,
): TargetHealthDescription {
  return {
    Target: { Id: id, Port: port, ...(availabilityZone !== undefined && { AvailabilityZone: availabilityZone }) },
    HealthCheckPort: String(port),
    TargetHealth: { State: state },
  };
}

/** An error as the SDK raises it for an ELB error response, e.g. `AccessDenied` (403) or `TargetGroupNotFound` (400). */
export function elbError(name: string, httpStatusCode: number, message = name): ElasticLoadBalancingV2ServiceException {
  return new ElasticLoadBalancingV2ServiceException({
    name,
    message,
    $fault: httpStatusCode >= 500 ? 'server' : 'client',
    $metadata: { httpStatusCode, requestId: '11111111-2222-3333-4444-555555555555', attempts: 1 },
  });
}

export interface RecordedCall {
  /** The API operation, which for ELB is also the IAM action: `DescribeTargetHealth`, `DeregisterTargets`. */
  readonly command: string;
  readonly input: object;
}

/**
 * In-memory target groups behind `mockClient(ElasticLoadBalancingV2Client)`. Deregistration moves a
 * registration to `draining`, as ELB does, so that a repeated event sees what the first one did, and
 * deregistering a target that is not registered fails, so a wrong port cannot pass unnoticed.
 */
export class FakeElb {
  readonly mock = mockClient(ElasticLoadBalancingV2Client);
  private readonly groups: Map<string, TargetHealthDescription[]>;
  private readonly failures = new Map<string, { describe?: Error; deregister?: Error }>();

  constructor(groups: Record<string, TargetHealthDescription[]>) {
    this.groups = new Map(Object.entries(groups).map(([arn, targets]) => [arn, structuredClone(targets)]));
    this.mock.on(DescribeTargetHealthCommand).callsFake((input: DescribeTargetHealthCommandInput) => this.describe(input));
    this.mock.on(DeregisterTargetsCommand).callsFake((input: DeregisterTargetsCommandInput) => this.deregister(input));
  }

  failDescribe(targetGroupArn: string, error: Error): this {
    this.failures.set(targetGroupArn, { ...this.failures.get(targetGroupArn), describe: error });
    return this;
  }

  failDeregister(targetGroupArn: string, error: Error): this {
    this.failures.set(targetGroupArn, { ...this.failures.get(targetGroupArn), deregister: error });
    return this;
  }

  state(targetGroupArn: string): TargetHealthDescription[] {
    return structuredClone(this.groups.get(targetGroupArn) ?? []);
  }

  calls(): RecordedCall[] {
    return this.mock.calls().map((call) => {
      const command = call.args[0];
      return { command: command.constructor.name.replace(/Command$/, ''), input: command.input };
    });
  }

  restore(): void {
    this.mock.restore();
  }

  private group(targetGroupArn: string | undefined): TargetHealthDescription[] {
    const group = targetGroupArn === undefined ? undefined : this.groups.get(targetGroupArn);
    if (group === undefined) throw elbError('TargetGroupNotFound', 400, `Target groups '${targetGroupArn}' not found`);
    return group;
  }

  private describe(input: DescribeTargetHealthCommandInput): { TargetHealthDescriptions: TargetHealthDescription[] } {
    const failure = this.failures.get(input.TargetGroupArn ?? '')?.describe;
    if (failure !== undefined) throw failure;
    const group = this.group(input.TargetGroupArn);
    if (input.Targets !== undefined) throw new Error('FakeElb: the drainer must describe the whole group, without a Targets filter');
    return { TargetHealthDescriptions: structuredClone(group) };
  }

  private deregister(input: DeregisterTargetsCommandInput): object {
    const failure = this.failures.get(input.TargetGroupArn ?? '')?.deregister;
    if (failure !== undefined) throw failure;
    const group = this.group(input.TargetGroupArn);
    const matches = (input.Targets ?? []).map((target) => {
      const match = group.find((registered) => registered.Target?.Id === target.Id && registered.Target?.Port === target.Port);
      if (match === undefined) throw elbError('InvalidTarget', 400, `The target ${target.Id}:${target.Port} is not registered`);
      return match;
    });
    for (const match of matches) match.TargetHealth = { State: 'draining', Reason: 'Target.DeregistrationInProgress' };
    return {};
  }
}

/** Sets TARGET_GROUP_ARNS for the duration of `fn`. */
export async function withTargetGroups<T>(targetGroupArns: readonly string[], fn: () => Promise<T>): Promise<T> {
  const previous = process.env.TARGET_GROUP_ARNS;
  process.env.TARGET_GROUP_ARNS = targetGroupArns.join(',');
  try {
    return await fn();
  } finally {
    if (previous === undefined) delete process.env.TARGET_GROUP_ARNS;
    else process.env.TARGET_GROUP_ARNS = previous;
  }
}

export interface Scenario {
  readonly name: string;
  readonly targetGroups: Record<string, TargetHealthDescription[]>;
  readonly events: readonly EventBridgeEvent<string, unknown>[];
  readonly describeFailures?: Record<string, Error>;
}

export interface ScenarioResult {
  readonly name: string;
  readonly calls: RecordedCall[];
  /** The error the handler threw on any of the events, if one did. */
  readonly error?: unknown;
}

/**
 * Runs the handler on each of the scenario's events against a fake ELB configured with the scenario's
 * target groups, and returns the ELB calls it made. Handler output is suppressed unless `quiet` is false.
 */
export async function runScenario(scenario: Scenario, { quiet = true } = {}): Promise<ScenarioResult> {
  const elb = new FakeElb(scenario.targetGroups);
  for (const [arn, error] of Object.entries(scenario.describeFailures ?? {})) elb.failDescribe(arn, error);
  const restoreOutput = quiet ? silenceOutput() : () => undefined;
  let error: unknown;
  try {
    await withTargetGroups(Object.keys(scenario.targetGroups), async () => {
      for (const event of scenario.events) {
        try {
          await handler(event, fakeContext);
        } catch (thrown) {
          error = thrown;
        }
      }
    });
    return { name: scenario.name, calls: elb.calls(), ...(error !== undefined && { error }) };
  } finally {
    restoreOutput();
    elb.restore();
  }
}

/** The representative scenarios, for target groups `[first, second]`. */
export function drainerScenarios(first = TARGET_GROUP_WEB, second = TARGET_GROUP_API): Scenario[] {
  const me = SAMPLE_INSTANCE_ID;
  const other = OTHER_INSTANCE_ID;
  return [
    {
      name: 'one target group, instance registered',
      targetGroups: { [first]: [registration(me, 80), registration(other, 80)] },
      events: [interruptionWarning({ 'instance-action': 'terminate' })],
    },
    {
      name: 'one target group, foreign instance',
      targetGroups: { [first]: [registration(other, 80)] },
      events: [interruptionWarning({ 'instance-action': 'stop' })],
    },
    {
      name: 'two target groups, instance in both',
      targetGroups: { [first]: [registration(me, 80)], [second]: [registration(me, 8080), registration(other, 8080)] },
      events: [interruptionWarning({ 'instance-action': 'hibernate' })],
    },
    {
      name: 'two target groups, foreign instance',
      targetGroups: { [first]: [registration(other, 80)], [second]: [registration(other, 8080)] },
      events: [interruptionWarning()],
    },
    {
      name: 'two target groups, duplicate delivery',
      targetGroups: { [first]: [registration(me, 80)], [second]: [registration(me, 8080)] },
      events: [interruptionWarning(), interruptionWarning()],
    },
    {
      name: 'two target groups, access denied on the second',
      targetGroups: { [first]: [registration(me, 80)], [second]: [registration(me, 8080)] },
      events: [interruptionWarning()],
      describeFailures: { [second]: elbError('AccessDenied', 403, 'User is not authorized to perform: elasticloadbalancing:DescribeTargetHealth') },
    },
    {
      name: 'malformed events',
      targetGroups: { [first]: [registration(me, 80)], [second]: [registration(me, 8080)] },
      events: [sampleEvent('rebalance-recommendation'), interruptionWarning({ 'instance-action': 'reboot' })],
    },
  ];
}

/**
 * Every ELB call the handler makes across the representative scenarios, for comparison with the IAM
 * grants: `command` is the operation name, which for ELB is the IAM action name.
 */
export async function runDrainerScenarios(
  { targetGroupArns = [TARGET_GROUP_WEB, TARGET_GROUP_API] }: { targetGroupArns?: readonly [string, string] } = {},
): Promise<RecordedCall[]> {
  const calls: RecordedCall[] = [];
  for (const scenario of drainerScenarios(...targetGroupArns)) calls.push(...(await runScenario(scenario)).calls);
  return calls;
}

function silenceOutput(): () => void {
  const streams = [process.stdout, process.stderr];
  // Own descriptors, usually absent: `write` normally comes from the prototype, unless a test spies on it.
  const own = streams.map((stream) => Object.getOwnPropertyDescriptor(stream, 'write'));
  for (const stream of streams) stream.write = () => true;
  return () => {
    streams.forEach((stream, index) => {
      const descriptor = own[index];
      if (descriptor === undefined) delete (stream as { write?: unknown }).write;
      else Object.defineProperty(stream, 'write', descriptor);
    });
  };
}
