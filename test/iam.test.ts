/**
 * The calls each handler makes in its scenarios must be exactly what its synthesized role grants: an action
 * the handler needs but lacks fails in production, and a grant it never uses is privilege nobody needs.
 */
import { Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { ApplicationTargetGroup } from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import { describe, expect, it } from 'vitest';
import { SpotInterruptionDrainer } from '../lib/constructs/spot-interruption-drainer';
import { runDrainerScenarios, TARGET_GROUP_API, TARGET_GROUP_WEB } from './functions/spot-drainer.scenarios';
import { newApp } from './support/app';

interface Statement {
  Effect: string;
  Action: string | string[];
  Resource: unknown;
  Condition?: unknown;
}

/** Statements of the policies attached to the role of the function whose environment has `envKey`. */
function functionRoleStatements(template: Template, envKey: string): Statement[] {
  const functions = template.findResources('AWS::Lambda::Function');
  const fn = Object.values(functions).find((f) => (f.Properties as { Environment?: { Variables?: Record<string, unknown> } }).Environment?.Variables?.[envKey] !== undefined);
  if (fn === undefined) throw new Error(`no function with ${envKey}`);
  const roleId = (fn.Properties as { Role: { 'Fn::GetAtt': [string, string] } }).Role['Fn::GetAtt'][0];
  return Object.values(template.findResources('AWS::IAM::Policy'))
    .filter((p) => JSON.stringify((p.Properties as { Roles: unknown }).Roles) === JSON.stringify([{ Ref: roleId }]))
    .flatMap((p) => (p.Properties as { PolicyDocument: { Statement: Statement[] } }).PolicyDocument.Statement);
}

/** `{ action: resources[] }` for the statements whose actions belong to `service`. */
function grantsFor(statements: Statement[], service: string): Map<string, unknown[]> {
  const grants = new Map<string, unknown[]>();
  for (const statement of statements) {
    expect(statement.Effect).toBe('Allow');
    expect(statement.Condition).toBeUndefined();
    for (const action of ([] as string[]).concat(statement.Action)) {
      if (!action.startsWith(`${service}:`)) continue;
      grants.set(action, [...(grants.get(action) ?? []), ...([] as unknown[]).concat(statement.Resource)]);
    }
  }
  return grants;
}

describe('the drainer role', () => {
  it('grants exactly the ELB calls the handler makes, DeregisterTargets on exactly its target groups', async () => {
    process.env.POWERTOOLS_SERVICE_NAME ??= 'spot-interruption-drainer';
    process.env.POWERTOOLS_METRICS_NAMESPACE ??= 'Spotwise';
    const calls = await runDrainerScenarios({ targetGroupArns: [TARGET_GROUP_WEB, TARGET_GROUP_API] });
    const called = new Map<string, Set<string>>();
    for (const call of calls) {
      const action = `elasticloadbalancing:${call.command}`;
      const arn = (call.input as { TargetGroupArn?: string }).TargetGroupArn;
      expect(arn, `${call.command} without a target group`).toBeDefined();
      called.set(action, (called.get(action) ?? new Set()).add(arn as string));
    }
    expect([...called.keys()].sort()).toEqual(['elasticloadbalancing:DeregisterTargets', 'elasticloadbalancing:DescribeTargetHealth']);

    const stack = new Stack(newApp(), 'DrainerOnly');
    const targetGroups = [TARGET_GROUP_WEB, TARGET_GROUP_API].map((arn, i) =>
      ApplicationTargetGroup.fromTargetGroupAttributes(stack, `Tg${i}`, { targetGroupArn: arn }),
    );
    new SpotInterruptionDrainer(stack, 'Drainer', { targetGroups });
    const statements = functionRoleStatements(Template.fromStack(stack), 'TARGET_GROUP_ARNS');
    const granted = grantsFor(statements, 'elasticloadbalancing');

    expect([...granted.keys()].sort()).toEqual([...called.keys()].sort());
    expect(new Set(granted.get('elasticloadbalancing:DeregisterTargets'))).toEqual(
      called.get('elasticloadbalancing:DeregisterTargets'),
    );
    expect(called.get('elasticloadbalancing:DeregisterTargets')).toEqual(new Set([TARGET_GROUP_WEB, TARGET_GROUP_API]));
    // IAM has no resource-level permission for DescribeTargetHealth: a target group ARN would deny it.
    expect(granted.get('elasticloadbalancing:DescribeTargetHealth')).toEqual(['*']);

    const services = new Set(statements.flatMap((s) => ([] as string[]).concat(s.Action)).map((a) => a.split(':')[0]));
    expect([...services].sort()).toEqual(['elasticloadbalancing', 'logs', 'sqs']);
  });
});
