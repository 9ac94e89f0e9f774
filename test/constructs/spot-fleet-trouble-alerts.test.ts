import { Stack } from 'aws-cdk-lib/core';
import { Template } from 'aws-cdk-lib/assertions';
import { CfnSpotFleet } from 'aws-cdk-lib/aws-ec2';
import { describe, expect, it } from 'vitest';
import { NotificationTopic } from '../../lib/constructs/notification-topic';
import { SPOT_FLEET_TROUBLE_SUB_TYPES, SpotFleetTroubleAlerts } from '../../lib/constructs/spot-fleet-trouble-alerts';
import { newApp, resourcesOfType } from '../support/app';

const ACCOUNT = '123456789012';
const REGION = 'us-east-1';
const OUR_FLEET = 'sfr-4b6d274d-0cea-4b2c-b3be-9dc627ad1f55';
const OTHER_FLEET = 'sfr-11111111-2222-3333-4444-555555555555';

interface Built {
  readonly stack: Stack;
  readonly fleet: CfnSpotFleet;
  readonly notifications: NotificationTopic;
  readonly alerts: SpotFleetTroubleAlerts;
  readonly template: Template;
}

function build(): Built {
  const stack = new Stack(newApp(), 'Host');
  const fleet = new CfnSpotFleet(stack, 'Fleet', { spotFleetRequestConfigData: { iamFleetRole: 'arn:aws:iam::123456789012:role/fleet', targetCapacity: 2 } });
  const notifications = new NotificationTopic(stack, 'Notifications');
  const alerts = new SpotFleetTroubleAlerts(stack, 'FleetTrouble', { fleet, notifications });
  return { stack, fleet, notifications, alerts, template: Template.fromStack(stack) };
}

function id(stack: Stack, construct: { node: { defaultChild?: unknown } }): string {
  return stack.getLogicalId(construct.node.defaultChild as never);
}

/**
 * A template value as CloudFormation would resolve it once deployed as stack `Host` in us-east-1 of account
 * 123456789012, with the fleet's Ref its request id: enough of Ref and Fn::Join for the rule.
 */
function deployed(value: unknown, refs: Record<string, string>): unknown {
  if (typeof value === 'string' || typeof value === 'number') return value;
  if (Array.isArray(value)) return value.map((v) => deployed(v, refs));
  const object = value as Record<string, unknown>;
  if ('Ref' in object) {
    const ref = object.Ref as string;
    const resolved = refs[ref];
    if (resolved === undefined) throw new Error(`no value for Ref ${ref}`);
    return resolved;
  }
  if ('Fn::Join' in object) {
    const [separator, parts] = object['Fn::Join'] as [string, unknown[]];
    return parts.map((part) => deployed(part, refs)).join(separator);
  }
  if (Object.keys(object).some((key) => key.startsWith('Fn::'))) throw new Error(`unsupported intrinsic ${JSON.stringify(object)}`);
  return Object.fromEntries(Object.entries(object).map(([key, v]) => [key, deployed(v, refs)]));
}

function refsOf(stack: Stack, fleet: CfnSpotFleet): Record<string, string> {
  return { 'AWS::Partition': 'aws', 'AWS::Region': REGION, 'AWS::AccountId': ACCOUNT, 'AWS::StackName': 'Host', [stack.getLogicalId(fleet)]: OUR_FLEET };
}

/**
 * EventBridge's matching for the subset of pattern syntax the rule uses: every key of the pattern must be in
 * the event; a list matches when the event's value, or any of its values when it is a list, is one of the
 * list's exact values; an object matches the event's object at that key. Anything else is refused rather
 * than guessed at.
 */
function matches(pattern: Record<string, unknown>, event: Record<string, unknown>): boolean {
  return Object.entries(pattern).every(([key, expected]) => {
    const actual = event[key];
    if (Array.isArray(expected)) {
      if (!expected.every((v) => typeof v === 'string')) throw new Error(`unsupported pattern syntax at ${key}: ${JSON.stringify(expected)}`);
      const values: unknown[] = Array.isArray(actual) ? actual : [actual];
      return values.some((v) => (expected as unknown[]).includes(v));
    }
    if (typeof expected === 'object' && expected !== null) {
      return typeof actual === 'object' && actual !== null && !Array.isArray(actual) && matches(expected as Record<string, unknown>, actual as Record<string, unknown>);
    }
    throw new Error(`unsupported pattern syntax at ${key}: ${JSON.stringify(expected)}`);
  });
}

/** A Spot Fleet event shaped as in the EC2 User Guide's "Spot Fleet event types". */
function fleetEvent(detailType: string, subType: string, fleetId = OUR_FLEET, description?: string): Record<string, unknown> {
  return {
    version: '0',
    id: 'd1af1091-6cc3-2e24-203a-3b870e455d5b',
    'detail-type': detailType,
    source: 'aws.ec2spotfleet',
    account: ACCOUNT,
    time: '2020-11-09T09:00:20Z',
    region: REGION,
    resources: [`arn:aws:ec2:${REGION}:${ACCOUNT}:spot-fleet-request/${fleetId}`],
    detail: { 'sub-type': subType, ...(description !== undefined && { description }) },
  };
}

const CONFIGURATION_INVALID = fleetEvent(
  'EC2 Spot Fleet Error',
  'spotFleetRequestConfigurationInvalid',
  OUR_FLEET,
  "c4.xlarge, ami-0947d2ba12ee1ff75, Linux/UNIX: AMI: 'ami-0947d2ba12ee1ff75' is pending, and cannot be run",
);

/** The rule's properties: there is one rule. */
function ruleOf(template: Template): { EventPattern: unknown; State: unknown; Targets: Record<string, unknown>[] } {
  const rules = resourcesOfType(template, 'AWS::Events::Rule');
  expect(rules).toHaveLength(1);
  return rules[0]?.[1] as { EventPattern: unknown; State: unknown; Targets: Record<string, unknown>[] };
}

function deployedPattern(built: Built): Record<string, unknown> {
  const rule = ruleOf(built.template);
  return deployed(rule.EventPattern, refsOf(built.stack, built.fleet)) as Record<string, unknown>;
}

describe('rule', () => {
  it('matches Spot Fleet errors and information of this fleet with a trouble sub-type', () => {
    const { stack, fleet, template } = build();
    const rule = ruleOf(template);
    expect(rule.EventPattern).toEqual({
      source: ['aws.ec2spotfleet'],
      'detail-type': ['EC2 Spot Fleet Error', 'EC2 Spot Fleet Information'],
      resources: [
        {
          'Fn::Join': [
            '',
            ['arn:', { Ref: 'AWS::Partition' }, ':ec2:', { Ref: 'AWS::Region' }, ':', { Ref: 'AWS::AccountId' }, ':spot-fleet-request/', { Ref: stack.getLogicalId(fleet) }],
          ],
        },
      ],
      detail: { 'sub-type': [...SPOT_FLEET_TROUBLE_SUB_TYPES] },
    });
    expect(rule.State).toBe('ENABLED');
  });

  it('counts as trouble every error sub-type and the information sub-types about failing launches and registrations', () => {
    expect([...SPOT_FLEET_TROUBLE_SUB_TYPES].sort()).toEqual(
      [
        'allLaunchSpecsTemporarilyBlacklisted',
        'fleetProgressHalted',
        'iamFleetRoleInvalid',
        'launchSpecUnusable',
        'registerWithLoadBalancersFailed',
        'spotFleetRequestConfigurationInvalid',
        'spotInstanceCountLimitExceeded',
      ].sort(),
    );
  });

  it('matches the documented spotFleetRequestConfigurationInvalid error of this fleet', () => {
    expect(matches(deployedPattern(build()), CONFIGURATION_INVALID)).toBe(true);
  });

  it.each(['iamFleetRoleInvalid', 'allLaunchSpecsTemporarilyBlacklisted', 'spotInstanceCountLimitExceeded', 'spotFleetRequestConfigurationInvalid'])(
    'matches the error %s of this fleet',
    (subType) => {
      expect(matches(deployedPattern(build()), fleetEvent('EC2 Spot Fleet Error', subType))).toBe(true);
    },
  );

  it.each(['fleetProgressHalted', 'launchSpecUnusable', 'registerWithLoadBalancersFailed'])('matches the information %s of this fleet', (subType) => {
    expect(matches(deployedPattern(build()), fleetEvent('EC2 Spot Fleet Information', subType))).toBe(true);
  });

  it('does not match the same error of another fleet', () => {
    expect(matches(deployedPattern(build()), { ...CONFIGURATION_INVALID, resources: [`arn:aws:ec2:${REGION}:${ACCOUNT}:spot-fleet-request/${OTHER_FLEET}`] })).toBe(false);
  });

  it('does not match a benign information sub-type of this fleet', () => {
    expect(matches(deployedPattern(build()), fleetEvent('EC2 Spot Fleet Information', 'launchSpecTemporarilyBlacklisted'))).toBe(false);
  });

  it.each(['submitted', 'active', 'cancelled_running', 'modify_succeeded'])('does not match a State Change %s of this fleet', (subType) => {
    expect(matches(deployedPattern(build()), fleetEvent('EC2 Spot Fleet State Change', subType))).toBe(false);
  });

  it('does not match an error sub-type sent under another detail type or source', () => {
    const pattern = deployedPattern(build());
    expect(matches(pattern, { ...CONFIGURATION_INVALID, 'detail-type': 'EC2 Spot Fleet Instance Change' })).toBe(false);
    expect(matches(pattern, { ...CONFIGURATION_INVALID, source: 'aws.ec2fleet' })).toBe(false);
  });
});

describe('message', () => {
  it('sends one readable message per event to the topic, naming the fleet, the stack, the sub-type, the time and the description', () => {
    const { stack, fleet, notifications, template } = build();
    const rule = ruleOf(template);
    expect(rule.Targets).toHaveLength(1);
    const [target] = rule.Targets;
    expect(target?.Arn).toEqual({ Ref: id(stack, notifications.topic) });
    const transformer = target?.InputTransformer as { InputPathsMap: Record<string, string>; InputTemplate: unknown };
    expect(transformer.InputPathsMap).toEqual({ 'detail-sub-type': '$.detail.sub-type', time: '$.time', 'detail-description': '$.detail.description' });

    // EventBridge fills each <name> with the value at its path; the template is a JSON string.
    const inputTemplate = deployed(transformer.InputTemplate, refsOf(stack, fleet)) as string;
    const at = (path: string): unknown => path.slice(2).split('.').reduce<unknown>((o, key) => (o as Record<string, unknown>)[key], CONFIGURATION_INVALID);
    const filled = inputTemplate.replace(/<([\w-]+)>/g, (_, name: string) => String(at(transformer.InputPathsMap[name] ?? '')));
    expect(JSON.parse(filled)).toBe(
      `Spot Fleet ${OUR_FLEET} of Host: spotFleetRequestConfigurationInvalid at 2020-11-09T09:00:20Z. ` +
        "c4.xlarge, ami-0947d2ba12ee1ff75, Linux/UNIX: AMI: 'ami-0947d2ba12ee1ff75' is pending, and cannot be run",
    );
  });

  it('lets this rule alone publish to the topic, and EventBridge use its key without conditions', () => {
    const { stack, alerts, notifications, template } = build();
    const [[, policy]] = resourcesOfType(template, 'AWS::SNS::TopicPolicy') as [[string, { PolicyDocument: { Statement: Record<string, unknown>[] } }]];
    const fromEvents = policy.PolicyDocument.Statement.filter((s) => JSON.stringify(s.Principal) === '{"Service":"events.amazonaws.com"}');
    expect(fromEvents.map(({ Sid: _sid, ...s }) => s)).toEqual([
      {
        Effect: 'Allow',
        Principal: { Service: 'events.amazonaws.com' },
        Action: 'sns:Publish',
        Resource: { Ref: id(stack, notifications.topic) },
        Condition: { ArnEquals: { 'aws:SourceArn': { 'Fn::GetAtt': [id(stack, alerts.rule), 'Arn'] } } },
      },
    ]);
    const [[, key]] = resourcesOfType(template, 'AWS::KMS::Key') as [[string, { KeyPolicy: { Statement: Record<string, unknown>[] } }]];
    expect(key.KeyPolicy.Statement.filter((s) => JSON.stringify(s.Principal) === '{"Service":"events.amazonaws.com"}')).toEqual([
      { Effect: 'Allow', Principal: { Service: 'events.amazonaws.com' }, Action: ['kms:Decrypt', 'kms:GenerateDataKey*'], Resource: '*' },
    ]);
  });
});

describe('the matcher used here', () => {
  it('refuses pattern syntax it does not implement rather than guess', () => {
    expect(() => matches({ detail: { 'sub-type': [{ prefix: 'spot' }] } }, CONFIGURATION_INVALID)).toThrow(/unsupported pattern syntax/);
    expect(() => matches({ source: 'aws.ec2spotfleet' }, CONFIGURATION_INVALID)).toThrow(/unsupported pattern syntax/);
  });

  it('needs every key of the pattern, nested ones included', () => {
    expect(matches({ source: ['aws.ec2spotfleet'], detail: { 'sub-type': ['x', 'spotFleetRequestConfigurationInvalid'] } }, CONFIGURATION_INVALID)).toBe(true);
    expect(matches({ source: ['aws.ec2spotfleet'], detail: { missing: ['x'] } }, CONFIGURATION_INVALID)).toBe(false);
  });
});
