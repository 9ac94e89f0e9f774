import { Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { ECS_SERVICE_LINKED_ROLE, ServiceLinkedRoles } from '../lib/constructs/service-linked-roles';
import { newApp } from './support/app';

function synth(roles: ConstructorParameters<typeof ServiceLinkedRoles>[2]['roles']): Template {
  const stack = new Stack(newApp(), 'Roles');
  new ServiceLinkedRoles(stack, 'Roles', { roles });
  return Template.fromStack(stack);
}

describe('ServiceLinkedRoles', () => {
  it('gives CloudFormation an answer within minutes even if its handler dies silently', () => {
    synth([ECS_SERVICE_LINKED_ROLE]).hasResourceProperties('Custom::ServiceLinkedRoles', { ServiceTimeout: '300' });
  });

  it('fails when no role is listed', () => {
    expect(() => synth([])).toThrow(/at least one role/);
  });

  it('fails when a service name is not a service principal', () => {
    expect(() => synth([{ serviceName: 'ecs', roleName: 'AWSServiceRoleForECS' }])).toThrow(/serviceName must be a service principal.*got "ecs"/);
  });

  it('fails when a role name is not a service-linked role name', () => {
    expect(() => synth([{ serviceName: 'ecs.amazonaws.com', roleName: 'Admin' }])).toThrow(/roleName must be .*AWSServiceRoleFor.*got "Admin"/);
  });
});
