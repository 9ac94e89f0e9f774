import { MetricUnit } from '@aws-lambda-powertools/metrics';
import type * as SnsSdk from '@aws-sdk/client-sns';
import type * as SqsSdk from '@aws-sdk/client-sqs';
import type { Message } from '@aws-sdk/client-sqs';
import type { Context, ScheduledEvent } from 'aws-lambda';
import { ConfigurationError } from '../common/configuration-error';
import { boundedClientConfig } from '../common/sdk-config';
import { logger, metrics } from '../common/observability';
import type { DrainReport } from './contract';
import { NotifierEnv } from './contract';
import { composeNotification, mergeInstances, parseReport } from './message';

/** Reports read per run at most; a reclaim of thousands spreads over a few runs rather than one long one. */
export const MAX_MESSAGES_PER_RUN = 500;
/** Time kept back to publish and delete after reading. */
const RESERVED_MS = 10_000;

const CLIENT_CONFIG = boundedClientConfig(3, 5_000);

// eslint-disable-next-line @typescript-eslint/no-require-imports -- the runtime's SDK, loaded as the bundle's externals are
const sqsSdk = require('@aws-sdk/client-sqs') as typeof SqsSdk;
// eslint-disable-next-line @typescript-eslint/no-require-imports -- as above
const snsSdk = require('@aws-sdk/client-sns') as typeof SnsSdk;
const sqs = new sqsSdk.SQSClient(CLIENT_CONFIG);
const sns = new snsSdk.SNSClient(CLIENT_CONFIG);

export interface NotifierRunSummary {
  readonly reports: number;
  readonly instances: number;
  readonly published: boolean;
}

/**
 * Runs on a schedule: gathers the drain reports that the drainer queued since the last run and tells people
 * in one message, so that a reclaim of hundreds reads as a few messages rather than hundreds. A report
 * that cannot be read is logged and deleted, and so is a valid one that names no instance, with nothing
 * published; if publishing fails, the reports stay on the queue for the next run, and reach the
 * dead-letter queue when their receive count runs out.
 */
export const handler = async (_event: ScheduledEvent, context: Context): Promise<NotifierRunSummary> => {
  logger.addContext(context);
  const queueUrl = required(NotifierEnv.queueUrl);
  const topicArn = required(NotifierEnv.topicArn);
  const stackName = process.env[NotifierEnv.stackName] ?? 'Spotwise';

  const received = await receiveAll(queueUrl, context);
  const reports: DrainReport[] = [];
  const unreadable: Message[] = [];
  for (const message of received) {
    const report = parseReport(message.Body ?? '');
    if (report === undefined) unreadable.push(message);
    else reports.push(report);
  }
  if (unreadable.length > 0) {
    logger.warn('Deleting queue messages that are not drain reports', { bodies: unreadable.map((m) => (m.Body ?? '').slice(0, 200)) });
    await deleteAll(queueUrl, unreadable);
  }

  const instances = mergeInstances(reports);
  if (instances.length > 0) {
    const { subject, message } = composeNotification(stackName, instances);
    await sns.send(new snsSdk.PublishCommand({ TopicArn: topicArn, Subject: subject, Message: message }));
    logger.info('Told people about drained instances', { instances: instances.length, reports: reports.length });
  } else if (reports.length > 0) {
    // Nothing to tell, but read: left on the queue, they would come back every run until the dead-letter queue.
    logger.info('Deleting drain reports that name no instance', { reports: reports.length });
  }
  await deleteAll(queueUrl, received.filter((m) => !unreadable.includes(m)));
  metrics.addMetric('NotificationsSent', MetricUnit.Count, instances.length > 0 ? 1 : 0);
  metrics.addMetric('InstancesNotified', MetricUnit.Count, instances.length);
  metrics.publishStoredMetrics();
  return { reports: reports.length, instances: instances.length, published: instances.length > 0 };
};

/**
 * Long polls of one second: a short poll samples only some of SQS's servers and can come back empty while
 * reports wait. Stops at the first empty answer, at {@link MAX_MESSAGES_PER_RUN}, or near the deadline.
 */
async function receiveAll(queueUrl: string, context: Context): Promise<Message[]> {
  const messages: Message[] = [];
  while (messages.length < MAX_MESSAGES_PER_RUN && context.getRemainingTimeInMillis() > RESERVED_MS) {
    const { Messages = [] } = await sqs.send(
      new sqsSdk.ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1 }),
    );
    if (Messages.length === 0) break;
    messages.push(...Messages);
  }
  return messages;
}

/** In tens, SQS's batch limit. A message left undeleted comes back once and is then merged again: a duplicate line at worst. */
async function deleteAll(queueUrl: string, messages: readonly Message[]): Promise<void> {
  for (let i = 0; i < messages.length; i += 10) {
    const entries = messages.slice(i, i + 10).map((m, index) => ({ Id: String(index), ReceiptHandle: m.ReceiptHandle }));
    const { Failed = [] } = await sqs.send(new sqsSdk.DeleteMessageBatchCommand({ QueueUrl: queueUrl, Entries: entries }));
    if (Failed.length > 0) logger.warn('Could not delete some reports; they will be told again', { failed: Failed });
  }
}

function required(key: string): string {
  const value = process.env[key]?.trim();
  if (value === undefined || value === '') {
    throw new ConfigurationError(`${key} is not set (the SpotInterruptionDrainer construct sets it).`);
  }
  return value;
}
