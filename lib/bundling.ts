import { existsSync, statSync } from 'node:fs';
import { brotliCompressSync, brotliDecompressSync, constants } from 'node:zlib';
import { buildSync } from 'esbuild';

/**
 * CloudFormation's documented ceiling for `Code.ZipFile`. The real bound on this project is the
 * 51,200-byte template that `--template-file` accepts without an S3 bucket.
 */
export const MAX_INLINE_CODE_BYTES = 4 * 1024 * 1024;

const bundles = new Map<string, string>();

/**
 * Bundles a handler for inline deployment: CommonJS (CloudFormation writes inline code to `index.js`),
 * minified, with the runtime's AWS SDK v3 and the Powertools layer left external.
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
    minify: true,
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

/**
 * What the template carries for `bundle`: the bundle compressed with Brotli, in base64, behind a one-line
 * loader that Lambda runs as `index.js`. The stack templates must fit the 51,200 bytes that `aws
 * cloudformation deploy --template-file` accepts without an S3 bucket, and the handlers' plain bundles
 * alone would take over a third of that; compressed they take about half as much. The loader gives the
 * bundle this module's `exports`, `require` and `module`, so it runs exactly as if it were `index.js`.
 * The source is in this repository, and {@link inflateInlineCode} gives back the bundle byte for byte.
 */
export function compressForInline(bundle: string): string {
  const packed = brotliCompressSync(Buffer.from(bundle), {
    params: { [constants.BROTLI_PARAM_QUALITY]: constants.BROTLI_MAX_QUALITY, [constants.BROTLI_PARAM_SIZE_HINT]: bundle.length },
  }).toString('base64');
  return `${LOADER_HEAD}${packed}${LOADER_TAIL}`;
}

const LOADER_HEAD =
  '// A spotwise handler from lib/functions, bundled and Brotli-compressed to fit the template.\n' +
  'new Function("exports","require","module","__filename","__dirname",require("node:zlib").brotliDecompressSync(Buffer.from("';
const LOADER_TAIL = '","base64")).toString())(exports,require,module,__filename,__dirname);\n';

/** The bundle inside inline code made by {@link compressForInline}. */
export function inflateInlineCode(code: string): string {
  if (!code.startsWith(LOADER_HEAD) || !code.endsWith(LOADER_TAIL)) throw new Error('Not inline code made by compressForInline.');
  return brotliDecompressSync(Buffer.from(code.slice(LOADER_HEAD.length, -LOADER_TAIL.length), 'base64')).toString();
}
