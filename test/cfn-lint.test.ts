import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CfnElement, CfnWaitConditionHandle, Stack } from 'aws-cdk-lib/core';
import { TargetType } from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import { PublicVpc } from '../lib/constructs/public-vpc';
import { WebLoadBalancer } from '../lib/constructs/web-load-balancer';
import { afterAll, describe, expect, it } from 'vitest';
import { addSpotwiseStacks } from '../lib/spotwise-app';
import { newApp } from './support/app';
import type { CfnLintFinding } from './support/cfn-lint';
import {
  describeRegions,
  findingKey,
  lintFiles,
  regionsNamedIn,
  regionsOfFindings,
  requirePinnedCfnLint,
  withoutRegionNames,
} from './support/cfn-lint';

/**
 * What fails: every Error; every Warning; and every Informational finding too, since cfn-lint's I rules are the
 * ones that check retention and replacement policies on stateful resources, pseudo parameters in ARNs, IAM
 * statements whose resources do not fit their actions, and legacy instance generations. Each can be accepted
 * only here, by rule and resource, with a reason.
 *
 * A finding the test accepts. Errors are never accepted. `resource` is the CDK construct path of the
 * resource the finding is on (or the template path, such as `FargateService/Outputs/SiteUrl`, when it is
 * not on a resource); leave it out only for a rule that is noise wherever CDK emits it.
 */
interface Ignore {
  readonly rule: `W${number}` | `I${number}`;
  readonly resource?: string;
  /** Narrows the ignore to findings whose message matches, so a second, different problem still fails. */
  readonly message?: RegExp;
  readonly reason: string;
}

/**
 * What CDK itself writes, in every template it synthesizes, and what rewriting its output would only restyle.
 * (An earlier template rewriter, removed with the template byte budget, made both go away.)
 */
const IGNORES: readonly Ignore[] = [
  {
    rule: 'I1022',
    reason:
      'CDK renders every string that mixes text and references as Fn::Join; Fn::Sub would say the same. A style hint, on CDK output, ' +
      'not on anything this project chooses.',
  },
  {
    rule: 'W3005',
    message: /^'\w+Role[0-9A-F]{8}' dependency already enforced by a 'GetAtt' at 'Resources\/\w+\/Properties\/Role'$/,
    reason:
      "CDK's Function depends on its role and the role's default policy, so that the function never runs without its grants; " +
      'the role half of that is what the GetAtt of its ARN implies already.',
  },
  {
    rule: 'W3005',
    resource: 'SpotFleetWebApp/SpotFleet/Fleet',
    message: /^'SpotFleetFleetRole[0-9A-F]{8}' dependency already enforced by a 'GetAtt'/,
    reason:
      'The fleet depends on the fleet role construct, so that any policy the role gains is in place before the request launches; ' +
      'CDK writes the role itself into that DependsOn too, which the IamFleetRole GetAtt implies already.',
  },
];

/** A resource type that exists nowhere: cfn-lint reports it once per Region linted, naming the Region. */
const CANARY = { Resources: { Canary: { Type: 'AWS::Spotwise::RegionCanary' } } };
const CANARY_NAME = 'region-canary';

/** A finding with the construct path of what it is on, for messages and ignores. */
interface Located extends CfnLintFinding {
  readonly resource: string;
}

function matches(ignore: Ignore, f: Located): boolean {
  return ignore.rule === f.rule && (ignore.resource === undefined || ignore.resource === f.resource) && (ignore.message?.test(f.message) ?? true);
}

interface LintRun {
  readonly version: string;
  /** The Regions cfn-lint linted, as its canary findings name them. */
  readonly regions: string[];
  readonly findings: Located[];
  /** Template files by name (the stack's artifact id), each exactly as `npm run synth` writes it to dist/. */
  readonly templates: Map<string, string>;
  readonly workDir: string;
}

/** Directories to delete after the tests: the linter's and the CDK assembly's. */
const scratch: string[] = [];

/**
 * Synthesizes the app as `npm run synth` does, writes each stack's template and a Region canary to a temporary
 * directory, and runs one cfn-lint process over all of them in every Region (its start-up, about 1.5 s, costs
 * more than the extra Regions). Memoized; the tests await it rather than a hook, so that a missing or wrong
 * cfn-lint fails each test with the install advice instead of skipping them.
 */
let run: Promise<LintRun> | undefined;
function lintApp(): Promise<LintRun> {
  run ??= (async () => {
    const workDir = mkdtempSync(join(tmpdir(), 'spotwise-cfn-lint-'));
    scratch.push(workDir);
    // Runs while the stacks synthesize.
    const pinned = requirePinnedCfnLint(workDir);
    void pinned.catch(() => undefined);

    const resourcePaths = new Map<string, string>();
    const templates = new Map<string, string>();
    // The plain templates of dist/. The ones `cdk deploy` sends add only CDK's bootstrap version parameter and
    // rule (test/app.test.ts checks that), so linting them too would double the time and find nothing of ours.
    const app = newApp();
    addSpotwiseStacks(app);
    // And the load balancer as the stacks do not use it, with no certificate and with a literal one: one lint
    // run for all, since each cfn-lint process costs seconds before it reads a template.
    for (const [id, certificateArn] of [
      ['WebLoadBalancerHttp', undefined],
      ['WebLoadBalancerHttps', 'arn:aws:acm:us-east-2:123456789012:certificate/12345678-90ab-cdef-1234-567890abcdef'],
    ] as const) {
      const stack = new Stack(app, id);
      const { vpc } = new PublicVpc(stack, 'Network');
      const web = new WebLoadBalancer(stack, 'Web', { vpc, targetType: TargetType.INSTANCE, certificateArn });
      new CfnWaitConditionHandle(stack, 'Attached').node.addDependency(web.targetGroup.loadBalancerAttached);
    }
    const assembly = app.synth();
    scratch.push(assembly.directory);
    const stacks = app.node.findAll().filter(Stack.isStack);
    for (const artifact of assembly.stacks) {
      const stack = stacks.find((s) => s.artifactId === artifact.id);
      if (stack === undefined) throw new Error(`No stack construct for artifact ${artifact.id}`);
      const name = artifact.id;
      for (const element of stack.node.findAll()) {
        if (CfnElement.isCfnElement(element) && element.stack === stack) {
          resourcePaths.set(`${name}/${stack.resolve(element.logicalId) as string}`, element.node.path);
        }
      }
      const file = join(workDir, `${name}.template.json`);
      // As CDK writes it to cdk.out, and scripts/synth.ts copies it to dist/: cfn-lint's size rules measure the file.
      writeFileSync(file, JSON.stringify(artifact.template, undefined, 1));
      templates.set(name, file);
    }
    mkdirSync(join(workDir, 'canary'));
    const canaryFile = join(workDir, 'canary', `${CANARY_NAME}.template.json`);
    writeFileSync(canaryFile, JSON.stringify(CANARY));

    const version = await pinned;
    const all = await lintFiles([...templates.values(), canaryFile], ['ALL_REGIONS'], workDir);
    const regions = all
      .filter((f) => f.template === CANARY_NAME)
      .map((f) => /^Resource type 'AWS::Spotwise::RegionCanary' does not exist in '([a-z0-9-]+)'$/.exec(f.message)?.[1] ?? f.message);
    const findings = all
      .filter((f) => f.template !== CANARY_NAME)
      .map((f) => {
        const [section, id] = f.path;
        const resource =
          section === 'Resources'
            ? (resourcePaths.get(`${f.template}/${String(id)}`) ?? `${f.template}/Resources/${String(id)}`)
            : [f.template, ...f.path.slice(0, 2)].join('/');
        return { ...f, resource };
      });
    return { version, regions, findings, templates, workDir };
  })();
  return run;
}

/**
 * Synthesis plus cfn-lint take 15 to 35 s on a 2-core machine, depending on what else runs; explaining a failure
 * Region by Region can take minutes more on a busy one, and a timeout would hide the explanation.
 */
const TIMEOUT = 180_000;
const EXPLAIN_TIMEOUT = 420_000;

describe('cfn-lint, in every Region it knows', () => {
  afterAll(() => {
    for (const dir of scratch) rmSync(dir, { recursive: true, force: true });
  });

  it('runs the pinned cfn-lint over every stack, as synth writes it, in every Region it knows, China, GovCloud and ISO included', async () => {
    const { version, regions, templates } = await lintApp();
    expect([...templates.keys()].sort()).toEqual(['FargateService', 'SpotAutoScalingWebApp', 'SpotFleetWebApp', 'WebLoadBalancerHttp', 'WebLoadBalancerHttps']);
    expect(version).toMatch(/^1\.51\./);
    expect(new Set(regions).size).toBe(regions.length);
    // cfn-lint 1.51.0 knows 46 Regions; a patch release may add some, never drop them.
    expect(regions.length).toBeGreaterThanOrEqual(46);
    expect(regions).toEqual(
      expect.arrayContaining(['us-east-1', 'eu-west-1', 'cn-north-1', 'cn-northwest-1', 'us-gov-east-1', 'us-gov-west-1', 'us-iso-east-1', 'us-isob-east-1', 'eusc-de-east-1']),
    );
  }, TIMEOUT);

  it('finds no errors, and no warnings or informational findings beyond the named ignores', async () => {
    const { version, regions, findings, templates, workDir } = await lintApp();
    for (const ignore of IGNORES) expect(ignore.reason.length, `${ignore.rule} ${ignore.resource ?? ''}`).toBeGreaterThan(60);
    const open = findings.filter((f) => f.level === 'Error' || !IGNORES.some((ignore) => matches(ignore, f)));
    if (open.length === 0) return;

    // cfn-lint reports a finding once per Region when its message names the Region: merge those copies.
    const groups = new Map<string, { finding: Located; message: string; named: Set<string> }>();
    for (const f of open) {
      const message = withoutRegionNames(f.message, regions);
      const key = [f.template, f.rule, f.path.join('/'), message].join('\u0000');
      const group = groups.get(key) ?? { finding: f, message, named: new Set<string>() };
      for (const region of regionsNamedIn(f.message, regions)) group.named.add(region);
      groups.set(key, group);
    }
    // For the rest, and only now, find out where each applies by linting their templates Region by Region.
    const unnamed = [...groups.values()].filter((g) => g.named.size === 0).map((g) => g.finding);
    const regionsOf = unnamed.length === 0 ? new Map<string, Set<string>>() : await regionsOfFindings(templates, unnamed, regions, join(workDir, 'by-region'));
    const report = [...groups.values()]
      .sort((a, b) => a.finding.level.localeCompare(b.finding.level) || a.finding.rule.localeCompare(b.finding.rule) || a.finding.resource.localeCompare(b.finding.resource))
      .map(
        ({ finding: f, message, named }) =>
          `${f.rule} (${f.level}) on ${f.resource}\n` +
          `    at:      ${f.template} ${f.path.join('/')}\n` +
          `    Regions: ${describeRegions(named.size > 0 ? named : regionsOf.get(findingKey(f)), regions)}\n` +
          `    ${message}`,
      );
    expect.fail(
      `cfn-lint ${version}, over ${regions.length} Regions, reports ${report.length} finding(s) that are not in the ignore list ` +
        `of test/cfn-lint.test.ts. Fix the construct in lib/; only a warning or informational finding that cannot be fixed ` +
        `may be ignored there, per resource, with its reason.\n\n${report.join('\n\n')}`,
    );
  }, EXPLAIN_TIMEOUT);

  it('names no ignore that no longer matches a finding', async () => {
    const { findings } = await lintApp();
    const stale = IGNORES.filter((ignore) => !findings.some((f) => f.level !== 'Error' && matches(ignore, f)));
    expect(stale.map((ignore) => `${ignore.rule} ${ignore.resource ?? '(everywhere)'}`), 'ignores with nothing to ignore; delete them').toEqual([]);
  }, TIMEOUT);
});
