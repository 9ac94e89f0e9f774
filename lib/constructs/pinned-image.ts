import { CfnParameter, CustomResource, Duration } from 'aws-cdk-lib/core';
import { Construct } from 'constructs';
import { join } from 'node:path';
import { PINNED_IMAGE_ATTRIBUTE, PINNED_IMAGE_RESOURCE_TYPE, PINNED_IMAGE_SERVICE_TIMEOUT_SECONDS, PinnedImageProperty } from '../functions/fleet-handover/contract';
import { InlineNodeFunction } from './inline-node-function';
import { AL2023_AMI_PARAMETER } from './web-server-launch-template';

export interface PinnedImageProps {
  /** The newest AMI id, such as an `AWS::SSM::Parameter::Value<AWS::EC2::Image::Id>` parameter's value, which CloudFormation may resolve anew on every deploy. */
  readonly latestImageId: string;
  /** The AMI id the deployer asked for, such as an `ImageId` parameter's value; empty for "the newest, once". */
  readonly requestedImageId: string;
}

/**
 * The two parameters a stack pins its AMI with, as {@link PinnedImageProps}: `LatestImageParameter`, the SSM
 * parameter of the newest Amazon Linux 2023, and `ImageId`, the AMI a deploy asks for (empty: keep the pinned one).
 */
export function pinnedImageParameters(scope: Construct): PinnedImageProps {
  const latestImage = new CfnParameter(scope, 'LatestImageParameter', {
    type: 'AWS::SSM::Parameter::Value<AWS::EC2::Image::Id>',
    default: AL2023_AMI_PARAMETER,
    description: 'SSM parameter: the newest AMI, read when ImageId is emptied or at the first deploy',
  });
  const imageId = new CfnParameter(scope, 'ImageId', {
    type: 'String',
    default: '',
    allowedPattern: '^$|^ami-([0-9a-f]{8}|[0-9a-f]{17})$',
    description: 'Optional AMI to launch; set it to roll one out. Empty keeps the AMI chosen before.',
  });
  return { latestImageId: latestImage.valueAsString, requestedImageId: imageId.valueAsString };
}

/**
 * The `Custom::PinnedImage` resource on its own, for launch templates with no FleetHandover beside them:
 * {@link imageId} changes only when `requestedImageId` does. `latestImageId` is taken once, when the stack is
 * created or when `requestedImageId` is emptied; a non-empty `requestedImageId` is used as given. A deploy
 * that changes nothing therefore gives the launch template no new version and replaces no instance.
 *
 * The function is the fleet handover's handler, which answers this resource type by choosing the image and
 * calls no AWS API for it; its role has no permissions beyond its logs. FleetHandover.pinImage makes the same
 * resource with the handover's function.
 */
export class PinnedImage extends Construct {
  public readonly function: InlineNodeFunction;
  public readonly resource: CustomResource;
  /** The AMI id to launch. */
  public readonly imageId: string;

  constructor(scope: Construct, id: string, props: PinnedImageProps) {
    super(scope, id);
    this.function = new InlineNodeFunction(this, 'Handler', {
      entry: join(__dirname, '..', 'functions', 'fleet-handover', 'handler'),
      description: 'Pins the AMI the web servers launch',
      serviceName: 'pinned-image',
      metricsNamespace: 'Spotwise',
      // It chooses at once; the retries of its answer end within half the resource's service timeout.
      timeout: Duration.seconds(PINNED_IMAGE_SERVICE_TIMEOUT_SECONDS),
      usePowertools: false,
    });
    this.resource = new CustomResource(this, 'Resource', {
      serviceToken: this.function.functionArn,
      resourceType: PINNED_IMAGE_RESOURCE_TYPE,
      serviceTimeout: Duration.seconds(PINNED_IMAGE_SERVICE_TIMEOUT_SECONDS),
      properties: {
        [PinnedImageProperty.latestImageId]: props.latestImageId,
        [PinnedImageProperty.requestedImageId]: props.requestedImageId,
      },
    });
    this.imageId = this.resource.getAttString(PINNED_IMAGE_ATTRIBUTE);
  }
}
