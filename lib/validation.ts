import { Token } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';

/**
 * A setting that AWS would reject at deploy time, or that cannot work, found at synth. The message starts
 * with the path of the construct that was given it and says what to do.
 */
export class SettingError extends Error {
  override readonly name = 'SettingError';

  /** `scope` is the construct given the setting, or its path when it is not built yet. */
  constructor(scope: IConstruct | string, message: string) {
    super(`${typeof scope === 'string' ? scope : scope.node.path}: ${message}`);
  }
}

/**
 * Throws unless `value` is a whole number in `[min, max]`, with a message naming the construct, the prop
 * and, when given, what to do instead. Tokens pass: their value is only known at deploy time.
 */
export function requireWholeNumber(scope: IConstruct | string, name: string, value: number, min: number, max?: number, advice?: string): void {
  if (Token.isUnresolved(value)) return;
  if (Number.isInteger(value) && value >= min && (max === undefined || value <= max)) return;
  const range = max === undefined ? `of at least ${min}` : `from ${min} to ${max}`;
  throw new SettingError(scope, `${name} must be a whole number ${range}; got ${value}.${advice === undefined ? '' : ` ${advice}`}`);
}

/** ELB's default quota of targets per target group, which every instance or task of a scaled fleet joins. */
export const MAX_TARGETS_PER_TARGET_GROUP = 1000;

/**
 * Throws unless `min` and `max` are scaling bounds AWS accepts: whole numbers from 1 to
 * {@link MAX_TARGETS_PER_TARGET_GROUP}, the minimum at most the maximum. Tokens pass, and so does the order of
 * bounds either of which is a token: Application Auto Scaling refuses a wrong one at deploy time.
 */
export function requireCapacityRange(
  scope: IConstruct,
  min: number,
  max: number,
  minAdvice: string,
  maxAdvice = "ELB's default quota of targets per target group.",
): void {
  requireWholeNumber(scope, 'minCapacity', min, 1, MAX_TARGETS_PER_TARGET_GROUP, minAdvice);
  requireWholeNumber(scope, 'maxCapacity', max, 1, MAX_TARGETS_PER_TARGET_GROUP, maxAdvice);
  if (!Token.isUnresolved(min) && !Token.isUnresolved(max) && min > max) {
    throw new SettingError(scope, `minCapacity (${min}) is above maxCapacity (${max}); raise maxCapacity or lower minCapacity.`);
  }
}
