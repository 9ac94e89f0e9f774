import { Duration, Token } from 'aws-cdk-lib/core';
import type { IConstruct } from 'constructs';
import { requireWholeNumber, SettingError } from './validation';

/**
 * The Spot timing rules that the load balancer, the Fargate service and the drainer share: how long a Spot
 * workload has between the interruption warning and the stop, and what has to fit in that time.
 */

/** How long EC2 and Fargate give a Spot workload between the interruption warning and the stop. */
export const SPOT_INTERRUPTION_NOTICE = Duration.minutes(2);

/**
 * What the notice loses before draining can start: EventBridge delivery and a Lambda cold start on EC2,
 * the ECS reaction on Fargate. A guess with margin; AWS documents no delivery latency.
 */
export const INTERRUPTION_REACTION_BUDGET = Duration.seconds(20);

/** The longest deregistration delay that still finishes inside the Spot notice. */
export const MAX_SPOT_DEREGISTRATION_DELAY = Duration.seconds(
  SPOT_INTERRUPTION_NOTICE.toSeconds() - INTERRUPTION_REACTION_BUDGET.toSeconds(),
);

/**
 * Throws a {@link SettingError} naming `scope` unless `delay`, the `deregistrationDelay` prop of `scope`,
 * lets a target finish draining inside the Spot interruption notice.
 */
export function validateDeregistrationDelay(scope: IConstruct, delay: Duration): void {
  const max = MAX_SPOT_DEREGISTRATION_DELAY.toSeconds();
  requireWholeNumber(
    scope,
    'deregistrationDelay',
    delay.toSeconds({ integral: false }),
    0,
    max,
    `Give a whole number of seconds up to ${max}: a Spot target gets a ${SPOT_INTERRUPTION_NOTICE.toSeconds()} s notice, ` +
      `and reacting to it (EventBridge and the drainer on EC2, ECS on Fargate) takes up to ${INTERRUPTION_REACTION_BUDGET.toSeconds()} s ` +
      'of it, so a longer delay is cut off mid-drain.',
  );
}

/**
 * Throws a {@link SettingError} naming `scope` when a Fargate Spot task could not finish both draining and
 * its own shutdown inside the interruption notice. Since February 2023, ECS deregisters an interrupted
 * Fargate Spot task from its target groups before it sends SIGTERM, so the target group's deregistration
 * delay and the container's stopTimeout run one after the other, after ECS's own reaction to the notice.
 * `scope` must have both as props, `deregistrationDelay` and `stopTimeout`: the advice names them.
 */
export function validateSpotShutdown(scope: IConstruct, deregistrationDelay: Duration, stopTimeout: Duration): void {
  const delay = deregistrationDelay.toSeconds({ integral: false });
  const stop = stopTimeout.toSeconds({ integral: false });
  if (Token.isUnresolved(delay) || Token.isUnresolved(stop)) return;
  const budget = MAX_SPOT_DEREGISTRATION_DELAY.toSeconds();
  if (delay + stop > budget) {
    throw new SettingError(
      scope,
      `deregistrationDelay (${delay} s) plus stopTimeout (${stop} s) must be at most ${budget} s; got ${delay + stop} s. ` +
        `On a Fargate Spot interruption ECS drains the task from the load balancer first and only then sends SIGTERM, ` +
        `all within the ${SPOT_INTERRUPTION_NOTICE.toSeconds()} s notice less ${INTERRUPTION_REACTION_BUDGET.toSeconds()} s for ECS to react. ` +
        'Shorten deregistrationDelay or stopTimeout.',
    );
  }
}
