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
import { SendMessageBatchCommand, SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import type { SendMessageBatchCommandInput } from '@aws-sdk/client-sqs';
import type { EventBridgeEvent, SQSEvent, SQSRecord } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { handle } from '../../lib/functions/spot-interruption-drainer/handler';
import type { SampleEventName } from '../support/lambda';
import { fakeContext as contextFor, sampleEvent } from '../support/lambda';

export const TARGET_GROUP_WEB = 'arn:aws:elasticloadbalancing:us-east-2:123456789012:targetgroup/spotwise-web/0123456789abcdef';
export const TARGET_GROUP_API = 'arn:aws:elasticloadbalancing:us-east-2:123456789012:targetgroup/spotwise-api/fedcba9876543210';
/** The instance in AWS's published sample events. */
export const SAMPLE_INSTANCE_ID = 'i-1234567890abcdef0';
export const OTHER_INSTANCE_ID = 'i-0aaaabbbbccccdddd';

/** A sample event with some `detail` fields replaced (a value of `undefined` deletes the field) and envelope fields set. */
function mutated(name: SampleEventName, detail: Record<string, unknown>, envelope: Record<string, unknown>): EventBridgeEvent<string, unknown> {
  const event = sampleEvent(name);
  const merged: Record<string, unknown> = { ...(event.detail as Record<string, unknown>), ...detail };
  for (const [key, value] of Object.entries(merged)) if (value === undefined) delete merged[key];
  return { ...event, ...envelope, detail: merged };
}

/** The sample interruption warning with some `detail` fields replaced (a value of `undefined` deletes the field). */
export function interruptionWarning(detail: Record<string, unknown> = {}, envelope: Record<string, unknown> = {}): EventBridgeEvent<string, unknown> {
  return mutated('spot-interruption-warning', detail, envelope);
}

/** A warning about `instanceId`, sent at `time`. */
export function warningFor(instanceId: string, time = '2026-11-23T12:00:00Z'): EventBridgeEvent<string, unknown> {
  return interruptionWarning({ 'instance-id': instanceId }, { time, resources: [`arn:aws:ec2:us-east-2:123456789012:instance/${instanceId}`] });
}

/** The sample rebalance recommendation with some `detail` fields replaced (a value of `undefined` deletes the field). */
export function rebalanceRecommendation(detail: Record<string, unknown> = {}, envelope: Record<string, unknown> = {}): EventBridgeEvent<string, unknown> {
  return mutated('rebalance-recommendation', detail, envelope);
}

/** A rebalance recommendation for `instanceId`, sent at `time`. */
export function recommendationFor(instanceId: string, time = '2026-11-23T12:00:00Z'): EventBridgeEvent<string, unknown> {
  return rebalanceRecommendation({ 'instance-id': instanceId }, { time, resources: [`arn:aws:ec2:us-east-2:123456789012:instance/${instanceId}`] });
}

let messageCounter = 0;

/** An SQS record as Lambda's event source mapping delivers it, its body the event as EventBridge sends it to a queue. */
export function sqsRecord(body: unknown, { messageId, receiveCount = 1 }: { messageId?: string; receiveCount?: number } = {}): SQSRecord {
  messageCounter += 1;
  const id = messageId ?? `0000${messageCounter}-aaaa-bbbb-cccc-dddddddddddd`;
  return {
    messageId: id,
    receiptHandle: `AQEB${id}`,
    body: typeof body === 'string' ? body : JSON.stringify(body),
    attributes: {
      ApproximateReceiveCount: String(receiveCount),
      SentTimestamp: '1795435200000',
      SenderId: 'AIDAIENQZJOLO23YVJ4VO',
      ApproximateFirstReceiveTimestamp: '1795435200100',
    },
    messageAttributes: {},
    md5OfBody: '00000000000000000000000000000000',
    eventSource: 'aws:sqs',
    eventSourceARN: 'arn:aws:sqs:us-east-2:123456789012:spotwise-drainer-queue',
    awsRegion: 'us-east-2',
  };
}

/** A batch of records, one per body. */
export function sqsEvent(...bodies: unknown[]): SQSEvent {
  return { Records: bodies.map((body) => sqsRecord(body)) };
}

/** The drainer's context, a plain object so that `bench/drainer.ts` can serialise it into its child processes. */
export const fakeContext = contextFor('spotwise-spot-interruption-drainer');

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
  /** The IAM service prefix: `elasticloadbalancing`, or `sqs` for the drain report. */
  readonly service: string;
  /** The API operation, which for these calls is also the IAM action: `DescribeTargetHealth`, `DeregisterTargets`, `SendMessage`. */
  readonly command: string;
  readonly input: object;
}

/** The queue URL that `runScenario` gives the handler, and its ARN. */
export const NOTIFICATION_QUEUE_URL = 'https://sqs.us-east-2.amazonaws.com/123456789012/spotwise-notifications';
/** The drainer's own queue, to which `runScenario`'s handler sends recommendations back to wait. */
export const DRAINER_QUEUE_URL = 'https://sqs.us-east-2.amazonaws.com/123456789012/spotwise-drainer-queue';
/** The hold `runScenario` gives the handler, as the construct does by default. */
export const REBALANCE_HOLD_SECONDS = 300;

/**
 * In-memory target groups behind `mockClient(ElasticLoadBalancingV2Client)`. Deregistration moves a
 * registration to `draining`, as ELB does, so that a repeated event sees what the first one did. It is
 * stricter than ELB in two ways, so that mistakes fail a test rather than pass unnoticed: deregistering a
 * target that is not registered fails (ELB succeeds silently), and so does an `AvailabilityZone` on an
 * instance target (ELB rejects it for instance target groups).
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

  calls(): Omit<RecordedCall, 'service'>[] {
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
      if (target.AvailabilityZone !== undefined && target.Id?.startsWith('i-') === true) {
        throw elbError('ValidationError', 400, 'AvailabilityZone is not supported for instance targets');
      }
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
  /** Each batch is the message bodies of one invocation. */
  readonly batches: readonly (readonly unknown[])[];
  readonly describeFailures?: Record<string, Error>;
}

export interface ScenarioResult {
  readonly name: string;
  readonly calls: RecordedCall[];
  /** What each batch reported as failed. */
  readonly failures: readonly string[][];
}

/**
 * Runs the handler on each of the scenario's batches against a fake ELB configured with the scenario's
 * target groups, and returns the ELB calls it made. Handler output is suppressed unless `quiet` is false.
 */
export async function runScenario(scenario: Scenario, { quiet = true } = {}): Promise<ScenarioResult> {
  const elb = new FakeElb(scenario.targetGroups);
  for (const [arn, error] of Object.entries(scenario.describeFailures ?? {})) elb.failDescribe(arn, error);
  const sqs = mockClient(SQSClient);
  sqs.on(SendMessageCommand).resolves({ MessageId: 'report' });
  sqs.on(SendMessageBatchCommand).callsFake((input: SendMessageBatchCommandInput) => ({
    Successful: (input.Entries ?? []).map((entry) => ({ Id: entry.Id, MessageId: `waiting-${entry.Id}`, MD5OfMessageBody: '' })),
    Failed: [],
  }));
  const previous = Object.fromEntries(['NOTIFICATION_QUEUE_URL', 'REBALANCE_QUEUE_URL', 'REBALANCE_HOLD_SECONDS'].map((key) => [key, process.env[key]]));
  process.env.NOTIFICATION_QUEUE_URL = NOTIFICATION_QUEUE_URL;
  process.env.REBALANCE_QUEUE_URL = DRAINER_QUEUE_URL;
  process.env.REBALANCE_HOLD_SECONDS = String(REBALANCE_HOLD_SECONDS);
  const restoreOutput = quiet ? silenceOutput() : () => undefined;
  try {
    const failures: string[][] = [];
    await withTargetGroups(Object.keys(scenario.targetGroups), async () => {
      for (const bodies of scenario.batches) {
        // Outcomes, not timing: the pace has its own tests.
        const { batchItemFailures } = await handle(sqsEvent(...bodies), fakeContext, { describe: 0, deregister: 0 });
        failures.push(batchItemFailures.map((failure) => failure.itemIdentifier));
      }
    });
    const reports = sqs.calls().map((call) => {
      const command = call.args[0];
      return { service: 'sqs', command: command.constructor.name.replace(/Command$/, ''), input: command.input };
    });
    const elbCalls = elb.calls().map((call) => ({ service: 'elasticloadbalancing', ...call }));
    return { name: scenario.name, calls: [...elbCalls, ...reports], failures };
  } finally {
    restoreOutput();
    elb.restore();
    sqs.restore();
    for (const [key, value] of Object.entries(previous)) {
      if (value === undefined) delete process.env[key];
      else process.env[key] = value;
    }
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
      batches: [[interruptionWarning({ 'instance-action': 'terminate' })]],
    },
    {
      name: 'one target group, foreign instance',
      targetGroups: { [first]: [registration(other, 80)] },
      batches: [[interruptionWarning({ 'instance-action': 'stop' })]],
    },
    {
      name: 'two target groups, a batch of ours, foreign, malformed and duplicates',
      targetGroups: { [first]: [registration(me, 80), registration(other, 80)], [second]: [registration(me, 8080), registration(other, 8080)] },
      batches: [
        [
          interruptionWarning({ 'instance-action': 'hibernate' }),
          warningFor(other),
          warningFor('i-0fedcba9876543210'),
          interruptionWarning(),
          rebalanceRecommendation(),
          'not json',
        ],
      ],
    },
    {
      name: 'two target groups, foreign instance',
      targetGroups: { [first]: [registration(other, 80)], [second]: [registration(other, 8080)] },
      batches: [[interruptionWarning()]],
    },
    {
      // The recommendation waits (sent back to the drainer's queue) until a replacement serves; the warning drains at once.
      name: 'two target groups, a rebalance recommendation, then the warning in a later batch',
      targetGroups: { [first]: [registration(me, 80), registration(other, 80)], [second]: [registration(me, 8080)] },
      batches: [[rebalanceRecommendation()], [interruptionWarning()]],
    },
    {
      // Sent now, so its hold has not run out: it waits, sent back to the drainer's queue.
      name: 'two target groups, a fresh recommendation for every instance, waiting for replacements',
      targetGroups: { [first]: [registration(me, 80), registration(other, 80)], [second]: [registration(me, 8080), registration(other, 8080)] },
      batches: [[recommendationFor(me, new Date().toISOString()), recommendationFor(other, new Date().toISOString())]],
    },
    {
      name: 'two target groups, duplicate delivery in a later batch',
      targetGroups: { [first]: [registration(me, 80)], [second]: [registration(me, 8080)] },
      batches: [[interruptionWarning()], [interruptionWarning()]],
    },
    {
      name: 'two target groups, access denied on the second',
      targetGroups: { [first]: [registration(me, 80)], [second]: [registration(me, 8080)] },
      batches: [[interruptionWarning()]],
      describeFailures: { [second]: elbError('AccessDenied', 403, 'User is not authorized to perform: elasticloadbalancing:DescribeTargetHealth') },
    },
    {
      name: 'malformed and foreign-account events',
      targetGroups: { [first]: [registration(me, 80)], [second]: [registration(me, 8080)] },
      batches: [
        [
          rebalanceRecommendation({ 'instance-id': 'i-123' }),
          interruptionWarning({}, { account: '210987654321' }),
          rebalanceRecommendation({}, { region: 'eu-west-1' }),
          interruptionWarning({ 'instance-action': 'reboot' }),
        ],
      ],
    },
  ];
}

/**
 * Every AWS call the handler makes across the representative scenarios, for comparison with the IAM
 * grants: `command` is the operation name, which for these calls is the IAM action name.
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
