import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const ROOT = join(__dirname, '..');
const scratch: string[] = [];
afterAll(() => {
  for (const dir of scratch) rmSync(dir, { recursive: true, force: true });
});

/** What a person sees when a command fails: its output, both streams, without blank lines and colour. */
function run(command: string, args: readonly string[]): { status: number | null; lines: string[] } {
  const result = spawnSync(command, args, {
    cwd: ROOT,
    encoding: 'utf8',
    env: { ...process.env, CDK_DISABLE_CLI_TELEMETRY: 'true', FORCE_COLOR: '0', NO_COLOR: '1' },
    timeout: 120_000,
  });
  // eslint-disable-next-line no-control-regex -- ANSI colour codes, which the CLI may print despite NO_COLOR.
  const text = `${result.stdout}\n${result.stderr}`.replace(/\x1b\[[0-9;]*m/g, '');
  return { status: result.status, lines: text.split('\n').filter((line) => line.trim() !== '') };
}

const BAD = JSON.stringify({ spotFleetWebApp: { instanceTypes: ['m6i.large', 'm6.large'] } });
const MESSAGE =
  'Spotwise cannot synthesize: spotwise.spotFleetWebApp.instanceTypes[1]: "m6.large" names no EC2 instance family: there is no m6 (such as m6i, c7i, r6a).';

function expectShort(lines: readonly string[]): void {
  expect(lines).toContain(MESSAGE);
  // No stack trace, no source excerpt: the message, the CLI's one line that the app failed, npm's own header.
  expect(lines.filter((line) => /^\s+at |\bnode:internal\b|^\s*\d+ \|/.test(line))).toEqual([]);
  expect(lines.filter((line) => line.includes('m6.large'))).toEqual([MESSAGE]);
  expect(lines.length).toBeLessThanOrEqual(5);
}

describe('a failed synth', () => {
  it('says in a line or two what is wrong with a setting, under cdk synth', () => {
    const out = mkdtempSync(join(tmpdir(), 'spotwise-synth-errors-'));
    scratch.push(out);
    const { status, lines } = run(join(ROOT, 'node_modules', '.bin', 'cdk'), ['synth', '--quiet', '--no-notices', '--output', out, '-c', `spotwise=${BAD}`]);
    expect(status).not.toBe(0);
    expectShort(lines);
    expect(readdirSync(out).filter((file) => file.endsWith('.template.json'))).toEqual([]);
  }, 120_000);

  it('says the same under npm run synth, once, and writes nothing to dist/', () => {
    const before = existsSync(join(ROOT, 'dist')) ? readdirSync(join(ROOT, 'dist')) : undefined;
    const { status, lines } = run('npm', ['run', '--silent', 'synth', '--', '-c', `spotwise=${BAD}`]);
    expect(status).not.toBe(0);
    expectShort(lines);
    expect(existsSync(join(ROOT, 'dist')) ? readdirSync(join(ROOT, 'dist')) : undefined).toEqual(before);
  }, 120_000);
});
