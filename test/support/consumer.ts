/**
 * Packs this project the way `npm pack` and a git install do, and installs the tarball into fresh CDK apps
 * outside this repository, so that nothing in them can resolve a module from this repository's node_modules.
 * Framework-free: the test decides what to assert.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, realpathSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { builtinModules, createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, relative, sep } from 'node:path';

export const ROOT = join(__dirname, '..', '..');
const CONSUMER_FIXTURE = join(ROOT, 'test', 'fixtures', 'consumer', 'app.ts.txt');
const TSC = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');

export interface PackageJson {
  readonly name: string;
  readonly version: string;
  readonly main?: string;
  readonly types?: string;
  readonly scripts?: Readonly<Record<string, string>>;
  readonly dependencies?: Readonly<Record<string, string>>;
  readonly peerDependencies?: Readonly<Record<string, string>>;
  readonly devDependencies?: Readonly<Record<string, string>>;
}

export function readPackageJson(dir: string): PackageJson {
  return JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as PackageJson;
}

/** A scratch directory outside the repository, so that module resolution cannot walk up into it. */
export function scratchDir(name: string): string {
  return mkdtempSync(join(tmpdir(), `spotwise-${name}-`));
}

interface RunResult {
  readonly stdout: string;
  readonly stderr: string;
}

/** A failed command, with what it printed. */
export class CommandError extends Error {
  constructor(
    message: string,
    public readonly stdout: string,
    public readonly stderr: string,
  ) {
    super(message);
  }
}

function run(file: string, args: readonly string[], cwd: string, timeoutMs: number, env: NodeJS.ProcessEnv = process.env): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    execFile(file, args, { cwd, env, timeout: timeoutMs, killSignal: 'SIGKILL', maxBuffer: 64 * 1024 * 1024 }, (error, stdout, stderr) => {
      if (error === null) {
        resolve({ stdout, stderr });
        return;
      }
      const what = `${file === process.execPath ? 'node' : file} ${args.join(' ')} (in ${cwd})`;
      const why = error.killed ? `was killed after ${timeoutMs / 1000} s` : `failed (exit code ${String(error.code)})`;
      reject(new CommandError(`${what} ${why}:\n${tail(stderr)}\n${tail(stdout)}`.trimEnd(), stdout, stderr));
    });
  });
}

function tail(text: string, lines = 40): string {
  return text.trimEnd().split('\n').slice(-lines).join('\n');
}

/**
 * The environment for npm in a consumer: `npm test` exports this package's own settings (its name, its
 * scripts, its directory as local prefix), which must not make a consumer's npm take it for its project.
 */
function npmEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const key of Object.keys(env)) {
    if (/^npm_(package_|lifecycle_|config_local_prefix$)/i.test(key)) delete env[key];
  }
  return env;
}

// Without these, npm waits five minutes per request for a registry that does not answer.
const NPM_NETWORK_FLAGS = ['--fetch-timeout=60000', '--fetch-retries=1', '--fetch-retry-mintimeout=2000', '--fetch-retry-maxtimeout=5000'];
const NPM_INSTALL_FLAGS = ['--prefer-offline', '--no-audit', '--no-fund', '--no-update-notifier', ...NPM_NETWORK_FLAGS];
const NPM_TIMEOUT_MS = 180_000;
const NETWORK_FAILURE = /\b(ENOTFOUND|EAI_AGAIN|ECONNREFUSED|ECONNRESET|ETIMEDOUT|ENETUNREACH|EHOSTUNREACH|ENOTCACHED|ERR_SOCKET_TIMEOUT|E5\d\d)\b|npm error network/;

/** Runs npm; a failure to reach the registry becomes an error that says so, rather than a skip or a riddle. */
export async function npm(args: readonly string[], cwd: string, what: string): Promise<RunResult> {
  try {
    return await run('npm', args, cwd, NPM_TIMEOUT_MS, npmEnv());
  } catch (error) {
    if (error instanceof CommandError && (NETWORK_FAILURE.test(error.stderr) || error.message.includes('was killed after'))) {
      const registry = await run('npm', ['config', 'get', 'registry'], cwd, 10_000, npmEnv()).then(
        (r) => r.stdout.trim(),
        () => 'the npm registry',
      );
      throw new Error(
        `Could not ${what}: npm could not reach ${registry}, and its cache (--prefer-offline) did not have everything. ` +
          `These tests install real packages; they need the registry, once, to fill the npm cache.\n${error.message}`,
        { cause: error },
      );
    }
    throw error;
  }
}

export interface PackedPackage {
  readonly tarball: string;
  /** Paths inside the tarball, without the leading `package/`. */
  readonly files: readonly string[];
  /** Where the tarball was extracted: the package directory as a consumer gets it. */
  readonly dir: string;
  readonly manifest: PackageJson;
}

/**
 * `npm pack` in this repository: its lifecycle (`prepare`) builds dist-lib/ first, as it does for a git
 * install. The tarball is then listed and extracted as it is, not as the working tree looks.
 */
export async function packProject(into: string): Promise<PackedPackage> {
  const { name, version } = readPackageJson(ROOT);
  await npm(['pack', '--pack-destination', into, '--no-update-notifier'], ROOT, 'pack this project');
  const tarball = join(into, `${name}-${version}.tgz`);
  const extracted = join(into, 'extracted');
  mkdirSync(extracted);
  await run('tar', ['-xzf', tarball, '-C', extracted], into, 60_000);
  const dir = join(extracted, 'package');
  const files = listFiles(dir).map((file) => relative(dir, file).split(sep).join('/'));
  return { tarball, files, dir, manifest: readPackageJson(dir) };
}

function listFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? listFiles(join(dir, entry.name)) : [join(dir, entry.name)],
  );
}

/**
 * Every bare module name the package's entry loads, following its relative `require`s through the
 * package: what a consumer must have installed to load it. Throws when a relative `require` names a file
 * the package does not contain.
 */
export function requiredPackages(packageDir: string, entry: string): Set<string> {
  const external = new Set<string>();
  const seen = new Set<string>();
  const visit = (file: string): void => {
    if (seen.has(file)) return;
    seen.add(file);
    const source = readFileSync(file, 'utf8');
    for (const [, specifier] of source.matchAll(/\brequire\(\s*["']([^"']+)["']\s*\)/g)) {
      if (specifier === undefined) continue;
      if (specifier.startsWith('.')) {
        const base = join(dirname(file), specifier);
        const target = [base, `${base}.js`, join(base, 'index.js')].find((candidate) => existsSync(candidate) && statSync(candidate).isFile());
        if (target === undefined) {
          throw new Error(`${relative(packageDir, file)} requires '${specifier}', which the package does not contain.`);
        }
        visit(target);
      } else {
        external.add(specifier);
      }
    }
  };
  visit(join(packageDir, entry));
  return external;
}

/** Whether `specifier` names a Node.js built-in module. */
export function isBuiltin(specifier: string): boolean {
  return specifier.startsWith('node:') || builtinModules.includes(specifier);
}

/** The package a bare specifier belongs to: `aws-cdk-lib/aws-ec2` to `aws-cdk-lib`, `@scope/a/b` to `@scope/a`. */
export function packageName(specifier: string): string {
  const parts = specifier.split('/');
  return (specifier.startsWith('@') ? parts.slice(0, 2) : parts.slice(0, 1)).join('/');
}

export interface ConsumerSpec {
  /** Names the consumer in messages and its directory. */
  readonly name: string;
  /**
   * How the app depends on aws-cdk-lib and constructs: npm specs, such as an exact version from the
   * registry, or `file:` a directory, which npm links (`--install-links=false`) rather than copies.
   */
  readonly dependencies: Readonly<Record<'aws-cdk-lib' | 'constructs', string>>;
}

/** A fresh CDK app with aws-cdk-lib and constructs installed, as `cdk init app` leaves it. */
export class ConsumerApp {
  static async create(spec: ConsumerSpec): Promise<ConsumerApp> {
    const app = new ConsumerApp(spec, scratchDir(`consumer-${spec.name}`));
    writeFileSync(join(app.dir, 'package.json'), `${JSON.stringify({ name: `consumer-${spec.name}`, version: '0.0.0', private: true, dependencies: spec.dependencies }, null, 2)}\n`);
    writeFileSync(join(app.dir, 'tsconfig.json'), `${JSON.stringify(CONSUMER_TSCONFIG, null, 2)}\n`);
    writeFileSync(join(app.dir, 'app.ts'), readFileSync(CONSUMER_FIXTURE, 'utf8'));
    try {
      await npm(['install', '--install-links=false', ...NPM_INSTALL_FLAGS], app.dir, `install ${describe(spec)} for the ${spec.name} consumer app`);
    } catch (error) {
      await app.remove();
      throw error;
    }
    return app;
  }

  private constructor(
    public readonly spec: ConsumerSpec,
    public readonly dir: string,
  ) {}

  /** `npm install <tarball>`, as another team would add spotwise to its app. */
  async install(tarball: string): Promise<void> {
    await npm(['install', '--install-links=false', ...NPM_INSTALL_FLAGS, tarball], this.dir, `install spotwise into the ${this.spec.name} consumer app`);
  }

  /** Type-checks the app and everything it loads (`skipLibCheck` off, `strict` on), then emits `app.js`. */
  async compile(): Promise<void> {
    await run(process.execPath, [TSC, '-p', join(this.dir, 'tsconfig.json')], this.dir, 300_000);
  }

  /** Runs the app; returns the synthesized template of its one stack. */
  async synth(targetGroupArn: string): Promise<unknown> {
    const outdir = join(this.dir, 'cdk.out');
    // The app's own template validation (on by default since aws-cdk-lib 2.26x) costs seconds of WebAssembly
    // per run and judges the consumer's template, not the package; this repository runs cfn-lint on its own.
    await run(process.execPath, [join(this.dir, 'app.js'), outdir, targetGroupArn], this.dir, 120_000, { ...process.env, CDK_VALIDATION: 'false' });
    return JSON.parse(readFileSync(join(outdir, 'Consumer.template.json'), 'utf8'));
  }

  /** Deletes the app: a copy of aws-cdk-lib is 160 MB. */
  async remove(): Promise<void> {
    await rm(this.dir, { recursive: true, force: true });
  }

  /** The directory and version of the package `name` that code in `fromPackage` (or the app itself) loads. */
  resolve(name: string, fromPackage?: string): { dir: string; version: string } {
    const from = fromPackage === undefined ? join(this.dir, 'package.json') : join(this.dir, 'node_modules', fromPackage, 'package.json');
    let dir = dirname(realpathSync(createRequire(from).resolve(name)));
    while (!(existsSync(join(dir, 'package.json')) && readPackageJson(dir).name === name)) {
      const parent = dirname(dir);
      if (parent === dir) throw new Error(`No package.json of ${name} above ${from}.`);
      dir = parent;
    }
    return { dir, version: readPackageJson(dir).version };
  }
}

/**
 * `npm install <tarball>` into a new app on `spec`'s versions, resolving the dependency tree only
 * (`--package-lock-only`: npm refuses an unsatisfiable peer while it builds the tree, before it downloads
 * anything). Resolves with whether npm accepted it and what it printed.
 */
export async function resolveInstall(spec: ConsumerSpec, tarball: string): Promise<{ accepted: boolean; output: string }> {
  const dir = scratchDir(`consumer-${spec.name}`);
  writeFileSync(join(dir, 'package.json'), `${JSON.stringify({ name: `consumer-${spec.name}`, version: '0.0.0', private: true, dependencies: spec.dependencies }, null, 2)}\n`);
  try {
    const { stdout, stderr } = await npm(['install', '--package-lock-only', ...NPM_INSTALL_FLAGS, tarball], dir, `resolve spotwise with ${describe(spec)}`);
    return { accepted: true, output: `${stderr}${stdout}` };
  } catch (error) {
    if (error instanceof CommandError) return { accepted: false, output: `${error.stderr}${error.stdout}` };
    throw error;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function describe(spec: ConsumerSpec): string {
  return Object.entries(spec.dependencies)
    .map(([name, version]) => `${name}@${version}`)
    .join(' and ');
}

/**
 * The consumer's tsconfig: what `cdk init app` writes, strict, and with `skipLibCheck` off so that every
 * declaration file the package ships is checked against the consumer's aws-cdk-lib. `@types/node` comes
 * from this repository (the app itself would have its own); nothing else does.
 */
const CONSUMER_TSCONFIG = {
  compilerOptions: {
    target: 'ES2022',
    module: 'NodeNext',
    moduleResolution: 'NodeNext',
    lib: ['ES2022'],
    strict: true,
    skipLibCheck: false,
    noEmitOnError: true,
    typeRoots: [join(ROOT, 'node_modules', '@types')],
    types: ['node'],
  },
  files: ['app.ts'],
};
