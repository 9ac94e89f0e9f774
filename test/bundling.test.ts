import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bundleInlineHandler, MAX_INLINE_CODE_BYTES } from '../lib/bundling';

const FUNCTIONS = join(__dirname, '..', 'lib', 'functions');
const DRAINER = join(FUNCTIONS, 'spot-interruption-drainer', 'handler');
/** Every handler of the project: each folder of lib/functions with a handler.ts. */
const HANDLERS = readdirSync(FUNCTIONS)
  .filter((name) => existsSync(join(FUNCTIONS, name, 'handler.ts')))
  .sort();

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'spotwise-bundling-'));
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** Writes a handler source under a fresh folder, so that the per-entry cache never hands back another test's bundle. */
function handlerFile(name: string, files: Record<string, string>): string {
  const folder = join(dir, name);
  mkdirSync(folder, { recursive: true });
  for (const [file, source] of Object.entries(files)) writeFileSync(join(folder, file), source);
  return join(folder, 'handler');
}

describe('bundleInlineHandler', () => {
  it('bundles a TypeScript handler to CommonJS, the runtime\'s SDK and the Powertools layer left to require', () => {
    const entry = handlerFile('external', {
      'handler.ts': [
        "import { SQSClient } from '@aws-sdk/client-sqs';",
        "import { NodeHttpHandler } from '@smithy/node-http-handler';",
        "import { Logger } from '@aws-lambda-powertools/logger';",
        "import { greeting } from './greeting';",
        'export const handler = async (): Promise<unknown> => [SQSClient, NodeHttpHandler, Logger, greeting()];',
      ].join('\n'),
      'greeting.ts': "export const greeting = (): string => 'hello from the bundle';",
    });
    const code = bundleInlineHandler(entry);
    expect(code).toMatch(/require\("@aws-sdk\/client-sqs"\)/);
    expect(code).toMatch(/require\("@smithy\/node-http-handler"\)/);
    expect(code).toMatch(/require\("@aws-lambda-powertools\/logger"\)/);
    expect(code).toContain('hello from the bundle');
    expect(code).not.toContain('./greeting');
    expect(code).toMatch(/module\.exports = /);
    expect(code).not.toMatch(/^\s*(import|export)\s/m);
  });

  it('bundles the drainer with the ELB client and Powertools Metrics left to require', () => {
    const code = bundleInlineHandler(DRAINER);
    expect(code).toContain('DeregisterTargetsCommand');
    expect(code).toMatch(/require\("@aws-sdk\/client-elastic-load-balancing-v2"\)/);
    expect(code).toMatch(/require\("@aws-lambda-powertools\/metrics"\)/);
  });

  it('keeps the code readable: not minified, one statement a line, names as in the source', () => {
    const entry = handlerFile('readable', {
      'handler.ts': [
        '/*! @license keep-me-out */',
        'function describeTheBatch(size: number): string {',
        '  const aVeryLongLocalName = size * 2;',
        '  return `batch of ${aVeryLongLocalName}`;',
        '}',
        'export async function handler(): Promise<string> {',
        '  return describeTheBatch(1);',
        '}',
      ].join('\n'),
    });
    const code = bundleInlineHandler(entry);
    expect(code).not.toContain('keep-me-out');
    expect(code).toMatch(/^function describeTheBatch\(size\) \{$/m);
    expect(code).toMatch(/^ {2}const aVeryLongLocalName = size \* 2;$/m);
    expect(code).toMatch(/^async function handler\(\) \{$/m);
  });

  it('resolves the entry with or without its .ts extension, and to .js where only JavaScript exists', () => {
    const ts = handlerFile('ts', { 'handler.ts': "export const handler = async (): Promise<string> => 'ts';" });
    expect(bundleInlineHandler(ts)).toContain('"ts"');
    expect(bundleInlineHandler(`${handlerFile('ts-explicit', { 'handler.ts': "export const handler = async (): Promise<string> => 'explicit';" })}.ts`)).toContain(
      '"explicit"',
    );
    const js = handlerFile('js', { 'handler.js': "exports.handler = async () => 'compiled';" });
    expect(bundleInlineHandler(js)).toContain('"compiled"');
  });

  it('prefers the .ts source to the compiled .js beside it', () => {
    const entry = handlerFile('both', {
      'handler.ts': "export const handler = async (): Promise<string> => 'from-ts';",
      'handler.js': "exports.handler = async () => 'from-js';",
    });
    const code = bundleInlineHandler(entry);
    expect(code).toContain('"from-ts"');
    expect(code).not.toContain('from-js');
  });

  it('bundles each entry once per process', () => {
    const entry = handlerFile('cached', { 'handler.ts': "export const handler = async (): Promise<string> => 'first';" });
    const first = bundleInlineHandler(entry);
    writeFileSync(`${entry}.ts`, "export const handler = async (): Promise<string> => 'second';");
    expect(bundleInlineHandler(entry)).toBe(first);
  });

  it('fails when there is no handler at the entry, saying where it looked', () => {
    const missing = join(dir, 'nowhere', 'handler');
    expect(() => bundleInlineHandler(missing)).toThrow(`No Lambda handler at ${missing} (looked for .ts and .js too).`);
  });

  it('fails when the entry names a folder rather than a file', () => {
    const folder = join(dir, 'a-folder');
    mkdirSync(folder, { recursive: true });
    expect(() => bundleInlineHandler(folder)).toThrow(/^No Lambda handler at .*a-folder \(looked for \.ts and \.js too\)\.$/);
  });

  it('fails when the bundle is larger than inline Lambda code may be', () => {
    const entry = handlerFile('huge', {
      'handler.ts': `export const handler = async (): Promise<string> => ${JSON.stringify('x'.repeat(MAX_INLINE_CODE_BYTES))};`,
    });
    expect(() => bundleInlineHandler(entry)).toThrow(/^Bundled .*huge\/handler is \d+ bytes; inline Lambda code must stay under 4194304 bytes\.$/);
  });
});

describe('the bundle of every handler in lib/functions', () => {
  it('covers every handler', () => {
    expect(HANDLERS).toEqual([
      'cloud-map-prober',
      'fleet-handover',
      'service-linked-roles',
      'spot-capacity-fallback',
      'spot-interruption-drainer',
      'spot-interruption-notifier',
    ]);
  });

  it.each(HANDLERS)('%s reads as code: many short lines, no eval, no new Function, no compressed payload', (name) => {
    const code = bundleInlineHandler(join(FUNCTIONS, name, 'handler'));
    const lines = code.split('\n');
    expect(lines.length).toBeGreaterThan(50);
    // The minified bundles were one line of 5 to 25 KB; a person's longest line is a few hundred characters.
    expect(Math.max(...lines.map((line) => line.length))).toBeLessThan(1000);
    expect(code).not.toMatch(/\bnew Function\s*\(|\beval\s*\(|brotliDecompress|gunzip|inflateSync/);
    expect(code).not.toMatch(/[A-Za-z0-9+/]{200,}/);
  });

  it.each(HANDLERS)('%s keeps the handler\'s own function names, so that stack traces name them', (name) => {
    const source = readFileSync(join(FUNCTIONS, name, 'handler.ts'), 'utf8');
    const declared = [...source.matchAll(/^(?:export )?(?:async )?function (\w+)/gm)].map((m) => m[1]);
    expect(declared.length).toBeGreaterThan(0);
    const code = bundleInlineHandler(join(FUNCTIONS, name, 'handler'));
    // esbuild suffixes a number only where two modules declare the same top-level name (sleep, sleep2).
    for (const fn of declared) expect(code).toMatch(new RegExp(`^(async )?function ${fn}\\d?\\(`, 'm'));
  });
});
