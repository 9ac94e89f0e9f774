/**
 * `npm run synth`: synthesizes every stack with the pinned CDK CLI as plain templates (no bootstrap version
 * parameter or rule, no asset: the Lambda code is inline), and writes each to dist/ for `aws cloudformation
 * deploy --s3-bucket` or the CloudFormation console's upload. No network, no credentials: the stacks are
 * environment-agnostic. A failed synth prints the app's own short error and nothing else.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * The largest template CloudFormation reads from S3, where `--s3-bucket` and the console upload put it:
 * 460,800 bytes in the API reference's `TemplateURL`. The quotas page may since say 1 MB; the smaller is the
 * safe bound.
 */
const TEMPLATE_URL_LIMIT = 460_800;

const root = join(__dirname, '..');
const dist = join(root, 'dist');
// Not cdk.out: that is `cdk deploy`'s, synthesized with CDK's default synthesizer.
const out = mkdtempSync(join(tmpdir(), 'spotwise-synth-'));

interface Template {
  Resources?: Record<string, unknown>;
  Parameters?: Record<string, unknown>;
}

function main(): number {
  // Extra arguments go to cdk synth, e.g. `npm run synth -- -c spotwise='{"spotFleetWebApp":{"maxCapacity":20}}'`.
  const synth = spawnSync(
    join(root, 'node_modules', '.bin', 'cdk'),
    ['synth', '--quiet', '--no-notices', '--output', out, '-c', 'spotwise:plainTemplates=true', ...process.argv.slice(2)],
    { cwd: root, stdio: 'inherit', env: { ...process.env, CDK_DISABLE_CLI_TELEMETRY: 'true' } },
  );
  // cdk has already said what went wrong.
  if (synth.status !== 0) return synth.status ?? 1;

  rmSync(dist, { recursive: true, force: true });
  mkdirSync(dist, { recursive: true });
  const rows: { stack: string; file: string; resources: number; bytes: number; parameters: string[] }[] = [];
  for (const name of readdirSync(out).filter((f) => f.endsWith('.template.json')).sort()) {
    const stack = name.replace(/\.template\.json$/, '');
    const body = readFileSync(join(out, name), 'utf8');
    const template = JSON.parse(body) as Template;
    const file = join('dist', name);
    writeFileSync(join(root, file), body);
    rows.push({
      stack,
      file,
      resources: Object.keys(template.Resources ?? {}).length,
      bytes: Buffer.byteLength(body),
      parameters: Object.keys(template.Parameters ?? {}),
    });
  }
  if (rows.length === 0) {
    console.error(`cdk synth wrote no templates to ${out}.`);
    return 1;
  }

  console.log('\nSpotwise templates\n');
  console.log(`${'stack'.padEnd(24)}${'resources'.padStart(10)}${'bytes'.padStart(10)}`);
  for (const row of rows) console.log(`${row.stack.padEnd(24)}${String(row.resources).padStart(10)}${String(row.bytes).padStart(10)}`);
  console.log('\nDeploy with AWS credentials and a bucket of yours in the stack\'s Region (no CDK bootstrap):');
  for (const row of rows) {
    const overrides = row.parameters.includes('NotificationEmail') ? ' \\\n    --parameter-overrides NotificationEmail=you@example.com' : '';
    console.log(
      `  aws cloudformation deploy --template-file ${row.file} --stack-name ${row.stack} --capabilities CAPABILITY_IAM \\\n` +
        `    --s3-bucket <your bucket>${overrides}`,
    );
  }
  const tooBig = rows.filter((row) => row.bytes > TEMPLATE_URL_LIMIT);
  if (tooBig.length > 0) {
    console.error(`\n${tooBig.map((r) => r.stack).join(', ')} exceed ${TEMPLATE_URL_LIMIT} bytes, more than CloudFormation takes even from S3.`);
    return 1;
  }
  return 0;
}

try {
  process.exitCode = main();
} finally {
  rmSync(out, { recursive: true, force: true });
}
