/**
 * Time limits that hold whatever the SDK does. The runtime's SDK is not the one tested, and a version whose
 * retry back-off ignores the abort signal would keep a call, and so the whole invocation, past its end; racing
 * the call keeps the invocation's answer. Shared by the drainer and the prober.
 */

/** Thrown when the deadline comes before the work settles. */
export class DeadlineReached extends Error {
  constructor() {
    super('The invocation reached its deadline before the call settled');
    this.name = 'DeadlineReached';
  }
}

/** `work`, or a {@link DeadlineReached} rejection as soon as `deadline` aborts, whichever comes first. */
export function raceDeadline<T>(work: PromiseLike<T>, deadline: AbortSignal): Promise<T> {
  const settled = Promise.resolve(work);
  let onAbort = (): void => undefined;
  const aborted = new Promise<never>((_resolve, reject) => {
    onAbort = () => reject(new DeadlineReached());
    if (deadline.aborted) onAbort();
    else deadline.addEventListener('abort', onAbort, { once: true });
  });
  // The loser of the race may still reject later; nobody waits for it.
  settled.catch(() => undefined);
  return Promise.race([settled, aborted]).finally(() => deadline.removeEventListener('abort', onAbort));
}
