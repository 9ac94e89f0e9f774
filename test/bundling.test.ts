import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bundleInlineHandler, compressForInline, inflateInlineCode, MAX_INLINE_CODE_BYTES } from '../lib/bundling';

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
    expect(code).toMatch(/module\.exports=/);
    expect(code).not.toMatch(/^\s*(import|export)\s/m);
  });

  it('bundles the drainer with the ELB client and Powertools Metrics left to require', () => {
    const code = bundleInlineHandler(DRAINER);
    expect(code).toContain('DeregisterTargetsCommand');
    expect(code).toMatch(/require\("@aws-sdk\/client-elastic-load-balancing-v2"\)/);
    expect(code).toMatch(/require\("@aws-lambda-powertools\/metrics"\)/);
  });

  it('minifies, and drops legal comments', () => {
    const entry = handlerFile('minify', {
      'handler.ts': '/*! @license keep-me-out */\nexport async function handler(): Promise<string> {\n  const aVeryLongLocalName = 1;\n  return String(aVeryLongLocalName);\n}\n',
    });
    const code = bundleInlineHandler(entry);
    expect(code).not.toContain('keep-me-out');
    expect(code).not.toContain('aVeryLongLocalName');
    expect(code.split('\n').filter((line) => line.trim() !== '').length).toBeLessThanOrEqual(2);
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

describe('compressForInline and inflateInlineCode', () => {
  it('are tested below on every handler in lib/functions', () => {
    expect(HANDLERS).toEqual(['cloud-map-prober', 'fleet-handover', 'service-linked-roles', 'spot-interruption-drainer', 'spot-interruption-notifier']);
  });

  it.each(HANDLERS)('give back the %s bundle byte for byte, from inline code smaller than the bundle', (name) => {
    const bundle = bundleInlineHandler(join(FUNCTIONS, name, 'handler'));
    const code = compressForInline(bundle);
    expect(inflateInlineCode(code)).toBe(bundle);
    expect(Buffer.byteLength(code)).toBeLessThan(Buffer.byteLength(bundle));
  });

  it('give back text outside ASCII unchanged', () => {
    const bundle = 'exports.handler = async () => "Grüße — 日本 — 🚀";\n';
    expect(inflateInlineCode(compressForInline(bundle))).toBe(bundle);
  });

  it('make a loader of one comment line and one line of code, in ASCII', () => {
    const code = compressForInline(bundleInlineHandler(DRAINER));
    const lines = code.split('\n');
    expect(lines).toHaveLength(3);
    expect(lines[0]).toMatch(/^\/\/ /);
    expect(lines[2]).toBe('');
    expect(code).toMatch(/^[\x20-\x7e\n]*$/);
    expect(code).not.toContain('DeregisterTargetsCommand');
  });

  it('make a loader that runs the bundle as index.js: its exports, require, module, __filename and __dirname', async () => {
    const folder = join(dir, 'loader');
    mkdirSync(folder, { recursive: true });
    writeFileSync(join(folder, 'sibling.js'), "module.exports = 'beside index.js';");
    const bundle = [
      'exports.handler = async (event) => ({ echoed: event });',
      "exports.sibling = require('./sibling.js');",
      "exports.zlib = typeof require('node:zlib').brotliDecompressSync;",
      'exports.same = module.exports === exports;',
      'exports.file = __filename;',
      'exports.dir = __dirname;',
    ].join('\n');
    writeFileSync(join(folder, 'index.js'), compressForInline(bundle));
    const loaded = createRequire(join(folder, 'index.js'))('./index.js') as Record<string, unknown>;
    expect(Object.keys(loaded).sort()).toEqual(['dir', 'file', 'handler', 'same', 'sibling', 'zlib']);
    expect(loaded).toMatchObject({ sibling: 'beside index.js', zlib: 'function', same: true, file: join(folder, 'index.js'), dir: folder });
    expect(await (loaded.handler as (event: unknown) => Promise<unknown>)({ id: 1 })).toEqual({ echoed: { id: 1 } });
  });

  it('make a loader through which a bundle may replace module.exports', () => {
    const folder = join(dir, 'module-exports');
    mkdirSync(folder, { recursive: true });
    writeFileSync(join(folder, 'index.js'), compressForInline("module.exports = { handler: () => 'replaced' };"));
    const loaded = createRequire(join(folder, 'index.js'))('./index.js') as { handler: () => string };
    expect(loaded.handler()).toBe('replaced');
  });

  it('fails to inflate code that compressForInline did not make, such as a plain bundle', () => {
    const bundle = bundleInlineHandler(DRAINER);
    expect(() => inflateInlineCode(bundle)).toThrow(/^Not inline code made by compressForInline\.$/);
    const code = compressForInline(bundle);
    expect(() => inflateInlineCode(code.slice(0, -1))).toThrow(/^Not inline code made by compressForInline\.$/);
    expect(() => inflateInlineCode(`// ${code}`)).toThrow(/^Not inline code made by compressForInline\.$/);
  });
});
