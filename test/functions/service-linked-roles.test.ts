import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { CreateServiceLinkedRoleCommand, GetRoleCommand, IAMClient, InvalidInputException, NoSuchEntityException } from '@aws-sdk/client-iam';
import type { CloudFormationCustomResourceEvent, Context } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { ResponseNotSent } from '../../lib/functions/common/cloudformation-response';
import { handler } from '../../lib/functions/service-linked-roles/handler';
import { fakeContext } from '../support/lambda';

const iam = mockClient(IAMClient);
const responses: Record<string, unknown>[] = [];
/** The status the response URL answers each PUT with, in order; 200 once they run out. */
const statuses: number[] = [];
let responseUrl = '';
let baseUrl = '';
/** Each test answers to its own URL, so that a retry an earlier test left in flight never lands in this one's responses. */
let run = 0;
const server = createServer((req, res) => {
  let body = '';
  req.on('data', (chunk: Buffer) => (body += chunk.toString()));
  req.on('end', () => {
    if (!(req.url ?? '').endsWith(`&run=${run}`)) {
      res.statusCode = 410;
      res.end();
      return;
    }
    responses.push({ method: req.method, ...(JSON.parse(body) as Record<string, unknown>) });
    res.statusCode = statuses.shift() ?? 200;
    res.end();
  });
});

beforeAll(async () => {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/response?signature=x`;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));
beforeEach(() => {
  run += 1;
  responseUrl = `${baseUrl}&run=${run}`;
  iam.reset();
  responses.length = 0;
  statuses.length = 0;
  vi.stubEnv('PROPAGATION_WAIT_MS', '0');
  vi.spyOn(console, 'info').mockImplementation(() => undefined);
  vi.spyOn(console, 'warn').mockImplementation(() => undefined);
  vi.spyOn(console, 'error').mockImplementation(() => undefined);
});
afterEach(() => {
  vi.restoreAllMocks();
});

const context = { ...fakeContext('service-linked-roles'), logStreamName: '2026/11/23/[$LATEST]abc' } satisfies Context;
const SPOT_ROLES = [
  { ServiceName: 'spot.amazonaws.com', RoleName: 'AWSServiceRoleForEC2Spot' },
  { ServiceName: 'spotfleet.amazonaws.com', RoleName: 'AWSServiceRoleForEC2SpotFleet' },
];

function event(requestType: 'Create' | 'Update' | 'Delete', roles: unknown = SPOT_ROLES): CloudFormationCustomResourceEvent {
  return {
    RequestType: requestType,
    ServiceToken: 'arn:aws:lambda:us-east-2:123456789012:function:slr',
    ResponseURL: responseUrl,
    StackId: 'arn:aws:cloudformation:us-east-2:123456789012:stack/SpotFleetWebApp/guid',
    RequestId: 'request-1',
    LogicalResourceId: 'FleetServiceLinkedRolesResource',
    ResourceType: 'Custom::ServiceLinkedRoles',
    ResourceProperties: { ServiceToken: 'arn:aws:lambda:us-east-2:123456789012:function:slr', Roles: roles },
    ...(requestType === 'Create' ? {} : { PhysicalResourceId: 'service-linked-roles', OldResourceProperties: {} }),
  } as CloudFormationCustomResourceEvent;
}

const missing = () => new NoSuchEntityException({ message: 'The role cannot be found.', $metadata: { httpStatusCode: 404 } });
const taken = (role: string) =>
  new InvalidInputException({
    message: `Service role name ${role} has been taken in this account, please try a different suffix.`,
    $metadata: { httpStatusCode: 400 },
  });

describe('service-linked roles custom resource', () => {
  it('creates the missing roles in a fresh account and reports success to CloudFormation', async () => {
    iam.on(GetRoleCommand).rejects(missing()).on(CreateServiceLinkedRoleCommand).resolves({});
    await handler(event('Create'), context);
    expect(iam.commandCalls(GetRoleCommand).map((c) => c.args[0].input.RoleName)).toEqual(['AWSServiceRoleForEC2Spot', 'AWSServiceRoleForEC2SpotFleet']);
    expect(iam.commandCalls(CreateServiceLinkedRoleCommand).map((c) => c.args[0].input.AWSServiceName)).toEqual([
      'spot.amazonaws.com',
      'spotfleet.amazonaws.com',
    ]);
    expect(responses).toEqual([
      expect.objectContaining({ method: 'PUT', Status: 'SUCCESS', PhysicalResourceId: 'service-linked-roles', RequestId: 'request-1' }),
    ]);
  });

  it('goes on to create a role when IAM denies reading it, as it may for a role that does not exist yet', async () => {
    iam
      .on(GetRoleCommand)
      .rejects(Object.assign(new Error('not authorized to perform: iam:GetRole'), { name: 'AccessDenied' }))
      .on(CreateServiceLinkedRoleCommand)
      .resolves({});
    await handler(event('Create', [{ ServiceName: 'ecs.amazonaws.com', RoleName: 'AWSServiceRoleForECS' }]), context);
    expect(iam.commandCalls(CreateServiceLinkedRoleCommand).map((c) => c.args[0].input.AWSServiceName)).toEqual(['ecs.amazonaws.com']);
    expect(responses).toEqual([expect.objectContaining({ Status: 'SUCCESS' })]);
  });

  it('fails on any other error reading a role, without trying to create it', async () => {
    iam.on(GetRoleCommand).rejects(Object.assign(new Error('Rate exceeded'), { name: 'Throttling' }));
    await handler(event('Create'), context);
    expect(iam.commandCalls(CreateServiceLinkedRoleCommand)).toHaveLength(0);
    expect(responses).toEqual([expect.objectContaining({ Status: 'FAILED', Reason: expect.stringMatching(/Rate exceeded/) as unknown })]);
  });

  it('asks to create nothing when the roles exist, so a policy denying creation does not matter', async () => {
    iam.on(GetRoleCommand).resolves({}).on(CreateServiceLinkedRoleCommand).rejects(new Error('should not be called'));
    await handler(event('Update'), context);
    expect(iam.commandCalls(CreateServiceLinkedRoleCommand)).toHaveLength(0);
    expect(responses).toEqual([expect.objectContaining({ Status: 'SUCCESS' })]);
  });

  it('succeeds when a role appears between the check and the create', async () => {
    iam
      .on(GetRoleCommand)
      .rejects(missing())
      .on(CreateServiceLinkedRoleCommand, { AWSServiceName: 'spot.amazonaws.com' })
      .rejects(taken('AWSServiceRoleForEC2Spot'))
      .on(CreateServiceLinkedRoleCommand, { AWSServiceName: 'spotfleet.amazonaws.com' })
      .rejects(taken('AWSServiceRoleForEC2SpotFleet'));
    await handler(event('Update'), context);
    expect(responses).toEqual([expect.objectContaining({ Status: 'SUCCESS' })]);
  });

  it('waits for IAM to propagate after creating a role, and not when every role existed', async () => {
    vi.stubEnv('PROPAGATION_WAIT_MS', '300');
    iam.on(GetRoleCommand).rejects(missing()).on(CreateServiceLinkedRoleCommand).resolves({});
    let started = performance.now();
    await handler(event('Create', [{ ServiceName: 'ecs.amazonaws.com', RoleName: 'AWSServiceRoleForECS' }]), context);
    expect(performance.now() - started).toBeGreaterThanOrEqual(290);

    iam.reset();
    iam.on(GetRoleCommand).resolves({});
    started = performance.now();
    await handler(event('Create', [{ ServiceName: 'ecs.amazonaws.com', RoleName: 'AWSServiceRoleForECS' }]), context);
    expect(performance.now() - started).toBeLessThan(250);
    expect(responses.map((r) => r.Status)).toEqual(['SUCCESS', 'SUCCESS']);
  });

  it('reports failure, with the reason, on any other error instead of hanging the stack', async () => {
    iam.on(GetRoleCommand).rejects(missing()).on(CreateServiceLinkedRoleCommand).rejects(Object.assign(new Error('User is not authorized'), { name: 'AccessDenied' }));
    await handler(event('Create'), context);
    expect(responses).toEqual([
      expect.objectContaining({ Status: 'FAILED', Reason: expect.stringMatching(/not authorized.*2026\/11\/23/) as unknown }),
    ]);
  });

  it.each([
    ['null', null],
    ['not a list', { ServiceName: 'ecs.amazonaws.com', RoleName: 'AWSServiceRoleForECS' }],
    ['empty', []],
    ['not a service principal', [{ ServiceName: 'ecs', RoleName: 'AWSServiceRoleForECS' }]],
    ['not a service-linked role name', [{ ServiceName: 'ecs.amazonaws.com', RoleName: 'Admin' }]],
  ])('fails clearly, calling nothing, when the Roles property is %s', async (_case, roles) => {
    await handler(event('Create', roles), context);
    expect(iam.calls()).toHaveLength(0);
    expect(responses).toEqual([expect.objectContaining({ Status: 'FAILED', Reason: expect.stringMatching(/^Error: Roles must be a non-empty list/) as unknown })]);
  });

  it('sends its answer again when the response URL answers 503, and the same answer', async () => {
    statuses.push(503);
    iam.on(GetRoleCommand).rejects(missing()).on(CreateServiceLinkedRoleCommand).resolves({});
    await handler(event('Create'), context);
    expect(iam.commandCalls(CreateServiceLinkedRoleCommand)).toHaveLength(2);
    expect(responses).toHaveLength(2);
    expect(responses[1]).toEqual(responses[0]);
    expect(responses[0]).toMatchObject({ Status: 'SUCCESS', RequestId: 'request-1' });
  });

  it('sends a FAILED answer again on a 503, without turning it into another answer', async () => {
    statuses.push(503, 502);
    iam.on(GetRoleCommand).rejects(Object.assign(new Error('Rate exceeded'), { name: 'Throttling' }));
    await handler(event('Create'), context);
    expect(responses.map((r) => r.Status)).toEqual(['FAILED', 'FAILED', 'FAILED']);
    expect(new Set(responses.map((r) => JSON.stringify(r))).size).toBe(1);
  });

  it('fails the invocation, having logged it, when the response URL refuses the answer, and sends no other', async () => {
    statuses.push(403);
    iam.on(GetRoleCommand).resolves({});
    await expect(handler(event('Update'), context)).rejects.toThrow(ResponseNotSent);
    expect(responses).toEqual([expect.objectContaining({ Status: 'SUCCESS' })]);
    expect(console.error).toHaveBeenCalledWith(expect.stringMatching(/CloudFormation response not sent/));
  });

  it('stops retrying before the function times out', async () => {
    statuses.push(...Array<number>(1_000).fill(503));
    iam.on(GetRoleCommand).resolves({});
    const started = performance.now();
    // 1.5 s left: the sender keeps 1 s back for the function to log and return.
    await expect(handler(event('Update'), { ...context, getRemainingTimeInMillis: () => 1_500 })).rejects.toThrow(/no attempt succeeded/);
    expect(performance.now() - started).toBeLessThan(1_500);
    expect(responses.length).toBeGreaterThanOrEqual(2);
  });

  it('leaves the account-wide roles in place when the stack is deleted', async () => {
    await handler(event('Delete'), context);
    expect(iam.calls()).toHaveLength(0);
    expect(responses).toEqual([expect.objectContaining({ Status: 'SUCCESS', PhysicalResourceId: 'service-linked-roles' })]);
  });
});
