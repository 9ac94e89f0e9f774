/** The drainer's waits: each bounded by the invocation's deadline (see ../common/deadline.ts for its calls). */

/** Resolves after `ms`, or at once when `deadline` aborts. Never rejects. */
export function sleep(ms: number, deadline?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (ms <= 0 || deadline?.aborted === true) {
      resolve();
      return;
    }
    const done = (): void => {
      clearTimeout(timer);
      deadline?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    deadline?.addEventListener('abort', done, { once: true });
  });
}

/**
 * One kind of ELB call's pace within an invocation: turns at least `intervalMs` apart, the first at once, and
 * the invocation held until one interval after its last turn ({@link settle}). An invocation holds its
 * concurrency slot while it runs, so each slot spends at most one call per interval, across invocations and
 * execution environments alike.
 */
export class Pace {
  private next = 0;
  private used = false;

  constructor(
    private readonly intervalMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** Waits for the next turn and takes it; false, without taking it, when the turn would come after `deadlineAt` (epoch ms). */
  async turn(deadlineAt: number, deadline: AbortSignal): Promise<boolean> {
    const at = Math.max(this.now(), this.next);
    if (at >= deadlineAt) return false;
    this.next = at + this.intervalMs;
    this.used = true;
    await sleep(at - this.now(), deadline);
    return !deadline.aborted;
  }

  /** Waits until one interval after the last turn, or until `deadline`. */
  async settle(deadline: AbortSignal): Promise<void> {
    if (this.used) await sleep(this.next - this.now(), deadline);
  }
}
