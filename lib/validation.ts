import { Token } from 'aws-cdk-lib';

/**
 * Throws unless `value` is a whole number in `[min, max]`, with a message naming the prop and, when given,
 * what to do instead. Tokens pass: their value is only known at deploy time.
 */
export function requireWholeNumber(name: string, value: number, min: number, max?: number, advice?: string): void {
  if (Token.isUnresolved(value)) return;
  if (Number.isInteger(value) && value >= min && (max === undefined || value <= max)) return;
  const range = max === undefined ? `of at least ${min}` : `from ${min} to ${max}`;
  throw new Error(`${name} must be a whole number ${range}; got ${value}.${advice === undefined ? '' : ` ${advice}`}`);
}
