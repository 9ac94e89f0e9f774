import type * as SqsSdk from '@aws-sdk/client-sqs';
import { boundedClientConfig } from '../common/sdk-config';
import type { DrainReport } from '../spot-interruption-notifier/contract';
import { raceDeadline } from '../common/deadline';

/** One attempt and two retries, each bounded: a report is worth a little time, never the drain's. */
export const SQS_CLIENT_CONFIG = boundedClientConfig(3, 2_000) satisfies SqsSdk.SQSClientConfig;

let sdk: typeof SqsSdk | undefined;
let client: SqsSdk.SQSClient | undefined;

/** Loaded on first use, as the ELB SDK is (see `elbSdk`): most batches have nothing to report. */
export function sqsSdk(): typeof SqsSdk {
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- deferred load, see elbSdk
  sdk ??= require('@aws-sdk/client-sqs') as typeof SqsSdk;
  return sdk;
}

/** The function's one SQS client, for drain reports and waiting recommendations. */
export function sqsClient(): SqsSdk.SQSClient {
  client ??= new (sqsSdk().SQSClient)(SQS_CLIENT_CONFIG);
  return client;
}

/** Hands what one batch did to the notifier, which gathers reports into a few messages for people. Raced against `deadline`. */
export async function sendReport(queueUrl: string, report: DrainReport, deadline: AbortSignal): Promise<void> {
  const { SendMessageCommand } = sqsSdk();
  const command = new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: JSON.stringify(report) });
  await raceDeadline(sqsClient().send(command, { abortSignal: deadline }), deadline);
}
