import type { ChildProcess } from 'node:child_process';
import { spawn } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Where Debian's `nginx` package puts the binary; `NGINX_BIN` overrides it. */
export const NGINX_BIN = process.env.NGINX_BIN ?? '/usr/sbin/nginx';

export interface NginxServerBlock {
  /** Loopback port the server block listens on. */
  readonly port: number;
  /** Status every request to this server block gets. */
  readonly status: number;
}

/**
 * The nobody user and nogroup group of Debian and Ubuntu: who nginx runs as when the tests run as root, as the
 * task's nginx runs as uid 101 rather than root.
 */
export const UNPRIVILEGED_UID = 65534;
export const UNPRIVILEGED_GID = 65534;

export interface RunningNginx {
  /** Read-only for nginx: its configuration, and the parent of `scratch`. */
  readonly prefix: string;
  /** The only directory nginx may write to, as the task's /tmp: pid, temporary files, logs. */
  readonly scratch: string;
  /** The master process's id. */
  readonly pid: number;
  /** The access log so far, one line per request, in the nginx images' `main` format. */
  accessLog(): string[];
  /** Every path under `prefix` that is not under `scratch`, relative to `prefix`. */
  pathsOutsideScratch(): string[];
  stop(): Promise<void>;
}

/** The `main` log format of the official and the unprivileged nginx images' nginx.conf, which their access log uses. */
export const NGINX_MAIN_LOG_FORMAT =
  `'$remote_addr - $remote_user [$time_local] "$request" ' '$status $body_bytes_sent "$http_referer" ' '"$http_user_agent" "$http_x_forwarded_for"'`;

/**
 * Fails, never skips: a test that silently does nothing when nginx is absent would pass in a CI image
 * that forgot to install it.
 */
export function assertNginxInstalled(): void {
  if (!existsSync(NGINX_BIN)) {
    throw new Error(
      `nginx was not found at ${NGINX_BIN}. This test runs against a real nginx: install it with ` +
        '`apt-get update && apt-get install -y nginx` (CI installs it the same way), or set NGINX_BIN.',
    );
  }
}

/** A loopback port that was free a moment ago. Another process could take it before it is used; on loopback in a test run that is rare enough. */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('could not read the port of a loopback listener');
  return address.port;
}

/**
 * Starts nginx in the foreground as the task runs it: as a user other than root (`nobody` when the tests run as
 * root, else the tests' own user), with no `user` directive, on high loopback ports, and writing only to one
 * scratch directory, as the task's read-only root filesystem leaves it /tmp. Its configuration and the prefix
 * around the scratch directory are read-only to it: when the tests run as root they are root's and mode 0555 /
 * 0444, which nginx cannot change; otherwise the mode alone says so. It needs neither /etc/nginx nor /var/log.
 */
export async function startNginx(blocks: readonly NginxServerBlock[]): Promise<RunningNginx> {
  assertNginxInstalled();
  const asRoot = process.getuid?.() === 0;
  const prefix = mkdtempSync(join(tmpdir(), 'spotwise-nginx-'));
  const scratch = join(prefix, 'scratch');
  mkdirSync(scratch, { mode: 0o700 });
  if (asRoot) chownSync(scratch, UNPRIVILEGED_UID, UNPRIVILEGED_GID);
  const errorLog = join(scratch, 'error.log');
  const accessLog = join(scratch, 'access.log');
  const configPath = join(prefix, 'nginx.conf');
  writeFileSync(configPath, nginxConfig(scratch, blocks), { mode: 0o444 });
  chmodSync(prefix, 0o555);

  const child = spawn(NGINX_BIN, ['-p', prefix, '-c', configPath, '-e', errorLog], {
    stdio: ['ignore', 'pipe', 'pipe'],
    ...(asRoot && { uid: UNPRIVILEGED_UID, gid: UNPRIVILEGED_GID }),
  });
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const spawnFailed = new Promise<Error>((resolve) => child.once('error', resolve));

  const stop = async (): Promise<void> => {
    await stopChild(child, exited);
    chmodSync(prefix, 0o755);
    rmSync(prefix, { recursive: true, force: true });
  };

  const diagnostics = (): string => `nginx output:\n${output}\nerror.log:\n${existsSync(errorLog) ? readFileSync(errorLog, 'utf8') : '(none)'}`;
  const ready = Promise.all(blocks.map((block) => waitForListener(block.port, 5000)));
  const outcome = await Promise.race([
    ready.then(() => 'ready' as const),
    exited.then((code) => new Error(`nginx exited with code ${code} before accepting connections.`)),
    spawnFailed.then((error) => new Error(`nginx could not be started: ${error.message}`)),
  ]).catch((error: unknown) => (error instanceof Error ? error : new Error(String(error))));
  if (outcome !== 'ready') {
    const message = `${outcome.message}\n${diagnostics()}`;
    await stop();
    throw new Error(message);
  }
  const pid = child.pid;
  if (pid === undefined) throw new Error('nginx started without a process id');
  return {
    prefix,
    scratch,
    pid,
    accessLog: () => (existsSync(accessLog) ? readFileSync(accessLog, 'utf8').split('\n').filter((line) => line !== '') : []),
    pathsOutsideScratch: () => listTree(prefix).filter((path) => path !== 'scratch' && !path.startsWith('scratch/')),
    stop,
  };
}

/** Every path under `root`, relative to it. */
function listTree(root: string, relative = ''): string[] {
  const paths: string[] = [];
  for (const name of readdirSync(join(root, relative))) {
    const path = relative === '' ? name : `${relative}/${name}`;
    paths.push(path);
    if (statSync(join(root, path)).isDirectory()) paths.push(...listTree(root, path));
  }
  return paths;
}

/** The real uid of process `pid`, from /proc. */
export function processUid(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8')
    .split('\n')
    .find((l) => l.startsWith('Uid:'));
  if (line === undefined) throw new Error(`/proc/${pid}/status has no Uid line`);
  return Number(line.split(/\s+/)[1]);
}

/** As the unprivileged image configures it: pid and every temporary path in the scratch directory, the `main` access log. */
function nginxConfig(scratch: string, blocks: readonly NginxServerBlock[]): string {
  const temp = scratch;
  const servers = blocks
    .map(
      (block) => `
    server {
      listen 127.0.0.1:${block.port};
      location / { return ${block.status} "status ${block.status}\\n"; }
    }`,
    )
    .join('\n');
  return `daemon off;
worker_processes 1;
pid ${join(scratch, 'nginx.pid')};
error_log ${join(scratch, 'error.log')} warn;
events { worker_connections 128; }
http {
  log_format main ${NGINX_MAIN_LOG_FORMAT};
  access_log ${join(scratch, 'access.log')} main;
  client_body_temp_path ${temp}/client_body;
  proxy_temp_path ${temp}/proxy;
  fastcgi_temp_path ${temp}/fastcgi;
  uwsgi_temp_path ${temp}/uwsgi;
  scgi_temp_path ${temp}/scgi;
  default_type text/plain;
${servers}
}
`;
}

async function waitForListener(port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const accepted = await new Promise<boolean>((resolve) => {
      const socket = connect({ host: '127.0.0.1', port });
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (accepted) return;
    if (Date.now() > deadline) throw new Error(`nothing accepted connections on 127.0.0.1:${port} within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

async function stopChild(child: ChildProcess, exited: Promise<number | null>): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  // SIGTERM is nginx's fast shutdown: the master stops its workers before it exits.
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(timer);
}
