import { CfnParameter, Stack, Token } from 'aws-cdk-lib/core';
import { Template } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { PinnedImage } from '../../lib/constructs/pinned-image';
import { PINNED_IMAGE_RESOURCE_TYPE, PinnedImageProperty } from '../../lib/functions/fleet-handover/contract';
import { newApp, resourcesOfType } from '../support/app';
import { roleStatements } from '../support/constructs';

interface Built {
  readonly stack: Stack;
  readonly image: PinnedImage;
  readonly template: Template;
}

/** A fresh stack with `Host/Image` pinning from the parameters `Latest` and `Requested`. */
function build(): Built {
  const stack = new Stack(newApp(), 'Host');
  const latest = new CfnParameter(stack, 'Latest', { type: 'AWS::SSM::Parameter::Value<AWS::EC2::Image::Id>', default: '/aws/service/ami' });
  const requested = new CfnParameter(stack, 'Requested', { type: 'String', default: '' });
  const image = new PinnedImage(stack, 'Image', { latestImageId: latest.valueAsString, requestedImageId: requested.valueAsString });
  return { stack, image, template: Template.fromStack(stack) };
}

const id = (stack: Stack, construct: { node: { defaultChild?: unknown } }): string => stack.getLogicalId(construct.node.defaultChild as never);

describe('PinnedImage', () => {
  it('is the same Custom::PinnedImage resource FleetHandover.pinImage makes, served by a function of its own', () => {
    const { stack, image, template } = build();
    expect(resourcesOfType(template, PINNED_IMAGE_RESOURCE_TYPE).map(([, props]) => props)).toEqual([
      {
        ServiceToken: { 'Fn::GetAtt': [id(stack, image.function), 'Arn'] },
        ServiceTimeout: '120',
        [PinnedImageProperty.latestImageId]: { Ref: 'Latest' },
        [PinnedImageProperty.requestedImageId]: { Ref: 'Requested' },
      },
    ]);
    expect(Object.keys(template.findResources('AWS::Lambda::Function'))).toEqual([id(stack, image.function)]);
  });

  it('gives the image the resource chose, as its ImageId attribute', () => {
    const { stack, image, template } = build();
    const [[pinnedId]] = resourcesOfType(template, PINNED_IMAGE_RESOURCE_TYPE) as [[string, unknown]];
    expect(Token.isUnresolved(image.imageId)).toBe(true);
    expect(stack.resolve(image.imageId)).toEqual({ 'Fn::GetAtt': [pinnedId, 'ImageId'] });
  });

  it('runs the fleet handover\'s handler, which chooses the image without calling AWS, so its role may only write its logs', () => {
    const { image, template } = build();
    expect(image.function.bundle).toContain('function chooseImage(');
    expect(image.function.bundle).toContain(`"${PINNED_IMAGE_RESOURCE_TYPE}"`);
    const statements = roleStatements<{ Action: string[] }>(template, image.function.executionRole);
    expect(statements.flatMap((s) => s.Action)).toEqual(['logs:CreateLogStream', 'logs:PutLogEvents']);
    const [[, fn]] = resourcesOfType(template, 'AWS::Lambda::Function') as [[string, Record<string, unknown>]];
    expect(fn).toMatchObject({ Timeout: 120, Description: 'Pins the AMI the web servers launch' });
    expect(fn.Layers).toBeUndefined();
  });
});
