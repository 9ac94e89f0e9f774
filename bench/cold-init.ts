import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { bundleInlineHandler } from '../lib/bundling';

export interface ColdInitResult {
  readonly medianMs: number;
  readonly samplesMs: readonly number[];
  /**
   * The floor, measured in the same run, interleaved: a module that only loads and creates Powertools' Logger
   * and Metrics, which every handler here must. The handler's init is judged against it, not against a time.
   */
  readonly floorMedianMs: number;
  readonly floorSamplesMs: readonly number[];
  readonly inlineBytes: number;
  readonly bundlePath: string;
}

/**
 * Writes the handler exactly as it is inlined into the template, inside the project so that the external
 * `@aws-sdk/*` and `@aws-lambda-powertools/*` imports resolve from node_modules as they would from the
 * runtime and the layer.
 */
export function writeInlineBundle(name: string, entry: string): { path: string; bytes: number } {
  return writeBundle(name, bundleInlineHandler(entry));
}

/** Writes `code` (a bundle, or a template's inline `ZipFile`) to `.bench/<name>/index.js`, as CloudFormation names inline code. */
export function writeBundle(name: string, code: string): { path: string; bytes: number } {
  const dir = join(__dirname, '..', '.bench', name);
  mkdirSync(dir, { recursive: true });
  const path = join(dir, 'index.js');
  writeFileSync(path, code);
  return { path, bytes: Buffer.byteLength(code) };
}

/**
 * Cold init as Lambda pays it: a fresh Node process loads the module and is ready to be invoked.
 * Timed in-process around `require`, so Node's own start-up is excluded; median of `runs` processes.
 */
export function measureColdInit(
  name: string,
  entry: string,
  env: Record<string, string>,
  runs = 9,
): ColdInitResult {
  const { path, bytes } = writeInlineBundle(name, entry);
  const floor = writeBundle(
    `${name}-floor`,
    [
      "const { Logger } = require('@aws-lambda-powertools/logger');",
      "const { Metrics } = require('@aws-lambda-powertools/metrics');",
      'exports.logger = new Logger();',
      'exports.metrics = new Metrics();',
      'exports.handler = async () => undefined;',
    ].join('\n'),
  );
  const time = (module: string): number => {
    const probe = [
      'const t0 = performance.now();',
      `const m = require(${JSON.stringify(module)});`,
      "if (typeof m.handler !== 'function') throw new Error('no handler export');",
      'process.stdout.write(String(performance.now() - t0));',
    ].join('\n');
    const out = execFileSync(process.execPath, ['-e', probe], {
      env: { ...process.env, AWS_REGION: 'us-east-2', ...env },
      encoding: 'utf8',
    });
    return Number(out);
  };
  const samplesMs: number[] = [];
  const floorSamplesMs: number[] = [];
  for (let i = 0; i < runs; i += 1) {
    // Interleaved, so that both see the same moment's load.
    floorSamplesMs.push(time(floor.path));
    samplesMs.push(time(path));
  }
  return {
    medianMs: median(samplesMs),
    samplesMs,
    floorMedianMs: median(floorSamplesMs),
    floorSamplesMs,
    inlineBytes: bytes,
    bundlePath: path,
  };
}

/**
 * The goal for cold init: at most this many times the floor's. A handler may add its own code to what
 * Powertools costs, not another Powertools.
 */
export const COLD_INIT_GOAL_RATIO = 1.25;

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
}
