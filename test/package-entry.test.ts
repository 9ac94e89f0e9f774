import { readdirSync, rmSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { Stack } from 'aws-cdk-lib/core';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { SecurityGroup, Vpc } from 'aws-cdk-lib/aws-ec2';
import { ApplicationTargetGroup } from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import { PrivateDnsNamespace } from 'aws-cdk-lib/aws-servicediscovery';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as entry from '../lib';
import { newApp } from './support/app';
import type { ConsumerSpec, PackedPackage } from './support/consumer';
import { ConsumerApp, ROOT, isBuiltin, packProject, packageName, readPackageJson, requiredPackages, resolveInstall, scratchDir } from './support/consumer';

const TG_ARN = 'arn:aws:elasticloadbalancing:eu-west-1:111122223333:targetgroup/theirs/0123456789abcdef';

/** Another team's app: its own VPC, target group and Cloud Map service, and our two constructs. */
function consumerStack(lib: Pick<typeof entry, 'SpotInterruptionDrainer' | 'CloudMapProber'>): Template {
  const stack = new Stack(newApp(), 'Consumer');
  const vpc = new Vpc(stack, 'Vpc', { maxAzs: 2, natGateways: 0, restrictDefaultSecurityGroup: false });
  new lib.SpotInterruptionDrainer(stack, 'Drainer', {
    targetGroups: [ApplicationTargetGroup.fromTargetGroupAttributes(stack, 'Tg', { targetGroupArn: TG_ARN })],
  });
  const namespace = new PrivateDnsNamespace(stack, 'Ns', { vpc, name: 'theirs.internal' });
  new lib.CloudMapProber(stack, 'Prober', {
    service: namespace.createService('Api', { name: 'api' }),
    vpc,
    targetSecurityGroup: new SecurityGroup(stack, 'Api', { vpc }),
    port: 8080,
  });
  return Template.fromStack(stack);
}

/** The bundle that the one function whose environment matches `variables` carries in the template. */
function bundleOf(template: Template, variables: Record<string, unknown>): string {
  const found = Object.values(template.findResources('AWS::Lambda::Function', { Properties: { Environment: { Variables: Match.objectLike(variables) } } }));
  expect(found, `functions with ${JSON.stringify(variables)}`).toHaveLength(1);
  return (found[0]?.Properties as { Code: { ZipFile: string } }).Code.ZipFile;
}

function assertBothFunctions(template: Template): void {
  expect(bundleOf(template, { TARGET_GROUP_ARNS: TG_ARN })).toMatch(/DeregisterTargets/);
  expect(
    bundleOf(template, { NAMESPACE_NAME: 'theirs.internal', SERVICE_NAME: { 'Fn::GetAtt': [Match.stringLikeRegexp('^NsApi'), 'Name'] } }),
  ).toMatch(/DiscoverInstances/);
  template.hasResourceProperties('AWS::EC2::SecurityGroupIngress', { FromPort: 8080, ToPort: 8080 });
}

/*
 * The aws-cdk-lib versions the package is installed with below, all taken from package.json.
 *
 * aws-cdk-lib and constructs are peer dependencies, so that an app gets one copy of each: a nested second
 * copy makes the app's `Vpc` unassignable to our `IVpc` (TS2322) and 485 MB of node_modules.
 *
 * The range starts at aws-cdk-lib 2.269.0 because the constructs acknowledge cdk-nag findings with
 * `Validations.of(scope).acknowledge()`, under IDs such as `AwsSolutions::AwsSolutions-IAM5[Resource::*]`.
 * `Validations` came in 2.251.0 without `acknowledge` (TypeError at synth), `acknowledge` in 2.252.0; but up
 * to 2.268.0 it splits an ID on every `::` and throws InvalidValidationId on those, and only 2.269.0 reads
 * brackets. 2.269.0 is also what the constructs compile against (checked with `tsc`), and it satisfies
 * cdk-nag 3's own peer range (^2.257.0) for apps that run cdk-nag. constructs starts at 10.5.0, the lower
 * bound of aws-cdk-lib 2.269.0's own peer range.
 *
 * The newest tested version is this repository's devDependency, linked from its node_modules so that only
 * the lowest one is installed from the npm cache or registry.
 *
 * This file runs as `npm run test:package`, outside `npm test`: packing builds the library, and each app's
 * tsc without skipLibCheck reads some 2,500 aws-cdk-lib declaration files, together about a minute of CPU.
 */
const manifest = readPackageJson(ROOT);
const LOWEST = { 'aws-cdk-lib': lowerBound('aws-cdk-lib'), constructs: lowerBound('constructs') };
const NEWEST = { 'aws-cdk-lib': devVersion('aws-cdk-lib'), constructs: devVersion('constructs') };
/** The newest aws-cdk-lib the constructs fail on (InvalidValidationId at synth): npm must refuse it. */
const OUT_OF_RANGE = '2.268.0';

function lowerBound(name: 'aws-cdk-lib' | 'constructs'): string {
  const range = manifest.peerDependencies?.[name] ?? '';
  const version = /^\^(\d+\.\d+\.\d+)$/.exec(range)?.[1];
  if (version === undefined) throw new Error(`package.json must declare ${name} as a peer dependency with a ^x.y.z range; it has '${range}'.`);
  return version;
}

function devVersion(name: 'aws-cdk-lib' | 'constructs'): string {
  const version = manifest.devDependencies?.[name] ?? '';
  if (!/^\d+\.\d+\.\d+$/.test(version)) throw new Error(`package.json must pin ${name} as an exact devDependency; it has '${version}'.`);
  return version;
}

/** Compares x.y.z versions. */
function compareVersions(a: string, b: string): number {
  const [x, y] = [a, b].map((v) => v.split('.').map(Number)) as [number[], number[]];
  for (let i = 0; i < 3; i++) {
    const d = (x[i] ?? 0) - (y[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

interface Installed {
  readonly app: ConsumerApp;
  readonly template: Template;
}

/** A promise that may reject before a test awaits it, without an unhandled rejection. */
function started<T>(promise: Promise<T>): Promise<T> {
  promise.catch(() => undefined);
  return promise;
}

// The steps overlap on the two cores: the lowest app's npm install with the pack's build, then both apps'
// tsc. Budgets are generous for a loaded machine; npm's own (test/support/consumer.ts) give up sooner.
const PACK_TIMEOUT = 240_000;
const CONSUMER_TIMEOUT = 420_000;

// Started before any test, so that the in-process tests below share the two cores with the pack's build.
let work: string;
let packed: Promise<PackedPackage>;
const consumers = new Map<'lowest' | 'newest', Promise<Installed>>();
const apps: Promise<ConsumerApp>[] = [];

/** A fresh app on `spec`'s versions that installs the tarball, compiles and synthesizes. */
function consumer(spec: ConsumerSpec): Promise<Installed> {
  const app = started(ConsumerApp.create(spec));
  apps.push(app);
  return started(
    (async () => {
      const [ready, { tarball }] = await Promise.all([app, packed]);
      await ready.install(tarball);
      await ready.compile();
      return { app: ready, template: Template.fromJSON((await ready.synth(TG_ARN)) as Record<string, unknown>) };
    })(),
  );
}

beforeAll(() => {
  work = scratchDir('pack');
  packed = started(packProject(work));
  consumers.set('lowest', consumer({ name: 'lowest', dependencies: LOWEST }));
  consumers.set('newest', consumer({
    name: 'newest',
    dependencies: { 'aws-cdk-lib': `file:${join(ROOT, 'node_modules', 'aws-cdk-lib')}`, constructs: `file:${join(ROOT, 'node_modules', 'constructs')}` },
  }));
});

afterAll(async () => {
  rmSync(work, { recursive: true, force: true });
  await Promise.all(apps.map((app) => app.then((a) => a.remove(), () => undefined)));
}, 60_000);

describe('the package entry', () => {
  it('exports the reusable constructs and both stacks', () => {
    for (const name of ['SpotInterruptionDrainer', 'CloudMapProber', 'InlineNodeFunction', 'WebLoadBalancer', 'SpotFleet', 'SpotFargateService', 'PublicVpc', 'NotificationTopic', 'SpotFleetWebAppStack', 'FargateServiceStack']) {
      expect(typeof (entry as Record<string, unknown>)[name], name).toBe('function');
    }
  });

  it('lets another CDK app compose the drainer and the prober', () => {
    assertBothFunctions(consumerStack(entry));
  });
});

describe('the packed package, installed into other CDK apps', () => {
  it('builds itself when packed: compiled JavaScript and declarations, handlers included, and no sources', async () => {
    const { files } = await packed;
    const libSources = listTs(join(ROOT, 'lib')).filter((file) => file !== 'spotwise-app.ts');
    expect(libSources).toContain('index.ts');
    const missing = libSources.flatMap((file) => {
      const base = `dist-lib/${file.replace(/\.ts$/, '')}`;
      return [`${base}.js`, `${base}.d.ts`].filter((out) => !files.includes(out));
    });
    expect(missing, 'compiled files missing from the tarball').toEqual([]);
    expect(files.filter((file) => /^dist-lib\/functions\/[^/]+\/handler\.js$/.test(file)).length).toBeGreaterThanOrEqual(4);
    // The app (cdk-nag's home) stays out, and so does everything that is not the compiled library.
    // The README links into docs/, so the docs ship with it.
    expect(
      files.filter(
        (file) => !(file.startsWith('dist-lib/') && /\.(js|d\.ts)$/.test(file)) && !/^docs\/[a-z-]+\.md$/.test(file) && !['package.json', 'README.md'].includes(file),
      ),
    ).toEqual([]);
    expect(files).toContain('docs/constructs.md');
    expect(files.filter((file) => file.startsWith('dist-lib/spotwise-app'))).toEqual([]);
  }, PACK_TIMEOUT);

  it('has aws-cdk-lib and constructs as peers, tested from their lower bound, and cdk-nag only for its own app', async () => {
    const { manifest: packedManifest } = await packed;
    expect(packedManifest.main).toBe('dist-lib/index.js');
    expect(packedManifest.types).toBe('dist-lib/index.d.ts');
    expect(packedManifest.dependencies).toEqual({ esbuild: expect.any(String) as unknown });
    expect(Object.keys(packedManifest.peerDependencies ?? {}).sort()).toEqual(['aws-cdk-lib', 'constructs']);
    expect(packedManifest.devDependencies).toHaveProperty('cdk-nag');
    expect(packedManifest.scripts?.prepare, 'git installs build through prepare').toBeDefined();
    // The versions this file installs: the bound itself, and this repository's, which must be in range.
    expect(LOWEST['aws-cdk-lib']).toBe('2.269.0');
    expect(compareVersions(OUT_OF_RANGE, LOWEST['aws-cdk-lib'])).toBeLessThan(0);
    expect(compareVersions(NEWEST['aws-cdk-lib'], LOWEST['aws-cdk-lib'])).toBeGreaterThanOrEqual(0);
    expect(NEWEST['aws-cdk-lib'].split('.')[0]).toBe('2');
    expect(compareVersions(NEWEST.constructs, LOWEST.constructs)).toBeGreaterThanOrEqual(0);
    expect(NEWEST.constructs.split('.')[0]).toBe('10');
  }, PACK_TIMEOUT);

  it('loads nothing from its entry but Node.js, its peers and esbuild', async () => {
    const { dir, manifest: packedManifest } = await packed;
    const allowed = new Set([...Object.keys(packedManifest.peerDependencies ?? {}), ...Object.keys(packedManifest.dependencies ?? {})]);
    const loaded = [...requiredPackages(dir, 'dist-lib/index.js')].filter((specifier) => !isBuiltin(specifier));
    expect(loaded.filter((specifier) => !allowed.has(packageName(specifier)))).toEqual([]);
    // The scan found the peer it must: the constructs import aws-cdk-lib's modules (aws-cdk-lib/core, …).
    expect(loaded.map(packageName)).toContain('aws-cdk-lib');
  }, PACK_TIMEOUT);

  it.each([
    ['lowest', LOWEST],
    ['newest', NEWEST],
  ] as const)(
    'works in an app on the %s versions in range: one aws-cdk-lib, strict tsc without skipLibCheck, synth with the bundled handlers',
    async (name, versions) => {
      const installed = consumers.get(name);
      if (installed === undefined) throw new Error(`no ${name} consumer`);
      const { app, template } = await installed;
      for (const dependency of ['aws-cdk-lib', 'constructs'] as const) {
        const own = app.resolve(dependency);
        expect(own.version, `${dependency} in the ${name} app`).toBe(versions[dependency]);
        expect(app.resolve(dependency, 'spotwise').dir, `the ${dependency} spotwise loads`).toBe(own.dir);
      }
      expect(readdirSync(join(app.dir, 'node_modules'))).not.toContain('cdk-nag');
      assertBothFunctions(template);
    },
    CONSUMER_TIMEOUT,
  );

  it(`makes npm refuse an app on aws-cdk-lib ${OUT_OF_RANGE} (ERESOLVE) rather than nest a second copy`, async () => {
    const { tarball } = await packed;
    const { accepted, output } = await resolveInstall({ name: 'out-of-range', dependencies: { 'aws-cdk-lib': OUT_OF_RANGE, constructs: LOWEST.constructs } }, tarball);
    expect(accepted, output).toBe(false);
    expect(output).toContain('ERESOLVE');
    expect(output).toContain(`peer aws-cdk-lib@"^${LOWEST['aws-cdk-lib']}" from spotwise@`);
  }, PACK_TIMEOUT);
});

/** The .ts files under `dir` that compile to JavaScript, relative to it, with forward slashes. */
function listTs(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((file) => file.endsWith('.ts') && !file.endsWith('.d.ts'))
    .map((file) => relative(dir, join(dir, file)).split(sep).join('/'));
}
