import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

/**
 * cfn-lint runs as an external Python tool. Its rules and its per-Region resource schemas decide what
 * passes, so the test pins the minor version rather than following whatever `pip` last installed.
 */
export const CFN_LINT_MINOR = '1.51';
export const CFN_LINT_INSTALL = 'pip install cfn-lint==1.51.0';
const ADVICE = `Install the pinned linter with \`${CFN_LINT_INSTALL}\` (any Python >= 3.9) and make sure \`cfn-lint\` is on PATH.`;

/** Where `scripts/test-prerequisites.sh` installs cfn-lint when it is not on PATH. */
const PRIVATE_VENV = join(__dirname, '..', '..', 'node_modules', '.cache', 'cfn-lint', 'bin');

/** The cfn-lint to run: the private install if the prerequisites script made one, else the one on PATH. */
export function cfnLintCommand(): string {
  const local = join(PRIVATE_VENV, 'cfn-lint');
  return existsSync(local) ? local : 'cfn-lint';
}

/** A Python that can `import cfnlint`, for tests that read its data. */
export function cfnLintPython(): string {
  const local = join(PRIVATE_VENV, 'python3');
  return existsSync(local) ? local : 'python3';
}

/** Every flag but the Regions: JSON out; E, W and I rules; in-template `cfn-lint` suppressions overridden. */
const COMMON_FLAGS = [
  '--format', 'json',
  // cfn-lint runs E and W rules only unless asked; the I rules check retention, replacement policies, ARNs and IAM.
  '--include-checks', 'I',
  // Ignores live in the test, named and explained, not in template Metadata that a construct could add quietly.
  '--mandatory-checks', 'E', 'W', 'I',
];

/** One cfn-lint match, from `--format json`. */
export interface CfnLintFinding {
  /** The file as cfn-lint named it. */
  readonly file: string;
  /** Template name: the file name without `.template.json`, which is the stack's artifact id. */
  readonly template: string;
  readonly rule: string;
  readonly level: 'Error' | 'Warning' | 'Informational';
  /** Where in the template, e.g. `['Resources', 'WebServiceA1B2C3D4', 'Properties', 'Foo']`. */
  readonly path: readonly (string | number)[];
  readonly message: string;
}

interface JsonMatch {
  Filename: string;
  Level: string;
  Location?: { Path?: (string | number)[] | null };
  Message: string;
  Rule: { Id: string };
}

interface Exit {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

function cfnLint(args: readonly string[], cwd: string): Promise<Exit> {
  return new Promise((resolve, reject) => {
    const child = spawn(cfnLintCommand(), args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.on('error', (error: NodeJS.ErrnoException) =>
      reject(error.code === 'ENOENT' ? new Error(`cfn-lint is not on PATH. ${ADVICE}`) : error),
    );
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** Fails, with install advice, unless `cfn-lint` is on PATH and is 1.51.x. Returns the version. */
export async function requirePinnedCfnLint(cwd: string): Promise<string> {
  const { code, stdout, stderr } = await cfnLint(['--version'], cwd);
  const version = /\b(\d+\.\d+\.\d+)\b/.exec(stdout)?.[1];
  if (code !== 0 || version === undefined) {
    throw new Error(`\`cfn-lint --version\` did not run (exit ${code}): ${(stderr || stdout).trim()}\n${ADVICE}`);
  }
  if (!version.startsWith(`${CFN_LINT_MINOR}.`)) {
    throw new Error(`cfn-lint ${version} is on PATH, but this test pins ${CFN_LINT_MINOR}.x. ${ADVICE}`);
  }
  return version;
}

/**
 * Runs one cfn-lint process over `files`, in `regions` (`['ALL_REGIONS']` for every Region cfn-lint knows,
 * or none to let each template's own Metadata choose), and returns its findings.
 */
export async function lintFiles(files: readonly string[], regions: readonly string[], cwd: string): Promise<CfnLintFinding[]> {
  const regionFlags = regions.length > 0 ? ['--regions', ...regions] : [];
  // A .cfnlintrc in the home or working directory must not change what the test sees: pass an empty one.
  const configFile = join(cwd, '.cfnlintrc.yaml');
  if (!existsSync(configFile)) writeFileSync(configFile, '{}\n');
  const { code, stdout, stderr } = await cfnLint(['--config-file', configFile, ...COMMON_FLAGS, ...regionFlags, '--', ...files], cwd);
  // Exit codes 2, 4 and 8 (or'ed) mean errors, warnings and informational findings; anything else is a crash.
  let matches: JsonMatch[] | undefined;
  try {
    matches = JSON.parse(stdout) as JsonMatch[];
  } catch {
    matches = undefined;
  }
  if (code === null || code > 14 || code % 2 === 1 || !Array.isArray(matches)) {
    throw new Error(`cfn-lint failed (exit ${code}):\n${stderr.trim()}\n${stdout.slice(0, 2000)}`);
  }
  return matches.map((m) => ({
    file: m.Filename,
    template: basename(m.Filename).replace(/\.template\.json$/, ''),
    rule: m.Rule.Id,
    level: m.Level as CfnLintFinding['level'],
    path: m.Location?.Path ?? [],
    message: m.Message,
  }));
}

/** The key cfn-lint itself dedupes on across Regions: same template, rule, place and message. */
export function findingKey(f: CfnLintFinding): string {
  return [f.template, f.rule, f.path.join('/'), f.message].join('\u0000');
}

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
interface TemplateJson {
  Metadata?: Record<string, Json>;
  Resources?: Record<string, Json>;
  Outputs?: Record<string, Json>;
  [section: string]: Json | undefined;
}

/** Logical ids that `value` refers to: `Ref`, `Fn::GetAtt`, `${...}` in `Fn::Sub`, and `DependsOn`. */
function referencedNames(value: Json | undefined, into: Set<string>): Set<string> {
  if (typeof value === 'string') return into;
  if (Array.isArray(value)) {
    for (const item of value) referencedNames(item, into);
    return into;
  }
  if (value === null || typeof value !== 'object') return into;
  for (const [key, inner] of Object.entries(value)) {
    const first = Array.isArray(inner) ? inner[0] : inner;
    if (key === 'Ref' && typeof inner === 'string') into.add(inner);
    else if (key === 'Fn::GetAtt' && typeof first === 'string') into.add(first.split('.')[0] ?? first);
    else if (key === 'DependsOn') [inner].flat().forEach((name) => typeof name === 'string' && into.add(name));
    else if (key === 'Fn::Sub' && typeof first === 'string') {
      for (const [, name] of first.matchAll(/\$\{([^!}][^}.]*)/g)) if (name !== undefined) into.add(name);
    }
    referencedNames(inner, into);
  }
  return into;
}

/**
 * The part of a template that `findings` most likely depend on: the resources and outputs they are on,
 * every resource those refer to, transitively, and every other section (Parameters, Conditions, ...) whole.
 * A template a tenth the size lints ten times faster, which matters when it is linted once per Region.
 */
function essentials(template: TemplateJson, findings: readonly CfnLintFinding[]): TemplateJson {
  const resources = template.Resources ?? {};
  const outputs = Object.fromEntries(Object.entries(template.Outputs ?? {}).filter(([name]) => findings.some((f) => f.path[0] === 'Outputs' && f.path[1] === name)));
  const keep = new Set(findings.filter((f) => f.path[0] === 'Resources').map((f) => String(f.path[1])));
  const pending = [...keep, ...referencedNames(outputs, new Set())];
  for (let name = pending.pop(); name !== undefined; name = pending.pop()) {
    if (!(name in resources)) continue;
    keep.add(name);
    for (const next of referencedNames(resources[name], new Set())) if (!keep.has(next)) pending.push(next);
  }
  const { Outputs: _outputs, ...rest } = template;
  return {
    ...rest,
    Resources: Object.fromEntries(Object.entries(resources).filter(([name]) => keep.has(name))),
    ...(Object.keys(outputs).length > 0 ? { Outputs: outputs } : {}),
  };
}

/** Lints one copy of each template per Region, the Region set in the copy's Metadata; findings by key. */
async function lintPerRegion(templates: ReadonlyMap<string, TemplateJson>, regions: readonly string[], dir: string): Promise<Map<string, Set<string>>> {
  const copies = regions.map((region) =>
    [...templates].map(([name, template]) => {
      const copy = join(dir, region, `${name}.template.json`);
      mkdirSync(dirname(copy), { recursive: true });
      writeFileSync(copy, JSON.stringify({ ...template, Metadata: { ...template.Metadata, 'cfn-lint': { config: { regions: [region] } } } }));
      return copy;
    }),
  );
  // Two processes, one per half of the Regions: the machines this runs on have two cores or more.
  const half = Math.ceil(copies.length / 2);
  const runs = await Promise.all([copies.slice(0, half), copies.slice(half)].map((chunk) => lintFiles(chunk.flat(), [], dir)));
  const byKey = new Map<string, Set<string>>();
  for (const finding of runs.flat()) {
    const key = findingKey(finding);
    byKey.set(key, (byKey.get(key) ?? new Set()).add(basename(dirname(finding.file))));
  }
  return byKey;
}

/**
 * cfn-lint lints every Region in one pass but merges identical findings, and names the Region in its message
 * only for some rules. To say where the others apply, lint each template once per Region: a copy per Region
 * whose template Metadata sets `regions` (the command line sets none, so each copy's own setting wins), in
 * one process per half of the Regions. Each copy holds only what the findings likely depend on; for a
 * finding that this does not reproduce (a template-wide one, say), its whole template is linted per Region,
 * at about half a second of CPU per template per Region. It runs only to explain a failure. Returns the Regions of each finding, by {@link findingKey}.
 */
export async function regionsOfFindings(
  files: ReadonlyMap<string, string>,
  findings: readonly CfnLintFinding[],
  regions: readonly string[],
  dir: string,
): Promise<Map<string, Set<string>>> {
  const full = new Map<string, TemplateJson>();
  const trimmed = new Map<string, TemplateJson>();
  for (const name of new Set(findings.map((f) => f.template))) {
    const file = files.get(name);
    if (file === undefined) throw new Error(`No template file for ${name}`);
    const template = JSON.parse(readFileSync(file, 'utf8')) as TemplateJson;
    full.set(name, template);
    trimmed.set(name, essentials(template, findings.filter((f) => f.template === name)));
  }
  const byKey = await lintPerRegion(trimmed, regions, join(dir, 'trimmed'));
  const missed = new Set(findings.filter((f) => !byKey.has(findingKey(f))).map((f) => f.template));
  if (missed.size === 0) return byKey;
  const again = await lintPerRegion(new Map([...full].filter(([name]) => missed.has(name))), regions, join(dir, 'whole'));
  for (const f of findings.filter((f) => missed.has(f.template))) {
    const found = again.get(findingKey(f));
    if (found !== undefined) byKey.set(findingKey(f), found);
  }
  return byKey;
}

/**
 * Where cfn-lint names the Regions a finding applies to: a trailing-style ` in 'cn-north-1'` (E3006 and the
 * regional schema rules) or ` in ['cn-north-1', 'cn-northwest-1']` (GetAtt), never any quoted Region.
 */
const REGION_CLAUSE = / in (?:regions )?('[a-z0-9-]+'|\[(?:'[a-z0-9-]+'(?:, )?)+\])/g;

/** The Regions a message says it applies to, such as `cn-north-1` in "... does not exist in 'cn-north-1'". */
export function regionsNamedIn(message: string, known: readonly string[]): string[] {
  const quoted = [...message.matchAll(REGION_CLAUSE)].flatMap(([, clause]) => clause?.match(/[a-z0-9-]+/g) ?? []);
  return known.filter((region) => quoted.includes(region));
}

/** The message with those Region clauses replaced by `<Region>`, so that per-Region copies of one finding merge. */
export function withoutRegionNames(message: string, known: readonly string[]): string {
  return message.replace(REGION_CLAUSE, (clause, names: string) =>
    names.match(/[a-z0-9-]+/g)?.every((name) => known.includes(name)) ? clause.replace(names, "'<Region>'") : clause,
  );
}

/** `every Region (46)`, `44 of 46 Regions: all but cn-north-1, cn-northwest-1`, or a list. */
export function describeRegions(found: ReadonlySet<string> | undefined, all: readonly string[]): string {
  if (found === undefined || found.size === 0) return 'not reproduced when linting Region by Region';
  if (all.every((region) => found.has(region))) return `every Region (${all.length})`;
  const missing = all.filter((region) => !found.has(region));
  if (missing.length < found.size) return `${found.size} of ${all.length} Regions: all but ${missing.join(', ')}`;
  return [...found].sort().join(', ');
}
