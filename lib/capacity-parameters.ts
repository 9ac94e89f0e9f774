import { CfnParameter } from 'aws-cdk-lib/core';
import type { Construct } from 'constructs';
import { MAX_TARGETS_PER_TARGET_GROUP, requireCapacityRange } from './validation';

/** The `MinCapacity` and `MaxCapacity` parameters of a stack, as numbers for its constructs. */
export interface CapacityParameters {
  readonly minCapacity: number;
  readonly maxCapacity: number;
}

/**
 * Scaling bounds as CloudFormation parameters, so that people who deploy the plain template set them per
 * deployment, with `defaults` (synth-time settings) checked here: 1 to 1,000, and the minimum at most the
 * maximum. A deploy that sets the minimum above the maximum is refused by Application Auto Scaling.
 */
export function capacityParameters(scope: Construct, what: string, defaults: { readonly min: number; readonly max: number }): CapacityParameters {
  requireCapacityRange(scope, defaults.min, defaults.max, 'At least one must run; to stop them all, delete the stack.');
  const parameter = (id: string, value: number, description: string): number =>
    new CfnParameter(scope, id, { type: 'Number', default: value, minValue: 1, maxValue: MAX_TARGETS_PER_TARGET_GROUP, description }).valueAsNumber;
  return {
    minCapacity: parameter('MinCapacity', defaults.min, `Fewest ${what}; scale-in stops here.`),
    maxCapacity: parameter('MaxCapacity', defaults.max, `Most ${what}; at least MinCapacity.`),
  };
}
