import { Stack } from 'aws-cdk-lib/core';
import { Template } from 'aws-cdk-lib/assertions';
import { FlowLogTrafficType } from 'aws-cdk-lib/aws-ec2';
import { RetentionDays } from 'aws-cdk-lib/aws-logs';
import { describe, expect, it } from 'vitest';
import type { PublicVpcProps } from '../../lib/constructs/public-vpc';
import { PublicVpc } from '../../lib/constructs/public-vpc';
import { newApp, publicSubnetZones, resourcesOfType, templateJson } from '../support/app';

interface Built {
  readonly stack: Stack;
  readonly network: PublicVpc;
  readonly template: Template;
}

/** A fresh stack holding one `PublicVpc`, `Host/Network`. */
function build(props: PublicVpcProps = {}): Built {
  const stack = new Stack(newApp(), 'Host');
  const network = new PublicVpc(stack, 'Network', props);
  return { stack, network, template: Template.fromStack(stack) };
}

function id(stack: Stack, construct: { node: { defaultChild?: unknown } }): string {
  return stack.getLogicalId(construct.node.defaultChild as never);
}

describe('subnets', () => {
  it('has one public subnet in each of two AZs, an internet gateway and no NAT gateway', () => {
    const { template } = build();
    template.resourceCountIs('AWS::EC2::VPC', 1);
    template.resourceCountIs('AWS::EC2::Subnet', 2);
    template.resourceCountIs('AWS::EC2::InternetGateway', 1);
    template.resourceCountIs('AWS::EC2::NatGateway', 0);
    expect(publicSubnetZones(template)).toEqual([0, 1].map((index) => ({ 'Fn::Select': [index, { 'Fn::GetAZs': '' }] })));
  });

  it('uses 10.0.0.0/16 by default, a /24 per subnet', () => {
    const { template } = build();
    template.hasResourceProperties('AWS::EC2::VPC', { CidrBlock: '10.0.0.0/16' });
    expect(resourcesOfType(template, 'AWS::EC2::Subnet').map(([, p]) => p.CidrBlock)).toEqual(['10.0.0.0/24', '10.0.1.0/24']);
  });

  it('takes the CIDR as a prop', () => {
    const { template } = build({ cidr: '172.16.0.0/20' });
    template.hasResourceProperties('AWS::EC2::VPC', { CidrBlock: '172.16.0.0/20' });
    expect(resourcesOfType(template, 'AWS::EC2::Subnet').map(([, p]) => p.CidrBlock)).toEqual(['172.16.0.0/24', '172.16.1.0/24']);
  });

  it('deploys as plain CloudFormation: no custom resource restricting the default security group, no function', () => {
    const { template } = build();
    template.resourceCountIs('Custom::VpcRestrictDefaultSG', 0);
    template.resourceCountIs('AWS::Lambda::Function', 0);
    expect(Object.values(templateJson(template).Resources).map((r) => r.Type).filter((type) => type.startsWith('Custom::'))).toEqual([]);
  });
});

describe('flow log', () => {
  it('records rejected traffic to its own log group, kept one month and deleted with the stack', () => {
    const { stack, network, template } = build();
    const logGroup = id(stack, network.flowLogGroup);
    template.resourceCountIs('AWS::EC2::FlowLog', 1);
    template.hasResourceProperties('AWS::EC2::FlowLog', {
      ResourceId: { Ref: id(stack, network.vpc) },
      ResourceType: 'VPC',
      TrafficType: 'REJECT',
      LogDestinationType: 'cloud-watch-logs',
      LogGroupName: { Ref: logGroup },
    });
    expect(templateJson(template).Resources[logGroup]).toMatchObject({
      Type: 'AWS::Logs::LogGroup',
      Properties: { RetentionInDays: 30 },
      DeletionPolicy: 'Delete',
    });
  });

  it('lets the flow log service write to that log group only', () => {
    const { stack, network, template } = build();
    template.hasResourceProperties('AWS::IAM::Role', {
      AssumeRolePolicyDocument: { Statement: [{ Action: 'sts:AssumeRole', Effect: 'Allow', Principal: { Service: 'vpc-flow-logs.amazonaws.com' } }] },
    });
    const statements = resourcesOfType(template, 'AWS::IAM::Policy').flatMap(
      ([, p]) => (p.PolicyDocument as { Statement: { Resource: unknown }[] }).Statement,
    );
    expect(statements.map((s) => s.Resource)).toEqual([{ 'Fn::GetAtt': [id(stack, network.flowLogGroup), 'Arn'] }]);
  });

  it('takes the traffic type and retention as props', () => {
    const { template } = build({ flowLogTrafficType: FlowLogTrafficType.ALL, flowLogRetention: RetentionDays.ONE_WEEK });
    template.hasResourceProperties('AWS::EC2::FlowLog', { TrafficType: 'ALL' });
    template.hasResourceProperties('AWS::Logs::LogGroup', { RetentionInDays: 7 });
  });
});
