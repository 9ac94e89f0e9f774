import { App, Duration, Lazy, Stack } from 'aws-cdk-lib/core';
import { Construct } from 'constructs';
import { describe, expect, it } from 'vitest';
import {
  INTERRUPTION_REACTION_BUDGET,
  MAX_SPOT_DEREGISTRATION_DELAY,
  SPOT_INTERRUPTION_NOTICE,
  validateDeregistrationDelay,
  validateSpotShutdown,
} from '../lib/spot-timing';

const scope = new Construct(new Stack(new App(), 'Host'), 'Thing');

describe('the Spot timing rules', () => {
  it('leave 100 s of the two-minute notice once 20 s are set aside to react', () => {
    expect(SPOT_INTERRUPTION_NOTICE.toSeconds()).toBe(120);
    expect(INTERRUPTION_REACTION_BUDGET.toSeconds()).toBe(20);
    expect(MAX_SPOT_DEREGISTRATION_DELAY.toSeconds()).toBe(100);
  });

  it('accept a deregistration delay up to 100 s, and tokens', () => {
    expect(() => validateDeregistrationDelay(scope, Duration.seconds(100))).not.toThrow();
    expect(() => validateDeregistrationDelay(scope, Duration.seconds(Lazy.number({ produce: () => 500 })))).not.toThrow();
  });

  it('fail when a deregistration delay runs past the notice, naming the construct', () => {
    expect(() => validateDeregistrationDelay(scope, Duration.seconds(101))).toThrow(/^Host\/Thing: .*deregistrationDelay/);
  });

  it('fail when a Fargate Spot task could not drain and stop inside the notice', () => {
    expect(() => validateSpotShutdown(scope, Duration.seconds(70), Duration.seconds(30))).not.toThrow();
    expect(() => validateSpotShutdown(scope, Duration.seconds(71), Duration.seconds(30))).toThrow(
      /^Host\/Thing: deregistrationDelay \(71 s\) plus stopTimeout \(30 s\) must be at most 100 s; got 101 s\..*Shorten deregistrationDelay or stopTimeout\./,
    );
  });
});
