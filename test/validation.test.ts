import { Lazy } from 'aws-cdk-lib';
import { describe, expect, it } from 'vitest';
import { requireWholeNumber } from '../lib/validation';

describe('requireWholeNumber', () => {
  it('accepts whole numbers inside the range, and tokens', () => {
    expect(() => requireWholeNumber('port', 1, 1, 65535)).not.toThrow();
    expect(() => requireWholeNumber('port', 65535, 1, 65535)).not.toThrow();
    expect(() => requireWholeNumber('count', 10_000, 1)).not.toThrow();
    expect(() => requireWholeNumber('count', Lazy.number({ produce: () => 0 }), 1)).not.toThrow();
  });

  it('fails when a value is outside the range or fractional, naming the prop and the range', () => {
    expect(() => requireWholeNumber('containerPort', 0, 1, 65535)).toThrow(/^containerPort must be a whole number from 1 to 65535; got 0\.$/);
    expect(() => requireWholeNumber('containerPort', 70000, 1, 65535)).toThrow(/got 70000/);
    expect(() => requireWholeNumber('desiredCount', 1.5, 1)).toThrow(/^desiredCount must be a whole number of at least 1; got 1\.5\.$/);
  });

  it('adds what to do instead when told', () => {
    expect(() => requireWholeNumber('targetCapacity', 0, 1, undefined, 'Delete the stack.')).toThrow(
      /^targetCapacity must be a whole number of at least 1; got 0\. Delete the stack\.$/,
    );
  });
});
