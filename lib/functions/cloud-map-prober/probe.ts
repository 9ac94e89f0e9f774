// node:http rather than fetch: undici's lazy load costs tens of milliseconds on a cold start.
import type { ClientRequest } from 'node:http';
import { request } from 'node:http';
import { PROBER_SERVICE_NAME } from './contract';
import type { ProbeTarget } from './targets';

export type ProbeOutcome =
  | { readonly ok: true; readonly httpStatus: number; readonly latencyMs: number }
  | { readonly ok: false; readonly reason: string; readonly httpStatus?: number; readonly latencyMs?: number };

const USER_AGENT = `spotwise-${PROBER_SERVICE_NAME}`;

/**
 * One GET, settled within `timeoutMs` whatever the peer does: the timer covers connect, the request and
 * the whole response body, so a socket that accepts and never answers, or a body that stalls, still ends.
 * Never rejects. `latencyMs` is set only when a complete HTTP response arrived, whatever its status.
 */
export function probe(target: ProbeTarget, path: string, timeoutMs: number): Promise<ProbeOutcome> {
  return new Promise<ProbeOutcome>((resolve) => {
    const started = performance.now();
    let req: ClientRequest;
    try {
      req = request({
        host: target.ip,
        port: target.port,
        path,
        method: 'GET',
        agent: false,
        headers: { 'user-agent': USER_AGENT },
      });
    } catch (error) {
      // An unusable PROBE_PATH throws here, synchronously, for every probe alike.
      resolve({ ok: false, reason: reasonFor(error) });
      return;
    }
    let settled = false;
    let httpStatus: number | undefined;
    /**
     * `abandon` frees the socket at once when the probe gives up on it. After a complete response Node
     * closes the socket itself, since `agent: false` means no keep-alive; destroying it again made a cold
     * run over 100 peers 8 to 24 ms slower (medians of paired runs of the `bench/prober.ts` children),
     * which the cold-run goal has little room for on a busy machine.
     */
    const finish = (outcome: ProbeOutcome, abandon = true): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (abandon) req.destroy();
      resolve(outcome);
    };
    const timer = setTimeout(() => finish({ ok: false, reason: `timeout after ${timeoutMs} ms`, httpStatus }), timeoutMs);
    req.on('error', (error) => finish({ ok: false, reason: reasonFor(error), httpStatus }));
    req.on('response', (res) => {
      const status = res.statusCode ?? 0;
      httpStatus = status;
      res.on('error', (error) => finish({ ok: false, reason: reasonFor(error), httpStatus: status }));
      res.on('close', () => {
        if (!res.complete) finish({ ok: false, reason: 'response closed before it was complete', httpStatus: status });
      });
      res.on('end', () => {
        const latencyMs = roundMs(performance.now() - started);
        finish(
          status >= 200 && status < 300
            ? { ok: true, httpStatus: status, latencyMs }
            : { ok: false, reason: `HTTP ${status}`, httpStatus: status, latencyMs },
          false,
        );
      });
      // Drain without buffering: the body is not inspected, only its arrival.
      res.resume();
    });
    req.end();
  });
}

function reasonFor(error: unknown): string {
  if (error instanceof Error) {
    const code = (error as NodeJS.ErrnoException).code;
    return typeof code === 'string' ? code : error.message;
  }
  return String(error);
}

function roundMs(ms: number): number {
  return Math.round(ms * 10) / 10;
}
