import { Duration, Token } from 'aws-cdk-lib/core';
import { Schedule } from 'aws-cdk-lib/aws-events';
import type { IConstruct } from 'constructs';
import { describeDuration, SettingError } from './validation';

/**
 * One declared setting: how to read it from the `spotwise` context value (JSON), and what makes a value of it
 * wrong whichever way it arrives, from the context or as a typed prop in code. A stack declares its settings
 * once, as a {@link SettingsSchema}, and its props type is {@link PropsOf} that schema, so that adding a prop
 * and its context key is one edit.
 */
export interface Setting<T> {
  /** The context key, when it is not the prop's name. */
  readonly contextKey?: string;
  /** Added to the prop's name to make its context key: a number's unit, such as `Seconds`. */
  readonly contextKeySuffix?: string;
  /** `raw` from the context JSON as the prop's type; throws a {@link SettingError} that names `key`. */
  read(raw: unknown, key: string): T;
  /** What is wrong with `value` and what to do, or undefined when nothing is; for values given in code. */
  problem?(value: T): string | undefined;
  /** For a nested object of settings: its own schema, checked key by key. */
  readonly schema?: SettingsSchema;
}

/** A stack's or a construct's settings, by prop name. */
export type SettingsSchema = { readonly [prop: string]: Setting<unknown> };

/**
 * The props a schema declares, each optional and readonly. The schema's own property declarations carry the
 * documentation, which editors show on these props.
 */
export type PropsOf<S> = { readonly [K in keyof S]?: S[K] extends Setting<infer T> ? T : never };

/** The context key of the prop `prop` declared as `setting`. */
function contextKeyOf(prop: string, setting: Setting<unknown>): string {
  return setting.contextKey ?? `${prop}${setting.contextKeySuffix ?? ''}`;
}

const json = (value: unknown): string => JSON.stringify(value) ?? String(value);

function fail(key: string, message: string): never {
  throw new SettingError(key, message);
}

/** The setting kinds. Each checks its type on reading, and `problem` holds what else it requires. */
export const setting = {
  /** A whole number in `[min, max]`. */
  whole(options: { readonly min: number; readonly max?: number; readonly advice?: string; readonly contextKey?: string }): Setting<number> {
    const { min, max, advice } = options;
    const problem = (value: number): string | undefined => {
      if (Token.isUnresolved(value)) return undefined;
      if (Number.isInteger(value) && value >= min && (max === undefined || value <= max)) return undefined;
      const range = max === undefined ? `of at least ${min}` : `from ${min} to ${max}`;
      return `must be a whole number ${range}; got ${value}.${advice === undefined ? '' : ` ${advice}`}`;
    };
    return {
      contextKey: options.contextKey,
      read(raw, key) {
        if (typeof raw !== 'number' || !Number.isInteger(raw)) fail(key, `must be a whole number; got ${json(raw)}.`);
        const wrong = problem(raw);
        if (wrong !== undefined) fail(key, wrong);
        return raw;
      },
      problem,
    };
  },

  /** `true` or `false`. */
  flag(): Setting<boolean> {
    return {
      read(raw, key) {
        if (typeof raw !== 'boolean') fail(key, `must be true or false; got ${json(raw)}.`);
        return raw;
      },
    };
  },

  /** A non-empty string, with an optional check of its value. */
  text(options: { readonly problem?: (value: string) => string | undefined } = {}): Setting<string> {
    return {
      read(raw, key) {
        if (typeof raw !== 'string' || raw.trim() === '') fail(key, `must be a non-empty string; got ${json(raw)}.`);
        const wrong = options.problem?.(raw.trim());
        if (wrong !== undefined) fail(key, `${wrong}.`);
        return raw.trim();
      },
      problem: (value) => (Token.isUnresolved(value) ? undefined : options.problem?.(value)),
    };
  },

  /** One of `allowed`. */
  oneOf<T extends string>(allowed: readonly T[]): Setting<T> {
    return {
      read(raw, key) {
        if (!allowed.includes(raw as T)) fail(key, `must be one of ${allowed.join(', ')}; got ${json(raw)}.`);
        return raw as T;
      },
    };
  },

  /**
   * A duration, written in the context as a whole number of `unit` under the key `<prop><Unit>`, such as
   * `deregistrationDelaySeconds: 90`. Errors quote it in that unit. Zero is refused unless `min` allows it.
   */
  duration(options: {
    readonly unit: 'millis' | 'seconds' | 'minutes';
    readonly min?: number;
    readonly max?: number;
    readonly advice?: string;
  }): Setting<Duration> {
    const { unit, min = 1, max, advice } = options;
    const label = { millis: 'milliseconds', seconds: 'seconds', minutes: 'minutes' }[unit];
    const inUnit = (value: Duration): number =>
      unit === 'millis' ? value.toMilliseconds() : unit === 'seconds' ? value.toSeconds({ integral: false }) : value.toMinutes({ integral: false });
    const problem = (value: Duration): string | undefined => {
      if (value.isUnresolved()) return undefined;
      const amount = inUnit(value);
      if (Number.isInteger(amount) && amount >= min && (max === undefined || amount <= max)) return undefined;
      const range = max === undefined ? `at least ${min}` : `from ${min} to ${max}`;
      return `must be whole ${label}, ${range}; got ${describeDuration(value)}.${advice === undefined ? '' : ` ${advice}`}`;
    };
    return {
      contextKeySuffix: { millis: 'Millis', seconds: 'Seconds', minutes: 'Minutes' }[unit],
      read(raw, key) {
        if (typeof raw !== 'number' || !Number.isInteger(raw)) fail(key, `must be a whole number of ${label}; got ${json(raw)}.`);
        const value = Duration[unit](raw);
        const wrong = problem(value);
        if (wrong !== undefined) fail(key, wrong);
        return value;
      },
      problem,
    };
  },

  /** A list of strings, or one comma-separated string, each made into a `T`. */
  list<T>(options: { readonly of: (name: string) => T; readonly problem?: (name: string) => string | undefined; readonly name: (value: T) => string }): Setting<readonly T[]> {
    const problem = (values: readonly T[]): string | undefined => {
      if (values.length === 0) return 'is empty; give at least one.';
      for (const [i, value] of values.entries()) {
        const name = options.name(value);
        if (Token.isUnresolved(name)) continue;
        const wrong = options.problem?.(name);
        if (wrong !== undefined) return `[${i}]: ${wrong}.`;
      }
      return undefined;
    };
    return {
      read(raw, key) {
        const items: unknown = typeof raw === 'string' ? raw.split(',') : raw;
        if (!Array.isArray(items)) fail(key, `must be a list of strings, or one comma-separated string; got ${json(raw)}.`);
        const names = items.map((item: unknown, i) => {
          if (typeof item !== 'string' || item.trim() === '') fail(`${key}[${i}]`, `must be a non-empty string; got ${json(item)}.`);
          return item.trim();
        });
        if (names.length === 0) fail(key, 'is empty; give at least one.');
        for (const [i, name] of names.entries()) {
          const wrong = options.problem?.(name);
          if (wrong !== undefined) fail(`${key}[${i}]`, `${wrong}.`);
        }
        const values = names.map(options.of);
        return values;
      },
      problem,
    };
  },

  /** A schedule at a fixed rate, written in the context as a whole number of minutes under `contextKey`. */
  rate(options: { readonly contextKey: string }): Setting<Schedule> {
    return {
      contextKey: options.contextKey,
      read(raw, key) {
        if (typeof raw !== 'number' || !Number.isInteger(raw) || raw < 1) fail(key, `must be a whole number of minutes, at least 1; got ${json(raw)}.`);
        return Schedule.rate(Duration.minutes(raw));
      },
    };
  },

  /** A value read from a string, such as a container image from its name. */
  parsed<T>(of: (name: string) => T): Setting<T> {
    return {
      read(raw, key) {
        if (typeof raw !== 'string' || raw.trim() === '') fail(key, `must be a non-empty string; got ${json(raw)}.`);
        return of(raw.trim());
      },
    };
  },

  /** A nested object of settings, such as the drainer's. `T` is the prop's type, which may hold more than the context can set. */
  object<T>(schema: SettingsSchema): Setting<T> {
    return {
      read: (raw, key) => readSettings(schema, raw, key) as T,
      problem: (value) => {
        const wrong = settingsProblem(schema, value as Record<string, unknown>);
        return wrong === undefined ? undefined : `.${wrong}`;
      },
      schema,
    };
  },
};

/**
 * Reads `raw`, an object from the context, through `schema`: every key must be one the schema declares, and
 * every value must pass its setting's checks. Returns the props, keyed by prop name.
 */
export function readSettings(schema: SettingsSchema, raw: unknown, key: string): Record<string, unknown> {
  if (raw === undefined) return {};
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) fail(key, `must be an object; got ${json(raw)}.`);
  const byContextKey = new Map(Object.entries(schema).map(([prop, s]) => [contextKeyOf(prop, s), { prop, setting: s }]));
  const props: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(raw)) {
    const declared = byContextKey.get(name);
    if (declared === undefined) {
      fail(`${key}.${name}`, `is not a setting; the settings here are ${[...byContextKey.keys()].join(', ')}.`);
    }
    props[declared.prop] = declared.setting.read(value, `${key}.${name}`);
  }
  return props;
}

/** The first problem with `props` under `schema`, naming the prop, or undefined. */
function settingsProblem(schema: SettingsSchema, props: Record<string, unknown> | undefined): string | undefined {
  for (const [prop, declared] of Object.entries(schema)) {
    const value = props?.[prop];
    if (value === undefined) continue;
    const wrong = declared.problem?.(value);
    if (wrong !== undefined) return `${prop}${wrong.startsWith('[') || wrong.startsWith('.') ? '' : ' '}${wrong}`;
  }
  return undefined;
}

/**
 * Checks props given in code against `schema`, as the context's are checked on reading: a construct used in
 * another CDK app gets the same errors, naming `scope` and the prop.
 */
export function checkSettings(scope: IConstruct, schema: SettingsSchema, props: object): void {
  const wrong = settingsProblem(schema, props as Record<string, unknown>);
  if (wrong !== undefined) throw new SettingError(scope, wrong);
}
