import { Stack, Validations } from 'aws-cdk-lib/core';
import type { Template } from 'aws-cdk-lib/assertions';
import type { IConstruct } from 'constructs';
import { expect } from 'vitest';
import { resourcesOfType } from './app';

/** The validation rule ids acknowledged on `construct` itself (cdk-nag's among them). */
export function acknowledged(construct: IConstruct): string[] {
  return construct.node.metadata
    .filter((entry) => entry.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY)
    .flatMap((entry) => Object.keys(entry.data as Record<string, string>));
}

/** The statements of every `AWS::IAM::Policy` in `template` attached to `role` alone. */
export function roleStatements<S = unknown>(template: Template, role: IConstruct): S[] {
  const roles = JSON.stringify([{ Ref: Stack.of(role).getLogicalId((role.node.defaultChild ?? role) as never) }]);
  return resourcesOfType(template, 'AWS::IAM::Policy')
    .filter(([, p]) => JSON.stringify(p.Roles) === roles)
    .flatMap(([, p]) => (p.PolicyDocument as { Statement: S[] }).Statement);
}

/** Every alarm's properties by the purpose in its name, `<stack name>-<purpose>`; any other name fails the test. */
export function alarmsByPurpose(template: Template): Record<string, Record<string, unknown>> {
  return Object.fromEntries(
    resourcesOfType(template, 'AWS::CloudWatch::Alarm').map(([, p]) => {
      const name = p.AlarmName as { 'Fn::Join': ['', [{ Ref: 'AWS::StackName' }, string]] };
      expect(name['Fn::Join'][1][0]).toEqual({ Ref: 'AWS::StackName' });
      return [name['Fn::Join'][1][1].replace(/^-/, ''), p];
    }),
  );
}
