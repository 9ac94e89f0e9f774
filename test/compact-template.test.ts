import { Stack } from 'aws-cdk-lib';
import { describe, expect, it } from 'vitest';
import { compactTemplate } from '../lib/compact-template';
import { addSpotwiseStacks } from '../lib/spotwise-app';
import { newApp } from './support/app';
import { cycleIn, semantics } from './support/template-semantics';
import { SpotFleetWebAppStack } from '../lib/spot-fleet-web-app-stack';

type Json = Record<string, unknown>;

const templates = (() => {
  let built: Map<string, Json> | undefined;
  return (): Map<string, Json> => {
    if (built === undefined) {
      const app = newApp();
      addSpotwiseStacks(app);
      const assembly = app.synth();
      built = new Map(app.node.findAll().filter(Stack.isStack).map((s) => [s.stackName, assembly.getStackArtifact(s.artifactId).template as Json]));
      // The bucketless variant, as `npm run synth -- -c spotwise='{"spotFleetWebApp":{"operations":false}}'` builds it.
      const lean = newApp();
      const stack = new SpotFleetWebAppStack(lean, 'SpotFleetWebApp', { operations: false });
      built.set('SpotFleetWebApp without operations', lean.synth().getStackArtifact(stack.artifactId).template as Json);
    }
    return built;
  };
})();

describe('compactTemplate on the Spotwise stacks', () => {
  for (const name of ['SpotFleetWebApp', 'FargateService', 'SpotFleetWebApp without operations']) {
    it(`keeps ${name} the same template to CloudFormation: resources, values, policies and creation order`, () => {
      const original = templates().get(name) as Json;
      const compact = compactTemplate(original);
      const before = semantics(original);
      const after = semantics(compact);
      expect(after.resources).toEqual(before.resources);
      expect(after.rolePolicies).toEqual(before.rolePolicies);
      expect(after.waitsFor).toEqual(before.waitsFor);
      expect(after.rest).toEqual(before.rest);
    });

    it(`makes ${name} shorter: no Fn::Join left that Fn::Sub can say, no DependsOn its references imply, no separate role policies`, () => {
      const original = templates().get(name) as Json;
      const compact = compactTemplate(original);
      const text = JSON.stringify(compact);
      expect(text.length).toBeLessThan(JSON.stringify(original).length - 1500);
      expect(text).not.toMatch(/"Fn::Join":\["",\[("[^"]*"|\{"Ref":"[^"]+"\}|,)*\]\]/);
      expect(Object.values(compact.Resources as Record<string, { Type: string }>).map((r) => r.Type)).not.toContain('AWS::IAM::Policy');
    });

    it(`leaves ${name} without a dependency cycle, and each role's inline policies with names of their own`, () => {
      const compact = compactTemplate(templates().get(name) as Json);
      expect(cycleIn(compact)).toBeUndefined();
      for (const [id, resource] of Object.entries(compact.Resources as Record<string, { Type: string; Properties?: { Policies?: { PolicyName: string }[] } }>)) {
        const names = (resource.Properties?.Policies ?? []).map((p) => p.PolicyName);
        expect(new Set(names).size, id).toBe(names.length);
      }
    });
  }

  it('tells a changed template apart, so that the sameness above can fail', () => {
    const original = templates().get('SpotFleetWebApp') as Json;
    const compact = compactTemplate(original) as { Resources: Record<string, { Type: string; Properties: Json; DependsOn?: unknown }> };
    const changedText = structuredClone(compact);
    const alarm = Object.values(changedText.Resources).find((r) => r.Type === 'AWS::CloudWatch::Alarm') as { Properties: Json };
    alarm.Properties.AlarmName = { 'Fn::Sub': '${AWS::StackName}-Other' };
    expect(semantics(changedText).resources).not.toEqual(semantics(original).resources);

    const lostOrder = structuredClone(compact);
    const withDependsOn = Object.values(lostOrder.Resources).find((r) => r.DependsOn !== undefined) as { DependsOn?: unknown };
    delete withDependsOn.DependsOn;
    expect(semantics(lostOrder).waitsFor).not.toEqual(semantics(original).waitsFor);

    const lostPolicy = structuredClone(compact);
    const role = Object.values(lostPolicy.Resources).find((r) => r.Type === 'AWS::IAM::Role' && Array.isArray(r.Properties.Policies)) as { Properties: Json };
    delete role.Properties.Policies;
    expect(semantics(lostPolicy).rolePolicies).not.toEqual(semantics(original).rolePolicies);
  });

  it('finds the cycle a wrong inlining would make, so that the check above can fail', () => {
    expect(
      cycleIn({
        Resources: {
          Role: { Type: 'AWS::IAM::Role', Properties: { Policies: [{ PolicyName: 'Grants', PolicyDocument: { Resource: { 'Fn::GetAtt': ['Key', 'Arn'] } } }] } },
          Key: { Type: 'AWS::KMS::Key', Properties: { KeyPolicy: { Principal: { 'Fn::GetAtt': ['Role', 'Arn'] } } } },
        },
      }),
    ).toEqual(['Role', 'Key', 'Role']);
  });

  it('does not change its input', () => {
    const original = templates().get('FargateService') as Json;
    const copy = structuredClone(original);
    compactTemplate(original);
    expect(original).toEqual(copy);
  });
});

describe('compactTemplate', () => {
  const role = { Type: 'AWS::IAM::Role', Properties: { AssumeRolePolicyDocument: {} } };
  const policy = (document: unknown): Json => ({
    Type: 'AWS::IAM::Policy',
    Properties: { PolicyName: 'RoleDefaultPolicy', PolicyDocument: document, Roles: [{ Ref: 'Role' }] },
  });

  it('escapes ${ in the text it moves into Fn::Sub', () => {
    const out = compactTemplate({
      Resources: { P: { Type: 'X', Properties: { V: { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':s3:::b/${aws:username}']] } } } },
    });
    expect(out.Resources.P.Properties.V).toEqual({ 'Fn::Sub': 'arn:${AWS::Partition}:s3:::b/${!aws:username}' });
  });

  it('escapes a ${ that only joining makes, a $ ending one part and a { starting the next', () => {
    const out = compactTemplate({
      Resources: {
        P: {
          Type: 'X',
          Properties: {
            A: { 'Fn::Join': ['', ['price $', '{amount}', { Ref: 'R' }]] },
            B: { 'Fn::Join': ['$', ['a', '{b}', { Ref: 'R' }]] },
          },
        },
      },
    });
    expect(out.Resources.P.Properties).toEqual({ A: { 'Fn::Sub': 'price ${!amount}${R}' }, B: { 'Fn::Sub': 'a${!b}$${R}' } });
  });

  it('reads an inner join it already rewrote back into text and names, escaping across the seam', () => {
    const inner = { 'Fn::Join': ['', ['x$', { Ref: 'A' }, '${lit} z$']] };
    const out = compactTemplate({ Resources: { P: { Type: 'X', Properties: { V: { 'Fn::Join': ['', [inner, '{y}', { Ref: 'B' }]] } } } } });
    expect(out.Resources.P.Properties.V).toEqual({ 'Fn::Sub': 'x$${A}${!lit} z${!y}${B}' });
  });

  it('writes a GetAtt as ${Name.Attribute}, keeps the delimiter and turns a join of text alone into the text', () => {
    const out = compactTemplate({
      Resources: {
        P: {
          Type: 'X',
          Properties: {
            A: { 'Fn::Join': ['/', [{ 'Fn::GetAtt': ['Lb', 'LoadBalancerFullName'] }, 'x']] },
            B: { 'Fn::Join': [',', ['a', 'b']] },
          },
        },
      },
    });
    expect(out.Resources.P.Properties).toEqual({ A: { 'Fn::Sub': '${Lb.LoadBalancerFullName}/x' }, B: 'a,b' });
  });

  it('leaves a join alone when a part is another intrinsic', () => {
    const join = { 'Fn::Join': ['', ['a', { 'Fn::Select': [0, { 'Fn::GetAZs': '' }] }]] };
    expect(compactTemplate({ Resources: { P: { Type: 'X', Properties: { V: join } } } }).Resources.P.Properties.V).toEqual(join);
  });

  it('keeps a DependsOn entry that only a reference inside Fn::If implies, and drops one a plain reference implies', () => {
    const out = compactTemplate({
      Resources: {
        A: { Type: 'X' },
        B: { Type: 'X' },
        C: { Type: 'X', Properties: { V: { 'Fn::If': ['Cond', { Ref: 'A' }, 'none'] }, W: { Ref: 'B' } }, DependsOn: ['A', 'B'] },
      },
    });
    expect(out.Resources.C.DependsOn).toBe('A');
  });

  it("moves a role's policy inline under a name of its own, and points what depended on the policy at the role", () => {
    const out = compactTemplate({
      Resources: {
        Role: role,
        Queue: { Type: 'AWS::SQS::Queue' },
        RoleDefaultPolicy: policy({ Statement: [{ Resource: { 'Fn::GetAtt': ['Queue', 'Arn'] } }] }),
        Fn: { Type: 'AWS::Lambda::Function', Properties: { Role: { 'Fn::GetAtt': ['Role', 'Arn'] } }, DependsOn: ['RoleDefaultPolicy', 'Role'] },
      },
    });
    expect(Object.keys(out.Resources)).toEqual(['Role', 'Queue', 'Fn']);
    expect((out.Resources.Role.Properties as Json).Policies).toEqual([{ PolicyName: 'Grants', PolicyDocument: { Statement: [{ Resource: { 'Fn::GetAtt': ['Queue', 'Arn'] } }] } }]);
    expect(out.Resources.Fn.DependsOn).toBeUndefined();
  });

  it('keeps a policy separate when an output names it', () => {
    const template = {
      Resources: { Role: role, RoleDefaultPolicy: policy({ Statement: [] }) },
      Outputs: { PolicyName: { Value: { Ref: 'RoleDefaultPolicy' } } },
    };
    expect(compactTemplate(template).Resources.RoleDefaultPolicy).toEqual(template.Resources.RoleDefaultPolicy);
  });

  it('keeps a policy separate when its role would wait for something that waits for the role', () => {
    const template = {
      Resources: {
        Role: role,
        Key: { Type: 'AWS::KMS::Key', Properties: { KeyPolicy: { Principal: { AWS: { 'Fn::GetAtt': ['Role', 'Arn'] } } } } },
        RoleDefaultPolicy: policy({ Statement: [{ Resource: { 'Fn::GetAtt': ['Key', 'Arn'] } }] }),
      },
    };
    const out = compactTemplate(template);
    expect(out.Resources.RoleDefaultPolicy).toEqual(template.Resources.RoleDefaultPolicy);
    expect(out.Resources.Role).toEqual(role);
  });
});
