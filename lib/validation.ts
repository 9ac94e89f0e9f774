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
