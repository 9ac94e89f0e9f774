import { CfnParameter } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import { requireWholeNumber, SettingError } from './validation';

/** ELB's default quota of targets per target group, which every instance or task joins. */
export const MAX_CAPACITY = 1000;

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
  requireWholeNumber(scope, 'minCapacity', defaults.min, 1, MAX_CAPACITY, "ELB's default quota of targets per target group.");
  requireWholeNumber(scope, 'maxCapacity', defaults.max, 1, MAX_CAPACITY, "ELB's default quota of targets per target group.");
  if (defaults.min > defaults.max) {
    throw new SettingError(scope, `minCapacity (${defaults.min}) is above maxCapacity (${defaults.max}); raise maxCapacity or lower minCapacity.`);
  }
  const parameter = (id: string, value: number, description: string): number =>
    new CfnParameter(scope, id, { type: 'Number', default: value, minValue: 1, maxValue: MAX_CAPACITY, description }).valueAsNumber;
  return {
    minCapacity: parameter('MinCapacity', defaults.min, `Fewest ${what}; scale-in stops here.`),
    maxCapacity: parameter('MaxCapacity', defaults.max, `Most ${what}; at least MinCapacity.`),
  };
}
