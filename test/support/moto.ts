/**
 * moto (a Python AWS emulator) on loopback, for tests that run the real CDK CLI against it: see
 * test/support/moto-server.py for how it differs from plain `moto_server` and why.
 */
import type { ChildProcess } from 'node:child_process';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/** The account moto answers for any credentials (STS GetCallerIdentity). */
export const MOTO_ACCOUNT = '123456789012';
export const MOTO_REGION = 'us-east-1';

const SERVER_SCRIPT = join(__dirname, 'moto-server.py');
const SNAPSHOT_SCRIPT = join(__dirname, 'moto-snapshot.py');
const ADVICE = 'The CDK deploy test needs moto 5.2 on a `python3` that is on PATH (or set MOTO_PYTHON): `pip install "moto[server]==5.2.*"`.';

/** The Python with moto: MOTO_PYTHON, else `python3` on PATH. */
function python(): string {
  return process.env.MOTO_PYTHON ?? 'python3';
}

/** Fake credentials and the Region, for anything that talks to moto. */
export function fakeAwsEnv(): Record<string, string> {
  return {
    AWS_ACCESS_KEY_ID: 'testing',
    AWS_SECRET_ACCESS_KEY: 'testing',
    AWS_SESSION_TOKEN: 'testing',
    AWS_REGION: MOTO_REGION,
    AWS_DEFAULT_REGION: MOTO_REGION,
  };
}

/** One request moto answered, as moto-server.py logged it. */
export interface MotoRequest {
  /** The signing service, e.g. `cloudformation`, `s3`, `ssm`. */
  readonly service: string;
  /** The API action, e.g. `CreateChangeSet`; for S3 (a REST protocol), the HTTP method. */
  readonly action: string;
  readonly method: string;
  /** The URL path, decoded: for S3, `/bucket/key`. */
  readonly path: string;
  readonly status?: number;
  /** CloudFormation's StackName parameter, when the request had one. */
  readonly stackName?: string;
  /** CloudFormation's TemplateURL parameter, when the request had one. */
  readonly templateUrl?: string;
}

/** A stack as moto describes it (DescribeStacks, ListChangeSets, GetTemplate). */
export interface MotoStack {
  readonly status: string;
  readonly parameters: Readonly<Record<string, string | null>>;
  readonly changeSets: readonly { readonly name: string; readonly executionStatus?: string }[];
  /** GetTemplate's TemplateBody: the template moto took from the change set. */
  readonly template: string;
}

/** What moto holds, through its APIs: see moto-snapshot.py. */
export interface MotoSnapshot {
  /** STS GetCallerIdentity's account. */
  readonly account: string;
  /** By stack name; null if moto does not know the stack. */
  readonly stacks: Readonly<Record<string, MotoStack | null>>;
  /** The bootstrap version SSM parameter's value; null if there is none. */
  readonly bootstrapVersion: string | null;
  /** The bucket's objects, key to content; null if there is no such bucket. */
  readonly bucketObjects: Readonly<Record<string, string>> | null;
}

export interface Moto {
  /** `http://127.0.0.1:PORT`. */
  readonly endpoint: string;
  readonly port: number;
  /** Every request moto has answered, oldest first. */
  requests(): MotoRequest[];
  /** Stacks, the bootstrap version parameter and a bucket's objects, as moto reports them. */
  snapshot(bucket: string, stackNames: readonly string[]): Promise<MotoSnapshot>;
  /** Stops moto; safe to call twice. */
  stop(): Promise<void>;
}

function exited(child: ChildProcess): Promise<void> {
  return child.exitCode !== null || child.signalCode !== null
    ? Promise.resolve()
    : new Promise((resolve) => child.once('exit', () => resolve()));
}

/**
 * Starts moto-server.py on an ephemeral loopback port, logging requests to `requestLog`. moto exits when its stdin
 * closes, so it also goes if the test process dies without calling `stop`.
 */
export async function startMoto(requestLog: string, timeoutMs = 30_000): Promise<Moto> {
  const child = spawn(python(), [SERVER_SCRIPT, requestLog], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
    // moto logs every request and warns of every unsupported resource type: keep the tail for errors.
    stderr = (stderr + chunk).slice(-20_000);
  });

  const stop = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.stdin.end();
    child.kill('SIGTERM');
    const killer = setTimeout(() => child.kill('SIGKILL'), 5_000);
    await exited(child);
    clearTimeout(killer);
  };

  let port: number;
  try {
    port = await new Promise<number>((resolve, reject) => {
      let stdout = '';
      const timer = setTimeout(() => reject(new Error(`moto did not start within ${timeoutMs} ms.\n${stderr}`)), timeoutMs);
      child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
        stdout += chunk;
        const match = /^listening (\d+)$/m.exec(stdout);
        if (match) {
          clearTimeout(timer);
          resolve(Number(match[1]));
        }
      });
      child.once('error', (error) => {
        clearTimeout(timer);
        reject(new Error(`${python()} did not run: ${error.message}. ${ADVICE}`));
      });
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`moto exited (${code}) before listening. ${ADVICE}\n${stderr}`));
      });
    });
  } catch (error) {
    await stop();
    throw error;
  }

  const endpoint = `http://127.0.0.1:${port}`;
  return {
    endpoint,
    port,
    requests: () =>
      existsSync(requestLog)
        ? readFileSync(requestLog, 'utf8')
            .split('\n')
            .filter((line) => line !== '')
            .map((line) => JSON.parse(line) as MotoRequest)
        : [],
    snapshot: (bucket, stackNames) =>
      new Promise((resolve, reject) => {
        const query = spawn(python(), [SNAPSHOT_SCRIPT, endpoint, bucket, ...stackNames], {
          env: { ...process.env, ...fakeAwsEnv() },
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        let out = '';
        let err = '';
        query.stdout.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
        query.stderr.setEncoding('utf8').on('data', (chunk: string) => (err += chunk));
        query.once('error', reject);
        query.once('close', (code) => {
          if (code === 0) resolve(JSON.parse(out) as MotoSnapshot);
          else reject(new Error(`moto-snapshot.py exited ${code}: ${err}`));
        });
      }),
    stop,
  };
}
