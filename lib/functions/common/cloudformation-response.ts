import { setTimeout as sleep } from 'node:timers/promises';
import type { CloudFormationCustomResourceResponse } from 'aws-lambda';

export interface SendOptions {
  /**
   * Ends the sending, the attempt in flight included, when it fires. Give one that fires before the
   * function's own timeout: a function that times out answers nothing, and the stack waits for the
   * resource's service timeout.
   * @default - 60 seconds from the call
   */
  readonly signal?: AbortSignal;
  /**
   * How long one PUT may take, connection and answer; one that takes longer is given up and tried again.
   * @default 5000
   */
  readonly attemptTimeoutMs?: number;
  /**
   * The longest wait before the first retry; each later one may wait twice as long as the one before, up
   * to {@link MAX_DELAY_MS}. Each wait is drawn at random below its ceiling (full jitter).
   * @default 250
   */
  readonly firstDelayMs?: number;
}

/**
 * A signal for {@link SendOptions.signal} that fires `marginMs` before the invocation's end, which leaves the
 * function the time to log and return its error.
 */
export function beforeInvocationEnds(context: { getRemainingTimeInMillis(): number }, marginMs = 1_000): AbortSignal {
  return AbortSignal.timeout(Math.max(0, context.getRemainingTimeInMillis() - marginMs));
}

/** The longest wait between two attempts. */
export const MAX_DELAY_MS = 4_000;

/** The answer did not reach CloudFormation: it refused it (4xx), or no attempt succeeded in the time given. */
export class ResponseNotSent extends Error {
  override readonly name = 'ResponseNotSent';
}

type Outcome = { readonly sent: true } | { readonly sent: false; readonly retry: boolean; readonly why: string };

/**
 * PUTs a custom resource's answer to CloudFormation's pre-signed S3 URL; without it the stack waits for the
 * service timeout. Shared by every custom resource handler. Sends the same body until S3 takes it: again on
 * a network error, an attempt's timeout or a 5xx, after a jittered, doubling wait; never again on a 4xx,
 * which another try of the same signed request cannot change. Throws {@link ResponseNotSent}, after logging
 * it, when the answer is refused or `signal` fires first: the caller lets the invocation fail with it
 * rather than send a different answer.
 */
export async function sendResponse(url: string, body: CloudFormationCustomResourceResponse, options: SendOptions = {}): Promise<void> {
  const { signal = AbortSignal.timeout(60_000), attemptTimeoutMs = 5_000, firstDelayMs = 250 } = options;
  const payload = JSON.stringify(body);
  const started = Date.now();
  let earlier: string | undefined;
  for (let attempt = 1; ; attempt += 1) {
    const outcome = await put(url, payload, signal, attemptTimeoutMs);
    if (outcome.sent) return;
    // An attempt that the caller's signal cut short says only that; the one before says what went wrong.
    const why = signal.aborted && outcome.retry && earlier !== undefined ? earlier : outcome.why;
    const detail = { status: body.Status, requestId: body.RequestId, attempt, error: why };
    if (outcome.retry && !signal.aborted) {
      const delayMs = Math.round(Math.random() * Math.min(MAX_DELAY_MS, firstDelayMs * 2 ** (attempt - 1)));
      console.warn(JSON.stringify({ message: 'CloudFormation response PUT failed; trying again', ...detail, delayMs }));
      earlier = why;
      if (await waited(delayMs, signal)) continue;
    }
    const reason = outcome.retry ? `no attempt succeeded in ${Date.now() - started} ms` : 'CloudFormation refused it';
    console.error(JSON.stringify({ message: `CloudFormation response not sent: ${reason}`, ...detail }));
    throw new ResponseNotSent(`CloudFormation response not sent after ${attempt} attempts (${reason}): ${why}`);
  }
}

async function put(url: string, payload: string, signal: AbortSignal, timeoutMs: number): Promise<Outcome> {
  try {
    // The empty content type is part of what the URL was signed for.
    const res = await fetch(url, {
      method: 'PUT',
      headers: { 'content-type': '' },
      body: payload,
      signal: AbortSignal.any([signal, AbortSignal.timeout(timeoutMs)]),
    });
    // Read to the end, which frees the connection; an S3 error body says why (SignatureDoesNotMatch, say).
    const text = await res.text();
    if (res.ok) return { sent: true };
    return { sent: false, retry: res.status >= 500, why: `S3 answered ${res.status} ${text.slice(0, 300)}`.trim() };
  } catch (error) {
    // fetch's "fetch failed" says why only in its cause: ECONNREFUSED, ECONNRESET, a DNS failure.
    const { cause } = error as { cause?: unknown };
    return { sent: false, retry: true, why: `${String(error)}${cause instanceof Error ? ` (${String(cause)})` : ''}` };
  }
}

/** Whether the wait ran its course: false when `signal` fired during it. */
async function waited(ms: number, signal: AbortSignal): Promise<boolean> {
  try {
    await sleep(ms, undefined, { signal });
    return true;
  } catch {
    return false;
  }
}
