import { createHash, randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { FakeQueue } from './queue';

/**
 * One loopback HTTP endpoint that the real AWS SDK v3 talks to (AWS_ENDPOINT_URL) for three services, each
 * in its own wire protocol, told apart by the SigV4 credential scope of the request:
 * - Elastic Load Balancing v2, Query protocol: form-encoded POST, XML answers in ELB's namespace;
 * - SQS, JSON 1.0 protocol (client-sqs 3.1175.0: `x-amz-target: AmazonSQS.<Operation>`, query-compatible errors);
 * - SNS, Query protocol: Publish only.
 *
 * ELB calls are rate-limited by per-account token buckets, as ELB throttles its API per account and Region;
 * the bucket sizes and refill rates are this fake's assumption, not published AWS figures. SQS and SNS are not
 * throttled (their quotas are orders of magnitude above what a drain makes). Signatures are not checked, but
 * an unsigned request is refused, so a client that the SDK did not configure shows up.
 */

export const ELB_NAMESPACE = 'http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/';
export const SNS_NAMESPACE = 'http://sns.amazonaws.com/doc/2010-03-31/';
export const ACCOUNT = '123456789012';
export const REGION = 'us-east-2';

export interface BucketConfig {
  readonly burst: number;
  readonly refillPerSecond: number;
}

export interface FakeAwsOptions {
  /** `RegisterTargets`/`DeregisterTargets`. @default burst 20, refill 4/s */
  readonly mutateBucket?: BucketConfig;
  /** `Describe*`. @default burst 40, refill 10/s */
  readonly describeBucket?: BucketConfig;
  /** Account of each access key ID; any other key is {@link ACCOUNT}'s. */
  readonly accounts?: Readonly<Record<string, string>>;
  /**
   * Another caller in {@link ACCOUNT} that spends this many `RegisterTargets`/`DeregisterTargets` tokens a
   * second, evenly spread, whenever the bucket has one. Not recorded as calls.
   */
  readonly competingMutatesPerSecond?: number;
}

export type Service = 'elasticloadbalancing' | 'sqs' | 'sns';

export interface RecordedCall {
  /** Epoch milliseconds when the answer was sent. */
  readonly at: number;
  readonly service: Service;
  readonly action: string;
  readonly account: string;
  readonly input: Readonly<Record<string, unknown>>;
  readonly throttled: boolean;
  readonly status: number;
  /** The error code of a non-2xx answer. */
  readonly error?: string;
}

export type TargetState = 'healthy' | 'draining';

export interface Registration {
  readonly id: string;
  readonly port: number;
  state: TargetState;
}

export interface FakeTargetGroup {
  readonly arn: string;
  readonly port: number;
  readonly deregistrationDelaySeconds: number;
  /** Keyed `id:port`. */
  readonly registrations: Map<string, Registration>;
}

/** ELB's per-account token bucket: `burst` calls at once, then `refillPerSecond`. */
class TokenBucket {
  private tokens: number;
  private last = performance.now();

  constructor(private readonly config: BucketConfig) {
    this.tokens = config.burst;
  }

  take(): boolean {
    const now = performance.now();
    this.tokens = Math.min(this.config.burst, this.tokens + ((now - this.last) / 1000) * this.config.refillPerSecond);
    this.last = now;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}

/** An error answer: the service's error code, its HTTP status, and a message. */
class ServiceError extends Error {
  constructor(
    readonly code: string,
    readonly status: number,
    message: string,
    /** SQS's query-compatible code, for its `x-amzn-query-error` header. */
    readonly queryCode?: string,
  ) {
    super(message);
  }
}

export interface Deregistration {
  readonly targetGroupArn: string;
  readonly id: string;
  readonly port: number;
  /** Epoch milliseconds when a DeregisterTargets call put the registration in `draining`. */
  readonly at: number;
}

export class FakeAws {
  readonly calls: RecordedCall[] = [];
  /** Every registration taken out of service, kept after ELB forgets it. */
  readonly deregistrations: Deregistration[] = [];
  readonly targetGroups = new Map<string, FakeTargetGroup>();
  readonly topics = new Set<string>();
  private readonly queues = new Map<string, FakeQueue>();
  private readonly buckets = new Map<string, TokenBucket>();
  private readonly timers = new Set<NodeJS.Timeout>();
  /** Ends the long polls still waiting when the endpoint closes. */
  private readonly closing = new AbortController();
  private readonly server = createServer((request, response) => {
    this.serve(request, response).catch((error: unknown) => {
      console.error('The fake AWS endpoint failed on a request:', error);
      if (!response.headersSent) response.writeHead(500, { 'content-type': 'text/plain' }).end('InternalFailure');
    });
  });
  private port = 0;
  /** Tokens the competing caller got. */
  competingSpent = 0;

  constructor(private readonly options: FakeAwsOptions = {}) {}

  async start(): Promise<string> {
    const competing = this.options.competingMutatesPerSecond ?? 0;
    if (competing > 0) {
      const timer = setInterval(() => {
        this.competingSpent += this.bucket(ACCOUNT, 'mutate').take() ? 1 : 0;
      }, 1000 / competing);
      timer.unref();
      this.timers.add(timer);
    }
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as AddressInfo).port;
    return this.endpoint;
  }

  get endpoint(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async close(): Promise<void> {
    this.closing.abort();
    for (const timer of this.timers) clearTimeout(timer);
    for (const timer of this.timers) clearInterval(timer);
    for (const queue of this.queues.values()) queue.close();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  addTargetGroup(arn: string, port: number, deregistrationDelaySeconds: number): FakeTargetGroup {
    const group: FakeTargetGroup = { arn, port, deregistrationDelaySeconds, registrations: new Map() };
    this.targetGroups.set(arn, group);
    return group;
  }

  register(group: FakeTargetGroup, targets: readonly { id: string; port?: number }[]): void {
    for (const { id, port = group.port } of targets) group.registrations.set(`${id}:${port}`, { id, port, state: 'healthy' });
  }

  /** Queue URLs must be on this endpoint: `${endpoint}/${account}/${name}`. */
  addQueue(queue: FakeQueue): FakeQueue {
    this.queues.set(new URL(queue.url).pathname, queue);
    return queue;
  }

  queueUrl(name: string, account = ACCOUNT): string {
    return `${this.endpoint}/${account}/${name}`;
  }

  private async serve(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks).toString('utf8');
    const requestId = randomUUID();
    // SigV4: `Credential=<access key>/<date>/<region>/<service>/aws4_request`.
    const scope = /Credential=([^/]+)\/[^/]+\/[^/]+\/([^/]+)\//.exec(request.headers.authorization ?? '');
    if (scope === null) {
      response.writeHead(403, { 'content-type': 'text/plain' }).end('MissingAuthenticationToken: this fake wants SigV4-signed requests');
      return;
    }
    const [, accessKeyId = '', service] = scope;
    const account = this.options.accounts?.[accessKeyId] ?? ACCOUNT;
    if (service === 'sqs') await this.sqs(request, body, account, requestId, response);
    else if (service === 'sns') this.sns(new URLSearchParams(body), account, requestId, response);
    else if (service === 'elasticloadbalancing') this.elb(new URLSearchParams(body), account, requestId, response);
    else response.writeHead(400, { 'content-type': 'text/plain' }).end(`This fake does not speak ${service}`);
  }

  private record(call: Omit<RecordedCall, 'at'>): void {
    this.calls.push({ at: Date.now(), ...call });
  }

  // ---- Elastic Load Balancing v2 (Query) ----

  private elb(form: URLSearchParams, account: string, requestId: string, response: ServerResponse): void {
    const action = form.get('Action') ?? '';
    const input: Record<string, unknown> = { TargetGroupArn: form.get('TargetGroupArn') ?? undefined, Targets: queryTargets(form) };
    const bucket = action.startsWith('Describe') ? 'describe' : action === 'RegisterTargets' || action === 'DeregisterTargets' ? 'mutate' : undefined;
    const send = (status: number, xml: string, error?: string, throttled = false): void => {
      this.record({ service: 'elasticloadbalancing', action, account, input, throttled, status, error });
      response.writeHead(status, { 'content-type': 'text/xml', 'x-amzn-requestid': requestId }).end(xml);
    };
    if (bucket !== undefined && !this.bucket(account, bucket).take()) {
      send(400, queryError(ELB_NAMESPACE, 'Throttling', 'Rate exceeded', requestId), 'Throttling', true);
      return;
    }
    try {
      const result = this.elbAction(action, form);
      send(200, `<${action}Response xmlns="${ELB_NAMESPACE}">${result}${responseMetadata(requestId)}</${action}Response>`);
    } catch (error) {
      if (!(error instanceof ServiceError)) throw error;
      send(error.status, queryError(ELB_NAMESPACE, error.code, error.message, requestId), error.code);
    }
  }

  private bucket(account: string, kind: 'describe' | 'mutate'): TokenBucket {
    const key = `${account}/${kind}`;
    let bucket = this.buckets.get(key);
    if (bucket === undefined) {
      const config =
        kind === 'describe'
          ? (this.options.describeBucket ?? { burst: 40, refillPerSecond: 10 })
          : (this.options.mutateBucket ?? { burst: 20, refillPerSecond: 4 });
      bucket = new TokenBucket(config);
      this.buckets.set(key, bucket);
    }
    return bucket;
  }

  private elbAction(action: string, form: URLSearchParams): string {
    if (form.get('Version') !== '2015-12-01') throw new ServiceError('InvalidAction', 400, `Version ${form.get('Version')} is not 2015-12-01`);
    const group = (): FakeTargetGroup => {
      const arn = form.get('TargetGroupArn') ?? '';
      const found = this.targetGroups.get(arn);
      if (found === undefined) throw new ServiceError('TargetGroupNotFound', 400, `One or more target groups not found`);
      return found;
    };
    switch (action) {
      case 'DescribeTargetHealth': {
        const tg = group();
        const filter = queryTargets(form);
        const members =
          filter.length === 0
            ? [...tg.registrations.values()].map((r) => healthMember(r.id, r.port, tg.port, r.state))
            : filter.map(({ Id, Port = tg.port }) => healthMember(Id, Port, tg.port, tg.registrations.get(`${Id}:${Port}`)?.state ?? 'unused'));
        return `<DescribeTargetHealthResult><TargetHealthDescriptions>${members.join('')}</TargetHealthDescriptions></DescribeTargetHealthResult>`;
      }
      case 'RegisterTargets': {
        const tg = group();
        this.register(tg, queryTargets(form).map(({ Id, Port }) => ({ id: Id, port: Port })));
        return '<RegisterTargetsResult/>';
      }
      case 'DeregisterTargets': {
        const tg = group();
        const targets = queryTargets(form);
        if (targets.length === 0) throw new ServiceError('ValidationError', 400, 'Targets must contain at least one target');
        // As the brief for this fake has it: all or nothing, and an id:port that is not registered fails the call.
        // (ELB's API reference says a target that "does not exist" is accepted; being strict here surfaces a
        // drainer that names a target it never saw registered.)
        const found = targets.map(({ Id, Port = tg.port }) => {
          const registration = tg.registrations.get(`${Id}:${Port}`);
          if (registration === undefined) {
            throw new ServiceError('InvalidTarget', 400, 'The specified target does not exist, is not in the same VPC as the target group, or has an unsupported instance type.');
          }
          return registration;
        });
        const now = Date.now();
        for (const registration of found) {
          if (registration.state === 'draining') continue;
          registration.state = 'draining';
          this.deregistrations.push({ targetGroupArn: tg.arn, id: registration.id, port: registration.port, at: now });
          // After the deregistration delay ELB forgets the registration.
          const timer = setTimeout(() => {
            this.timers.delete(timer);
            tg.registrations.delete(`${registration.id}:${registration.port}`);
          }, tg.deregistrationDelaySeconds * 1000);
          timer.unref();
          this.timers.add(timer);
        }
        return '<DeregisterTargetsResult/>';
      }
      default:
        throw new ServiceError('InvalidAction', 400, `The action ${action} is not valid for this web service.`);
    }
  }

  // ---- SNS (Query) ----

  private sns(form: URLSearchParams, account: string, requestId: string, response: ServerResponse): void {
    const action = form.get('Action') ?? '';
    const input = { TopicArn: form.get('TopicArn') ?? undefined, Subject: form.get('Subject') ?? undefined, Message: form.get('Message') ?? undefined };
    const send = (status: number, xml: string, error?: string): void => {
      this.record({ service: 'sns', action, account, input, throttled: false, status, error });
      response.writeHead(status, { 'content-type': 'text/xml', 'x-amzn-requestid': requestId }).end(xml);
    };
    try {
      if (action !== 'Publish') throw new ServiceError('InvalidAction', 400, `This fake SNS answers Publish only, not ${action}`);
      if (input.TopicArn === undefined || !this.topics.has(input.TopicArn)) throw new ServiceError('NotFound', 404, 'Topic does not exist');
      if (input.Message === undefined || input.Message === '') throw new ServiceError('InvalidParameter', 400, 'Invalid parameter: Empty message');
      // SNS's documented limits: a message of at most 256 KiB; a subject of printable ASCII on one line, under 100 characters.
      if (Buffer.byteLength(input.Message) > 262_144) throw new ServiceError('InvalidParameter', 400, 'Invalid parameter: Message too long');
      if (input.Subject !== undefined && (input.Subject.length > 100 || !/^[\x20-\x7e]+$/.test(input.Subject))) {
        throw new ServiceError('InvalidParameter', 400, 'Invalid parameter: Subject');
      }
      send(200, `<PublishResponse xmlns="${SNS_NAMESPACE}"><PublishResult><MessageId>${randomUUID()}</MessageId></PublishResult>${responseMetadata(requestId)}</PublishResponse>`);
    } catch (error) {
      if (!(error instanceof ServiceError)) throw error;
      send(error.status, queryError(SNS_NAMESPACE, error.code, error.message, requestId), error.code);
    }
  }

  // ---- SQS (JSON 1.0, query-compatible) ----

  private async sqs(request: IncomingMessage, body: string, account: string, requestId: string, response: ServerResponse): Promise<void> {
    const target = String(request.headers['x-amz-target'] ?? '');
    const action = target.replace(/^AmazonSQS\./, '');
    let input: Record<string, unknown> = {};
    const send = (status: number, json: unknown, error?: ServiceError): void => {
      this.record({ service: 'sqs', action, account, input, throttled: false, status, error: error?.code });
      const headers: Record<string, string> = { 'content-type': 'application/x-amz-json-1.0', 'x-amzn-requestid': requestId };
      if (error?.queryCode !== undefined) headers['x-amzn-query-error'] = `${error.queryCode};Sender`;
      response.writeHead(status, headers).end(JSON.stringify(json));
    };
    try {
      if (!target.startsWith('AmazonSQS.')) throw new ServiceError('UnknownOperationException', 400, `x-amz-target ${target} is not AmazonSQS.*`);
      const parsed = JSON.parse(body || '{}') as SqsInput;
      input = parsed as Record<string, unknown>;
      send(200, await this.sqsAction(action, parsed));
    } catch (error) {
      if (!(error instanceof ServiceError)) throw error;
      send(error.status, { __type: `com.amazonaws.sqs#${error.code}`, message: error.message }, error);
    }
  }

  private async sqsAction(action: string, input: SqsInput): Promise<unknown> {
    const queue = this.queues.get(new URL(input.QueueUrl ?? '', 'http://x').pathname);
    if (queue === undefined) {
      throw new ServiceError('QueueDoesNotExist', 400, 'The specified queue does not exist.', 'AWS.SimpleQueueService.NonExistentQueue');
    }
    switch (action) {
      case 'SendMessage': {
        const message = queue.send(...sendable(input));
        return { MessageId: message.messageId, MD5OfMessageBody: message.md5OfBody, ...attributesDigest(input.MessageAttributes) };
      }
      case 'SendMessageBatch': {
        const entries = (Array.isArray(input.Entries) ? input.Entries : []) as (SqsInput & { Id?: string })[];
        if (entries.length === 0) throw new ServiceError('EmptyBatchRequest', 400, 'There should be at least one SendMessageBatchRequestEntry in the request.', 'AWS.SimpleQueueService.EmptyBatchRequest');
        if (entries.length > 10) throw new ServiceError('TooManyEntriesInBatchRequest', 400, `Maximum number of entries per request are 10. You have sent ${entries.length}.`, 'AWS.SimpleQueueService.TooManyEntriesInBatchRequest');
        // Every entry is checked before any is sent; a bad entry fails the call, which is stricter than SQS.
        const checked = entries.map((entry) => sendable(entry));
        return {
          Successful: checked.map((args, index) => {
            const message = queue.send(...args);
            return { Id: entries[index]?.Id, MessageId: message.messageId, MD5OfMessageBody: message.md5OfBody, ...attributesDigest(entries[index]?.MessageAttributes) };
          }),
          Failed: [],
        };
      }
      case 'ReceiveMessage': {
        const max = Number(input.MaxNumberOfMessages ?? 1);
        const wait = Number(input.WaitTimeSeconds ?? 0);
        // SQS's documented bounds; the error code for a violation is not confirmed.
        if (!(max >= 1 && max <= 10) || !(wait >= 0 && wait <= 20)) {
          throw new ServiceError('InvalidParameterValue', 400, 'MaxNumberOfMessages must be 1 to 10, WaitTimeSeconds 0 to 20', 'InvalidParameterValue');
        }
        const visibility = input.VisibilityTimeout === undefined ? undefined : Number(input.VisibilityTimeout);
        const received = await queue.receiveWait(max, wait * 1000, this.closing.signal, visibility);
        const wanted = [...asStrings(input.AttributeNames), ...asStrings(input.MessageSystemAttributeNames)];
        if (received.length === 0) return {};
        return {
          Messages: received.map(({ message, receiptHandle, receiveCount }) => ({
            MessageId: message.messageId,
            ReceiptHandle: receiptHandle,
            MD5OfBody: message.md5OfBody,
            Body: message.body,
            ...(wanted.length > 0 && { Attributes: systemAttributes({ ...message, receiveCount }, wanted) }),
          })),
        };
      }
      case 'DeleteMessage': {
        if (queue.delete(input.ReceiptHandle ?? '') === 'invalid') {
          throw new ServiceError('ReceiptHandleIsInvalid', 404, 'The input receipt handle is invalid.', 'ReceiptHandleIsInvalid');
        }
        return {};
      }
      case 'DeleteMessageBatch': {
        const entries = (Array.isArray(input.Entries) ? input.Entries : []) as { Id?: string; ReceiptHandle?: string }[];
        if (entries.length === 0) throw new ServiceError('EmptyBatchRequest', 400, 'There should be at least one DeleteMessageBatchRequestEntry in the request.', 'AWS.SimpleQueueService.EmptyBatchRequest');
        if (entries.length > 10) throw new ServiceError('TooManyEntriesInBatchRequest', 400, `Maximum number of entries per request are 10. You have sent ${entries.length}.`, 'AWS.SimpleQueueService.TooManyEntriesInBatchRequest');
        if (new Set(entries.map((e) => e.Id)).size !== entries.length) {
          throw new ServiceError('BatchEntryIdsNotDistinct', 400, 'Two or more batch entries in the request have the same Id.', 'AWS.SimpleQueueService.BatchEntryIdsNotDistinct');
        }
        const successful: { Id: string }[] = [];
        const failed: { Id: string; SenderFault: boolean; Code: string; Message: string }[] = [];
        for (const { Id = '', ReceiptHandle = '' } of entries) {
          if (queue.delete(ReceiptHandle) === 'invalid') failed.push({ Id, SenderFault: true, Code: 'ReceiptHandleIsInvalid', Message: 'The input receipt handle is invalid.' });
          else successful.push({ Id });
        }
        return { Successful: successful, Failed: failed };
      }
      case 'ChangeMessageVisibility': {
        if (!queue.changeVisibility(input.ReceiptHandle ?? '', Number(input.VisibilityTimeout ?? 0))) {
          throw new ServiceError('MessageNotInflight', 400, 'The message referred to is not in flight.', 'AWS.SimpleQueueService.MessageNotInflight');
        }
        return {};
      }
      default:
        throw new ServiceError('UnsupportedOperation', 400, `This fake SQS does not answer ${action}`, 'AWS.SimpleQueueService.UnsupportedOperation');
    }
  }
}

/** The members of SQS requests this fake reads; the JSON protocol sends them as named. */
interface SqsInput {
  readonly QueueUrl?: string;
  readonly MessageBody?: string;
  readonly MessageAttributes?: unknown;
  readonly DelaySeconds?: number;
  readonly MaxNumberOfMessages?: number;
  readonly WaitTimeSeconds?: number;
  readonly VisibilityTimeout?: number;
  readonly AttributeNames?: unknown;
  readonly MessageSystemAttributeNames?: unknown;
  readonly ReceiptHandle?: string;
  readonly Entries?: unknown;
}

/** A SendMessage's body, delay and String/Number attributes, checked against SQS's documented limits. */
function sendable(input: SqsInput): Parameters<FakeQueue['send']> {
  const body = input.MessageBody ?? '';
  // SQS's maximum message size, 1 MiB since August 2025. Error code not confirmed.
  if (body === '' || Buffer.byteLength(body) > 1_048_576) throw new ServiceError('InvalidParameterValue', 400, 'Invalid MessageBody size', 'InvalidParameterValue');
  const delaySeconds = input.DelaySeconds ?? 0;
  if (!Number.isInteger(delaySeconds) || delaySeconds < 0 || delaySeconds > 900) {
    throw new ServiceError('InvalidParameterValue', 400, 'DelaySeconds must be 0 to 900', 'InvalidParameterValue');
  }
  const attributes: Record<string, { dataType: string; stringValue: string }> = {};
  for (const [name, value] of Object.entries((input.MessageAttributes ?? {}) as Record<string, { DataType?: string; StringValue?: string }>)) {
    if ((value.DataType !== 'String' && value.DataType !== 'Number') || typeof value.StringValue !== 'string') {
      throw new ServiceError('InvalidParameterValue', 400, `This fake takes only String and Number attributes; ${name} is ${value.DataType}`, 'InvalidParameterValue');
    }
    attributes[name] = { dataType: value.DataType, stringValue: value.StringValue };
  }
  return [body, Date.now(), { delaySeconds, ...(Object.keys(attributes).length > 0 && { attributes }) }];
}

/**
 * MD5OfMessageAttributes as SQS computes it: for each attribute in name order, the 4-byte big-endian length and
 * bytes of its name, of its data type, then a 1 (string value) and the length and bytes of its value.
 */
function attributesDigest(attributes: unknown): { MD5OfMessageAttributes?: string } {
  const entries = Object.entries((attributes ?? {}) as Record<string, { DataType: string; StringValue: string }>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  if (entries.length === 0) return {};
  const parts: Buffer[] = [];
  const field = (text: string): void => {
    const bytes = Buffer.from(text, 'utf8');
    const length = Buffer.alloc(4);
    length.writeUInt32BE(bytes.length);
    parts.push(length, bytes);
  };
  for (const [name, { DataType, StringValue }] of entries) {
    field(name);
    field(DataType);
    parts.push(Buffer.from([1]));
    field(StringValue);
  }
  return { MD5OfMessageAttributes: createHash('md5').update(Buffer.concat(parts)).digest('hex') };
}

/** `Targets.member.N.Id` / `.Port` of a Query request, in N order. */
function queryTargets(form: URLSearchParams): { Id: string; Port?: number }[] {
  const targets: { Id: string; Port?: number }[] = [];
  for (const [key, value] of form) {
    const match = /^Targets\.member\.(\d+)\.(Id|Port)$/.exec(key);
    if (match === null) continue;
    const index = Number(match[1]) - 1;
    const target = (targets[index] ??= { Id: '' });
    if (match[2] === 'Id') target.Id = value;
    else target.Port = Number(value);
  }
  return targets.filter((target) => target !== undefined);
}

const HEALTH: Record<TargetState | 'unused', string> = {
  healthy: '<State>healthy</State>',
  draining: '<State>draining</State><Reason>Target.DeregistrationInProgress</Reason><Description>Target deregistration is in progress</Description>',
  unused: '<State>unused</State><Reason>Target.NotRegistered</Reason><Description>Target is not registered to the target group</Description>',
};

function healthMember(id: string, port: number, healthCheckPort: number, state: TargetState | 'unused'): string {
  return (
    `<member><Target><Id>${escapeXml(id)}</Id><Port>${port}</Port></Target><HealthCheckPort>${healthCheckPort}</HealthCheckPort>` +
    `<TargetHealth>${HEALTH[state]}</TargetHealth></member>`
  );
}

function responseMetadata(requestId: string): string {
  return `<ResponseMetadata><RequestId>${requestId}</RequestId></ResponseMetadata>`;
}

/** The Query protocol's error body, as ELB and SNS send it. */
function queryError(namespace: string, code: string, message: string, requestId: string): string {
  return (
    `<ErrorResponse xmlns="${namespace}"><Error><Type>Sender</Type><Code>${escapeXml(code)}</Code>` +
    `<Message>${escapeXml(message)}</Message></Error><RequestId>${requestId}</RequestId></ErrorResponse>`
  );
}

function escapeXml(text: string): string {
  return text.replace(/[<>&'"]/g, (c) => `&#${c.charCodeAt(0)};`);
}

function asStrings(value: unknown): string[] {
  return Array.isArray(value) ? value.map(String) : [];
}

function systemAttributes(message: { receiveCount: number; sentTimestamp: number; firstReceiveTimestamp?: number }, wanted: readonly string[]): Record<string, string> {
  const all: Record<string, string> = {
    ApproximateReceiveCount: String(message.receiveCount),
    SentTimestamp: String(message.sentTimestamp),
    ApproximateFirstReceiveTimestamp: String(message.firstReceiveTimestamp ?? message.sentTimestamp),
    SenderId: 'AIDAIENQZJOLO23YVJ4VO',
  };
  return wanted.includes('All') ? all : Object.fromEntries(Object.entries(all).filter(([key]) => wanted.includes(key)));
}
