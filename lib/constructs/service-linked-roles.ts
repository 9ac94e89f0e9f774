import { CustomResource, Duration, Stack, Validations } from 'aws-cdk-lib/core';
import { PolicyStatement } from 'aws-cdk-lib/aws-iam';
import { Construct } from 'constructs';
import { join } from 'node:path';
import { SERVICE_LINKED_ROLE_NAME, SERVICE_PRINCIPAL } from '../functions/service-linked-roles/names';
import { InlineNodeFunction } from './inline-node-function';
import { SettingError } from '../validation';

/** One AWS service's service-linked role: the service principal and the role name IAM gives it. */
export interface ServiceLinkedRoleSpec {
  /** Service principal, such as `ecs.amazonaws.com`. */
  readonly serviceName: string;
  /** Name IAM gives the role, such as `AWSServiceRoleForECS`; the handler reads it (GetRole) to skip creating a role that already exists. */
  readonly roleName: string;
}

/** The roles Spot Fleet needs: one for Spot instances, one for the fleet itself. */
export const SPOT_SERVICE_LINKED_ROLES: readonly ServiceLinkedRoleSpec[] = [
  { serviceName: 'spot.amazonaws.com', roleName: 'AWSServiceRoleForEC2Spot' },
  { serviceName: 'spotfleet.amazonaws.com', roleName: 'AWSServiceRoleForEC2SpotFleet' },
];

/** The role Application Auto Scaling uses to change a Spot Fleet request's target capacity. */
export const SPOT_FLEET_SCALING_SERVICE_LINKED_ROLE: ServiceLinkedRoleSpec = {
  serviceName: 'ec2.application-autoscaling.amazonaws.com',
  roleName: 'AWSServiceRoleForApplicationAutoScaling_EC2SpotFleetRequest',
};

/** The role ECS uses for task networking and load balancer registration; Fargate Spot needs no other. */
export const ECS_SERVICE_LINKED_ROLE: ServiceLinkedRoleSpec = { serviceName: 'ecs.amazonaws.com', roleName: 'AWSServiceRoleForECS' };

/**
 * The role Application Auto Scaling uses to change an ECS service's desired count; CDK's `autoScaleTaskCount`
 * points the scalable target at it.
 */
export const ECS_AUTO_SCALING_SERVICE_LINKED_ROLE: ServiceLinkedRoleSpec = {
  serviceName: 'ecs.application-autoscaling.amazonaws.com',
  roleName: 'AWSServiceRoleForApplicationAutoScaling_ECSService',
};

export interface ServiceLinkedRolesProps {
  /** The roles to ensure. */
  readonly roles: readonly ServiceLinkedRoleSpec[];
}

/**
 * Makes sure account-wide service-linked roles exist, so that resources depending on this construct do not
 * race the service creating its role on first use, as a first deploy in a fresh account otherwise can.
 * A small inline custom resource, not `AWS::IAM::ServiceLinkedRole`, which fails wherever the role already
 * exists. It reads the listed roles, creates only those that are missing, and never deletes them.
 */
export class ServiceLinkedRoles extends Construct {
  public readonly function: InlineNodeFunction;
  /** Make resources depend on this. */
  public readonly resource: CustomResource;

  constructor(scope: Construct, id: string, props: ServiceLinkedRolesProps) {
    super(scope, id);
    validate(this, props.roles);
    const stack = Stack.of(this);
    this.function = new InlineNodeFunction(this, 'Handler', {
      entry: join(__dirname, '..', 'functions', 'service-linked-roles', 'handler'),
      description: 'Creates missing service-linked roles',
      serviceName: 'service-linked-roles',
      metricsNamespace: 'Spotwise',
      timeout: Duration.minutes(2),
      usePowertools: false,
    });
    // GetRole first, so that a role already there needs no create permission at all. Reading is scoped to
    // service-linked roles, not to each one: the list would cost template bytes and protect nothing.
    this.function.addToRolePolicy(
      new PolicyStatement({ actions: ['iam:GetRole'], resources: [`arn:${stack.partition}:iam::${stack.account}:role/aws-service-role/*`] }),
    );
    Validations.of(this.function.executionRole).acknowledge({
      id: 'AwsSolutions::AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:iam::<AWS::AccountId>:role/aws-service-role/*]',
      reason: 'Read-only GetRole on the account\'s service-linked roles, to skip creating one that exists; creating is limited to the listed roles.',
    });
    this.function.addToRolePolicy(
      new PolicyStatement({
        actions: ['iam:CreateServiceLinkedRole'],
        // The condition names the services; their roles' ARNs again would only cost template bytes.
        resources: [`arn:${stack.partition}:iam::${stack.account}:role/aws-service-role/*`],
        conditions: { StringEquals: { 'iam:AWSServiceName': props.roles.map((r) => r.serviceName) } },
      }),
    );
    this.resource = new CustomResource(this, 'Resource', {
      serviceToken: this.function.functionArn,
      resourceType: 'Custom::ServiceLinkedRoles',
      // Should the handler die without answering, fail the stack in minutes rather than CloudFormation's hour.
      serviceTimeout: Duration.minutes(5),
      properties: { Roles: props.roles.map((r) => ({ ServiceName: r.serviceName, RoleName: r.roleName })) },
    });
  }
}

function validate(scope: Construct, roles: readonly ServiceLinkedRoleSpec[]): void {
  if (roles.length === 0) throw new SettingError(scope, 'roles is empty; give ServiceLinkedRoles at least one role to ensure.');
  for (const role of roles) {
    if (!SERVICE_PRINCIPAL.test(role.serviceName)) {
      throw new SettingError(scope, `serviceName must be a service principal such as "ecs.amazonaws.com"; got "${role.serviceName}".`);
    }
    if (!SERVICE_LINKED_ROLE_NAME.test(role.roleName)) {
      throw new SettingError(scope, `roleName must be the service-linked role's name, starting with "AWSServiceRoleFor"; got "${role.roleName}".`);
    }
  }
}
