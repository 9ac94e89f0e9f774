import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { App } from 'aws-cdk-lib/core';
import type { Stack } from 'aws-cdk-lib/core';
import type { Template } from 'aws-cdk-lib/assertions';
import { Vpc } from 'aws-cdk-lib/aws-ec2';
import { TargetType } from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import { SpotFleet } from '../../lib/constructs/spot-fleet';
import { WebLoadBalancer } from '../../lib/constructs/web-load-balancer';
import { PlainCloudFormationSynthesizer } from '../../lib/plain-cloudformation-synthesizer';

const cdkJson = JSON.parse(readFileSync(join(__dirname, '..', '..', 'cdk.json'), 'utf8')) as {
  context: Record<string, unknown>;
};

export interface NewAppOptions {
  /**
   * Run aws-cdk-lib's CloudFormation schema validation at synth, as `cdk synth` does with this project's
   * `@aws-cdk/core:validateAgainstDefaultRules`. It does not change the template, and starting its engine costs
   * about 6 s per test file, so only the app test, which synthesizes both full templates, turns it on.
   * @default false
   */
  readonly cloudFormationValidation?: boolean;
  /**
   * `plain`: the stacks as `npm run synth` writes them to dist/, with no bootstrap. `default`: CDK's default
   * synthesizer, as `cdk deploy` synthesizes them.
   * @default 'plain'
   */
  readonly synthesizer?: 'plain' | 'default';
}

/** An App with the same feature flags and synthesizer as `bin/spotwise.ts`, so tests see what users deploy. */
export function newApp(options: NewAppOptions = {}): App {
  return new App({
    context: cdkJson.context,
    defaultStackSynthesizer: options.synthesizer === 'default' ? undefined : new PlainCloudFormationSynthesizer(),
    builtinCloudFormationValidation: options.cloudFormationValidation ?? false,
  });
}

/** Resolves a template to plain JSON for assertions that walk it by hand. */
export function templateJson(template: Template): {
  Resources: Record<string, { Type: string; Properties?: Record<string, unknown>; Condition?: string; DependsOn?: string[] }>;
  Outputs?: Record<string, unknown>;
  Parameters?: Record<string, unknown>;
  Conditions?: Record<string, unknown>;
} {
  return template.toJSON() as ReturnType<typeof templateJson>;
}

/** Resources of one type, by logical id. */
export function resourcesOfType(template: Template, type: string): [string, Record<string, unknown>][] {
  return Object.entries(templateJson(template).Resources)
    .filter(([, r]) => r.Type === type)
    .map(([id, r]) => [id, r.Properties ?? {}]);
}

export interface IngressRule {
  /** Logical id of the security group the rule admits traffic to. */
  readonly group: string;
  readonly protocol: unknown;
  readonly fromPort: unknown;
  readonly toPort: unknown;
  /** What the rule admits from: `CidrIp`, `CidrIpv6`, `SourcePrefixListId` or `SourceSecurityGroupId`. */
  readonly source: Record<string, unknown>;
}

const SOURCE_KEYS = ['CidrIp', 'CidrIpv6', 'SourcePrefixListId', 'SourceSecurityGroupId', 'SourceSecurityGroupName'];

/**
 * Every ingress rule in the template, whether written inline on a security group or as a standalone
 * `AWS::EC2::SecurityGroupIngress`, so that a test can reason about all of them rather than the ones a
 * pattern happens to match.
 */
export function ingressRules(template: Template): IngressRule[] {
  const rule = (group: string, p: Record<string, unknown>): IngressRule => ({
    group,
    protocol: p.IpProtocol,
    fromPort: p.FromPort,
    toPort: p.ToPort,
    source: Object.fromEntries(SOURCE_KEYS.filter((key) => key in p).map((key) => [key, p[key]])),
  });
  const rules: IngressRule[] = [];
  for (const [id, props] of resourcesOfType(template, 'AWS::EC2::SecurityGroup')) {
    for (const inline of (props.SecurityGroupIngress ?? []) as Record<string, unknown>[]) rules.push(rule(id, inline));
  }
  for (const [, props] of resourcesOfType(template, 'AWS::EC2::SecurityGroupIngress')) {
    const groupId = props.GroupId as { 'Fn::GetAtt'?: [string, string] } | undefined;
    rules.push(rule(groupId?.['Fn::GetAtt']?.[0] ?? JSON.stringify(props.GroupId), props));
  }
  return rules;
}

/**
 * The `AvailabilityZone` of every subnet whose route table sends 0.0.0.0/0 to the template's internet
 * gateway and which gives its instances public IPs: what "public subnet" means to a task pulling images.
 */
export function publicSubnetZones(template: Template): unknown[] {
  const [igw] = resourcesOfType(template, 'AWS::EC2::InternetGateway').map(([id]) => id);
  const ref = (value: unknown): string | undefined => (value as { Ref?: string } | undefined)?.Ref;
  const tablesToInternet = new Set(
    resourcesOfType(template, 'AWS::EC2::Route')
      .filter(([, p]) => p.DestinationCidrBlock === '0.0.0.0/0' && igw !== undefined && ref(p.GatewayId) === igw)
      .map(([, p]) => ref(p.RouteTableId)),
  );
  const tableOf = new Map(
    resourcesOfType(template, 'AWS::EC2::SubnetRouteTableAssociation').map(([, p]) => [ref(p.SubnetId), ref(p.RouteTableId)]),
  );
  return resourcesOfType(template, 'AWS::EC2::Subnet')
    .filter(([id, p]) => p.MapPublicIpOnLaunch === true && tablesToInternet.has(tableOf.get(id)))
    .map(([, p]) => p.AvailabilityZone);
}

/** A Spot Fleet `Fleet` behind an instance-target `WebLoadBalancer` `Web`, in a two-AZ `Vpc`, all in `stack`. */
export function fleetBehindLoadBalancer(stack: Stack): { web: WebLoadBalancer; fleet: SpotFleet } {
  const vpc = new Vpc(stack, 'Vpc', { maxAzs: 2, natGateways: 0, restrictDefaultSecurityGroup: false });
  const web = new WebLoadBalancer(stack, 'Web', { vpc, targetType: TargetType.INSTANCE });
  const fleet = new SpotFleet(stack, 'Fleet', { vpc, targetGroup: web.targetGroup, loadBalancerSecurityGroup: web.securityGroup, loadBalancer: web.loadBalancer });
  return { web, fleet };
}
