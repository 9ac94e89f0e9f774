/**
 * `cdk deploy` end to end, offline: the real CDK CLI (node_modules/.bin/cdk) bootstraps and deploys the app's
 * stacks into moto on loopback, and the test asks moto what the CLI did. Slow (a synth and three CLI runs), so it
 * is not part of `npm test`: run it with `npx vitest run test/cdk-deploy.integration.test.ts`.
 *
 * moto creates no resources for the app's stacks (see test/support/moto-server.py), so nothing here says which
 * resources a deploy makes: only that the CLI published each template to the bootstrap bucket and deployed it
 * through a change set that CloudFormation read from there.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Moto, MotoRequest, MotoSnapshot } from './support/moto';
import { fakeAwsEnv, MOTO_ACCOUNT, MOTO_REGION, startMoto } from './support/moto';

const ROOT = join(__dirname, '..');
const CDK = join(ROOT, 'node_modules', '.bin', 'cdk');
const STACKS = ['SpotAutoScalingWebApp', 'SpotFleetWebApp', 'FargateService'] as const;
const BOOTSTRAP_STACK = 'CDKToolkit';
const ENVIRONMENT = `aws://${MOTO_ACCOUNT}/${MOTO_REGION}`;
/** The default synthesizer's staging bucket, qualifier hnb659fds. */
const BUCKET = `cdk-hnb659fds-assets-${MOTO_ACCOUNT}-${MOTO_REGION}`;

interface Run {
  readonly code: number | null;
  /** stdout and stderr, interleaved as they came. */
  readonly output: string;
}

/**
 * The environment for the CLI: nothing AWS or CDK from the caller's, fake credentials, every endpoint moto.
 * The CLI builds each change set's TemplateURL from AWS_ENDPOINT_URL_S3_FOR_CLOUDFORMATION (read in
 * `restUrlFromManifest` in node_modules/aws-cdk/lib/index.js), path-style: `localhost`, because moto would take
 * the `127` of `127.0.0.1` for a bucket name.
 */
function cliEnv(moto: Moto, home: string): NodeJS.ProcessEnv {
  const inherited = Object.fromEntries(
    Object.entries(process.env).filter(([name]) => !/^(AWS_|CDK_)/.test(name)),
  );
  return {
    ...inherited,
    ...fakeAwsEnv(),
    AWS_CONFIG_FILE: join(home, 'aws-config'),
    AWS_SHARED_CREDENTIALS_FILE: join(home, 'aws-credentials'),
    AWS_ENDPOINT_URL: moto.endpoint,
    AWS_ENDPOINT_URL_S3_FOR_CLOUDFORMATION: `http://localhost:${moto.port}`,
    CDK_DISABLE_CLI_TELEMETRY: 'true',
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    FORCE_COLOR: '0',
    NO_COLOR: '1',
  };
}

/** Runs the CDK CLI in the repository; kills its whole process group if it outlives `timeoutMs`. */
function cdk(args: readonly string[], env: NodeJS.ProcessEnv, timeoutMs: number): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(CDK, [...args, '--no-notices'], { cwd: ROOT, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    const collect = (chunk: string): void => {
      output += chunk;
    };
    child.stdout.setEncoding('utf8').on('data', collect);
    child.stderr.setEncoding('utf8').on('data', collect);
    const timer = setTimeout(() => {
      try {
        if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
      } catch {
        // Already gone.
      }
      reject(new Error(`cdk ${args.join(' ')} ran past ${timeoutMs} ms:\n${output}`));
    }, timeoutMs);
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

/** The staging bucket key the assets manifest gives the stack's template. */
function templateObjectKey(assembly: string, stack: string): string {
  const manifest = JSON.parse(readFileSync(join(assembly, `${stack}.assets.json`), 'utf8')) as {
    files: Record<string, { source: { path: string }; destinations: Record<string, { bucketName: string; objectKey: string }> }>;
  };
  const [entry, ...others] = Object.values(manifest.files).filter((file) => file.source.path === `${stack}.template.json`);
  expect(others, `${stack}'s assets manifest names its template once`).toEqual([]);
  const [destination] = Object.values(entry?.destinations ?? {});
  expect(destination?.bucketName).toBe('cdk-hnb659fds-assets-${AWS::AccountId}-${AWS::Region}');
  return destination?.objectKey ?? '';
}

function cloudFormationCalls(requests: readonly MotoRequest[], stack: string): string[] {
  return requests.filter((r) => r.service === 'cloudformation' && r.stackName === stack).map((r) => r.action);
}

describe('cdk deploy into moto', () => {
  const work = mkdtempSync(join(tmpdir(), 'spotwise-cdk-deploy-'));
  // The first deploy synthesizes the app here; the later commands deploy that assembly (`--app <dir>`), so the app
  // synthesizes once.
  const assembly = join(work, 'cdk.out');
  let moto: Moto | undefined;
  let env: NodeJS.ProcessEnv = {};

  const running = (): Moto => {
    if (moto === undefined) throw new Error('moto did not start');
    return moto;
  };

  beforeAll(async () => {
    moto = await startMoto(join(work, 'requests.jsonl'));
    env = cliEnv(moto, work);
  });

  afterAll(async () => {
    await moto?.stop();
    rmSync(work, { recursive: true, force: true });
  });

  it('moto answers STS for the account the test bootstraps', async () => {
    expect((await running().snapshot(BUCKET, [])).account).toBe(MOTO_ACCOUNT);
  });

  it('refuses to deploy before the environment is bootstrapped, saying to run cdk bootstrap, and changes nothing', async () => {
    const run = await cdk(
      ['deploy', 'SpotFleetWebApp', '--require-approval', 'never', '--output', assembly],
      env,
      100_000,
    );

    expect(run.code, run.output).not.toBe(0);
    expect(run.output).toContain(
      `SSM parameter /cdk-bootstrap/hnb659fds/version not found in ${ENVIRONMENT}. Has the environment been bootstrapped? Please run 'cdk bootstrap'`,
    );
    const requests = running().requests();
    expect(requests.filter((r) => r.service === 'cloudformation' && r.action !== 'DescribeStacks')).toEqual([]);
    expect(requests.filter((r) => r.service === 's3' && r.method === 'PUT')).toEqual([]);
  }, 110_000);

  it('bootstraps the environment: a complete CDKToolkit stack, its version parameter and its staging bucket', async () => {
    const run = await cdk(['bootstrap', ENVIRONMENT, '--app', assembly], env, 60_000);

    expect(run.code, run.output).toBe(0);
    expect(run.output).toContain(`Environment ${ENVIRONMENT} bootstrapped.`);
    const snapshot = await running().snapshot(BUCKET, [BOOTSTRAP_STACK]);
    expect(snapshot.stacks[BOOTSTRAP_STACK]?.status).toBe('CREATE_COMPLETE');
    // The app's templates require bootstrap version 6 or later (their CheckBootstrapVersion rule).
    expect(Number(snapshot.bootstrapVersion)).toBeGreaterThanOrEqual(6);
    expect(snapshot.bucketObjects).toEqual({});
  }, 70_000);

  describe('then deploys both stacks', () => {
    let deploy: Run = { code: null, output: '' };
    let snapshot: MotoSnapshot | undefined;
    let requests: MotoRequest[] = [];

    const deployed = (): MotoSnapshot => {
      if (snapshot === undefined) throw new Error('the deploy did not run');
      return snapshot;
    };

    beforeAll(async () => {
      const before = running().requests().length;
      deploy = await cdk(['deploy', ...STACKS, '--require-approval', 'never', '--app', assembly], env, 90_000);
      requests = running().requests().slice(before);
      snapshot = await running().snapshot(BUCKET, [...STACKS]);
    }, 100_000);

    it('exits 0, reporting each stack deployed', () => {
      expect(deploy.code, deploy.output).toBe(0);
      for (const stack of STACKS) {
        expect(deploy.output).toContain(`✅  ${stack}`);
        expect(deploy.output).toMatch(new RegExp(`arn:aws:cloudformation:${MOTO_REGION}:${MOTO_ACCOUNT}:stack/${stack}/`));
      }
    });

    it.each(STACKS)('uploads %s\'s template, byte for byte, to the staging bucket under its asset hash', (stack) => {
      const key = templateObjectKey(assembly, stack);
      expect(requests).toContainEqual(expect.objectContaining({ service: 's3', method: 'PUT', path: `/${BUCKET}/${key}`, status: 200 }));
      expect(deployed().bucketObjects?.[key]).toBe(readFileSync(join(assembly, `${stack}.template.json`), 'utf8'));
    });

    it.each(STACKS)('creates %s through a change set whose TemplateURL is the uploaded object, then executes it', (stack) => {
      const key = templateObjectKey(assembly, stack);
      const calls = cloudFormationCalls(requests, stack);
      expect(calls).toContain('CreateChangeSet');
      expect(calls.indexOf('ExecuteChangeSet')).toBeGreaterThan(calls.indexOf('CreateChangeSet'));
      expect(requests.filter((r) => r.action === 'CreateChangeSet' && r.stackName === stack).map((r) => r.templateUrl)).toEqual([
        `http://localhost:${running().port}/${BUCKET}/${key}`,
      ]);

      const state = deployed().stacks[stack];
      expect(state?.changeSets).toEqual([{ name: 'cdk-deploy-change-set', executionStatus: 'EXECUTE_COMPLETE' }]);
      // CloudFormation read the template from the bucket: the stack's template is the synthesized one.
      expect(JSON.parse(state?.template ?? 'null')).toEqual(JSON.parse(readFileSync(join(assembly, `${stack}.template.json`), 'utf8')));
      // moto completes a stack without creating its resources (see moto-server.py); the CLI waited for that.
      expect(state?.status).toBe('CREATE_COMPLETE');
    });

    it.each(STACKS)('passes %s the bootstrap version through its SSM-typed BootstrapVersion parameter', (stack) => {
      expect(deployed().stacks[stack]?.parameters.BootstrapVersion).toBe(deployed().bootstrapVersion);
    });

    it('gets no server error from moto for any request', () => {
      expect(running().requests().filter((r) => r.status === undefined || r.status >= 500)).toEqual([]);
    });
  });
});
