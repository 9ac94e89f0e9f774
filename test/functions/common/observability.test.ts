import { afterEach, describe, expect, it, vi } from 'vitest';

/** Loads the module afresh with `env`, and returns the EMF record one metric produces. */
async function emitted(env: Record<string, string | undefined>): Promise<{ Dimensions: string[][]; record: Record<string, unknown> }> {
  vi.resetModules();
  for (const [key, value] of Object.entries(env)) vi.stubEnv(key, value);
  const lines: string[] = [];
  // Powertools writes EMF straight to stdout.
  vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    lines.push(String(chunk));
    return true;
  });
  const { metrics } = await import('../../../lib/functions/common/observability.js');
  const { MetricUnit } = await import('@aws-lambda-powertools/metrics');
  metrics.addMetric('Probe', MetricUnit.Count, 1);
  metrics.publishStoredMetrics();
  const record = JSON.parse(lines.find((line) => line.includes('"_aws"')) ?? '{}') as Record<string, unknown>;
  const aws = record._aws as { CloudWatchMetrics: { Dimensions: string[][] }[] };
  return { Dimensions: aws.CloudWatchMetrics[0]?.Dimensions ?? [], record };
}

afterEach(() => {
  vi.unstubAllEnvs();
  vi.restoreAllMocks();
});

describe('metrics', () => {
  const base = { POWERTOOLS_SERVICE_NAME: 'probe-test', POWERTOOLS_METRICS_NAMESPACE: 'Spotwise', POWERTOOLS_DEV: undefined };

  it('carry the stack named in METRICS_STACK as their Stack dimension, so two copies of a stack keep apart', async () => {
    const { Dimensions, record } = await emitted({ ...base, METRICS_STACK: 'Blue' });
    expect(Dimensions).toEqual([['service', 'Stack']]);
    expect(record).toMatchObject({ service: 'probe-test', Stack: 'Blue', Probe: 1 });
  });

  it('carry no Stack dimension when METRICS_STACK is unset, as in a function outside these stacks', async () => {
    const { Dimensions, record } = await emitted({ ...base, METRICS_STACK: undefined });
    expect(Dimensions).toEqual([['service']]);
    expect(record.Stack).toBeUndefined();
  });
});
