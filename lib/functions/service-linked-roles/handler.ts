import { CreateServiceLinkedRoleCommand, GetRoleCommand, IAMClient, NoSuchEntityException } from '@aws-sdk/client-iam';
import type { CloudFormationCustomResourceEvent, CloudFormationCustomResourceResponse, Context } from 'aws-lambda';
import { beforeInvocationEnds, sendResponse } from '../common/cloudformation-response';
import { SERVICE_LINKED_ROLE_NAME, SERVICE_PRINCIPAL } from './names';

/**
 * Ensures account-wide service-linked roles exist before the resources that need them. The API path, unlike
 * the console, does not always create them first, and an `AWS::IAM::ServiceLinkedRole` resource fails in
 * every account that already has the role. A role that exists is left alone without asking to create it,
 * so accounts whose policies deny `iam:CreateServiceLinkedRole` still deploy once the role is there. Delete
 * leaves the roles in place: they belong to the account, and other users in it may rely on them.
 *
 * The roles come from the resource's `Roles` property, which the ServiceLinkedRoles construct sets.
 */
const PHYSICAL_ID = 'service-linked-roles';

export interface RoleToEnsure {
  readonly ServiceName: string;
  readonly RoleName: string;
}

/**
 * After creating a role, wait this long before reporting success: IAM is eventually consistent, and a
 * service that tries to assume a role created a moment ago can fail ("Unable to assume the service linked
 * role"). A guess with margin; AWS documents no figure. Not paid when every role already existed.
 */
const DEFAULT_PROPAGATION_WAIT_MS = 10_000;

let iam: IAMClient | undefined;
/**
 * Bounded so that the worst case (two calls per role, each up to three attempts of at most 5 s, and the
 * propagation wait) leaves time in the function timeout for the response and its retries: a handler that
 * times out sends CloudFormation no response at all.
 */
const client = (): IAMClient =>
  (iam ??= new IAMClient({
    maxAttempts: 3,
    requestHandler: { connectionTimeout: 2000, requestTimeout: 5000, throwOnRequestTimeout: true },
  }));

export async function ensureServiceLinkedRole(role: RoleToEnsure): Promise<'created' | 'exists'> {
  try {
    await client().send(new GetRoleCommand({ RoleName: role.RoleName }));
    return 'exists';
  } catch (error) {
    // IAM may answer AccessDenied rather than NoSuchEntity, for example under a permissions boundary or an
    // SCP that denies reads. Creating settles it either way.
    if (!(error instanceof NoSuchEntityException) && !isAccessDenied(error)) throw error;
  }
  try {
    await client().send(new CreateServiceLinkedRoleCommand({ AWSServiceName: role.ServiceName }));
    return 'created';
  } catch (error) {
    // Another stack or the service itself created it since the GetRole.
    if (isAlreadyTaken(error)) return 'exists';
    throw error;
  }
}

function isAccessDenied(error: unknown): boolean {
  return error instanceof Error && (error.name === 'AccessDenied' || error.name === 'AccessDeniedException');
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
      const roles = rolesToEnsure(event.ResourceProperties.Roles);
      const outcome: Record<string, string> = {};
      for (const role of roles) outcome[role.RoleName] = await ensureServiceLinkedRole(role);
      console.info(JSON.stringify({ message: 'service-linked roles ensured', outcome }));
      if (Object.values(outcome).includes('created')) await sleep(propagationWaitMs());
    }
  } catch (error) {
    console.error(JSON.stringify({ message: 'Could not ensure the service-linked roles', error: String(error) }));
    Object.assign(response, {
      Status: 'FAILED',
      Reason: `${String(error)} (see log stream ${context.logStreamName})`.slice(0, 1000),
    });
  }
  // The one answer, tried again on a 5xx or a network error until shortly before the function times out; if
  // it never gets through, the invocation fails with the reason, which the sender has logged.
  await sendResponse(event.ResponseURL, response, { signal: beforeInvocationEnds(context) });
};

function rolesToEnsure(value: unknown): RoleToEnsure[] {
  const valid = (role: unknown): role is RoleToEnsure =>
    typeof role === 'object' &&
    role !== null &&
    typeof (role as RoleToEnsure).ServiceName === 'string' &&
    SERVICE_PRINCIPAL.test((role as RoleToEnsure).ServiceName) &&
    typeof (role as RoleToEnsure).RoleName === 'string' &&
    SERVICE_LINKED_ROLE_NAME.test((role as RoleToEnsure).RoleName);
  if (!Array.isArray(value) || value.length === 0 || !value.every(valid)) {
    throw new Error(
      `Roles must be a non-empty list like [{"ServiceName":"ecs.amazonaws.com","RoleName":"AWSServiceRoleForECS"}]; got ${JSON.stringify(value)}.`,
    );
  }
  return value;
}

function propagationWaitMs(): number {
  const configured = Number(process.env.PROPAGATION_WAIT_MS);
  return Number.isSafeInteger(configured) && configured >= 0 ? configured : DEFAULT_PROPAGATION_WAIT_MS;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
