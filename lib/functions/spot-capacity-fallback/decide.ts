/** What to do about the service, given what it is doing now: pure, so that every case is easy to test. */
import type { StrategyItem } from './contract';
import { ON_DEMAND_STRATEGY, sameStrategy } from './contract';

/** A deployment as DescribeServices reports it, reduced to what the decision reads. */
export interface DeploymentView {
  readonly id: string;
  /** `PRIMARY` for the newest, `ACTIVE` for older ones still running tasks. */
  readonly status: string;
  /** `IN_PROGRESS`, `COMPLETED` or `FAILED`; ECS sets it on services with the deployment circuit breaker. */
  readonly rolloutState?: string;
  readonly createdAt: Date;
}

/** The service as DescribeServices and ListTagsForResource report it, reduced to what the decision reads. */
export interface ServiceView {
  readonly serviceArn: string;
  readonly status: string;
  readonly strategy: readonly StrategyItem[];
  readonly deployments: readonly DeploymentView[];
  /** The value of FALLBACK_TAG_KEY: the deployment the function started last. */
  readonly lastFallbackDeployment?: string;
}

export type Decision =
  | { readonly action: 'shift'; readonly to: 'on-demand' | 'declared'; readonly strategy: readonly StrategyItem[] }
  /** A shift is due, but a deployment someone else started is in progress. */
  | { readonly action: 'defer'; readonly why: string }
  | { readonly action: 'none'; readonly why: string };

export interface DecisionInput {
  readonly trigger: 'spot-shortage' | 'schedule';
  readonly service: ServiceView;
  readonly declared: readonly StrategyItem[];
  readonly coolOffMs: number;
  readonly now: Date;
}

export function isOnDemandOnly(strategy: readonly StrategyItem[]): boolean {
  return sameStrategy(strategy, ON_DEMAND_STRATEGY);
}

/**
 * On a Fargate Spot shortage: FARGATE alone, unless the service is there already, runs a strategy nobody
 * declared (someone chose it; it stays), or is rolling out a deployment the function did not start (a deploy:
 * it sets the declared strategy itself, and a second deployment would fight it).
 * On the schedule: the declared strategy again once the function's own FARGATE deployment has settled and is
 * `coolOffMs` old; never when someone else put the service on FARGATE.
 */
export function decide({ trigger, service, declared, coolOffMs, now }: DecisionInput): Decision {
  if (service.status !== 'ACTIVE') return { action: 'none', why: `the service is ${service.status}` };
  const primary = service.deployments.find((d) => d.status === 'PRIMARY');
  if (primary === undefined) return { action: 'none', why: 'the service reports no PRIMARY deployment' };
  const ours = service.lastFallbackDeployment !== undefined && service.lastFallbackDeployment === primary.id;
  const rollingOut = primary.rolloutState === 'IN_PROGRESS' || service.deployments.length > 1;
  const onDemand = isOnDemandOnly(service.strategy);

  if (trigger === 'spot-shortage') {
    if (onDemand) return { action: 'none', why: 'the service already runs on FARGATE alone' };
    if (rollingOut && !ours) return { action: 'defer', why: `deployment ${primary.id}, which the fallback did not start, is rolling out` };
    if (!sameStrategy(service.strategy, declared)) {
      return { action: 'none', why: `the service runs ${JSON.stringify(service.strategy)}, neither the declared strategy nor the fallback's: someone chose it` };
    }
    return { action: 'shift', to: 'on-demand', strategy: ON_DEMAND_STRATEGY };
  }

  if (!onDemand) return { action: 'none', why: 'the service runs its declared strategy' };
  if (!ours) return { action: 'none', why: `the service is on FARGATE alone through deployment ${primary.id}, which the fallback did not start: it stays` };
  if (rollingOut) return { action: 'none', why: `the fallback's deployment ${primary.id} to FARGATE is still rolling out` };
  const waitedMs = now.getTime() - primary.createdAt.getTime();
  if (waitedMs < coolOffMs) return { action: 'none', why: `cooling off: ${Math.ceil((coolOffMs - waitedMs) / 60_000)} min until Fargate Spot is tried again` };
  return { action: 'shift', to: 'declared', strategy: declared };
}
