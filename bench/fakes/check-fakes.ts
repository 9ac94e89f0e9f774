/**
 * Checks that the real SDK clients in node_modules understand the fake endpoint the way they understand AWS:
 * answers parse, errors arrive as the service's modelled exceptions, throttling is classified as throttling,
 * and SQS's MD5 checks pass. Run before the mass reclaim (and alone: `npx tsx bench/fakes/check-fakes.ts`),
 * so that a protocol change in a new SDK shows here rather than as odd bench figures.
 */
import { deepStrictEqual, rejects, strictEqual } from 'node:assert/strict';
import {
  DeregisterTargetsCommand,
  DescribeTargetHealthCommand,
  ElasticLoadBalancingV2Client,
} from '@aws-sdk/client-elastic-load-balancing-v2';
import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import {
  ChangeMessageVisibilityCommand,
  DeleteMessageBatchCommand,
  ReceiveMessageCommand,
  SendMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { ACCOUNT, FakeAws, REGION } from './aws-endpoint';
import { FakeQueue } from './queue';

export async function checkFakes(): Promise<void> {
  // This process runs on the machine's Node 20 (Lambda runs 24): the SDK's notice about that is noise here.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
  const aws = new FakeAws({ describeBucket: { burst: 2, refillPerSecond: 0.001 } });
  const endpoint = await aws.start();
  const config = {
    endpoint,
    region: REGION,
    credentials: { accessKeyId: 'AKIAIOSFODNN7EXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY' },
    maxAttempts: 1,
  };
  try {
    const elb = new ElasticLoadBalancingV2Client(config);
    const arn = `arn:aws:elasticloadbalancing:${REGION}:${ACCOUNT}:targetgroup/check/0123456789abcdef`;
    const group = aws.addTargetGroup(arn, 80, 300);
    aws.register(group, [{ id: 'i-0123456789abcdef0' }, { id: 'i-0123456789abcdef0', port: 8080 }]);
    await elb.send(new DeregisterTargetsCommand({ TargetGroupArn: arn, Targets: [{ Id: 'i-0123456789abcdef0', Port: 8080 }] }));
    const described = await elb.send(new DescribeTargetHealthCommand({ TargetGroupArn: arn }));
    deepStrictEqual(
      described.TargetHealthDescriptions?.map((d) => [d.Target?.Id, d.Target?.Port, d.TargetHealth?.State, d.TargetHealth?.Reason]),
      [
        ['i-0123456789abcdef0', 80, 'healthy', undefined],
        ['i-0123456789abcdef0', 8080, 'draining', 'Target.DeregistrationInProgress'],
      ],
    );
    await rejects(elb.send(new DeregisterTargetsCommand({ TargetGroupArn: arn, Targets: [{ Id: 'i-0fedcba9876543210' }] })), { name: 'InvalidTargetException' });
    await rejects(elb.send(new DescribeTargetHealthCommand({ TargetGroupArn: arn.replace('check', 'gone') })), { name: 'TargetGroupNotFoundException' });
    // The bucket of 2 is spent: the SDK must see ELB's throttling answer as throttling, which its retries back off from.
    const throttled = await elb.send(new DescribeTargetHealthCommand({ TargetGroupArn: arn })).then(
      () => undefined,
      (error: unknown) => error as { name?: string; $retryable?: { throttling?: boolean }; $metadata?: { httpStatusCode?: number } },
    );
    strictEqual(throttled?.name, 'Throttling');
    strictEqual(throttled.$metadata?.httpStatusCode, 400);
    strictEqual(aws.calls.filter((call) => call.throttled).length, 1);

    const sqs = new SQSClient(config);
    const dlq = aws.addQueue(new FakeQueue({ name: 'dlq', url: aws.queueUrl('dlq'), arn: 'arn:aws:sqs:us-east-2:123456789012:dlq', visibilityTimeoutSeconds: 30 }));
    const queue = aws.addQueue(
      new FakeQueue({ name: 'q', url: aws.queueUrl('q'), arn: 'arn:aws:sqs:us-east-2:123456789012:q', visibilityTimeoutSeconds: 30, redrive: { deadLetterQueue: dlq, maxReceiveCount: 1 } }),
    );
    await sqs.send(new SendMessageCommand({ QueueUrl: queue.url, MessageBody: '{"version":1,"instances":["é"]}' }));
    const first = await sqs.send(new ReceiveMessageCommand({ QueueUrl: queue.url, MaxNumberOfMessages: 10, WaitTimeSeconds: 1, MessageSystemAttributeNames: ['ApproximateReceiveCount'] }));
    strictEqual(first.Messages?.length, 1);
    strictEqual(first.Messages[0]?.Attributes?.ApproximateReceiveCount, '1');
    await sqs.send(new ChangeMessageVisibilityCommand({ QueueUrl: queue.url, ReceiptHandle: first.Messages[0]?.ReceiptHandle, VisibilityTimeout: 0 }));
    // Received once already, with maxReceiveCount 1: the next receive moves it to the dead-letter queue.
    deepStrictEqual((await sqs.send(new ReceiveMessageCommand({ QueueUrl: queue.url, WaitTimeSeconds: 0 }))).Messages, undefined);
    strictEqual(dlq.size, 1);
    const inDlq = await sqs.send(new ReceiveMessageCommand({ QueueUrl: dlq.url, MaxNumberOfMessages: 10 }));
    const deleted = await sqs.send(
      new DeleteMessageBatchCommand({ QueueUrl: dlq.url, Entries: [{ Id: '0', ReceiptHandle: inDlq.Messages?.[0]?.ReceiptHandle }, { Id: '1', ReceiptHandle: 'made-up' }] }),
    );
    deepStrictEqual([deleted.Successful?.map((e) => e.Id), deleted.Failed?.map((e) => e.Code)], [['0'], ['ReceiptHandleIsInvalid']]);
    strictEqual(dlq.size, 0);
    const tooMany = Array.from({ length: 11 }, (_, i) => ({ Id: String(i), ReceiptHandle: 'x' }));
    await rejects(sqs.send(new DeleteMessageBatchCommand({ QueueUrl: dlq.url, Entries: tooMany })), { name: 'TooManyEntriesInBatchRequest' });
    await rejects(sqs.send(new SendMessageCommand({ QueueUrl: aws.queueUrl('nope'), MessageBody: 'x' })), { name: 'QueueDoesNotExist' });

    const sns = new SNSClient(config);
    const topic = `arn:aws:sns:${REGION}:${ACCOUNT}:check`;
    aws.topics.add(topic);
    const published = await sns.send(new PublishCommand({ TopicArn: topic, Subject: 'Spot interruptions', Message: 'i-0123456789abcdef0' }));
    strictEqual(typeof published.MessageId, 'string');
    await rejects(sns.send(new PublishCommand({ TopicArn: `${topic}-gone`, Message: 'x' })), { name: 'NotFoundException' });
    await rejects(sns.send(new PublishCommand({ TopicArn: topic, Subject: 'two\nlines', Message: 'x' })), { name: 'InvalidParameterException' });
    for (const client of [elb, sqs, sns]) client.destroy();
  } finally {
    await aws.close();
  }
}

if (require.main === module) {
  checkFakes().then(
    () => console.log('The fake endpoint answers the SDK clients in node_modules as expected.'),
    (error: unknown) => {
      console.error(error);
      process.exitCode = 1;
    },
  );
}
