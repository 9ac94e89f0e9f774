import { existsSync, statSync } from 'node:fs';
import { buildSync } from 'esbuild';

/** CloudFormation's documented ceiling for a function's inline `Code.ZipFile`. */
export const MAX_INLINE_CODE_BYTES = 4 * 1024 * 1024;

const bundles = new Map<string, string>();

/**
 * Bundles a handler for inline deployment: CommonJS (CloudFormation writes inline code to `index.js`), with
 * the runtime's AWS SDK v3 and the Powertools layer left external. The bundle is not minified: the Lambda
 * console shows code a person can read, one statement a line, and identifiers keep their source names, so
 * that stack traces name the functions.
 * Cached per entry so that a test file that synthesizes many stacks pays for esbuild once.
 */
export function bundleInlineHandler(entry: string): string {
  const cached = bundles.get(entry);
  if (cached !== undefined) return cached;
  const result = buildSync({
    entryPoints: [resolveEntry(entry)],
    bundle: true,
    write: false,
    platform: 'node',
    target: 'node22',
    format: 'cjs',
    minify: false,
    legalComments: 'none',
    external: ['@aws-sdk/*', '@smithy/*', '@aws-lambda-powertools/*'],
    logLevel: 'silent',
  });
  const file = result.outputFiles[0];
  if (file === undefined) throw new Error(`esbuild produced no output for ${entry}`);
  const code = file.text;
  if (Buffer.byteLength(code) > MAX_INLINE_CODE_BYTES) {
    throw new Error(`Bundled ${entry} is ${Buffer.byteLength(code)} bytes; inline Lambda code must stay under ${MAX_INLINE_CODE_BYTES} bytes.`);
  }
  bundles.set(entry, code);
  return code;
}

/**
 * The handler source: `entry` itself if it names a file, else `entry.ts` (this checkout) or `entry.js`
 * (the compiled package, where the constructs run from `dist-lib/`).
 */
function resolveEntry(entry: string): string {
  const found = [entry, `${entry}.ts`, `${entry}.js`].find((candidate) => existsSync(candidate) && statSync(candidate).isFile());
  if (found === undefined) throw new Error(`No Lambda handler at ${entry} (looked for .ts and .js too).`);
  return found;
}
