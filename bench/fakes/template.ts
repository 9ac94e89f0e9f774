import { addSpotwiseStacks } from '../../lib/spotwise-app';
import { newApp } from '../../test/support/app';
import type { EventSourceMappingConfig } from './lambda';

/**
 * What the simulation takes from the synthesized SpotFleetWebApp template, as it is deployed: the two
 * functions' inline code, settings and environment, the event source mapping, the queues, the schedule and
 * the rule. Nothing here is restated by hand; a template this reader does not understand fails loudly.
 */

export const STACK_NAME = 'SpotFleetWebApp';

type Resources = Record<string, { Type: string; Properties?: Record<string, unknown> }>;

export interface FunctionSpec {
  readonly logicalId: string;
  readonly code: string;
  /** Unresolved: values may be CloudFormation intrinsics; see {@link resolve}. */
  readonly environment: Readonly<Record<string, unknown>>;
  readonly timeoutSeconds: number;
  readonly memoryMiB: number;
  readonly reservedConcurrency?: number;
}

export interface QueueSpec {
  readonly logicalId: string;
  readonly visibilityTimeoutSeconds: number;
  readonly redrive?: { readonly deadLetterQueue: string; readonly maxReceiveCount: number };
}

export interface TargetGroupSpec {
  readonly logicalId: string;
  readonly port: number;
  readonly deregistrationDelaySeconds: number;
}

export interface Deployment {
  readonly drainer: FunctionSpec;
  readonly notifier: FunctionSpec;
  /** The notifier's schedule, from its rule's `rate(...)` expression. */
  readonly notifierRateMs: number;
  readonly notifierSchedule: string;
  readonly mapping: EventSourceMappingConfig;
  /** The queue the mapping reads, which the warning rule feeds. */
  readonly warningQueue: QueueSpec;
  /** Every queue of the template, by logical id. */
  readonly queues: ReadonlyMap<string, QueueSpec>;
  readonly targetGroups: readonly TargetGroupSpec[];
  readonly topics: readonly string[];
  /** The warning rule's targets that are queues (EventBridge's SendMessage); any other kind is refused. */
  readonly warningRuleQueues: readonly string[];
}

/** Synthesizes the stack in-process, as `cdk synth` would, and reads it. */
export function synthesizeDeployment(): Deployment {
  const app = newApp();
  addSpotwiseStacks(app);
  const template = app.synth().getStackByName(STACK_NAME).template as { Resources: Resources };
  return readDeployment(template.Resources);
}

export function readDeployment(resources: Resources): Deployment {
  const ofType = (type: string): [string, Record<string, unknown>][] =>
    Object.entries(resources)
      .filter(([, r]) => r.Type === type)
      .map(([id, r]) => [id, r.Properties ?? {}]);
  const one = <T>(what: string, found: readonly T[]): T => {
    if (found.length !== 1 || found[0] === undefined) throw new Error(`Expected exactly one ${what} in ${STACK_NAME}; found ${found.length}.`);
    return found[0];
  };
  const variables = (p: Record<string, unknown>): Record<string, unknown> =>
    ((p.Environment as { Variables?: Record<string, unknown> } | undefined)?.Variables ?? {});
  const functionSpec = ([logicalId, p]: [string, Record<string, unknown>]): FunctionSpec => {
    const code = (p.Code as { ZipFile?: unknown } | undefined)?.ZipFile;
    if (typeof code !== 'string') throw new Error(`${logicalId} has no inline ZipFile code.`);
    return {
      logicalId,
      code,
      environment: variables(p),
      timeoutSeconds: Number(p.Timeout ?? 3),
      memoryMiB: Number(p.MemorySize ?? 128),
      ...(p.ReservedConcurrentExecutions !== undefined && { reservedConcurrency: Number(p.ReservedConcurrentExecutions) }),
    };
  };

  const functions = ofType('AWS::Lambda::Function');
  const drainer = functionSpec(one('function with TARGET_GROUP_ARNS', functions.filter(([, p]) => 'TARGET_GROUP_ARNS' in variables(p))));
  const notifier = functionSpec(
    one(
      'function with NOTIFICATION_QUEUE_URL and TOPIC_ARN but no TARGET_GROUP_ARNS',
      functions.filter(([, p]) => {
        const env = variables(p);
        return 'NOTIFICATION_QUEUE_URL' in env && 'TOPIC_ARN' in env && !('TARGET_GROUP_ARNS' in env);
      }),
    ),
  );

  const queues = new Map<string, QueueSpec>(
    ofType('AWS::SQS::Queue').map(([logicalId, p]) => {
      const redrive = p.RedrivePolicy as { deadLetterTargetArn?: unknown; maxReceiveCount?: unknown } | undefined;
      return [
        logicalId,
        {
          logicalId,
          // SQS's default visibility timeout is 30 s.
          visibilityTimeoutSeconds: Number(p.VisibilityTimeout ?? 30),
          ...(redrive !== undefined && {
            redrive: { deadLetterQueue: getAttTarget(redrive.deadLetterTargetArn, 'Arn'), maxReceiveCount: Number(redrive.maxReceiveCount) },
          }),
        },
      ];
    }),
  );

  const [, esm] = one(
    `event source mapping of ${drainer.logicalId}`,
    ofType('AWS::Lambda::EventSourceMapping').filter(([, p]) => refTarget(p.FunctionName) === drainer.logicalId),
  );
  const warningQueue = queues.get(getAttTarget(esm.EventSourceArn, 'Arn'));
  if (warningQueue === undefined) throw new Error('The event source mapping does not read a queue of the template.');
  const scaling = esm.ScalingConfig as { MaximumConcurrency?: unknown } | undefined;
  const caps = [scaling?.MaximumConcurrency, drainer.reservedConcurrency].filter((v) => v !== undefined).map(Number);
  const mapping: EventSourceMappingConfig = {
    // Lambda's defaults for SQS: 10 messages, no batching window.
    batchSize: Number(esm.BatchSize ?? 10),
    maximumBatchingWindowSeconds: Number(esm.MaximumBatchingWindowInSeconds ?? 0),
    reportBatchItemFailures: ((esm.FunctionResponseTypes ?? []) as unknown[]).includes('ReportBatchItemFailures'),
    ...(caps.length > 0 && { maximumConcurrency: Math.min(...caps) }),
  };
  if (esm.FilterCriteria !== undefined) throw new Error('The event source mapping has FilterCriteria, which this simulation does not apply.');

  const rules = ofType('AWS::Events::Rule');
  const targetsOf = (p: Record<string, unknown>): Record<string, unknown>[] => (p.Targets ?? []) as Record<string, unknown>[];
  const [, schedule] = one(
    `schedule rule targeting ${notifier.logicalId}`,
    rules.filter(([, p]) => p.ScheduleExpression !== undefined && targetsOf(p).some((t) => getAttTarget(t.Arn, 'Arn', false) === notifier.logicalId)),
  );
  const notifierSchedule = String(schedule.ScheduleExpression);

  const [warningRuleId, warningRule] = one(
    'rule for Spot interruption warnings',
    rules.filter(([, p]) => JSON.stringify(p.EventPattern ?? {}).includes('EC2 Spot Instance Interruption Warning')),
  );
  const warningRuleQueues = targetsOf(warningRule).map((target) => {
    const queue = getAttTarget(target.Arn, 'Arn', false);
    if (queue === undefined || !queues.has(queue)) throw new Error(`${warningRuleId} has a target that is not a queue of the template: ${JSON.stringify(target.Arn)}.`);
    if (target.Input !== undefined || target.InputPath !== undefined || target.InputTransformer !== undefined) {
      throw new Error(`${warningRuleId} transforms the event for ${queue}, which this simulation does not model.`);
    }
    return queue;
  });
  if (!warningRuleQueues.includes(warningQueue.logicalId)) throw new Error(`${warningRuleId} does not feed the drainer's queue.`);

  const targetGroups = ofType('AWS::ElasticLoadBalancingV2::TargetGroup').map(([logicalId, p]): TargetGroupSpec => {
    const attributes = (p.TargetGroupAttributes ?? []) as { Key: string; Value: string }[];
    const delay = attributes.find((a) => a.Key === 'deregistration_delay.timeout_seconds')?.Value;
    // ELB's default deregistration delay is 300 s.
    return { logicalId, port: Number(p.Port), deregistrationDelaySeconds: Number(delay ?? 300) };
  });

  return {
    drainer,
    notifier,
    notifierRateMs: rateMs(notifierSchedule),
    notifierSchedule,
    mapping,
    warningQueue,
    queues,
    targetGroups,
    topics: ofType('AWS::SNS::Topic').map(([id]) => id),
    warningRuleQueues,
  };
}

/** `rate(1 minute)`, `rate(5 minutes)`, `rate(1 hour)`, `rate(2 days)`; cron expressions are refused. */
export function rateMs(expression: string): number {
  const match = /^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$/.exec(expression);
  if (match === null) throw new Error(`Schedule ${expression} is not a rate expression this simulation understands.`);
  const unit = { minute: 60_000, hour: 3_600_000, day: 86_400_000 }[(match[2] as string).replace(/s$/, '') as 'minute' | 'hour' | 'day'];
  return Number(match[1]) * unit;
}

/** What a Ref or Fn::GetAtt resolves to, per logical id: `ref` for Ref, `attributes` for GetAtt. */
export type PhysicalResources = ReadonlyMap<string, { readonly ref: string; readonly attributes?: Readonly<Record<string, string>> }>;

/** Resolves the intrinsics in these templates' values: Ref, Fn::GetAtt, Fn::Join, Fn::Sub (without a variable map) and the pseudo parameters. */
export function resolve(value: unknown, physical: PhysicalResources, pseudo: Readonly<Record<string, string>>): string {
  if (typeof value === 'string' || typeof value === 'number') return String(value);
  const intrinsic = value as Record<string, unknown>;
  if (typeof intrinsic.Ref === 'string') {
    const found = pseudo[intrinsic.Ref] ?? physical.get(intrinsic.Ref)?.ref;
    if (found === undefined) throw new Error(`No physical value for Ref ${intrinsic.Ref}.`);
    return found;
  }
  if (Array.isArray(intrinsic['Fn::GetAtt'])) {
    const [id, attribute] = intrinsic['Fn::GetAtt'] as [string, string];
    const found = physical.get(id)?.attributes?.[attribute];
    if (found === undefined) throw new Error(`No physical value for Fn::GetAtt ${id}.${attribute}.`);
    return found;
  }
  if (Array.isArray(intrinsic['Fn::Join'])) {
    const [separator, parts] = intrinsic['Fn::Join'] as [string, unknown[]];
    return parts.map((part) => resolve(part, physical, pseudo)).join(separator);
  }
  if (typeof intrinsic['Fn::Sub'] === 'string') {
    return intrinsic['Fn::Sub'].replace(/\$\{([^}]*)\}/g, (_, name: string) => {
      if (name.startsWith('!')) return `\${${name.slice(1)}}`;
      const dot = name.indexOf('.');
      return resolve(dot > 0 && !name.startsWith('AWS::') ? { 'Fn::GetAtt': [name.slice(0, dot), name.slice(dot + 1)] } : { Ref: name }, physical, pseudo);
    });
  }
  throw new Error(`Cannot resolve ${JSON.stringify(value)}.`);
}

function refTarget(value: unknown): string | undefined {
  const ref = (value as { Ref?: unknown } | undefined)?.Ref;
  return typeof ref === 'string' ? ref : undefined;
}

function getAttTarget(value: unknown, attribute: string, required?: true): string;
function getAttTarget(value: unknown, attribute: string, required: false): string | undefined;
function getAttTarget(value: unknown, attribute: string, required = true): string | undefined {
  const getAtt = (value as { 'Fn::GetAtt'?: unknown } | undefined)?.['Fn::GetAtt'];
  if (Array.isArray(getAtt) && getAtt[1] === attribute && typeof getAtt[0] === 'string') return getAtt[0];
  if (required) throw new Error(`Expected Fn::GetAtt [<logical id>, ${attribute}]; got ${JSON.stringify(value)}.`);
  return undefined;
}
