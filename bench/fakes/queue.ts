import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';

export interface QueueMessage {
  readonly messageId: string;
  readonly body: string;
  readonly md5OfBody: string;
  readonly sentTimestamp: number;
  /** String and Number message attributes, as Lambda's record carries them. */
  readonly attributes?: Readonly<Record<string, { readonly dataType: string; readonly stringValue: string }>>;
  receiveCount: number;
  firstReceiveTimestamp?: number;
  visibleAt: number;
  /** The most recent receive's handle: only it deletes the message (SQS accepts an older one and does nothing). */
  receiptHandle?: string;
}

export interface Received {
  readonly message: QueueMessage;
  readonly receiptHandle: string;
  /** The message's receive count as of this receive (the message's own count moves on if it is received again). */
  readonly receiveCount: number;
}

export interface FakeQueueOptions {
  readonly name: string;
  readonly url: string;
  readonly arn: string;
  readonly visibilityTimeoutSeconds: number;
  /** From the queue's `RedrivePolicy`. */
  readonly redrive?: { readonly deadLetterQueue: FakeQueue; readonly maxReceiveCount: number };
}

export type DeleteOutcome = 'deleted' | 'stale' | 'invalid';

/**
 * A standard SQS queue as its consumers see it: visibility timeouts, receive counts, receipt handles and a
 * redrive policy. Shared by the fake endpoint's JSON protocol (what the notifier calls) and the Lambda event
 * source mapping simulator (whose own ReceiveMessage/DeleteMessageBatch are Lambda's, not the function's,
 * so they are not made over HTTP).
 *
 * Not modelled: a short poll sampling only some servers (every receive sees every visible message), message
 * order (approximately first in, first out, as a lightly loaded standard queue behaves), duplicates.
 */
export class FakeQueue {
  readonly name: string;
  readonly url: string;
  readonly arn: string;
  readonly visibilityTimeoutSeconds: number;
  private readonly redrive?: FakeQueueOptions['redrive'];
  private readonly messages = new Map<string, QueueMessage>();
  private readonly handles = new Map<string, QueueMessage>();
  /** Every handle ever issued, to tell a stale handle (accepted, no effect) from a made-up one. */
  private readonly issued = new Set<string>();
  private readonly visible = new EventEmitter();
  private readonly timers = new Set<NodeJS.Timeout>();

  constructor(options: FakeQueueOptions) {
    this.name = options.name;
    this.url = options.url;
    this.arn = options.arn;
    this.visibilityTimeoutSeconds = options.visibilityTimeoutSeconds;
    this.redrive = options.redrive;
    // One listener per waiting long poll; a few hundred pollers is expected, not a leak.
    this.visible.setMaxListeners(0);
  }

  /** `delaySeconds`: SQS's per-message delay, 0 to 900 s; the message is invisible until it ends. */
  send(body: string, now = Date.now(), { delaySeconds = 0, attributes }: { delaySeconds?: number; attributes?: QueueMessage['attributes'] } = {}): QueueMessage {
    const message: QueueMessage = {
      messageId: randomUUID(),
      body,
      md5OfBody: md5(body),
      sentTimestamp: now,
      ...(attributes !== undefined && { attributes }),
      receiveCount: 0,
      visibleAt: now + delaySeconds * 1000,
    };
    this.messages.set(message.messageId, message);
    if (delaySeconds > 0) this.wakeWhenVisible(message);
    else this.visible.emit('visible');
    return message;
  }

  /**
   * Up to `max` visible messages, now in flight for `visibilityTimeoutSeconds`. A message already received
   * `maxReceiveCount` times is moved to the dead-letter queue instead, as SQS does on the receive that would
   * exceed the count.
   */
  receive(max: number, visibilityTimeoutSeconds = this.visibilityTimeoutSeconds, now = Date.now()): Received[] {
    const received: Received[] = [];
    for (const message of this.messages.values()) {
      if (received.length >= max) break;
      if (message.visibleAt > now) continue;
      if (this.redrive !== undefined && message.receiveCount >= this.redrive.maxReceiveCount) {
        this.forget(message);
        this.redrive.deadLetterQueue.send(message.body, now);
        continue;
      }
      const receiptHandle = randomBytes(24).toString('base64');
      if (message.receiptHandle !== undefined) this.handles.delete(message.receiptHandle);
      message.receiptHandle = receiptHandle;
      message.receiveCount += 1;
      message.firstReceiveTimestamp ??= now;
      message.visibleAt = now + visibilityTimeoutSeconds * 1000;
      this.handles.set(receiptHandle, message);
      this.issued.add(receiptHandle);
      this.wakeWhenVisible(message);
      received.push({ message, receiptHandle, receiveCount: message.receiveCount });
    }
    return received;
  }

  /** A long poll: returns as soon as any message is visible, or empty after `waitMs` or on `signal`. */
  async receiveWait(max: number, waitMs: number, signal?: AbortSignal, visibilityTimeoutSeconds?: number): Promise<Received[]> {
    const deadline = Date.now() + waitMs;
    for (;;) {
      const received = this.receive(max, visibilityTimeoutSeconds);
      const left = deadline - Date.now();
      if (received.length > 0 || left <= 0 || signal?.aborted === true) return received;
      await new Promise<void>((resolve) => {
        const done = (): void => {
          clearTimeout(timer);
          this.visible.off('visible', done);
          signal?.removeEventListener('abort', done);
          resolve();
        };
        const timer = setTimeout(done, left);
        this.visible.on('visible', done);
        signal?.addEventListener('abort', done);
      });
    }
  }

  delete(receiptHandle: string): DeleteOutcome {
    const message = this.handles.get(receiptHandle);
    if (message === undefined) return this.issued.has(receiptHandle) ? 'stale' : 'invalid';
    this.forget(message);
    return 'deleted';
  }

  /** False when the handle is unknown or its message is no longer in flight (SQS's MessageNotInflight). */
  changeVisibility(receiptHandle: string, visibilityTimeoutSeconds: number, now = Date.now()): boolean {
    const message = this.handles.get(receiptHandle);
    if (message === undefined || message.visibleAt <= now) return false;
    message.visibleAt = now + visibilityTimeoutSeconds * 1000;
    this.wakeWhenVisible(message);
    return true;
  }

  /** Messages stored: waiting plus in flight. */
  get size(): number {
    return this.messages.size;
  }

  visibleCount(now = Date.now()): number {
    let count = 0;
    for (const message of this.messages.values()) if (message.visibleAt <= now) count += 1;
    return count;
  }

  close(): void {
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    this.visible.emit('visible');
  }

  private forget(message: QueueMessage): void {
    this.messages.delete(message.messageId);
    if (message.receiptHandle !== undefined) this.handles.delete(message.receiptHandle);
  }

  /** Wakes long polls when an in-flight message's visibility timeout runs out. */
  private wakeWhenVisible(message: QueueMessage): void {
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      if (this.messages.has(message.messageId) && message.visibleAt <= Date.now()) this.visible.emit('visible');
    }, Math.max(0, message.visibleAt - Date.now()) + 1);
    timer.unref();
    this.timers.add(timer);
  }
}

export function md5(text: string): string {
  return createHash('md5').update(text, 'utf8').digest('hex');
}
