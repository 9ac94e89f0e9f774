import type { CloudFormationCustomResourceEvent, CloudFormationCustomResourceResponse, Context } from 'aws-lambda';
import { HandoverProperty, PINNED_IMAGE_ATTRIBUTE, PINNED_IMAGE_RESOURCE_TYPE, PINNED_IMAGE_SERVICE_TIMEOUT_SECONDS, RESERVED_SECONDS } from './contract';
import { abortAt } from './aws';
import type { Clock, FleetBehindTargetGroup, Run } from './handover';
import { capacityOf, drain, HandoverError, log, refusals, systemClock, waitUntilServing } from './handover';
import { chooseImage } from './image';
import type { SendOptions } from '../common/cloudformation-response';
import { beforeInvocationEnds, sendResponse } from '../common/cloudformation-response';

/**
 * Hands a Spot Fleet's place in its target group over to its replacement before CloudFormation deletes it.
 *
 * - Create: waits until the fleet has its target capacity healthy in the target group.
 * - Update from fleet A to fleet B: raises B's target capacity to A's if A's is higher, registers again B's
 *   instances an earlier handover drained (on rollback B is the fleet whose instances were deregistered),
 *   waits until B has that capacity healthy, then deregisters A's instances, tagged so that no other run
 *   registers them again but a later one, and waits until they have drained. CloudFormation deletes A
 *   afterwards. The same fleet in both is a no-op.
 * - Delete: nothing; the stack is going away, or this resource is.
 *
 * A step that does not finish in its time answers FAILED, naming the step and what it saw, and CloudFormation
 * rolls back. Instances an earlier handover drained that ELB will not register again (no longer running) are
 * skipped, not waited for: the answer is SUCCESS once the others serve, its Reason naming the skipped ones.
 * The physical id stays the one Create gave, so an update never asks to delete the resource.
 *
 * Each invocation sends exactly one answer, again as it is while the PUT fails on the network or with a 5xx;
 * one that never gets through fails the invocation, and no other answer follows it.
 */
export const handler = (event: CloudFormationCustomResourceEvent, context: Context): Promise<void> => handle(event, context);

type Respond = (url: string, body: CloudFormationCustomResourceResponse, options?: SendOptions) => Promise<void>;

export async function handle(event: CloudFormationCustomResourceEvent, context: Context, clock: Clock = systemClock, respond: Respond = sendResponse): Promise<void> {
  if (event.ResourceType === PINNED_IMAGE_RESOURCE_TYPE) return pinImage(event, context, respond);
  const remaining = context.getRemainingTimeInMillis();
  const run: Run = { clock, until: clock.now() + remaining - RESERVED_SECONDS * 1000, start: new Date(clock.now()).toISOString() };
  // No call outlives the invocation: what is in flight then is aborted, leaving at least 9 s for the answer
  // and its retries.
  abortAt(AbortSignal.timeout(Math.max(0, remaining - 10_000)));
  const props = event.ResourceProperties as Record<string, unknown>;
  const tg = props[HandoverProperty.targetGroupArn];
  let step = 'reading the resource properties';
  let failure: string | undefined;
  let skipped: string | undefined;
  try {
    if (event.RequestType !== 'Delete') {
      const next = fleetOf(props);
      const previous = event.RequestType === 'Update' ? fleetOf(event.OldResourceProperties).fleetId : undefined;
      log('Handover', { requestType: event.RequestType, previous, next });
      if (previous !== next.fleetId) {
        step = `waiting for fleet ${next.fleetId} to serve`;
        // The fleet replaced may have been scaled out: the new one serves at least as many.
        const serving = await waitUntilServing(next, run, previous === undefined ? 0 : await capacityOf(previous));
        log('Serving', serving);
        if (serving.refused.length > 0) {
          skipped = `Fleet ${next.fleetId} serves with ${serving.healthy} of ${serving.capacity} instances healthy: ${refusals(serving.refused)}`;
        }
        if (previous !== undefined) {
          step = `draining fleet ${previous}`;
          await drain(previous, next, run);
        }
      }
    }
  } catch (error) {
    log('Handover failed', { step, error: String(error) });
    failure = `Handover failed ${step}: ${error instanceof HandoverError ? error.message : String(error)}`;
  }
  const said = [failure, skipped].filter((text) => text !== undefined);
  const reason = `${said.join('. ')} (log stream ${context.logStreamName})`.slice(0, 1000);
  await answer(respond, event, context, {
    ...(failure !== undefined ? { Status: 'FAILED', Reason: reason } : { Status: 'SUCCESS', ...(skipped !== undefined && { Reason: reason }) }),
    // Create's id is echoed on every later request: a new one would make CloudFormation delete the old resource.
    PhysicalResourceId: event.RequestType !== 'Create' ? event.PhysicalResourceId : typeof tg === 'string' ? tg : event.LogicalResourceId,
    StackId: event.StackId,
    RequestId: event.RequestId,
    LogicalResourceId: event.LogicalResourceId,
  });
}

const FLEET_ID = /^sfr-[0-9a-f-]{36}$/;
const TARGET_GROUP_ARN = /^arn:[\w-]+:elasticloadbalancing:[\w-]+:\d{12}:targetgroup\/[\w-]+\/[0-9a-f]+$/;

/** The properties, checked: a malformed one is an error, never a guess. */
function fleetOf(props: Record<string, unknown>): FleetBehindTargetGroup {
  const text = (name: string, pattern: RegExp, example: string): string => {
    const value = String(props[name]);
    if (!pattern.test(value)) throw new HandoverError(`${name} must look like ${example}; got ${JSON.stringify(props[name])}`);
    return value;
  };
  const seconds = (name: string) => Number(text(name, /^[1-9]\d{0,3}$/, '600 (whole seconds)'));
  return {
    fleetId: text(HandoverProperty.fleetRequestId, FLEET_ID, 'sfr-<uuid>'),
    targetGroupArn: text(HandoverProperty.targetGroupArn, TARGET_GROUP_ARN, 'a target group ARN'),
    healthyTimeoutSeconds: seconds(HandoverProperty.healthyTimeoutSeconds),
    drainTimeoutSeconds: seconds(HandoverProperty.drainTimeoutSeconds),
  };
}

async function pinImage(event: CloudFormationCustomResourceEvent, context: Context, respond: Respond): Promise<void> {
  const ids = { StackId: event.StackId, RequestId: event.RequestId, LogicalResourceId: event.LogicalResourceId };
  let body: CloudFormationCustomResourceResponse;
  try {
    const image = chooseImage(event);
    log('Image', { requestType: event.RequestType, image });
    body = { Status: 'SUCCESS', PhysicalResourceId: image, Data: { [PINNED_IMAGE_ATTRIBUTE]: image }, ...ids };
  } catch (error) {
    const physical = event.RequestType === 'Create' ? event.LogicalResourceId : event.PhysicalResourceId;
    body = { Status: 'FAILED', Reason: `Image: ${String(error)} (log stream ${context.logStreamName})`, PhysicalResourceId: physical, ...ids };
  }
  // Outside the try: a PUT that fails for good must fail the invocation, not turn the answer into FAILED.
  // Retried for at most half CloudFormation's wait, since an answer later than that would not count.
  await answer(respond, event, context, body, (PINNED_IMAGE_SERVICE_TIMEOUT_SECONDS / 2) * 1000);
}

/** The invocation's one answer, its retries bounded to end shortly before the function times out, or `withinMs`. */
function answer(
  respond: Respond,
  event: CloudFormationCustomResourceEvent,
  context: Context,
  body: CloudFormationCustomResourceResponse,
  withinMs = Infinity,
): Promise<void> {
  const end = beforeInvocationEnds(context);
  return respond(event.ResponseURL, body, { signal: withinMs === Infinity ? end : AbortSignal.any([end, AbortSignal.timeout(withinMs)]) });
}
