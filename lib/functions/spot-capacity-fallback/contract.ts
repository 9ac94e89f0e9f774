/**
 * The Spot capacity fallback's contract with its construct: its name, settings, the tag it marks its own
 * deployments with, the strategies it moves between, and its metrics. Imports neither CDK nor the SDK.
 */

/** The function's name in its folder, in the `SpotCapacityFallback` construct and as its Powertools service name. */
export const FALLBACK_SERVICE_NAME = 'spot-capacity-fallback';

/** The EventBridge detail type of ECS's service action events, and the one of them the function acts on. */
export const SERVICE_ACTION = 'ECS Service Action';
export const PLACEMENT_FAILURE = 'SERVICE_TASK_PLACEMENT_FAILURE';

/** Environment variables the construct sets on the function. */
export const FallbackEnv = {
  /** The one ECS service the function may change, by ARN (`arn:<partition>:ecs:<region>:<account>:service/<cluster>/<name>`). */
  serviceArn: 'SERVICE_ARN',
  /** The cluster of that service, by ARN. */
  clusterArn: 'CLUSTER_ARN',
  /** The capacity provider strategy the stack declares, as JSON: what the function returns the service to. */
  declaredStrategy: 'DECLARED_STRATEGY',
  /** Whole minutes the service stays on FARGATE after a shift before the function tries the declared strategy again. */
  coolOffMinutes: 'COOL_OFF_MINUTES',
  /** The SNS topic people are told on each shift. */
  topicArn: 'TOPIC_ARN',
  /** Named in every message. */
  stackName: 'STACK_NAME',
} as const;

/**
 * The service tag in which the function records the id of the deployment it started last. A deployment in
 * progress whose id is not there was started by someone else (a CloudFormation deploy, a person), and the
 * function stands aside; a FARGATE-only strategy that is not there was chosen by someone else, and it stays.
 */
export const FALLBACK_TAG_KEY = 'spotwise:capacity-fallback-deployment';

/** One entry of a capacity provider strategy, as ECS's API spells it. */
export interface StrategyItem {
  readonly capacityProvider: string;
  readonly weight?: number;
  readonly base?: number;
}

/** Where the function moves a service whose Fargate Spot share cannot be placed: every task on FARGATE. */
export const ON_DEMAND_STRATEGY: readonly StrategyItem[] = [{ capacityProvider: 'FARGATE', weight: 1 }];

/** The function's metrics, in its namespace with the `service` and `Stack` dimensions. */
export const FallbackMetric = {
  /** 1 each time the function moves the service onto FARGATE alone. */
  ShiftsToOnDemand: 'ShiftsToOnDemand',
  /** 1 each time the function moves the service back to the declared strategy after the cool-off. */
  ShiftsToDeclared: 'ShiftsToDeclared',
  /**
   * Each invocation that read the service: 1 when it runs on the fallback's FARGATE-only strategy, else 0. The
   * schedule reads it every few minutes, so its maximum per period shows how long the fallback lasted.
   */
  OnFallback: 'OnFallback',
  /** A shift that was due but waited, because a deployment someone else started was in progress. */
  ShiftsDeferred: 'ShiftsDeferred',
  /** Events for another account, Region, cluster or service, or not about Fargate Spot capacity: no action. */
  EventsIgnored: 'EventsIgnored',
  /** Events that are not the shape ECS or EventBridge document: logged, no action. */
  MalformedEvents: 'MalformedEvents',
} as const;
export type FallbackMetric = (typeof FallbackMetric)[keyof typeof FallbackMetric];

/** Parses the declared strategy as the construct writes it; undefined when it is not a strategy. */
export function parseStrategy(text: string): StrategyItem[] | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (!Array.isArray(value) || value.length === 0) return undefined;
  const items: StrategyItem[] = [];
  for (const item of value as unknown[]) {
    if (typeof item !== 'object' || item === null) return undefined;
    const { capacityProvider, weight, base } = item as Record<string, unknown>;
    if (typeof capacityProvider !== 'string' || capacityProvider === '') return undefined;
    if (weight !== undefined && (typeof weight !== 'number' || !Number.isInteger(weight) || weight < 0)) return undefined;
    if (base !== undefined && (typeof base !== 'number' || !Number.isInteger(base) || base < 0)) return undefined;
    items.push({ capacityProvider, ...(weight !== undefined && { weight }), ...(base !== undefined && { base }) });
  }
  return items;
}

/**
 * Whether two strategies place tasks alike: the same providers with the same weights and bases, in any order.
 * A missing weight or base is ECS's API default, 0.
 */
export function sameStrategy(a: readonly StrategyItem[], b: readonly StrategyItem[]): boolean {
  const key = (items: readonly StrategyItem[]): string =>
    items
      .map((i) => `${i.capacityProvider}:${i.weight ?? 0}:${i.base ?? 0}`)
      .sort()
      .join(',');
  return key(a) === key(b);
}
