import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { CreateServiceLinkedRoleCommand, IAMClient, InvalidInputException } from '@aws-sdk/client-iam';
import type { CloudFormationCustomResourceEvent, Context } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { handler } from '../../lib/functions/spot-service-linked-roles/handler';

const iam = mockClient(IAMClient);
const responses: Record<string, unknown>[] = [];
let responseUrl = '';
const server = createServer((req, res) => {
  let body = '';
  req.on('data', (chunk: Buffer) => (body += chunk.toString()));
  req.on('end', () => {
    responses.push({ method: req.method, ...(JSON.parse(body) as Record<string, unknown>) });
    res.end();
  });
});

beforeAll(async () => {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  responseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/response?signature=x`;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));
beforeEach(() => {
  iam.reset();
  responses.length = 0;
});

const context = { logStreamName: '2026/11/23/[$LATEST]abc' } as Context;
function event(requestType: 'Create' | 'Update' | 'Delete'): CloudFormationCustomResourceEvent {
  return {
    RequestType: requestType,
    ServiceToken: 'arn:aws:lambda:us-east-2:123456789012:function:slr',
    ResponseURL: responseUrl,
    StackId: 'arn:aws:cloudformation:us-east-2:123456789012:stack/SpotFleetWebApp/guid',
    RequestId: 'request-1',
    LogicalResourceId: 'SpotFleetServiceLinkedRolesResource',
    ResourceType: 'Custom::SpotServiceLinkedRoles',
    ResourceProperties: { ServiceToken: 'arn:aws:lambda:us-east-2:123456789012:function:slr' },
    ...(requestType === 'Create' ? {} : { PhysicalResourceId: 'spot-service-linked-roles', OldResourceProperties: {} }),
  } as CloudFormationCustomResourceEvent;
}

const taken = (role: string) =>
  new InvalidInputException({
    message: `Service role name ${role} has been taken in this account, please try a different suffix.`,
    $metadata: { httpStatusCode: 400 },
  });

describe('spot service-linked roles custom resource', () => {
  it('creates both roles in a fresh account and reports success to CloudFormation', async () => {
    iam.on(CreateServiceLinkedRoleCommand).resolves({});
    await handler(event('Create'), context);
    expect(iam.commandCalls(CreateServiceLinkedRoleCommand).map((c) => c.args[0].input.AWSServiceName)).toEqual([
      'spot.amazonaws.com',
      'spotfleet.amazonaws.com',
    ]);
    expect(responses).toEqual([
      expect.objectContaining({ method: 'PUT', Status: 'SUCCESS', PhysicalResourceId: 'spot-service-linked-roles', RequestId: 'request-1' }),
    ]);
  });

  it('succeeds when the account already has the roles', async () => {
    iam
      .on(CreateServiceLinkedRoleCommand, { AWSServiceName: 'spot.amazonaws.com' })
      .rejects(taken('AWSServiceRoleForEC2Spot'))
      .on(CreateServiceLinkedRoleCommand, { AWSServiceName: 'spotfleet.amazonaws.com' })
      .rejects(taken('AWSServiceRoleForEC2SpotFleet'));
    await handler(event('Update'), context);
    expect(responses).toEqual([expect.objectContaining({ Status: 'SUCCESS' })]);
  });

  it('reports failure, with the reason, on any other error instead of hanging the stack', async () => {
    iam.on(CreateServiceLinkedRoleCommand).rejects(Object.assign(new Error('User is not authorized'), { name: 'AccessDenied' }));
    await handler(event('Create'), context);
    expect(responses).toEqual([
      expect.objectContaining({ Status: 'FAILED', Reason: expect.stringMatching(/not authorized.*2026\/11\/23/) as unknown }),
    ]);
  });

  it('leaves the account-wide roles in place when the stack is deleted', async () => {
    await handler(event('Delete'), context);
    expect(iam.calls()).toHaveLength(0);
    expect(responses).toEqual([expect.objectContaining({ Status: 'SUCCESS', PhysicalResourceId: 'spot-service-linked-roles' })]);
  });
});
