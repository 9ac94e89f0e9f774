import type { CustomResource } from 'aws-cdk-lib/core';
import { CfnParameter, Duration, Stack, Token } from 'aws-cdk-lib/core';
import { Template } from 'aws-cdk-lib/assertions';
import { CfnSpotFleet, Vpc } from 'aws-cdk-lib/aws-ec2';
import { ApplicationTargetGroup, TargetType } from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import type { IConstruct } from 'constructs';
import type { CloudFormationCustomResourceEvent, CloudFormationCustomResourceResponse } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import type { FleetHandoverProps } from '../../lib/constructs/fleet-handover';
import { FleetHandover } from '../../lib/constructs/fleet-handover';
import { addSpotwiseStacks } from '../../lib/spotwise-app';
import { PINNED_IMAGE_ATTRIBUTE, PINNED_IMAGE_RESOURCE_TYPE, PinnedImageProperty, RESERVED_SECONDS } from '../../lib/functions/fleet-handover/contract';
import { handle } from '../../lib/functions/fleet-handover/handler';
import { fakeContext } from '../support/lambda';
import { newApp, resourcesOfType, templateJson } from '../support/app';
import { acknowledged, roleStatements } from '../support/constructs';

const TARGET_GROUP = 'arn:aws:elasticloadbalancing:us-east-2:123456789012:targetgroup/spotwise-web/0123456789abcdef';

interface Built {
  readonly stack: Stack;
  readonly fleet: CfnSpotFleet;
  readonly handover: FleetHandover;
  /** The handover's custom resource, as `handOver` returned it. */
  readonly resource: CustomResource;
  readonly template: Template;
}

function fleetConfig(overrides: Record<string, unknown>[] = [{ instanceType: 'c6i.large' }]): CfnSpotFleet.SpotFleetRequestConfigDataProperty {
  return {
    iamFleetRole: 'arn:aws:iam::123456789012:role/fleet',
    targetCapacity: 2,
    type: 'maintain',
    launchTemplateConfigs: [{ launchTemplateSpecification: { launchTemplateId: 'lt-0123456789abcdef0', version: '1' }, overrides }],
  };
}

/** A fresh stack holding a fleet and `Host/Handover`, handing it over, on an imported target group. */
function build(props: Partial<FleetHandoverProps> = {}, config = fleetConfig()): Built {
  const stack = new Stack(newApp(), 'Host');
  const fleet = new CfnSpotFleet(stack, 'Fleet', { spotFleetRequestConfigData: config });
  const targetGroup = ApplicationTargetGroup.fromTargetGroupAttributes(stack, 'TargetGroup', { targetGroupArn: TARGET_GROUP });
  const handover = new FleetHandover(stack, 'Handover', { targetGroup, deregistrationDelay: Duration.seconds(90), ...props });
  const resource = handover.handOver(fleet);
  return { stack, fleet, handover, resource, template: Template.fromStack(stack) };
}

const id = (stack: Stack, construct: IConstruct): string => stack.getLogicalId((construct.node.defaultChild ?? construct) as never);

function functionStatements({ handover, template }: Pick<Built, 'handover' | 'template'>): unknown[] {
  return roleStatements(template, handover.function.executionRole);
}

describe('FleetHandover', () => {
  it('refers to the fleet and the target group on a custom resource that its own inline function serves', () => {
    const built = build();
    const { stack, fleet, handover, resource, template } = built;
    const resources = templateJson(template).Resources;
    expect(handover.resource).toBe(resource);
    expect(Object.keys(template.findResources('Custom::SpotFleetHandover'))).toEqual([id(stack, resource)]);
    expect(resources[id(stack, resource)]?.Properties).toEqual({
      ServiceToken: { 'Fn::GetAtt': [id(stack, handover.function), 'Arn'] },
      ServiceTimeout: '810',
      // The Ref orders it after the fleet, and makes a replacement of the fleet an update of this resource.
      SpotFleetRequestId: { Ref: id(stack, fleet) },
      TargetGroupArn: TARGET_GROUP,
      HealthyTimeoutSeconds: 600,
      DrainTimeoutSeconds: 120,
    });
  });

  it('runs its function for the healthy timeout, the drain and the margins, without Powertools, which it does not use', () => {
    const { stack, handover, template } = build();
    expect(templateJson(template).Resources[id(stack, handover.function)]?.Properties).toMatchObject({
      Code: { ZipFile: handover.function.bundle },
      Timeout: 750,
      Runtime: 'nodejs24.x',
      Description: 'Hands the target group over to a new Spot Fleet; pins its AMI',
    });
    const fn = templateJson(template).Resources[id(stack, handover.function)]?.Properties ?? {};
    expect(fn.Layers).toBeUndefined();
    expect(fn.Environment).toBeUndefined();
  });

  it('derives the function timeout and the service timeout from healthyTimeout and the deregistration delay', () => {
    const { stack, handover, resource, template } = build({ healthyTimeout: Duration.minutes(5), deregistrationDelay: Duration.seconds(300) });
    const resources = templateJson(template).Resources;
    expect(resources[id(stack, handover.function)]?.Properties?.Timeout).toBe(300 + 300 + 30 + 30);
    expect(resources[id(stack, resource)]?.Properties).toMatchObject({ ServiceTimeout: '720', HealthyTimeoutSeconds: 300, DrainTimeoutSeconds: 330 });
  });

  it.each([
    ['the defaults', {}],
    ['the longest healthyTimeout that fits', { healthyTimeout: Duration.seconds(900 - 90 - 30 - 30) }],
    ['no deregistration delay', { deregistrationDelay: Duration.seconds(0), healthyTimeout: Duration.seconds(10) }],
  ])('waits for the handover\'s answer a minute longer than its function may run, which holds its waits and the answer\'s retries, with %s', (_case, props) => {
    const { stack, handover, resource, template } = build(props);
    const resources = templateJson(template).Resources;
    const timeout = Number(resources[id(stack, handover.function)]?.Properties?.Timeout);
    const { HealthyTimeoutSeconds, DrainTimeoutSeconds, ServiceTimeout } = resources[id(stack, resource)]?.Properties ?? {};
    // The waits end RESERVED_SECONDS before the function's timeout, and the answer's retries a second before it.
    expect(timeout).toBe(Number(HealthyTimeoutSeconds) + Number(DrainTimeoutSeconds) + RESERVED_SECONDS);
    expect(Number(ServiceTimeout)).toBe(timeout + 60);
  });

  it('grants the reads on *, capacity changes on the account\'s fleets, its own tag alone on instances and registration changes on the target group alone, acknowledged for cdk-nag on its role', () => {
    const built = build();
    const logGroup = (templateJson(built.template).Resources[id(built.stack, built.handover.function)]?.Properties?.LoggingConfig as { LogGroup: { Ref: string } }).LogGroup.Ref;
    const ec2 = (resource: string) => ({ 'Fn::Sub': `arn:\${AWS::Partition}:ec2:\${AWS::Region}:\${AWS::AccountId}:${resource}/*` });
    expect(functionStatements(built)).toEqual([
      { Action: ['logs:CreateLogStream', 'logs:PutLogEvents'], Effect: 'Allow', Resource: { 'Fn::GetAtt': [logGroup, 'Arn'] } },
      {
        Action: ['ec2:DescribeSpotFleetInstances', 'ec2:DescribeSpotFleetRequests', 'ec2:DescribeTags', 'elasticloadbalancing:DescribeTargetHealth'],
        Effect: 'Allow',
        Resource: '*',
      },
      { Action: 'ec2:ModifySpotFleetRequest', Effect: 'Allow', Resource: ec2('spot-fleet-request') },
      {
        Action: 'ec2:CreateTags',
        Effect: 'Allow',
        Resource: ec2('instance'),
        Condition: { 'ForAllValues:StringEquals': { 'aws:TagKeys': ['spotwise:handover'] } },
      },
      { Action: ['elasticloadbalancing:DeregisterTargets', 'elasticloadbalancing:RegisterTargets'], Effect: 'Allow', Resource: TARGET_GROUP },
    ]);
    expect(acknowledged(built.handover.function.executionRole)).toEqual([
      'AwsSolutions::AwsSolutions-IAM5[Resource::*]',
      'AwsSolutions::AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ec2:<AWS::Region>:<AWS::AccountId>:spot-fleet-request/*]',
      'AwsSolutions::AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ec2:<AWS::Region>:<AWS::AccountId>:instance/*]',
    ]);
  });

  it('scopes registration changes to a target group of the same stack by reference', () => {
    const stack = new Stack(newApp(), 'Host');
    const vpc = new Vpc(stack, 'Vpc', { maxAzs: 2, natGateways: 0, restrictDefaultSecurityGroup: false });
    const targetGroup = new ApplicationTargetGroup(stack, 'TargetGroup', { vpc, port: 80, targetType: TargetType.INSTANCE });
    const fleet = new CfnSpotFleet(stack, 'Fleet', { spotFleetRequestConfigData: fleetConfig() });
    const handover = new FleetHandover(stack, 'Handover', { targetGroup, deregistrationDelay: Duration.seconds(90) });
    const resource = handover.handOver(fleet);
    const template = Template.fromStack(stack);
    const ref = { Ref: id(stack, targetGroup) };
    expect(templateJson(template).Resources[id(stack, resource)]?.Properties?.TargetGroupArn).toEqual(ref);
    expect(functionStatements({ handover, template })).toContainEqual(expect.objectContaining({ Action: ['elasticloadbalancing:DeregisterTargets', 'elasticloadbalancing:RegisterTargets'], Resource: ref }));
  });

  it('accepts the longest healthyTimeout that fits, and a deregistration delay of 0', () => {
    expect(() => build({ healthyTimeout: Duration.seconds(900 - 90 - 30 - 30) })).not.toThrow();
    expect(() => build({ deregistrationDelay: Duration.seconds(0) })).not.toThrow();
  });

  it('fails when healthyTimeout does not fit the function\'s 15 minutes', () => {
    expect(() => build({ healthyTimeout: Duration.minutes(15) })).toThrow(
      /^Host\/Handover: healthyTimeout \(900 s\) \+ deregistrationDelay \(90 s\) \+ 60 s of margin is 1050 s, more than the 900 s a Lambda function may run\. Shorten healthyTimeout to at most 750 s/,
    );
    expect(() => build({ healthyTimeout: Duration.seconds(751) })).toThrow(/Shorten healthyTimeout to at most 750 s/);
  });

  it('fails when the deregistration delay leaves no room for healthyTimeout, saying to shorten the delay', () => {
    expect(() => build({ deregistrationDelay: Duration.seconds(900) })).toThrow(/^Host\/Handover: .* more than the 900 s a Lambda function may run\. Shorten the deregistration delay\.$/);
  });

  it.each([
    ['is fractional', Duration.millis(30_500), /healthyTimeout must be whole seconds, at least 10 \(one poll\); got 30\.5 s/],
    ['is shorter than one poll', Duration.seconds(5), /healthyTimeout must be whole seconds, at least 10 \(one poll\); got 5 s/],
  ])('fails when healthyTimeout %s', (_case, healthyTimeout, message) => {
    expect(() => build({ healthyTimeout })).toThrow(message);
  });

  it.each([
    ['is fractional', Duration.millis(90_500), /deregistrationDelay must be whole seconds from 0 to 3600, as ELB allows; got 90\.5 s/],
    ['is beyond ELB\'s limit', Duration.seconds(3601), /deregistrationDelay must be whole seconds from 0 to 3600, as ELB allows; got 3601 s/],
  ])('fails when deregistrationDelay %s', (_case, deregistrationDelay, message) => {
    expect(() => build({ deregistrationDelay })).toThrow(message);
  });

  it('fails when a timeout is only known at deploy time, since the function timeout is derived from it', () => {
    expect(() => build({ healthyTimeout: Duration.seconds(Token.asNumber({ Ref: 'Timeout' })) })).toThrow(/^Host\/Handover: healthyTimeout and deregistrationDelay must be known at synth/);
  });

  it('fails when the fleet weighs its instances, which the handover would count wrongly', () => {
    expect(() => build({}, fleetConfig([{ instanceType: 'c6i.large', weightedCapacity: 2 }]))).toThrow(/^Host\/Handover: the fleet gives instances a weightedCapacity/);
    expect(() => build({}, fleetConfig([{ instanceType: 'c6i.large', weightedCapacity: 1 }]))).not.toThrow();
  });

  it('creates its function, but no handover, until handOver names the fleet', () => {
    const stack = new Stack(newApp(), 'Host');
    const targetGroup = ApplicationTargetGroup.fromTargetGroupAttributes(stack, 'TargetGroup', { targetGroupArn: TARGET_GROUP });
    const handover = new FleetHandover(stack, 'Handover', { targetGroup, deregistrationDelay: Duration.seconds(90) });
    const template = Template.fromStack(stack);
    expect(Object.keys(template.findResources('AWS::Lambda::Function'))).toEqual([id(stack, handover.function)]);
    template.resourceCountIs('Custom::SpotFleetHandover', 0);
    expect(handover.resource).toBeUndefined();
  });

  it('fails when handOver is called twice, even for another fleet', () => {
    const { stack, handover, fleet } = build();
    expect(() => handover.handOver(fleet)).toThrow(/^Host\/Handover: handOver was called twice; one FleetHandover watches one fleet\.$/);
    const other = new CfnSpotFleet(stack, 'Other', { spotFleetRequestConfigData: fleetConfig() });
    expect(() => handover.handOver(other)).toThrow(/^Host\/Handover: handOver was called twice/);
  });
});

describe('FleetHandover.pinImage', () => {
  interface Pinned {
    readonly stack: Stack;
    readonly handover: FleetHandover;
    readonly imageId: string;
    readonly template: Template;
  }

  /** A fresh stack with `Host/Handover` pinning `Host/Handover/Image` from two parameters, with no fleet handed over. */
  function pin(more: (handover: FleetHandover) => void = () => undefined): Pinned {
    const stack = new Stack(newApp(), 'Host');
    const targetGroup = ApplicationTargetGroup.fromTargetGroupAttributes(stack, 'TargetGroup', { targetGroupArn: TARGET_GROUP });
    const handover = new FleetHandover(stack, 'Handover', { targetGroup, deregistrationDelay: Duration.seconds(90) });
    const latest = new CfnParameter(stack, 'Latest', { type: 'AWS::SSM::Parameter::Value<AWS::EC2::Image::Id>', default: '/aws/service/ami' });
    const requested = new CfnParameter(stack, 'Requested', { type: 'String', default: '' });
    const imageId = handover.pinImage('Image', { latestImageId: latest.valueAsString, requestedImageId: requested.valueAsString });
    more(handover);
    return { stack, handover, imageId, template: Template.fromStack(stack) };
  }

  it('puts the newest and the requested image on a Custom::PinnedImage resource that the handover function serves', () => {
    const { stack, handover, template } = pin();
    expect(PINNED_IMAGE_RESOURCE_TYPE).toBe('Custom::PinnedImage');
    const pinned = resourcesOfType(template, 'Custom::PinnedImage');
    expect(pinned.map(([, props]) => props)).toEqual([
      {
        ServiceToken: { 'Fn::GetAtt': [id(stack, handover.function), 'Arn'] },
        ServiceTimeout: '120',
        [PinnedImageProperty.latestImageId]: { Ref: 'Latest' },
        [PinnedImageProperty.requestedImageId]: { Ref: 'Requested' },
      },
    ]);
    expect(PinnedImageProperty).toEqual({ latestImageId: 'Newest', requestedImageId: 'Requested' });
    expect(Object.keys(template.findResources('AWS::Lambda::Function'))).toEqual([id(stack, handover.function)]);
  });

  it('returns the resource\'s ImageId attribute, the image it chose', () => {
    const { stack, imageId, template } = pin();
    const [[pinnedId]] = resourcesOfType(template, 'Custom::PinnedImage') as [[string, unknown]];
    expect(Token.isUnresolved(imageId)).toBe(true);
    expect(PINNED_IMAGE_ATTRIBUTE).toBe('ImageId');
    expect(stack.resolve(imageId)).toEqual({ 'Fn::GetAtt': [pinnedId, 'ImageId'] });
  });

  it('pins each image under its own id, with one function for all', () => {
    const { stack, handover, template } = pin((h) => h.pinImage('Other', { latestImageId: 'ami-0123456789abcdef0', requestedImageId: '' }));
    const serviceTokens = resourcesOfType(template, 'Custom::PinnedImage').map(([, props]) => props.ServiceToken);
    expect(serviceTokens).toEqual([0, 1].map(() => ({ 'Fn::GetAtt': [id(stack, handover.function), 'Arn'] })));
    expect(Object.keys(template.findResources('AWS::Lambda::Function'))).toEqual([id(stack, handover.function)]);
  });

  it('grants the function nothing for the image, which it chooses without calling AWS', () => {
    const withImage = functionStatements(pin());
    expect(withImage).toHaveLength(5);
    expect(withImage).toEqual(functionStatements(build()));
  });
});

describe('the SpotFleetWebApp stack', () => {
  type Json = Record<string, unknown>;

  /** The template `cdk synth` writes for SpotFleetWebApp, as plain JSON. */
  function synthesize(): ReturnType<typeof templateJson> {
    return templateJson(Template.fromStack(addSpotwiseStacks(newApp()).spotFleetWebApp));
  }

  /** `value` with every `{ Ref: <parameter> }` replaced by the parameter's value, as CloudFormation resolves it. */
  function withParameters(value: unknown, parameters: Record<string, string>): unknown {
    if (Array.isArray(value)) return value.map((v) => withParameters(v, parameters));
    if (value === null || typeof value !== 'object') return value;
    const ref = (value as { Ref?: string }).Ref;
    if (ref !== undefined && ref in parameters) return parameters[ref];
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, withParameters(v, parameters)]));
  }

  /** The ImageId the pinned image resource answers with, for each deploy in turn, given that deploy's parameter values. */
  async function deploy(properties: Json, deploys: Record<string, string>[]): Promise<string[]> {
    const answers: string[] = [];
    let previous: { properties: Json; physicalId: string } | undefined;
    for (const parameters of deploys) {
      const next = withParameters(properties, parameters) as Json;
      const event = {
        RequestType: previous === undefined ? 'Create' : 'Update',
        ServiceToken: 'arn:aws:lambda:us-east-2:123456789012:function:fleet-handover',
        ResponseURL: 'https://cloudformation-custom-resource-response.example/x',
        StackId: 'arn:aws:cloudformation:us-east-2:123456789012:stack/SpotFleetWebApp/guid',
        RequestId: `deploy-${answers.length + 1}`,
        LogicalResourceId: 'FleetHandoverImage',
        ResourceType: PINNED_IMAGE_RESOURCE_TYPE,
        ResourceProperties: next,
        ...(previous && { PhysicalResourceId: previous.physicalId, OldResourceProperties: previous.properties }),
      } as CloudFormationCustomResourceEvent;
      const responses: CloudFormationCustomResourceResponse[] = [];
      await handle(event, fakeContext('fleet-handover'), undefined, (_url, body) => {
        responses.push(body);
        return Promise.resolve();
      });
      const [response] = responses as [CloudFormationCustomResourceResponse];
      expect(responses).toHaveLength(1);
      expect(response.Status).toBe('SUCCESS');
      const image = (response.Data as { ImageId: string }).ImageId;
      answers.push(image);
      previous = { properties: next, physicalId: response.PhysicalResourceId };
    }
    return answers;
  }

  it('a deploy with no change never replaces the fleet', async () => {
    const first = synthesize();
    const second = synthesize();
    const fleetResources = (template: ReturnType<typeof templateJson>) =>
      Object.entries(template.Resources).filter(([, r]) => r.Type === 'AWS::EC2::LaunchTemplate' || r.Type === 'AWS::EC2::SpotFleet');
    expect(fleetResources(first).map(([, r]) => r.Type).sort()).toEqual(['AWS::EC2::LaunchTemplate', 'AWS::EC2::SpotFleet']);
    expect(fleetResources(second)).toEqual(fleetResources(first));

    // The launch template takes its image from the pinned image resource, never from an SSM-typed parameter...
    const [[pinnedId, pinned]] = Object.entries(first.Resources).filter(([, r]) => r.Type === PINNED_IMAGE_RESOURCE_TYPE) as unknown as [[string, { Properties: Json }]];
    const launchTemplate = fleetResources(first).find(([, r]) => r.Type === 'AWS::EC2::LaunchTemplate')?.[1];
    expect((launchTemplate?.Properties?.LaunchTemplateData as Json | undefined)?.ImageId).toEqual({ 'Fn::GetAtt': [pinnedId, PINNED_IMAGE_ATTRIBUTE] });
    const ssmTyped = Object.entries(first.Parameters ?? {})
      .filter(([, p]) => (p as { Type: string }).Type.startsWith('AWS::SSM::Parameter::Value'))
      .map(([name]) => name);
    expect(ssmTyped).toContain('LatestImageParameter');
    for (const [, resource] of fleetResources(first)) {
      for (const name of ssmTyped) expect(JSON.stringify(resource)).not.toContain(JSON.stringify({ Ref: name }));
    }
    expect(pinned.Properties).toMatchObject({ Newest: { Ref: 'LatestImageParameter' }, Requested: { Ref: 'ImageId' } });

    // ...which CloudFormation resolves again on each deploy: after an Amazon Linux release it names a newer AMI,
    // the resource is updated, and answers with the image it chose before, so the launch template stays as it was.
    const requested = (first.Parameters?.ImageId as { Default: string }).Default;
    expect(requested).toBe('');
    const images = await deploy(pinned.Properties, [
      { LatestImageParameter: 'ami-0aaaaaaaaaaaaaaa1', ImageId: requested },
      { LatestImageParameter: 'ami-0bbbbbbbbbbbbbbb2', ImageId: requested },
      { LatestImageParameter: 'ami-0ccccccccccccccc3', ImageId: requested },
    ]);
    expect(images).toEqual(['ami-0aaaaaaaaaaaaaaa1', 'ami-0aaaaaaaaaaaaaaa1', 'ami-0aaaaaaaaaaaaaaa1']);
  });

  it('rolls out a new AMI only when the ImageId parameter changes, and the newest again when it is emptied', async () => {
    const pinned = Object.values(synthesize().Resources).find((r) => r.Type === PINNED_IMAGE_RESOURCE_TYPE)?.Properties as Json;
    const images = await deploy(pinned, [
      { LatestImageParameter: 'ami-0aaaaaaaaaaaaaaa1', ImageId: '' },
      { LatestImageParameter: 'ami-0aaaaaaaaaaaaaaa1', ImageId: 'ami-0dddddddddddddddd' },
      { LatestImageParameter: 'ami-0bbbbbbbbbbbbbbb2', ImageId: 'ami-0dddddddddddddddd' },
      { LatestImageParameter: 'ami-0ccccccccccccccc3', ImageId: '' },
    ]);
    expect(images).toEqual(['ami-0aaaaaaaaaaaaaaa1', 'ami-0dddddddddddddddd', 'ami-0dddddddddddddddd', 'ami-0ccccccccccccccc3']);
  });
});
