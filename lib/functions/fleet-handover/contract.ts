/**
 * What the FleetHandover construct and its handler agree on: the custom resource's type and property names,
 * and the time the handler keeps for itself. Imports neither CDK nor the SDK.
 */
export const FLEET_HANDOVER_RESOURCE_TYPE = 'Custom::SpotFleetHandover';

/** Names of the custom resource's properties. All values arrive as strings: CloudFormation stringifies them. */
export const HandoverProperty = {
  /** The Spot Fleet request id (`sfr-…`), the fleet's `Ref`. */
  fleetRequestId: 'SpotFleetRequestId',
  /** ARN of the target group the fleet registers its instances in. */
  targetGroupArn: 'TargetGroupArn',
  /** How long, in whole seconds, the fleet may take to have its target capacity healthy in the target group. */
  healthyTimeoutSeconds: 'HealthyTimeoutSeconds',
  /** How long, in whole seconds, the previous fleet's instances may take to leave the target group. */
  drainTimeoutSeconds: 'DrainTimeoutSeconds',
} as const;

/**
 * The tag the handover sets on an instance whose registration it changes: `drained <ISO time>` when it
 * deregistered the instance, `registered <ISO time>` when it registered it again. A handover registers a
 * missing instance only if an earlier handover drained it, and never deregisters one that a later handover
 * (a rollback) has touched. The function's role may set this tag key and no other.
 */
export const HANDOVER_TAG_KEY = 'spotwise:handover';

/** Between two looks at the fleet and the target group. */
export const POLL_INTERVAL_SECONDS = 10;

/**
 * Beyond the deregistration delay, for ELB to drop a drained target from DescribeTargetHealth and for the
 * next poll to see it.
 */
export const DRAIN_MARGIN_SECONDS = 30;

/**
 * Kept back from the function's run time for the calls between the waits and the answer to CloudFormation,
 * and for the answer's retries, which stop a second before the function's end: a function that times out
 * sends no answer at all.
 */
export const RESERVED_SECONDS = 30;

/**
 * A second resource type the same function serves: the AMI the fleet launches, chosen once and kept.
 * CloudFormation resolves the public SSM parameter for the newest Amazon Linux again on every deploy; this
 * resource answers with the image it chose before unless the requested image changed, so a deploy that
 * changes nothing never gives the launch template a new version, and the fleet is never replaced by it.
 */
export const PINNED_IMAGE_RESOURCE_TYPE = 'Custom::PinnedImage';

/**
 * How long CloudFormation waits for the pinned image's answer. The function chooses at once, so the retries
 * of its answer end well within this rather than at the function's timeout, which the handover sets.
 */
export const PINNED_IMAGE_SERVICE_TIMEOUT_SECONDS = 120;

export const PinnedImageProperty = {
  /** The newest image, as CloudFormation resolved it for this deploy. */
  latestImageId: 'Newest',
  /** The image the user asked for, or empty for "the newest, once". */
  requestedImageId: 'Requested',
} as const;

/** The attribute that carries the chosen image id. */
export const PINNED_IMAGE_ATTRIBUTE = 'ImageId';
