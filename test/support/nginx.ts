import type { ChildProcess } from 'node:child_process';
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
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

export interface RunningNginx {
  readonly prefix: string;
  stop(): Promise<void>;
}

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
 * Starts nginx in the foreground with everything it writes under a fresh temporary prefix, so that it needs
 * neither /etc/nginx nor /var/log. Run as root, the master still forks its workers as `nobody`, which is
 * enough for `return` responses; the prefix is made world-readable so that those workers can reach it.
 */
export async function startNginx(blocks: readonly NginxServerBlock[]): Promise<RunningNginx> {
  assertNginxInstalled();
  const prefix = mkdtempSync(join(tmpdir(), 'spotwise-nginx-'));
  chmodSync(prefix, 0o755);
  const tempDir = join(prefix, 'temp');
  mkdirSync(tempDir);
  const errorLog = join(prefix, 'error.log');
  const configPath = join(prefix, 'nginx.conf');
  writeFileSync(configPath, nginxConfig(prefix, blocks));

  const child = spawn(NGINX_BIN, ['-p', prefix, '-c', configPath, '-e', errorLog], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const spawnFailed = new Promise<Error>((resolve) => child.once('error', resolve));

  const stop = async (): Promise<void> => {
    await stopChild(child, exited);
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
  return { prefix, stop };
}

function nginxConfig(prefix: string, blocks: readonly NginxServerBlock[]): string {
  const temp = join(prefix, 'temp');
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
pid ${join(prefix, 'nginx.pid')};
error_log ${join(prefix, 'error.log')} warn;
events { worker_connections 128; }
http {
  access_log ${join(prefix, 'access.log')};
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
