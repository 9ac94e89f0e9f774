import type { HttpInstanceSummary } from '@aws-sdk/client-servicediscovery';
import type { Ipv4Block } from './contract';
import { ipv4ToNumber } from './contract';

/** An instance as registered, for the logs; `availabilityZone` is the raw attribute, unchecked. */
export interface InstanceIdentity {
  readonly instanceId: string;
  readonly availabilityZone?: string;
}

/** An instance that may be probed: an allowed address and a zone of the function's own Region. */
export interface ProbeTarget {
  readonly instanceId: string;
  readonly availabilityZone: string;
  readonly ip: string;
  readonly port: number;
}

export type ParsedInstance =
  | { readonly valid: true; readonly target: ProbeTarget }
  | { readonly valid: false; readonly identity: InstanceIdentity; readonly reason: string };

/** What an instance must satisfy to be sent a request. */
export interface TargetRules {
  readonly allowedBlocks: readonly Ipv4Block[];
  readonly region: string;
}

// Leading zeros are refused: ECS never registers them, so one means the attribute was not written by ECS.
const PORT_PATTERN = /^[1-9][0-9]{0,4}$/;
const ZONE_LETTER = /^[a-z]$/;

/**
 * Reads the attributes that ECS registers, and rejects an instance that anyone able to register in Cloud Map
 * could use to aim the prober elsewhere (an address outside `allowedBlocks`: loopback, link-local, public)
 * or to add metric dimensions (a zone other than the Region plus one letter). A rejected instance becomes a
 * failure with a reason rather than an exception, so one broken registration cannot hide the rest.
 */
export function parseInstance(instance: HttpInstanceSummary, rules: TargetRules): ParsedInstance {
  const attributes = instance.Attributes ?? {};
  const { AWS_INSTANCE_IPV4: ip, AWS_INSTANCE_PORT: rawPort, AVAILABILITY_ZONE: zone } = attributes;
  const identity: InstanceIdentity = { instanceId: instance.InstanceId ?? 'unknown', availabilityZone: zone };
  const problems: string[] = [];
  const address = ip === undefined ? undefined : ipv4ToNumber(ip);
  if (ip === undefined) problems.push('AWS_INSTANCE_IPV4 is missing');
  else if (address === undefined) problems.push(`AWS_INSTANCE_IPV4 ${JSON.stringify(ip)} is not an IPv4 address`);
  else if (!rules.allowedBlocks.some((block) => address >= block.first && address < block.first + block.size)) {
    problems.push(`AWS_INSTANCE_IPV4 ${ip} is outside the allowed blocks ${rules.allowedBlocks.map((block) => block.cidr).join(', ')}`);
  }
  const port = rawPort !== undefined && PORT_PATTERN.test(rawPort) ? Number(rawPort) : Number.NaN;
  if (rawPort === undefined) problems.push('AWS_INSTANCE_PORT is missing');
  else if (!(port >= 1 && port <= 65535)) problems.push(`AWS_INSTANCE_PORT ${JSON.stringify(rawPort)} is not a port in 1..65535`);
  if (zone === undefined) problems.push('AVAILABILITY_ZONE is missing');
  else if (!(zone.length === rules.region.length + 1 && zone.startsWith(rules.region) && ZONE_LETTER.test(zone.slice(-1)))) {
    problems.push(`AVAILABILITY_ZONE ${JSON.stringify(zone)} is not a zone of ${rules.region}`);
  }

  if (ip === undefined || zone === undefined || problems.length > 0) {
    return { valid: false, identity, reason: `rejected: ${problems.join('; ')}` };
  }
  return { valid: true, target: { instanceId: identity.instanceId, availabilityZone: zone, ip, port } };
}
