import { Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import type { ServiceLinkedRoleSpec } from '../../lib/constructs/service-linked-roles';
import { ECS_SERVICE_LINKED_ROLE, ServiceLinkedRoles, SPOT_SERVICE_LINKED_ROLES } from '../../lib/constructs/service-linked-roles';
import { newApp } from '../support/app';

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

describe('ServiceLinkedRoles', () => {
  it('lists the roles to ensure on a custom resource that its own inline function serves', () => {
    const { stack, roles, template } = build(SPOT_SERVICE_LINKED_ROLES);
    const fn = stack.getLogicalId(roles.function.node.defaultChild as never);
    expect(Object.keys(template.findResources('Custom::ServiceLinkedRoles'))).toEqual([stack.getLogicalId(roles.resource.node.defaultChild as never)]);
    template.hasResourceProperties('Custom::ServiceLinkedRoles', {
      ServiceToken: { 'Fn::GetAtt': [fn, 'Arn'] },
      Roles: [
        { ServiceName: 'spot.amazonaws.com', RoleName: 'AWSServiceRoleForEC2Spot' },
        { ServiceName: 'spotfleet.amazonaws.com', RoleName: 'AWSServiceRoleForEC2SpotFleet' },
      ],
    });
    template.hasResourceProperties('AWS::Lambda::Function', {
      Code: { ZipFile: roles.function.inlineCode },
      Timeout: 120,
      Description: 'Creates the service-linked roles for spot.amazonaws.com, spotfleet.amazonaws.com if they are missing',
    });
  });

  it('runs its function without the Powertools layer or settings, which its handler does not use', () => {
    synth([ECS_SERVICE_LINKED_ROLE]).hasResourceProperties('AWS::Lambda::Function', { Layers: Match.absent(), Environment: Match.absent() });
  });

  it('gives CloudFormation an answer within minutes even if its handler dies silently', () => {
    synth([ECS_SERVICE_LINKED_ROLE]).hasResourceProperties('Custom::ServiceLinkedRoles', { ServiceTimeout: '300' });
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
