import type { Duration } from 'aws-cdk-lib/core';
import { Token } from 'aws-cdk-lib/core';
import { InstanceClass, InstanceSize } from 'aws-cdk-lib/aws-ec2';
import type { IConstruct } from 'constructs';

/**
 * A setting that cannot be read, that AWS would reject at deploy time, or that cannot work, found at synth.
 * The message starts with where the setting was given, a construct's path or a context key such as
 * `spotwise.spotFleetWebApp.instanceTypes`, and says what to do. The one error class for bad settings.
 */
export class SettingError extends Error {
  override readonly name = 'SettingError';

  /** `where` is the construct given the setting, or its path or context key when there is no construct yet. */
  constructor(where: IConstruct | string, message: string) {
    super(`${typeof where === 'string' ? where : where.node.path}: ${message}`);
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
  maxAdvice = "1,000 is ELB's default quota of targets per target group.",
): void {
  requireWholeNumber(scope, 'minCapacity', min, 1, MAX_TARGETS_PER_TARGET_GROUP, minAdvice);
  requireWholeNumber(scope, 'maxCapacity', max, 1, MAX_TARGETS_PER_TARGET_GROUP, maxAdvice);
  if (!Token.isUnresolved(min) && !Token.isUnresolved(max) && min > max) {
    throw new SettingError(scope, `minCapacity (${min}) is above maxCapacity (${max}); raise maxCapacity or lower minCapacity.`);
  }
}

/**
 * `duration` as its author wrote it, `90 minutes` rather than `1 hour 30 minutes`, so that an error quotes the
 * value in the unit the setting was given in.
 */
export function describeDuration(duration: Duration): string {
  const written = /^Duration\.(\w+)\((.+)\)$/.exec(duration.toString());
  if (written === null) return duration.toHumanString();
  const [, method, amount] = written;
  const unit = method === 'millis' ? 'milliseconds' : method;
  return `${amount} ${amount === '1' ? unit?.replace(/s$/, '') : unit}`;
}

/** The families aws-cdk-lib knows, and their sizes: what `<family>.<size>` must name. */
const INSTANCE_FAMILIES = new Set<string>(Object.values(InstanceClass));
const INSTANCE_SIZES = new Set<string>(Object.values(InstanceSize));

/**
 * Why `name` is not an EC2 instance type, or undefined when it is one: its family must be one of aws-cdk-lib's
 * instance classes and its size one of its sizes. EC2 refuses an unknown type only when the fleet launches.
 */
export function instanceTypeProblem(name: string): string | undefined {
  const [family, size, ...rest] = name.split('.');
  if (family === undefined || size === undefined || rest.length > 0 || family === '' || size === '') {
    return `${JSON.stringify(name)} is not of the form <family>.<size>, such as m6i.large`;
  }
  if (!INSTANCE_FAMILIES.has(family)) return `${JSON.stringify(name)} names no EC2 instance family: there is no ${family} (such as m6i, c7i, r6a)`;
  if (!INSTANCE_SIZES.has(size)) return `${JSON.stringify(name)} names no EC2 instance size: there is no ${size} (such as large, xlarge, 2xlarge)`;
  return undefined;
}

/** A DNS name Cloud Map and Route 53 accept: dot-separated labels of letters, digits and hyphens, not at a label's ends. */
const DNS_NAME = /^(?=.{1,253}\.?$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*\.?$/i;

/** Why `name` is not a DNS name, or undefined when it is one. */
export function dnsNameProblem(name: string): string | undefined {
  if (DNS_NAME.test(name)) return undefined;
  return `${JSON.stringify(name)} is not a DNS name: use dot-separated labels of letters, digits and hyphens, such as app.internal`;
}
