import { App, Lazy, Stack } from 'aws-cdk-lib/core';
import { Construct } from 'constructs';
import { describe, expect, it } from 'vitest';
import { MAX_TARGETS_PER_TARGET_GROUP, requireCapacityRange, requireWholeNumber, SettingError } from '../lib/validation';

const scope = new Construct(new Stack(new App(), 'Host'), 'Thing');

describe('requireWholeNumber', () => {
  it('accepts whole numbers inside the range, and tokens', () => {
    expect(() => requireWholeNumber(scope, 'port', 1, 1, 65535)).not.toThrow();
    expect(() => requireWholeNumber(scope, 'port', 65535, 1, 65535)).not.toThrow();
    expect(() => requireWholeNumber(scope, 'count', 10_000, 1)).not.toThrow();
    expect(() => requireWholeNumber(scope, 'count', Lazy.number({ produce: () => 0 }), 1)).not.toThrow();
  });

  it('fails when a value is outside the range or fractional, naming the construct, the prop and the range', () => {
    expect(() => requireWholeNumber(scope, 'containerPort', 0, 1, 65535)).toThrow(/^Host\/Thing: containerPort must be a whole number from 1 to 65535; got 0\.$/);
    expect(() => requireWholeNumber(scope, 'containerPort', 70000, 1, 65535)).toThrow(/got 70000/);
    expect(() => requireWholeNumber(scope, 'desiredCount', 1.5, 1)).toThrow(/^Host\/Thing: desiredCount must be a whole number of at least 1; got 1\.5\.$/);
    expect(() => requireWholeNumber(scope, 'desiredCount', 0, 1)).toThrow(SettingError);
  });

  it('adds what to do instead when told', () => {
    expect(() => requireWholeNumber(scope, 'targetCapacity', 0, 1, undefined, 'Delete the stack.')).toThrow(
      /^Host\/Thing: targetCapacity must be a whole number of at least 1; got 0\. Delete the stack\.$/,
    );
  });
});

describe('requireCapacityRange', () => {
  it('accepts bounds from 1 to 1000 with the minimum at most the maximum, and tokens in either', () => {
    expect(() => requireCapacityRange(scope, 1, 1000, 'Keep one.')).not.toThrow();
    expect(() => requireCapacityRange(scope, 5, 5, 'Keep one.')).not.toThrow();
    expect(() => requireCapacityRange(scope, Lazy.number({ produce: () => 9 }), 2, 'Keep one.')).not.toThrow();
  });

  it('fails when the minimum is above the maximum, naming the construct and saying what to do', () => {
    expect(() => requireCapacityRange(scope, 6, 5, 'Keep one.')).toThrow(
      /^Host\/Thing: minCapacity \(6\) is above maxCapacity \(5\); raise maxCapacity or lower minCapacity\.$/,
    );
  });

  it('fails when a bound is outside 1 to ELB\'s 1000 targets per target group, with the advice given for the minimum', () => {
    expect(() => requireCapacityRange(scope, 0, 5, 'Keep one.')).toThrow(/^Host\/Thing: minCapacity must be a whole number from 1 to 1000; got 0\. Keep one\.$/);
    expect(() => requireCapacityRange(scope, 1, 1001, 'Keep one.')).toThrow(
      /^Host\/Thing: maxCapacity must be a whole number from 1 to 1000; got 1001\. 1,000 is ELB's default quota of targets per target group\.$/,
    );
    expect(MAX_TARGETS_PER_TARGET_GROUP).toBe(1000);
  });
});
