import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CfnParameter, Duration, Stack } from 'aws-cdk-lib/core';
import { Template } from 'aws-cdk-lib/assertions';
import { SubnetType, Vpc } from 'aws-cdk-lib/aws-ec2';
import { PolicyStatement } from 'aws-cdk-lib/aws-iam';
import { Function as LambdaFunction } from 'aws-cdk-lib/aws-lambda';
import { RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { IConstruct } from 'constructs';
import { describe, expect, it } from 'vitest';
import type { InlineNodeFunctionProps } from '../../lib/constructs/inline-node-function';
import { bundleInlineHandler } from '../../lib/bundling';
import { InlineNodeFunction, POWERTOOLS_LAYER_PARAMETER, POWERTOOLS_VERSION, powertoolsLayerParameter } from '../../lib/constructs/inline-node-function';
import { newApp, resourcesOfType, templateJson } from '../support/app';
import { acknowledged, roleStatements } from '../support/constructs';

/** A real handler of this project: it imports the ELB client from the runtime and Metrics from the Powertools layer. */
const ENTRY = join(__dirname, '..', '..', 'lib', 'functions', 'spot-interruption-drainer', 'handler');

const ROOT = join(__dirname, '..', '..');

/** The layer, as a stack's functions name it when the stack declares the parameter: the ARN it resolves to. */
const POWERTOOLS_LAYER = { Ref: 'PowertoolsLayerParameter' };
/** The layer by default: Powertools' public parameter, resolved by CloudFormation, with no stack parameter. */
const PUBLISHED_POWERTOOLS_LAYER = `{{resolve:ssm:/aws/service/powertools/typescript/generic/all/${POWERTOOLS_VERSION}}}`;

/** The stack parameter, as the template declares it. */
const POWERTOOLS_LAYER_PARAMETER_DECLARATION = {
  Type: 'AWS::SSM::Parameter::Value<String>',
  Default: `/aws/service/powertools/typescript/generic/all/${POWERTOOLS_VERSION}`,
  Description: `SSM parameter: Powertools ${POWERTOOLS_VERSION} layer ARN`,
};

interface Built {
  readonly stack: Stack;
  readonly fn: InlineNodeFunction;
  readonly template: Template;
}

/**
 * A fresh stack holding one function, `Host/Fn`, with `props` over a minimal set; `then` adds to the stack
 * before it is synthesized.
 */
function build(props: Partial<InlineNodeFunctionProps> = {}, then?: (stack: Stack, fn: InlineNodeFunction) => void): Built {
  const stack = new Stack(newApp(), 'Host');
  const fn = new InlineNodeFunction(stack, 'Fn', { entry: ENTRY, serviceName: 'test-service', metricsNamespace: 'Test', ...props });
  then?.(stack, fn);
  return { stack, fn, template: Template.fromStack(stack) };
}

function id(stack: Stack, construct: IConstruct): string {
  return stack.getLogicalId((construct.node.defaultChild ?? construct) as never);
}

function functionProps(built: Built): Record<string, unknown> {
  return templateJson(built.template).Resources[id(built.stack, built.fn)]?.Properties ?? {};
}

/** Every statement of the policies attached to the function's role. */
function functionStatements({ fn, template }: Built): { Action: string | string[]; Resource: unknown }[] {
  return roleStatements(template, fn.executionRole);
}

describe('code and runtime', () => {
  it('runs bundled TypeScript inline on Node.js 24, x86_64, with the Powertools layer', () => {
    const built = build();
    expect(functionProps(built)).toMatchObject({
      Runtime: 'nodejs24.x',
      Architectures: ['x86_64'],
      Handler: 'index.handler',
      Layers: [PUBLISHED_POWERTOOLS_LAYER],
    });
  });

  it('carries its bundle in the template as it is, and exposes it', () => {
    const built = build();
    const props = functionProps(built);
    expect(Object.keys(props.Code as object)).toEqual(['ZipFile']);
    const code = (props.Code as { ZipFile: string }).ZipFile;
    expect(code).toBe(built.fn.bundle);
    expect(code).toBe(bundleInlineHandler(ENTRY));
    expect(code).toContain('DeregisterTargetsCommand');
    expect(code).toMatch(/require\("@aws-sdk\/client-elastic-load-balancing-v2"\)/);
    expect(code).toMatch(/require\("@aws-lambda-powertools\/metrics"\)/);
  });

  it('is a Function, so callers grant to it and add policies to it directly', () => {
    const built = build({}, (_stack, fn) => {
      fn.addToRolePolicy(new PolicyStatement({ actions: ['sqs:SendMessage'], resources: ['arn:aws:sqs:us-east-2:123456789012:q'] }));
    });
    expect(built.fn).toBeInstanceOf(LambdaFunction);
    expect(built.fn.role).toBe(built.fn.executionRole);
    expect(functionStatements(built)).toContainEqual(expect.objectContaining({ Action: 'sqs:SendMessage', Resource: 'arn:aws:sqs:us-east-2:123456789012:q' }));
  });

  it('times out after 30 s with 256 MiB by default', () => {
    expect(functionProps(build())).toMatchObject({ Timeout: 30, MemorySize: 256 });
  });

  it('takes description, timeout and memory as props', () => {
    expect(functionProps(build({ description: 'Does one thing', timeout: Duration.seconds(90), memorySizeMiB: 1024 }))).toMatchObject({
      Description: 'Does one thing',
      Timeout: 90,
      MemorySize: 1024,
    });
  });

  it('takes a memory size that is a token, such as a parameter, and leaves its check to deploy time', () => {
    const stack = new Stack(newApp(), 'Host');
    const memory = new CfnParameter(stack, 'Memory', { type: 'Number', default: 512 });
    new InlineNodeFunction(stack, 'Fn', { entry: ENTRY, serviceName: 's', metricsNamespace: 'N', memorySizeMiB: memory.valueAsNumber });
    Template.fromStack(stack).hasResourceProperties('AWS::Lambda::Function', { MemorySize: { Ref: 'Memory' } });
  });

  it('fails when memorySizeMiB is outside Lambda\'s 128 to 10240', () => {
    expect(() => build({ memorySizeMiB: 127 })).toThrow(/^Host\/Fn: memorySizeMiB must be a whole number from 128 to 10240; got 127\. Lambda's limits\.$/);
    expect(() => build({ memorySizeMiB: 10_241 })).toThrow(/^Host\/Fn: memorySizeMiB must be a whole number from 128 to 10240; got 10241\./);
  });

  it('accepts Lambda\'s smallest and largest memory sizes', () => {
    expect(() => build({ memorySizeMiB: 128 })).not.toThrow();
    expect(() => build({ memorySizeMiB: 10_240 })).not.toThrow();
  });
});

describe('Powertools', () => {
  it('names the service, the metrics namespace and the stack, and merges the caller\'s environment over them', () => {
    expect(functionProps(build()).Environment).toEqual({
      Variables: { POWERTOOLS_SERVICE_NAME: 'test-service', POWERTOOLS_METRICS_NAMESPACE: 'Test', METRICS_STACK: { Ref: 'AWS::StackName' } },
    });
    expect(functionProps(build({ environment: { POWERTOOLS_METRICS_NAMESPACE: 'Other', TABLE: 'orders' } })).Environment).toEqual({
      Variables: { POWERTOOLS_SERVICE_NAME: 'test-service', POWERTOOLS_METRICS_NAMESPACE: 'Other', METRICS_STACK: { Ref: 'AWS::StackName' }, TABLE: 'orders' },
    });
  });

  it('reads the layer\'s ARN at deploy time from the SSM parameter Powertools publishes, and adds no stack parameter', () => {
    const { template } = build({}, (host) => new InlineNodeFunction(host, 'Other', { entry: ENTRY, serviceName: 'other', metricsNamespace: 'Test' }));
    expect(POWERTOOLS_LAYER_PARAMETER).toBe(`/aws/service/powertools/typescript/generic/all/${POWERTOOLS_VERSION}`);
    expect(resourcesOfType(template, 'AWS::Lambda::Function').map(([, p]) => p.Layers)).toEqual([[PUBLISHED_POWERTOOLS_LAYER], [PUBLISHED_POWERTOOLS_LAYER]]);
    expect(templateJson(template).Parameters).toBeUndefined();
    expect(resourcesOfType(template, 'AWS::Lambda::LayerVersion')).toEqual([]);
  });

  it('takes the layer as a prop, such as the one a stack parameter names', () => {
    const { stack, template } = build({}, (host) => {
      const layer = powertoolsLayerParameter(host);
      new InlineNodeFunction(host, 'Other', { entry: ENTRY, serviceName: 'other', metricsNamespace: 'Test', powertoolsLayer: layer });
    });
    expect(resourcesOfType(template, 'AWS::Lambda::Function').map(([, p]) => p.Layers)).toEqual([[PUBLISHED_POWERTOOLS_LAYER], [POWERTOOLS_LAYER]]);
    expect(templateJson(template).Parameters).toEqual({ PowertoolsLayerParameter: POWERTOOLS_LAYER_PARAMETER_DECLARATION });
    expect(stack.node.findChild('PowertoolsLayerParameter')).toBeInstanceOf(CfnParameter);
  });

  it('pins the release that the tests load: POWERTOOLS_VERSION is that of every @aws-lambda-powertools devDependency', () => {
    const manifest = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { devDependencies?: Record<string, string> };
    const powertools = Object.entries(manifest.devDependencies ?? {}).filter(([name]) => name.startsWith('@aws-lambda-powertools/'));
    expect(powertools.map(([name]) => name)).toEqual(expect.arrayContaining(['@aws-lambda-powertools/logger', '@aws-lambda-powertools/metrics']));
    for (const [name, version] of powertools) {
      expect(version, `${name} in package.json`).toBe(POWERTOOLS_VERSION);
      const installed = JSON.parse(readFileSync(join(ROOT, 'node_modules', name, 'package.json'), 'utf8')) as { version: string };
      expect(installed.version, `${name} in node_modules`).toBe(POWERTOOLS_VERSION);
    }
  });

  it('adds neither the layer, its parameter nor its settings when usePowertools is false, but keeps the caller\'s environment', () => {
    const built = build({ usePowertools: false, environment: { TABLE: 'orders' } });
    const props = functionProps(built);
    expect(props.Layers).toBeUndefined();
    expect(props.Environment).toEqual({ Variables: { TABLE: 'orders' } });
    expect(templateJson(built.template).Parameters).toBeUndefined();
  });
});

describe('logs and role', () => {
  it('keeps its logs in a log group with retention, one month by default, deleted with the stack', () => {
    const built = build();
    const logGroup = (functionProps(built).LoggingConfig as { LogGroup: { Ref: string } }).LogGroup.Ref;
    built.template.hasResourceProperties('AWS::Logs::LogGroup', { RetentionInDays: 30 });
    expect(templateJson(built.template).Resources[logGroup]).toMatchObject({
      Type: 'AWS::Logs::LogGroup',
      Properties: { RetentionInDays: 30 },
      DeletionPolicy: 'Delete',
    });
  });

  it('takes the log retention as a prop', () => {
    build({ logRetention: RetentionDays.ONE_WEEK }).template.hasResourceProperties('AWS::Logs::LogGroup', { RetentionInDays: 7 });
  });

  it('has its own role, trusted by Lambda, with no managed policy, that may write to its log group only', () => {
    const built = build();
    const { stack, fn, template } = built;
    const role = id(stack, fn.executionRole);
    expect(functionProps(built).Role).toEqual({ 'Fn::GetAtt': [role, 'Arn'] });
    expect(templateJson(template).Resources[role]?.Properties).toEqual({
      AssumeRolePolicyDocument: {
        Statement: [{ Action: 'sts:AssumeRole', Effect: 'Allow', Principal: { Service: 'lambda.amazonaws.com' } }],
        Version: '2012-10-17',
      },
    });
    const logGroup = (functionProps(built).LoggingConfig as { LogGroup: { Ref: string } }).LogGroup.Ref;
    expect(functionStatements(built)).toEqual([
      { Action: ['logs:CreateLogStream', 'logs:PutLogEvents'], Effect: 'Allow', Resource: { 'Fn::GetAtt': [logGroup, 'Arn'] } },
    ]);
    expect(acknowledged(fn.executionRole)).toEqual([]);
  });

  it('in a VPC, may also manage its network interfaces, acknowledged for cdk-nag on its role alone', () => {
    const stack = new Stack(newApp(), 'Host');
    const vpc = new Vpc(stack, 'Vpc', {
      maxAzs: 2,
      natGateways: 0,
      restrictDefaultSecurityGroup: false,
      subnetConfiguration: [{ name: 'Isolated', subnetType: SubnetType.PRIVATE_ISOLATED }],
    });
    const fn = new InlineNodeFunction(stack, 'Fn', { entry: ENTRY, serviceName: 's', metricsNamespace: 'N', vpc });
    const built = { stack, fn, template: Template.fromStack(stack) };
    expect(functionProps(built).VpcConfig).toMatchObject({
      SubnetIds: vpc.isolatedSubnets.map((subnet) => ({ Ref: id(stack, subnet) })),
      SecurityGroupIds: [{ 'Fn::GetAtt': [expect.stringMatching(/^FnSecurityGroup/) as unknown, 'GroupId'] }],
    });
    const onStar = functionStatements(built).filter((s) => s.Resource === '*');
    expect(onStar.flatMap((s) => ([] as string[]).concat(s.Action)).sort()).toEqual([
      'ec2:AssignPrivateIpAddresses',
      'ec2:CreateNetworkInterface',
      'ec2:DeleteNetworkInterface',
      'ec2:DescribeNetworkInterfaces',
      'ec2:DescribeSubnets',
      'ec2:UnassignPrivateIpAddresses',
    ]);
    expect(acknowledged(fn.executionRole)).toEqual(['AwsSolutions::AwsSolutions-IAM5[Resource::*]']);
    expect(templateJson(built.template).Resources[id(stack, fn.executionRole)]?.Properties?.ManagedPolicyArns).toBeUndefined();
  });
});
