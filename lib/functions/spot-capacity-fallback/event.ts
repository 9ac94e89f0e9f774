/** What the function is invoked with, validated: ECS's service action events and the schedule's events. */

/** Whose events the function acts on: parsed once from the settings. */
export interface Scope {
  readonly partition: string;
  readonly region: string;
  readonly account: string;
  readonly clusterArn: string;
  readonly serviceArn: string;
}

export type Invocation =
  /** ECS could not place a task of our service because Fargate Spot had no capacity. */
  | { readonly kind: 'spot-shortage'; readonly reason: string; readonly time: string }
  /** The schedule's turn to see whether the cool-off is over. */
  | { readonly kind: 'schedule'; readonly time: string }
  /** A valid event that asks for nothing: someone else's, or not about Fargate Spot capacity. */
  | { readonly kind: 'ignored'; readonly why: string }
  /** Not the shape AWS documents. */
  | { readonly kind: 'malformed'; readonly problem: string };

import { PLACEMENT_FAILURE, SERVICE_ACTION } from './contract';

const SCHEDULED_EVENT = 'Scheduled Event';

/** `arn:<partition>:ecs:<region>:<account>:service/<cluster>/<name>`, the only service ARN format a capacity provider strategy runs with. */
const SERVICE_ARN = /^arn:(aws[a-z-]*):ecs:([a-z0-9-]+):(\d{12}):service\/[A-Za-z0-9_-]+\/[A-Za-z0-9_-]+$/;
const CLUSTER_ARN = /^arn:(aws[a-z-]*):ecs:([a-z0-9-]+):(\d{12}):cluster\/[A-Za-z0-9_-]+$/;

/** The scope of `serviceArn` in `clusterArn`; undefined when either is not a new-format ARN, or they disagree. */
export function parseScope(serviceArn: string, clusterArn: string): Scope | undefined {
  const service = SERVICE_ARN.exec(serviceArn);
  const cluster = CLUSTER_ARN.exec(clusterArn);
  if (service === null || cluster === null) return undefined;
  const [, partition = '', region = '', account = ''] = service;
  if (cluster[1] !== partition || cluster[2] !== region || cluster[3] !== account) return undefined;
  const clusterName = clusterArn.slice(clusterArn.indexOf(':cluster/') + ':cluster/'.length);
  if (serviceArn.split('/')[1] !== clusterName) return undefined;
  return { partition, region, account, clusterArn, serviceArn };
}

/**
 * The reasons ECS gives, in a placement failure's `detail.reason`, when there is no Fargate capacity for the
 * task: `RESOURCE:FARGATE`, and the wording of its service event, "Capacity is unavailable at this time".
 * Other reasons (`RESOURCE:ENI` for a subnet out of addresses, `RESOURCE:MEMORY` on EC2, attributes) are not
 * helped by a move to FARGATE, so they are ignored.
 */
const CAPACITY_REASON = /^RESOURCE:FARGATE\b|capacity is unavailable|insufficient capacity/i;

function isFargateSpotArn(arn: unknown): boolean {
  return typeof arn === 'string' && (arn === 'FARGATE_SPOT' || /^arn:aws[a-z-]*:ecs:[a-z0-9-]+:\d{12}:capacity-provider\/FARGATE_SPOT$/.test(arn));
}

const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

/**
 * What `event` asks of the function, for `scope`. Every field it acts on is checked; nothing missing is
 * assumed. A placement failure counts as a Fargate Spot shortage only when it names FARGATE_SPOT among its
 * capacity providers and gives a capacity reason.
 */
export function classify(event: unknown, scope: Scope): Invocation {
  if (!isRecord(event)) return { kind: 'malformed', problem: 'the event is not a JSON object' };
  const { source, account, region, time, resources, detail } = event;
  const detailType = event['detail-type'];
  if (typeof source !== 'string' || typeof detailType !== 'string' || typeof account !== 'string' || typeof region !== 'string' || typeof time !== 'string') {
    return { kind: 'malformed', problem: 'source, detail-type, account, region and time must be strings' };
  }
  if (!Array.isArray(resources) || !resources.every((r) => typeof r === 'string')) return { kind: 'malformed', problem: 'resources must be a list of ARNs' };
  if (!isRecord(detail)) return { kind: 'malformed', problem: 'detail must be an object' };
  if (account !== scope.account || region !== scope.region) {
    return { kind: 'ignored', why: `the event is from account ${account} in ${region}; the service is in ${scope.account} in ${scope.region}` };
  }

  if (source === 'aws.events' && detailType === SCHEDULED_EVENT) return { kind: 'schedule', time };
  if (source !== 'aws.ecs' || detailType !== SERVICE_ACTION) return { kind: 'ignored', why: `a ${source} "${detailType}" event is not one the function acts on` };

  const { eventName, clusterArn, reason, capacityProviderArns } = detail;
  if (typeof eventName !== 'string' || typeof clusterArn !== 'string') return { kind: 'malformed', problem: 'detail.eventName and detail.clusterArn must be strings' };
  if (clusterArn !== scope.clusterArn) return { kind: 'ignored', why: `the event is about cluster ${clusterArn}, not ${scope.clusterArn}` };
  if (!resources.includes(scope.serviceArn)) return { kind: 'ignored', why: `the event is about ${JSON.stringify(resources)}, not ${scope.serviceArn}` };
  if (eventName !== PLACEMENT_FAILURE) return { kind: 'ignored', why: `${eventName} is not a placement failure` };
  if (typeof reason !== 'string') return { kind: 'malformed', problem: 'detail.reason of a placement failure must be a string' };
  if (capacityProviderArns !== undefined && !Array.isArray(capacityProviderArns)) return { kind: 'malformed', problem: 'detail.capacityProviderArns must be a list' };
  if (!(capacityProviderArns ?? []).some(isFargateSpotArn)) {
    return { kind: 'ignored', why: `the placement failure (${reason}) names no FARGATE_SPOT capacity provider: ${JSON.stringify(capacityProviderArns ?? [])}` };
  }
  if (!CAPACITY_REASON.test(reason)) return { kind: 'ignored', why: `the placement failure's reason, ${reason}, is not a lack of Fargate capacity` };
  return { kind: 'spot-shortage', reason, time };
}
