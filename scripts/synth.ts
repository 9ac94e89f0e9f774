/**
 * `npm run synth`: synthesizes both stacks with the pinned CDK CLI (no network, no credentials: the stacks
 * are environment-agnostic and bootstrapless), then writes each template, minified, to dist/ for plain
 * `aws cloudformation deploy`, and prints what was written.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { compactTemplate } from '../lib/compact-template';

/** The largest template `aws cloudformation deploy --template-file` sends without an S3 bucket. */
const TEMPLATE_BODY_LIMIT = 51_200;
/**
 * The largest template CloudFormation reads from S3, where `--s3-bucket` uploads it: 460,800 bytes in the API
 * reference's `TemplateURL`. The quotas page may since say 1 MB; the smaller is the safe bound.
 */
const TEMPLATE_URL_LIMIT = 460_800;

const root = join(__dirname, '..');
const cdkOut = join(root, 'cdk.out');
const dist = join(root, 'dist');

// Extra arguments go to cdk synth, e.g. `npm run synth -- -c spotwise='{"spotFleetWebApp":{"maxCapacity":20}}'`.
execFileSync(join(root, 'node_modules', '.bin', 'cdk'), ['synth', '--quiet', '--no-notices', '--output', cdkOut, ...process.argv.slice(2)], {
  cwd: root,
  stdio: 'inherit',
  env: { ...process.env, CDK_DISABLE_CLI_TELEMETRY: 'true' },
});

rmSync(dist, { recursive: true, force: true });
mkdirSync(dist, { recursive: true });

interface Template {
  Resources?: Record<string, unknown>;
  Parameters?: Record<string, unknown>;
}

const rows: { stack: string; file: string; resources: number; bytes: number; parameters: string[] }[] = [];
for (const name of readdirSync(cdkOut).filter((f) => f.endsWith('.template.json')).sort()) {
  const stack = name.replace(/\.template\.json$/, '');
  // The same template, shorter: see lib/compact-template.ts.
  const template = compactTemplate(JSON.parse(readFileSync(join(cdkOut, name), 'utf8')) as Template);
  const body = JSON.stringify(template);
  const file = join('dist', `${stack}.template.json`);
  writeFileSync(join(root, file), body);
  rows.push({
    stack,
    file,
    resources: Object.keys(template.Resources ?? {}).length,
    bytes: Buffer.byteLength(body),
    parameters: Object.keys(template.Parameters ?? {}),
  });
}

if (rows.length === 0) throw new Error(`cdk synth wrote no templates to ${cdkOut}`);

console.log('\nSpotwise templates\n');
console.log(`${'stack'.padEnd(18)}${'resources'.padStart(10)}${'bytes'.padStart(9)}  fits --template-file (<= ${TEMPLATE_BODY_LIMIT})`);
for (const row of rows) {
  const fits = row.bytes <= TEMPLATE_BODY_LIMIT ? 'yes' : 'no: deploy it with --s3-bucket';
  console.log(`${row.stack.padEnd(18)}${String(row.resources).padStart(10)}${String(row.bytes).padStart(9)}  ${fits}`);
}
console.log('\nDeploy (needs only AWS credentials; no CDK bootstrap):');
for (const row of rows) {
  const overrides = row.parameters.includes('NotificationEmail')
    ? ' \\\n    --parameter-overrides NotificationEmail=you@example.com'
    : '';
  // Over the inline limit, the CLI uploads the template to a bucket of yours in the stack's Region.
  const bucket = row.bytes > TEMPLATE_BODY_LIMIT ? ' \\\n    --s3-bucket <a bucket of yours in this Region>' : '';
  console.log(
    `  aws cloudformation deploy --template-file ${row.file} --stack-name ${row.stack} --capabilities CAPABILITY_IAM${bucket}${overrides}`,
  );
}
const tooBig = rows.filter((row) => row.bytes > TEMPLATE_URL_LIMIT);
if (tooBig.length > 0) {
  console.error(`\n${tooBig.map((r) => r.stack).join(', ')} exceed ${TEMPLATE_URL_LIMIT} bytes, more than CloudFormation takes even from S3.`);
  process.exitCode = 1;
}
