import type { CloudFormationCustomResourceEvent } from 'aws-lambda';
import { PinnedImageProperty } from './contract';

const IMAGE_ID = /^ami-(?:[0-9a-f]{8}|[0-9a-f]{17})$/;

/**
 * The image to launch: on create, the requested one or else the newest; on update, the same as before
 * unless the requested image changed (emptying it asks for the newest again). The previous choice is the
 * resource's physical id, which CloudFormation hands back on every update.
 */
export function chooseImage(event: CloudFormationCustomResourceEvent): string {
  if (event.RequestType === 'Delete') return event.PhysicalResourceId;
  const requested = String(event.ResourceProperties[PinnedImageProperty.requestedImageId] ?? '');
  const previous = event.RequestType === 'Update' ? String(event.OldResourceProperties[PinnedImageProperty.requestedImageId] ?? '') : undefined;
  const image =
    event.RequestType === 'Update' && requested === previous
      ? event.PhysicalResourceId
      : requested || String(event.ResourceProperties[PinnedImageProperty.latestImageId]);
  if (!IMAGE_ID.test(image)) throw new Error(`the image must be an AMI id like ami-0123456789abcdef0; got ${JSON.stringify(image)}`);
  return image;
}
