import { Stack } from 'aws-cdk-lib/core';
import { Template } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { capacityParameters } from '../lib/capacity-parameters';
import { newApp } from './support/app';

function make(min: number, max: number): { stack: Stack; bounds: ReturnType<typeof capacityParameters> } {
  const stack = new Stack(newApp(), 'Host');
  return { stack, bounds: capacityParameters(stack, 'tasks', { min, max }) };
}

describe('capacityParameters', () => {
  it('makes MinCapacity and MaxCapacity number parameters of 1 to 1000 with the defaults given, and returns their values', () => {
    const { stack, bounds } = make(3, 12);
    expect(Template.fromStack(stack).toJSON().Parameters).toEqual({
      MinCapacity: { Type: 'Number', Default: 3, MinValue: 1, MaxValue: 1000, Description: 'Fewest tasks; scale-in stops here.' },
      MaxCapacity: { Type: 'Number', Default: 12, MinValue: 1, MaxValue: 1000, Description: 'Most tasks; at least MinCapacity.' },
    });
    expect(stack.resolve(bounds.minCapacity)).toEqual({ Ref: 'MinCapacity' });
    expect(stack.resolve(bounds.maxCapacity)).toEqual({ Ref: 'MaxCapacity' });
  });

  it('accepts equal bounds', () => {
    expect(() => make(5, 5)).not.toThrow();
  });

  it.each<[string, number, number, RegExp]>([
    ['the minimum default is above the maximum', 6, 5, /^Host: minCapacity \(6\) is above maxCapacity \(5\); raise maxCapacity or lower minCapacity\.$/],
    ['the minimum default is 0', 0, 5, /^Host: minCapacity must be a whole number from 1 to 1000; got 0\./],
    ['the maximum default is above 1000', 2, 1001, /^Host: maxCapacity must be a whole number from 1 to 1000; got 1001\./],
    ['a default is not whole', 1.5, 5, /^Host: minCapacity must be a whole number from 1 to 1000; got 1\.5\./],
  ])('fails when %s, naming the stack', (_name, min, max, message) => {
    expect(() => make(min, max)).toThrow(message);
  });
});
