import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CfnElement } from 'aws-cdk-lib/core';
import { Aws, Fn, Stack, Validations } from 'aws-cdk-lib/core';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { PolicyStatement } from 'aws-cdk-lib/aws-iam';
import { AwsSolutionsChecks } from 'cdk-nag';
import type { IConstruct } from 'constructs';
import { describe, expect, it } from 'vitest';
import type { SpotInterruptionRehearsalProps } from '../../lib/constructs/spot-interruption-rehearsal';
import {
  FIS_EXPERIMENT_TEMPLATE_REGIONS,
  SPOT_INTERRUPTION_REHEARSAL_REGIONS,
  SPOT_INTERRUPTION_UNSUPPORTED_REGIONS,
  SpotInterruptionRehearsal,
} from '../../lib/constructs/spot-interruption-rehearsal';
import { PlainCloudFormationSynthesizer } from '../../lib/plain-cloudformation-synthesizer';
import { cfnLintCommand, cfnLintPython } from '../support/cfn-lint';
import { newApp, templateJson } from '../support/app';

const FLEET_TAG_VALUE = Fn.join('-', [Aws.STACK_NAME, 'web']);
const RESOLVED_FLEET_TAG_VALUE = { 'Fn::Join': ['-', [{ Ref: 'AWS::StackName' }, 'web']] };

function synth(props: Partial<SpotInterruptionRehearsalProps> = {}): { stack: Stack; rehearsal: SpotInterruptionRehearsal } {
  // The synthesizer of the real stacks, so that cfn-lint sees the template they would deploy.
  const stack = new Stack(newApp(), 'Stack', { synthesizer: new PlainCloudFormationSynthesizer() });
  const rehearsal = new SpotInterruptionRehearsal(stack, 'Rehearsal', { tagKey: 'Name', tagValue: FLEET_TAG_VALUE, ...props });
  return { stack, rehearsal };
}

function logicalId(stack: Stack, element: CfnElement | IConstruct | undefined): string {
  return stack.resolve((element as CfnElement).logicalId) as string;
}

interface Statement {
  Effect: string;
  Action: string | string[];
  Resource: unknown;
  Condition?: unknown;
}

/** Every statement of every identity policy that applies to the rehearsal role: inline, attached or managed. */
function roleStatements(stack: Stack, rehearsal: SpotInterruptionRehearsal): Statement[] {
  const template = Template.fromStack(stack);
  const roleId = logicalId(stack, rehearsal.role.node.defaultChild);
  const role = templateJson(template).Resources[roleId]?.Properties ?? {};
  expect(role.ManagedPolicyArns, 'managed policies on the role').toBeUndefined();
  const inline = ((role.Policies ?? []) as { PolicyDocument: { Statement: Statement[] } }[]).flatMap((p) => p.PolicyDocument.Statement);
  const attached = Object.values(template.findResources('AWS::IAM::Policy'))
    .filter((p) => JSON.stringify((p.Properties as { Roles?: unknown }).Roles ?? []).includes(`"${roleId}"`))
    .flatMap((p) => (p.Properties as { PolicyDocument: { Statement: Statement[] } }).PolicyDocument.Statement);
  return [...inline, ...attached];
}

/** The Regions a condition expression is true in, checking that every `Fn::Or` has the 2 to 10 operands CloudFormation takes. */
function regionsOf(expression: unknown): string[] {
  const node = expression as Record<string, unknown>;
  if ('Fn::Or' in node) {
    const operands = node['Fn::Or'] as unknown[];
    expect(operands.length, 'operands of one Fn::Or').toBeGreaterThanOrEqual(2);
    expect(operands.length, 'operands of one Fn::Or').toBeLessThanOrEqual(10);
    return operands.flatMap(regionsOf);
  }
  const [lhs, rhs] = node['Fn::Equals'] as [unknown, string];
  expect(lhs).toEqual({ Ref: 'AWS::Region' });
  return [rhs];
}

function conditionRegions(stack: Stack, rehearsal: SpotInterruptionRehearsal): string[] {
  const conditions = templateJson(Template.fromStack(stack)).Conditions ?? {};
  return regionsOf(conditions[logicalId(stack, rehearsal.condition)]);
}

/**
 * What the installed cfn-lint knows: its version, all its Regions, and those whose provider schema data
 * (`cfnlint/data/schemas/providers/<region>.py`) has `AWS::FIS::ExperimentTemplate`, read the way its rule
 * E3006 reads them. Undefined when Python or cfn-lint is missing.
 */
function cfnLintData(): { version: string; regions: string[]; withFis: string[] } | undefined {
  const script = [
    'import json, cfnlint.version',
    'from cfnlint.helpers import REGIONS',
    'from cfnlint.schema.manager import PROVIDER_SCHEMA_MANAGER as m',
    'print(json.dumps({"version": cfnlint.version.__version__, "regions": REGIONS,',
    '  "withFis": [r for r in REGIONS if "AWS::FIS::ExperimentTemplate" in m.get_resource_types(r)]}))',
  ].join('\n');
  const run = spawnSync(cfnLintPython(), ['-c', script], { encoding: 'utf8' });
  return run.status === 0 ? (JSON.parse(run.stdout) as { version: string; regions: string[]; withFis: string[] }) : undefined;
}

const cfnLint = cfnLintData();

function requireCfnLint(): NonNullable<typeof cfnLint> {
  if (cfnLint === undefined) throw new Error('cfn-lint 1.51 is not installed for python3: pip install cfn-lint==1.51.0');
  return cfnLint;
}

describe('SpotInterruptionRehearsal', () => {
  it('sends the Spot interruption notice to the SpotInstances target, two minutes before the interruption', () => {
    const { stack } = synth();
    Template.fromStack(stack).hasResourceProperties('AWS::FIS::ExperimentTemplate', {
      Actions: Match.exact({
        InterruptOne: Match.objectLike({
          ActionId: 'aws:ec2:send-spot-instance-interruptions',
          Parameters: Match.exact({ durationBeforeInterruption: 'PT2M' }),
          Targets: Match.exact({ SpotInstances: 'SpotInstances' }),
        }),
      }),
    });
  });

  it('targets exactly one running Spot Instance that carries the fleet tag', () => {
    const { stack } = synth();
    Template.fromStack(stack).hasResourceProperties('AWS::FIS::ExperimentTemplate', {
      Targets: Match.exact({
        SpotInstances: Match.exact({
          ResourceType: 'aws:ec2:spot-instance',
          ResourceTags: { Name: RESOLVED_FLEET_TAG_VALUE },
          Filters: [{ Path: 'State.Name', Values: ['running'] }],
          SelectionMode: 'COUNT(1)',
        }),
      }),
    });
  });

  it('has no stop condition, and a description and a Name tag that name the stack', () => {
    const { stack } = synth();
    Template.fromStack(stack).hasResourceProperties('AWS::FIS::ExperimentTemplate', {
      StopConditions: [{ Source: 'none' }],
      Description: { 'Fn::Join': ['', [Match.stringLikeRegexp('tagged Name in $'), { Ref: 'AWS::StackName' }]] },
      Tags: { Name: { 'Fn::Join': ['', [{ Ref: 'AWS::StackName' }, '-spot-interruption-rehearsal']] } },
    });
  });

  it('fails the experiment, rather than passing having interrupted nothing, when no running instance carries the tag', () => {
    const { stack } = synth();
    Template.fromStack(stack).hasResourceProperties('AWS::FIS::ExperimentTemplate', {
      ExperimentOptions: { EmptyTargetResolutionMode: 'fail' },
    });
  });

  it('runs the experiment as its own role', () => {
    const { stack, rehearsal } = synth();
    Template.fromStack(stack).hasResourceProperties('AWS::FIS::ExperimentTemplate', {
      RoleArn: { 'Fn::GetAtt': [logicalId(stack, rehearsal.role.node.defaultChild), 'Arn'] },
    });
  });

  it('lets only FIS, running an experiment of this account and Region, assume the role', () => {
    const { stack } = synth();
    Template.fromStack(stack).hasResourceProperties('AWS::IAM::Role', {
      AssumeRolePolicyDocument: {
        Statement: [
          {
            Effect: 'Allow',
            Action: 'sts:AssumeRole',
            Principal: { Service: 'fis.amazonaws.com' },
            Condition: {
              StringEquals: { 'aws:SourceAccount': { Ref: 'AWS::AccountId' } },
              ArnLike: {
                'aws:SourceArn': {
                  'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':fis:', { Ref: 'AWS::Region' }, ':', { Ref: 'AWS::AccountId' }, ':experiment/*']],
                },
              },
            },
          },
        ],
      },
    });
  });

  it('lets the role interrupt only instances carrying the fleet tag, and do nothing but read on *', () => {
    const { stack, rehearsal } = synth();
    const statements = roleStatements(stack, rehearsal);
    expect(statements).toEqual([
      {
        Effect: 'Allow',
        Action: 'ec2:SendSpotInstanceInterruptions',
        Resource: { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':ec2:*:', { Ref: 'AWS::AccountId' }, ':instance/*']] },
        Condition: { StringEquals: { 'aws:ResourceTag/Name': RESOLVED_FLEET_TAG_VALUE } },
      },
      { Effect: 'Allow', Action: 'ec2:DescribeInstances', Resource: '*' },
    ]);
    for (const statement of statements.filter((s) => ([] as unknown[]).concat(s.Resource).includes('*'))) {
      for (const action of ([] as string[]).concat(statement.Action)) {
        expect(action, 'an action on every resource').toMatch(/^ec2:Describe[A-Za-z]+$/);
      }
    }
  });

  it('puts every resource it creates under the Region condition', () => {
    const { stack, rehearsal } = synth();
    const template = Template.fromStack(stack);
    template.resourceCountIs('AWS::FIS::ExperimentTemplate', 1);
    template.resourceCountIs('AWS::IAM::Role', 1);
    const resources = Object.entries(templateJson(template).Resources);
    expect(resources.length).toBe(2);
    for (const [id, resource] of resources) {
      expect(resource.Condition, id).toBe(logicalId(stack, rehearsal.condition));
    }
  });

  it('puts a policy that a caller adds to the role later under the Region condition too', () => {
    const { stack, rehearsal } = synth();
    rehearsal.role.addToPrincipalPolicy(new PolicyStatement({ actions: ['cloudwatch:DescribeAlarms'], resources: ['*'] }));
    const policies = Object.entries(templateJson(Template.fromStack(stack)).Resources).filter(([, r]) => r.Type === 'AWS::IAM::Policy');
    expect(policies.length).toBe(1);
    for (const [id, policy] of policies) expect(policy.Condition, id).toBe(logicalId(stack, rehearsal.condition));
  });

  it('makes the condition true where FIS has the resource type and can interrupt Spot, as Fn::Or of Fn::Or of at most 10 each', () => {
    const { stack, rehearsal } = synth();
    const regions = conditionRegions(stack, rehearsal);
    expect(new Set(regions).size, 'duplicates').toBe(regions.length);
    expect([...regions].sort()).toEqual([...SPOT_INTERRUPTION_REHEARSAL_REGIONS].sort());
    expect(regions).toEqual(expect.arrayContaining(['us-east-1', 'eu-west-1', 'us-gov-west-1']));
    for (const unsupported of SPOT_INTERRUPTION_UNSUPPORTED_REGIONS) {
      expect(FIS_EXPERIMENT_TEMPLATE_REGIONS).toContain(unsupported);
      expect(regions).not.toContain(unsupported);
    }
    // The Regions where a deploy would fail without the condition, by cfn-lint 1.51.0's data.
    for (const missing of ['cn-north-1', 'cn-northwest-1', 'ap-southeast-3', 'il-central-1', 'mx-central-1']) {
      expect(regions, missing).not.toContain(missing);
    }
  });

  // Reads the installed cfn-lint rather than a copy of its data, so that it fails as soon as the constant and
  // cfn-lint's knowledge part, in either direction.
  it('lists exactly the Regions whose cfn-lint data has AWS::FIS::ExperimentTemplate', () => {
    const data = requireCfnLint();
    // A guard against a script that reads nothing, or every Region: then the comparison below would prove nothing.
    expect(data.withFis).toContain('us-east-1');
    expect(data.regions.filter((region) => !data.withFis.includes(region))).toContain('cn-north-1');
    const { stack, rehearsal } = synth();
    expect([...FIS_EXPERIMENT_TEMPLATE_REGIONS].sort(), `cfn-lint ${data.version}: update FIS_EXPERIMENT_TEMPLATE_REGIONS`).toEqual(
      [...data.withFis].sort(),
    );
    for (const region of conditionRegions(stack, rehearsal)) expect(data.withFis).toContain(region);
  });

  it('needs its condition: unconditioned, cfn-lint finds FIS missing in exactly the Regions the condition leaves out', () => {
    // The conditioned template is linted in every Region with the stacks that hold it (test/cfn-lint.test.ts).
    const data = requireCfnLint();
    const { stack } = synth();
    const unconditioned = structuredClone(templateJson(Template.fromStack(stack)));
    for (const resource of Object.values(unconditioned.Resources)) delete resource.Condition;
    delete unconditioned.Conditions;
    const dir = mkdtempSync(join(tmpdir(), 'spot-interruption-rehearsal-'));
    try {
      writeFileSync(join(dir, 'unconditioned.json'), JSON.stringify(unconditioned));
      const run = spawnSync(cfnLintCommand(), ['--regions', 'ALL_REGIONS', '--format', 'json', '--', 'unconditioned.json'], { cwd: dir, encoding: 'utf8' });
      const findings = JSON.parse(run.stdout) as { Filename: string; Rule: { Id: string }; Message: string }[];
      const lacking = data.regions.filter((region) => !data.withFis.includes(region));
      expect(lacking.length).toBeGreaterThan(0);
      const e3006 = findings.filter((f) => f.Rule.Id === 'E3006');
      expect(e3006.map((f) => /in '([a-z0-9-]+)'$/.exec(f.Message)?.[1]).sort()).toEqual(lacking.sort());
      expect([...new Set(findings.map((f) => f.Rule.Id))]).toEqual(['E3006']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('passes cdk-nag AwsSolutions with the role\'s wildcard findings acknowledged', () => {
    const app = newApp();
    const stack = new Stack(app, 'Stack', { synthesizer: new PlainCloudFormationSynthesizer() });
    new SpotInterruptionRehearsal(stack, 'Rehearsal', { tagKey: 'Name', tagValue: FLEET_TAG_VALUE });
    Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
    expect(() => app.synth()).not.toThrow();
  });

  it('fails when tagKey is empty', () => {
    expect(() => synth({ tagKey: ' ' })).toThrow(/^Stack\/Rehearsal: tagKey is empty/);
  });

  it('fails when tagKey starts with the reserved aws: prefix, in any case', () => {
    expect(() => synth({ tagKey: 'aws:ec2spot:fleet-request-id' })).toThrow(/^Stack\/Rehearsal: tagKey 'aws:ec2spot:fleet-request-id' starts with 'aws:'/);
    expect(() => synth({ tagKey: 'AWS:team' })).toThrow(/^Stack\/Rehearsal: tagKey 'AWS:team' starts with 'aws:'/);
  });

  it('fails when tagKey is a token, which CloudFormation cannot resolve in a key', () => {
    expect(() => synth({ tagKey: Aws.STACK_NAME })).toThrow(/^Stack\/Rehearsal: tagKey must be a literal string/);
  });

  it('fails when tagValue is empty', () => {
    expect(() => synth({ tagValue: '' })).toThrow(/^Stack\/Rehearsal: tagValue is empty/);
  });
});
