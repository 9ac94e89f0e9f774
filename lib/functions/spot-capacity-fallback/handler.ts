import { MetricUnit } from '@aws-lambda-powertools/metrics';
import type * as EcsSdk from '@aws-sdk/client-ecs';
import type { Service } from '@aws-sdk/client-ecs';
import type * as SnsSdk from '@aws-sdk/client-sns';
import type { Context } from 'aws-lambda';
import { ConfigurationError } from '../common/configuration-error';
import { logger, metrics } from '../common/observability';
import { boundedClientConfig } from '../common/sdk-config';
import type { StrategyItem } from './contract';
import { FALLBACK_TAG_KEY, FallbackEnv, FallbackMetric, parseStrategy } from './contract';
import type { Decision, ServiceView } from './decide';
import { decide, isOnDemandOnly } from './decide';
import type { Scope } from './event';
import { classify, parseScope } from './event';

/**
 * Five attempts of at most 5 s each, with standard jittered back-off: a throttled or failed UpdateService is
 * retried within the invocation, then the invocation fails, Lambda retries it twice more, and the
 * FunctionErrors alarm tells people.
 */
const CLIENT_CONFIG = boundedClientConfig(5, 5_000);

// eslint-disable-next-line @typescript-eslint/no-require-imports -- the runtime's SDK, loaded as the bundle's externals are
const ecsSdk = require('@aws-sdk/client-ecs') as typeof EcsSdk;
// eslint-disable-next-line @typescript-eslint/no-require-imports -- as above
const snsSdk = require('@aws-sdk/client-sns') as typeof SnsSdk;
const ecs = new ecsSdk.ECSClient(CLIENT_CONFIG);
const sns = new snsSdk.SNSClient(CLIENT_CONFIG);
/** The function's clients, for tests to read their retry settings. */
export const clients = { ecs, sns } as const;

interface Config {
  readonly scope: Scope;
  readonly declared: readonly StrategyItem[];
  readonly coolOffMs: number;
  readonly topicArn: string;
  readonly stackName: string;
}

export interface FallbackResult {
  /** What the invocation was: a Spot shortage, the schedule, an ignored or a malformed event. */
  readonly invocation: string;
  readonly action: Decision['action'] | 'ignored' | 'malformed';
  readonly why?: string;
}

/** One service's failed shift: the update happened or not, and what went wrong after. */
export class ShiftError extends Error {
  override readonly name = 'ShiftError';
}

let config: Config | undefined;

/**
 * Moves the service onto FARGATE alone when ECS reports that its Fargate Spot tasks cannot be placed for lack
 * of capacity, and back to the declared strategy on the schedule once the cool-off is over. Acts only on the
 * one service in its settings; reads the state from the service itself (DescribeServices and its tag), so
 * it keeps nothing between invocations.
 */
export const handler = async (event: unknown, context: Context): Promise<FallbackResult> => {
  logger.addContext(context);
  const cfg = (config ??= loadConfig(process.env));
  try {
    const invocation = classify(event, cfg.scope);
    if (invocation.kind === 'malformed') {
      logger.warn('Malformed event: no action', { problem: invocation.problem, event: JSON.stringify(event).slice(0, 2_000) });
      metrics.addMetric(FallbackMetric.MalformedEvents, MetricUnit.Count, 1);
      return { invocation: 'malformed', action: 'malformed', why: invocation.problem };
    }
    if (invocation.kind === 'ignored') {
      logger.info('Event ignored: no action', { why: invocation.why });
      metrics.addMetric(FallbackMetric.EventsIgnored, MetricUnit.Count, 1);
      return { invocation: 'ignored', action: 'ignored', why: invocation.why };
    }

    const service = await describeService(cfg.scope);
    const decision = decide({ trigger: invocation.kind, service, declared: cfg.declared, coolOffMs: cfg.coolOffMs, now: new Date() });
    logger.info('Decided', { invocation: invocation.kind, ...(invocation.kind === 'spot-shortage' && { reason: invocation.reason }), decision });
    let onFallback = isOnDemandOnly(service.strategy);
    if (decision.action === 'defer') metrics.addMetric(FallbackMetric.ShiftsDeferred, MetricUnit.Count, 1);
    if (decision.action === 'shift') {
      await shift(cfg, decision, invocation.kind === 'spot-shortage' ? invocation.reason : undefined);
      onFallback = decision.to === 'on-demand';
    }
    metrics.addMetric(FallbackMetric.OnFallback, MetricUnit.Count, onFallback ? 1 : 0);
    return { invocation: invocation.kind, action: decision.action, ...(decision.action !== 'shift' && { why: decision.why }) };
  } finally {
    metrics.publishStoredMetrics();
  }
};

function loadConfig(env: NodeJS.ProcessEnv): Config {
  const required = (key: string): string => {
    const value = env[key]?.trim();
    if (value === undefined || value === '') throw new ConfigurationError(`${key} is not set (the SpotCapacityFallback construct sets it).`);
    return value;
  };
  const scope = parseScope(required(FallbackEnv.serviceArn), required(FallbackEnv.clusterArn));
  if (scope === undefined) {
    throw new ConfigurationError(`${FallbackEnv.serviceArn} and ${FallbackEnv.clusterArn} must be the ARNs of a service and its cluster, in the new ARN format.`);
  }
  const declared = parseStrategy(required(FallbackEnv.declaredStrategy));
  if (declared === undefined) throw new ConfigurationError(`${FallbackEnv.declaredStrategy} is not a capacity provider strategy as JSON.`);
  const coolOffMinutes = Number(required(FallbackEnv.coolOffMinutes));
  if (!Number.isInteger(coolOffMinutes) || coolOffMinutes < 1) throw new ConfigurationError(`${FallbackEnv.coolOffMinutes} must be a whole number of minutes, at least 1.`);
  logger.appendPersistentKeys({ ecsService: scope.serviceArn });
  return { scope, declared, coolOffMs: coolOffMinutes * 60_000, topicArn: required(FallbackEnv.topicArn), stackName: env[FallbackEnv.stackName] ?? 'Spotwise' };
}

async function describeService(scope: Scope): Promise<ServiceView> {
  const [described, tagged] = await Promise.all([
    ecs.send(new ecsSdk.DescribeServicesCommand({ cluster: scope.clusterArn, services: [scope.serviceArn] })),
    ecs.send(new ecsSdk.ListTagsForResourceCommand({ resourceArn: scope.serviceArn })),
  ]);
  const service = (described.services ?? []).find((s) => s.serviceArn === scope.serviceArn);
  if (service === undefined) throw new ShiftError(`DescribeServices did not describe ${scope.serviceArn}: ${JSON.stringify(described.failures ?? [])}`);
  return toView(service, tagged.tags?.find((t) => t.key === FALLBACK_TAG_KEY)?.value);
}

function toView(service: Service, lastFallbackDeployment: string | undefined): ServiceView {
  const strategy = (service.capacityProviderStrategy ?? []).map((s) => ({ capacityProvider: s.capacityProvider ?? '', weight: s.weight, base: s.base }));
  const deployments = (service.deployments ?? []).map((d) => ({
    id: d.id ?? '',
    status: d.status ?? '',
    rolloutState: d.rolloutState,
    createdAt: d.createdAt ?? new Date(0),
  }));
  return { serviceArn: service.serviceArn ?? '', status: service.status ?? '', strategy, deployments, lastFallbackDeployment };
}

/**
 * UpdateService with the new strategy and a new deployment (ECS requires one to change a service's strategy),
 * leaving the desired count alone; then the tag that marks the deployment as the fallback's, and the message.
 * A failed update fails the invocation with nothing changed. A failed tag or message after it fails the
 * invocation too, after trying both, so that the alarm says the service may be left where it went.
 */
async function shift(cfg: Config, decision: Extract<Decision, { action: 'shift' }>, reason: string | undefined): Promise<void> {
  const { scope } = cfg;
  const updated = await ecs.send(
    new ecsSdk.UpdateServiceCommand({
      cluster: scope.clusterArn,
      service: scope.serviceArn,
      capacityProviderStrategy: decision.strategy.map((s) => ({ ...s })),
      forceNewDeployment: true,
    }),
  );
  const deployment = updated.service?.deployments?.find((d) => d.status === 'PRIMARY')?.id;
  metrics.addMetric(decision.to === 'on-demand' ? FallbackMetric.ShiftsToOnDemand : FallbackMetric.ShiftsToDeclared, MetricUnit.Count, 1);
  logger.info('Shifted the service', { to: decision.to, strategy: decision.strategy, deployment });

  const problems: string[] = [];
  if (deployment === undefined) {
    problems.push('UpdateService returned no PRIMARY deployment, so the fallback could not mark it as its own');
  } else {
    try {
      await ecs.send(new ecsSdk.TagResourceCommand({ resourceArn: scope.serviceArn, tags: [{ key: FALLBACK_TAG_KEY, value: deployment }] }));
    } catch (error) {
      problems.push(`tagging the service failed: ${String(error)}`);
    }
  }
  try {
    const { subject, message } = composeMessage(cfg, decision, reason, deployment);
    await sns.send(new snsSdk.PublishCommand({ TopicArn: cfg.topicArn, Subject: subject, Message: message }));
  } catch (error) {
    problems.push(`telling people failed: ${String(error)}`);
  }
  if (problems.length > 0) {
    throw new ShiftError(`The service was moved to ${decision.to === 'on-demand' ? 'FARGATE alone' : 'its declared strategy'}, but ${problems.join('; ')}.`);
  }
}

export function composeMessage(
  cfg: Pick<Config, 'stackName' | 'coolOffMs' | 'scope'>,
  decision: Extract<Decision, { action: 'shift' }>,
  reason: string | undefined,
  deployment: string | undefined,
): { subject: string; message: string } {
  const service = cfg.scope.serviceArn.split('/').slice(1).join('/');
  const minutes = Math.round(cfg.coolOffMs / 60_000);
  if (decision.to === 'on-demand') {
    return {
      subject: `${cfg.stackName}: Fargate Spot has no capacity; all tasks move to on-demand Fargate`.slice(0, 100),
      message: [
        `ECS could not place the Fargate Spot tasks of ${service} (${reason ?? 'no capacity'}).`,
        `Spotwise moved the service to FARGATE alone, keeping its desired count, in deployment ${deployment ?? '(unknown)'}.`,
        'On-demand tasks cost more than Spot tasks until the service moves back.',
        `In ${minutes} minutes it tries the declared strategy (half on Fargate Spot) again; if Spot still has no capacity, it moves back to FARGATE.`,
        'A deploy of the stack sets the declared strategy itself. To turn the fallback off, deploy with the capacityFallback setting false.',
      ].join('\n'),
    };
  }
  return {
    subject: `${cfg.stackName}: trying Fargate Spot again`.slice(0, 100),
    message: [
      `${service} has run on FARGATE alone for ${minutes} minutes or more.`,
      `Spotwise moved it back to its declared strategy, half on Fargate Spot, in deployment ${deployment ?? '(unknown)'}.`,
      'If Fargate Spot still has no capacity, ECS reports the placement failures and the service moves to FARGATE again, with another message.',
    ].join('\n'),
  };
}
