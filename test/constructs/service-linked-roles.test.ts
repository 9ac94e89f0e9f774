import { Stack, Validations } from 'aws-cdk-lib/core';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { PolicyStatement } from 'aws-cdk-lib/aws-iam';
import { AwsSolutionsChecks } from 'cdk-nag';
import type { IConstruct } from 'constructs';
import { describe, expect, it } from 'vitest';
import type { ServiceLinkedRoleSpec } from '../../lib/constructs/service-linked-roles';
import {
  ECS_AUTO_SCALING_SERVICE_LINKED_ROLE,
  ECS_SERVICE_LINKED_ROLE,
  ServiceLinkedRoles,
  SPOT_FLEET_SCALING_SERVICE_LINKED_ROLE,
  SPOT_SERVICE_LINKED_ROLES,
} from '../../lib/constructs/service-linked-roles';
import { newApp } from '../support/app';
import { acknowledged, roleStatements } from '../support/constructs';

interface Built {
  readonly stack: Stack;
  readonly roles: ServiceLinkedRoles;
  readonly template: Template;
}

/** A fresh stack holding one `ServiceLinkedRoles`, `Host/Roles`. */
function build(roles: readonly ServiceLinkedRoleSpec[]): Built {
  const stack = new Stack(newApp(), 'Host');
  const construct = new ServiceLinkedRoles(stack, 'Roles', { roles });
  return { stack, roles: construct, template: Template.fromStack(stack) };
}

function synth(roles: readonly ServiceLinkedRoleSpec[]): Template {
  return build(roles).template;
}

const id = (stack: Stack, construct: IConstruct): string => stack.getLogicalId((construct.node.defaultChild ?? construct) as never);

/** Statements of the policies attached to the function's role. */
function functionStatements({ roles, template }: Built): unknown[] {
  return roleStatements(template, roles.function.executionRole);
}

/** `arn:<partition>:iam::<account>:role/aws-service-role/*`, as the template writes it. */
const SERVICE_LINKED_ROLE_PATH = {
  'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':iam::', { Ref: 'AWS::AccountId' }, ':role/aws-service-role/*']],
};

describe('ServiceLinkedRoles', () => {
  it('lists the roles to ensure on a custom resource that its own inline function serves', () => {
    const { stack, roles, template } = build(SPOT_SERVICE_LINKED_ROLES);
    expect(Object.keys(template.findResources('Custom::ServiceLinkedRoles'))).toEqual([id(stack, roles.resource)]);
    template.hasResourceProperties('Custom::ServiceLinkedRoles', {
      ServiceToken: { 'Fn::GetAtt': [id(stack, roles.function), 'Arn'] },
      Roles: [
        { ServiceName: 'spot.amazonaws.com', RoleName: 'AWSServiceRoleForEC2Spot' },
        { ServiceName: 'spotfleet.amazonaws.com', RoleName: 'AWSServiceRoleForEC2SpotFleet' },
      ],
    });
    template.hasResourceProperties('AWS::Lambda::Function', {
      Code: { ZipFile: roles.function.bundle },
      Timeout: 120,
      Description: 'Creates missing service-linked roles',
    });
  });

  it('describes its function the same whatever roles it lists, so a change to the list updates only the custom resource', () => {
    const description = (roles: readonly ServiceLinkedRoleSpec[]) =>
      Object.values(synth(roles).findResources('AWS::Lambda::Function')).map((fn) => (fn.Properties as { Description: unknown }).Description);
    expect(description([ECS_SERVICE_LINKED_ROLE])).toEqual(description([...SPOT_SERVICE_LINKED_ROLES, SPOT_FLEET_SCALING_SERVICE_LINKED_ROLE]));
  });

  it('runs its function without the Powertools layer or settings, which its handler does not use', () => {
    synth([ECS_SERVICE_LINKED_ROLE]).hasResourceProperties('AWS::Lambda::Function', { Layers: Match.absent(), Environment: Match.absent() });
  });

  it('gives CloudFormation an answer within minutes even if its handler dies silently', () => {
    synth([ECS_SERVICE_LINKED_ROLE]).hasResourceProperties('Custom::ServiceLinkedRoles', { ServiceTimeout: '300' });
  });

  it('waits for the answer longer than its function may run, so that the answer\'s retries, which end before the function does, always count', () => {
    const { stack, roles, template } = build([ECS_SERVICE_LINKED_ROLE]);
    const resources = template.toJSON() as { Resources: Record<string, { Properties: Record<string, unknown> }> };
    const timeout = Number(resources.Resources[id(stack, roles.function)]?.Properties.Timeout);
    expect(timeout).toBe(120);
    expect(Number(resources.Resources[id(stack, roles.resource)]?.Properties.ServiceTimeout)).toBeGreaterThan(timeout);
  });

  it('reads any service-linked role, but may create only those of the listed services', () => {
    const built = build([...SPOT_SERVICE_LINKED_ROLES, SPOT_FLEET_SCALING_SERVICE_LINKED_ROLE]);
    const logGroup = Object.keys(built.template.findResources('AWS::Logs::LogGroup'));
    expect(logGroup).toHaveLength(1);
    expect(functionStatements(built)).toEqual([
      { Action: ['logs:CreateLogStream', 'logs:PutLogEvents'], Effect: 'Allow', Resource: { 'Fn::GetAtt': [logGroup[0], 'Arn'] } },
      { Action: 'iam:GetRole', Effect: 'Allow', Resource: SERVICE_LINKED_ROLE_PATH },
      {
        Action: 'iam:CreateServiceLinkedRole',
        Effect: 'Allow',
        Resource: SERVICE_LINKED_ROLE_PATH,
        Condition: {
          StringEquals: { 'iam:AWSServiceName': ['spot.amazonaws.com', 'spotfleet.amazonaws.com', 'ec2.application-autoscaling.amazonaws.com'] },
        },
      },
    ]);
  });

  it('acknowledges the aws-service-role/* wildcard for cdk-nag on its function\'s role alone', () => {
    const { roles } = build([ECS_SERVICE_LINKED_ROLE]);
    expect(acknowledged(roles.function.executionRole)).toEqual([
      'AwsSolutions::AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:iam::<AWS::AccountId>:role/aws-service-role/*]',
    ]);
    expect(acknowledged(roles)).toEqual([]);
    expect(acknowledged(roles.function)).toEqual([]);
  });

  it('passes cdk-nag AwsSolutions with that acknowledgement, and would not without it', () => {
    const nag = (widen: boolean): (() => void) => () => {
      const app = newApp();
      const { function: fn } = new ServiceLinkedRoles(new Stack(app, 'Host'), 'Roles', { roles: [ECS_SERVICE_LINKED_ROLE] });
      // A wildcard the construct has not acknowledged: proof that the check looks at this role.
      if (widen) fn.addToRolePolicy(new PolicyStatement({ actions: ['iam:ListRoles'], resources: ['arn:aws:iam::123456789012:role/*'] }));
      Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
      app.synth();
    };
    expect(nag(false)).not.toThrow();
    expect(nag(true)).toThrow(/Host\/Roles\/Handler[\s\S]*AwsSolutions-IAM5/);
  });

  it('accepts the Application Auto Scaling roles, whose names have an underscore, and may create them', () => {
    expect(SPOT_FLEET_SCALING_SERVICE_LINKED_ROLE).toEqual({
      serviceName: 'ec2.application-autoscaling.amazonaws.com',
      roleName: 'AWSServiceRoleForApplicationAutoScaling_EC2SpotFleetRequest',
    });
    expect(ECS_AUTO_SCALING_SERVICE_LINKED_ROLE).toEqual({
      serviceName: 'ecs.application-autoscaling.amazonaws.com',
      roleName: 'AWSServiceRoleForApplicationAutoScaling_ECSService',
    });
    const built = build([ECS_AUTO_SCALING_SERVICE_LINKED_ROLE, SPOT_FLEET_SCALING_SERVICE_LINKED_ROLE]);
    built.template.hasResourceProperties('Custom::ServiceLinkedRoles', {
      Roles: [
        { ServiceName: 'ecs.application-autoscaling.amazonaws.com', RoleName: 'AWSServiceRoleForApplicationAutoScaling_ECSService' },
        { ServiceName: 'ec2.application-autoscaling.amazonaws.com', RoleName: 'AWSServiceRoleForApplicationAutoScaling_EC2SpotFleetRequest' },
      ],
    });
    expect(functionStatements(built)).toContainEqual(
      expect.objectContaining({
        Action: 'iam:CreateServiceLinkedRole',
        Condition: { StringEquals: { 'iam:AWSServiceName': ['ecs.application-autoscaling.amazonaws.com', 'ec2.application-autoscaling.amazonaws.com'] } },
      }),
    );
  });

  it('fails when no role is listed', () => {
    expect(() => synth([])).toThrow(/^Host\/Roles: roles is empty; give ServiceLinkedRoles at least one role/);
  });

  it('fails when a service name is not a service principal', () => {
    expect(() => synth([{ serviceName: 'ecs', roleName: 'AWSServiceRoleForECS' }])).toThrow(/^Host\/Roles: serviceName must be a service principal.*got "ecs"/);
  });

  it('fails when a role name is not a service-linked role name', () => {
    expect(() => synth([{ serviceName: 'ecs.amazonaws.com', roleName: 'Admin' }])).toThrow(/^Host\/Roles: roleName must be .*AWSServiceRoleFor.*got "Admin"/);
  });
});
