import type { HttpInstanceSummary } from '@aws-sdk/client-servicediscovery';
import { isIPv4 } from 'node:net';

/** Where an instance runs, as far as the logs and metrics care; `unknown` when it was registered without an AZ. */
export interface InstanceIdentity {
  readonly instanceId: string;
  readonly availabilityZone: string;
}

export interface ProbeTarget extends InstanceIdentity {
  readonly ip: string;
  readonly port: number;
}

export type ParsedInstance =
  | { readonly valid: true; readonly target: ProbeTarget }
  | { readonly valid: false; readonly identity: InstanceIdentity; readonly reason: string };

export const UNKNOWN = 'unknown';

// Leading zeros are refused: ECS never registers them, so one means the attribute was not written by ECS.
const PORT_PATTERN = /^[1-9][0-9]{0,4}$/;

/**
 * Reads the SRV-style attributes that ECS registers. A bad instance becomes a failure with a reason rather
 * than an exception, so one broken registration cannot hide the rest of the service.
 */
export function parseInstance(instance: HttpInstanceSummary): ParsedInstance {
  const attributes = instance.Attributes ?? {};
  const identity: InstanceIdentity = {
    instanceId: instance.InstanceId ?? UNKNOWN,
    availabilityZone: nonEmpty(attributes.AVAILABILITY_ZONE) ?? UNKNOWN,
  };
  const ip = attributes.AWS_INSTANCE_IPV4;
  const rawPort = attributes.AWS_INSTANCE_PORT;
  const problems: string[] = [];
  if (ip === undefined) problems.push('AWS_INSTANCE_IPV4 is missing');
  else if (!isIPv4(ip)) problems.push(`AWS_INSTANCE_IPV4 ${JSON.stringify(ip)} is not an IPv4 address`);
  const port = rawPort !== undefined && PORT_PATTERN.test(rawPort) ? Number(rawPort) : Number.NaN;
  if (rawPort === undefined) problems.push('AWS_INSTANCE_PORT is missing');
  else if (!(port >= 1 && port <= 65535)) problems.push(`AWS_INSTANCE_PORT ${JSON.stringify(rawPort)} is not a port in 1..65535`);

  if (ip === undefined || problems.length > 0) {
    return { valid: false, identity, reason: `invalid-attributes: ${problems.join('; ')}` };
  }
  return { valid: true, target: { ...identity, ip, port } };
}

function nonEmpty(value: string | undefined): string | undefined {
  const trimmed = value?.trim();
  return trimmed === undefined || trimmed === '' ? undefined : trimmed;
}
