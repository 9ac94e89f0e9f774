import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { bundleInlineHandler } from '../lib/bundling';

export interface ColdInitResult {
  readonly medianMs: number;
  readonly samplesMs: readonly number[];
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
  const probe = [
    'const t0 = performance.now();',
    `const m = require(${JSON.stringify(path)});`,
    "if (typeof m.handler !== 'function') throw new Error('no handler export');",
    'process.stdout.write(String(performance.now() - t0));',
  ].join('\n');
  const samplesMs: number[] = [];
  for (let i = 0; i < runs; i += 1) {
    const out = execFileSync(process.execPath, ['-e', probe], {
      env: { ...process.env, AWS_REGION: 'us-east-2', ...env },
      encoding: 'utf8',
    });
    samplesMs.push(Number(out));
  }
  const sorted = [...samplesMs].sort((a, b) => a - b);
  const medianMs = sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
  return { medianMs, samplesMs, inlineBytes: bytes, bundlePath: path };
}
