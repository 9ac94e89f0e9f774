import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { CreateServiceLinkedRoleCommand, IAMClient } from '@aws-sdk/client-iam';
import type { CloudFormationCustomResourceEvent, CloudFormationCustomResourceResponse, Context } from 'aws-lambda';

/**
 * Ensures the account-wide Spot service-linked roles exist. The API path, unlike the console, does not
 * create them, and an `AWS::IAM::ServiceLinkedRole` resource fails in every account that already has one.
 * Creating is idempotent here ("has been taken" counts as success) and Delete leaves the roles alone:
 * they belong to the account, and other Spot users in it may rely on them.
 */
const SERVICES = ['spot.amazonaws.com', 'spotfleet.amazonaws.com'] as const;
const PHYSICAL_ID = 'spot-service-linked-roles';

let iam: IAMClient | undefined;
const client = (): IAMClient => (iam ??= new IAMClient({ maxAttempts: 5 }));

export async function ensureServiceLinkedRole(serviceName: string): Promise<'created' | 'exists'> {
  try {
    await client().send(new CreateServiceLinkedRoleCommand({ AWSServiceName: serviceName }));
    return 'created';
  } catch (error) {
    if (isAlreadyTaken(error)) return 'exists';
    throw error;
  }
}

function isAlreadyTaken(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  return (error.name === 'InvalidInputException' || error.name === 'InvalidInput') && /has been taken/i.test(error.message);
}

export const handler = async (event: CloudFormationCustomResourceEvent, context: Context): Promise<void> => {
  const response: CloudFormationCustomResourceResponse = {
    Status: 'SUCCESS',
    PhysicalResourceId: PHYSICAL_ID,
    StackId: event.StackId,
    RequestId: event.RequestId,
    LogicalResourceId: event.LogicalResourceId,
  };
  try {
    if (event.RequestType !== 'Delete') {
      const outcome: Record<string, string> = {};
      for (const service of SERVICES) outcome[service] = await ensureServiceLinkedRole(service);
      console.info(JSON.stringify({ message: 'Spot service-linked roles ensured', outcome }));
    }
  } catch (error) {
    console.error(JSON.stringify({ message: 'Could not ensure the Spot service-linked roles', error: String(error) }));
    Object.assign(response, {
      Status: 'FAILED',
      Reason: `${String(error)} (see log stream ${context.logStreamName})`.slice(0, 1000),
    });
  }
  await sendResponse(event.ResponseURL, response);
};

/** CloudFormation waits for this PUT to the pre-signed URL; without it the stack hangs for an hour. */
export function sendResponse(url: string, body: CloudFormationCustomResourceResponse): Promise<void> {
  const payload = JSON.stringify(body);
  const target = new URL(url);
  const request = target.protocol === 'http:' ? httpRequest : httpsRequest;
  return new Promise((resolve, reject) => {
    const req = request(
      target,
      { method: 'PUT', headers: { 'content-type': '', 'content-length': Buffer.byteLength(payload) }, timeout: 10_000 },
      (res) => {
        res.resume();
        res.on('end', () =>
          res.statusCode !== undefined && res.statusCode < 300
            ? resolve()
            : reject(new Error(`CloudFormation response PUT answered ${res.statusCode}`)),
        );
      },
    );
    req.on('timeout', () => req.destroy(new Error('CloudFormation response PUT timed out')));
    req.on('error', reject);
    req.end(payload);
  });
}
