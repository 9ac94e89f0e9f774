import type { App } from 'aws-cdk-lib/core';
import { Stack, Validations } from 'aws-cdk-lib/core';
import { Template } from 'aws-cdk-lib/assertions';
import { Peer, Port, SecurityGroup } from 'aws-cdk-lib/aws-ec2';
import { Code, Function as LambdaFunction, Runtime } from 'aws-cdk-lib/aws-lambda';
import { CfnQueue } from 'aws-cdk-lib/aws-sqs';
import type { IConstruct } from 'constructs';
import { describe, expect, it } from 'vitest';
import type { SpotwiseStacks } from '../lib/spotwise-app';
import { addSpotwiseStacks } from '../lib/spotwise-app';
import { FargateServiceStack } from '../lib/fargate-service-stack';
import { SpotAutoScalingWebAppStack } from '../lib/spot-auto-scaling-web-app-stack';
import { SpotFleetWebAppStack } from '../lib/spot-fleet-web-app-stack';
import type { CloudAssembly } from 'aws-cdk-lib/cx-api';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { newApp } from './support/app';

/** Every stack the app holds, by artifact id. */
const STACK_NAMES = ['SpotAutoScalingWebApp', 'SpotFleetWebApp', 'FargateService'] as const;

/** A stack's resources, by type, with how many of each: what a reviewer reads to see what a change adds or drops. */
function inventory(stack: Stack): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const resource of Object.values(Template.fromStack(stack).toJSON().Resources as Record<string, { Type: string }>)) {
    counts[resource.Type] = (counts[resource.Type] ?? 0) + 1;
  }
  return Object.fromEntries(Object.entries(counts).sort(([a], [b]) => a.localeCompare(b)));
}

function nagAcknowledgements(root: IConstruct): { path: string; isStack: boolean; id: string; reason: string }[] {
  return root.node.findAll().flatMap((construct) =>
    construct.node.metadata
      .filter((entry) => entry.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY)
      .flatMap((entry) => Object.entries(entry.data as Record<string, string>))
      .filter(([id]) => id.startsWith('AwsSolutions::'))
      .map(([id, reason]) => ({ path: construct.node.path, isStack: Stack.isStack(construct), id, reason })),
  );
}

/**
 * The app as `npm run synth` builds it, cdk-nag included: built once, read by many tests. CloudFormation's
 * schema validation, which `cdk synth` also runs, is left to the CLI tests (`npm run test:deploy` synthesizes
 * the real app with the real CLI) and to cfn-lint, which checks the same schemas and more; the test below
 * shows that synth runs it.
 */
const shared = (() => {
  let built: { app: App; stacks: SpotwiseStacks; assembly: CloudAssembly } | undefined;
  return () => {
    if (built === undefined) {
      const app = newApp();
      const stacks = addSpotwiseStacks(app);
      built = { app, stacks, assembly: app.synth() };
    }
    return built;
  };
})();

describe('the Spotwise app', () => {
  it('passes cdk-nag AwsSolutions with every finding acknowledged', () => {
    expect(() => shared()).not.toThrow();
  });

  it('fails synth when a template breaks CloudFormation\'s schema, as cdk synth does with this project\'s flags', () => {
    // One small stack: what is tested is that synth validates, not the Spotwise stacks (cfn-lint checks those).
    const app = newApp({ cloudFormationValidation: true });
    const stack = new Stack(app, 'Host');
    new CfnQueue(stack, 'Queue').addPropertyOverride('VisibilityTimeout', 'many');
    expect(() => app.synth()).toThrow(/VisibilityTimeout: 'many' is not of type 'integer' \(CloudFormation Validate\)/);
  });

  it('fails synth when a cdk-nag finding is left unacknowledged', () => {
    const app = newApp();
    const { fargateService } = addSpotwiseStacks(app);
    const open = new SecurityGroup(fargateService, 'WideOpen', { vpc: fargateService.service.cluster.vpc });
    open.addIngressRule(Peer.anyIpv4(), Port.tcp(22));
    expect(() => app.synth()).toThrow(/AwsSolutions\)\s+FargateService\/WideOpen\/Resource[\s\S]*'AwsSolutions::AwsSolutions-EC23'/);
  });

  it('acknowledges findings on single resources, never on a stack, each with a real reason', () => {
    const { app } = shared();
    const acks = nagAcknowledgements(app);
    expect(acks.length).toBeGreaterThan(0);
    for (const ack of acks) {
      expect(ack.isStack, `${ack.id} at ${ack.path}`).toBe(false);
      expect(ack.path.split('/').length, `${ack.id} at ${ack.path}`).toBeGreaterThanOrEqual(3);
      expect(ack.reason.length, `${ack.id} at ${ack.path}`).toBeGreaterThan(40);
    }
    expect(acks.map((a) => `${a.path} ${a.id}`).sort()).toMatchInlineSnapshot(`
      [
        "FargateService/CapacityFallback/HandlerRole AwsSolutions::AwsSolutions-IAM5[Action::kms:GenerateDataKey*]",
        "FargateService/Prober/HandlerRole AwsSolutions::AwsSolutions-IAM5[Resource::*]",
        "FargateService/Prober/HandlerRole AwsSolutions::AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ecs:<AWS::Region>:<AWS::AccountId>:task/<ServiceCluster572F72F1>/*]",
        "FargateService/Service/ServiceLinkedRole/HandlerRole AwsSolutions::AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:iam::<AWS::AccountId>:role/aws-service-role/*]",
        "FargateService/Web/LoadBalancer AwsSolutions::AwsSolutions-ELB2",
        "FargateService/Web/SecurityGroup AwsSolutions::AwsSolutions-EC23",
        "SpotAutoScalingWebApp/Drainer/DeadLetterQueue AwsSolutions::AwsSolutions-SQS3",
        "SpotAutoScalingWebApp/Drainer/HandlerRole AwsSolutions::AwsSolutions-IAM5[Resource::*]",
        "SpotAutoScalingWebApp/Drainer/Notifier/HandlerRole AwsSolutions::AwsSolutions-IAM5[Action::kms:GenerateDataKey*]",
        "SpotAutoScalingWebApp/Rehearsal/Role AwsSolutions::AwsSolutions-IAM5[Resource::*]",
        "SpotAutoScalingWebApp/Rehearsal/Role AwsSolutions::AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ec2:*:<AWS::AccountId>:instance/*]",
        "SpotAutoScalingWebApp/Servers/Group AwsSolutions::AwsSolutions-AS3",
        "SpotAutoScalingWebApp/Servers/Group AwsSolutions::AwsSolutions-EC26",
        "SpotAutoScalingWebApp/Servers/InstanceRole AwsSolutions::AwsSolutions-IAM5[Resource::*]",
        "SpotAutoScalingWebApp/Web/LoadBalancer AwsSolutions::AwsSolutions-ELB2",
        "SpotAutoScalingWebApp/Web/SecurityGroup AwsSolutions::AwsSolutions-EC23",
        "SpotFleetWebApp/Drainer/DeadLetterQueue AwsSolutions::AwsSolutions-SQS3",
        "SpotFleetWebApp/Drainer/HandlerRole AwsSolutions::AwsSolutions-IAM5[Resource::*]",
        "SpotFleetWebApp/Drainer/Notifier/HandlerRole AwsSolutions::AwsSolutions-IAM5[Action::kms:GenerateDataKey*]",
        "SpotFleetWebApp/FleetHandover/HandlerRole AwsSolutions::AwsSolutions-IAM5[Resource::*]",
        "SpotFleetWebApp/FleetHandover/HandlerRole AwsSolutions::AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ec2:<AWS::Region>:<AWS::AccountId>:instance/*]",
        "SpotFleetWebApp/FleetHandover/HandlerRole AwsSolutions::AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ec2:<AWS::Region>:<AWS::AccountId>:spot-fleet-request/*]",
        "SpotFleetWebApp/Rehearsal/Role AwsSolutions::AwsSolutions-IAM5[Resource::*]",
        "SpotFleetWebApp/Rehearsal/Role AwsSolutions::AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ec2:*:<AWS::AccountId>:instance/*]",
        "SpotFleetWebApp/SpotFleet/FleetRole AwsSolutions::AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonEC2SpotFleetTaggingRole]",
        "SpotFleetWebApp/SpotFleet/InstanceRole AwsSolutions::AwsSolutions-IAM5[Resource::*]",
        "SpotFleetWebApp/SpotFleet/ServiceLinkedRoles/HandlerRole AwsSolutions::AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:iam::<AWS::AccountId>:role/aws-service-role/*]",
        "SpotFleetWebApp/Web/LoadBalancer AwsSolutions::AwsSolutions-ELB2",
        "SpotFleetWebApp/Web/SecurityGroup AwsSolutions::AwsSolutions-EC23",
      ]
    `);
  });

  it('deploys twice in one account and Region: no name that must be unique is fixed in either template', () => {
    // Properties that name a resource in an account and Region; a literal one would collide in a second copy.
    const unique = /^(AlarmName|DashboardName|TopicName|QueueName|FunctionName|RoleName|LogGroupName|RuleName|ClusterName|ServiceName|Name|LoadBalancerName|TargetGroupName|ExperimentTemplateName)$/;
    const app = newApp();
    const copies = [
      new SpotFleetWebAppStack(app, 'Blue'),
      new SpotFleetWebAppStack(app, 'Green'),
      new FargateServiceStack(app, 'Red'),
      new FargateServiceStack(app, 'Amber'),
      new SpotAutoScalingWebAppStack(app, 'Cyan'),
      new SpotAutoScalingWebAppStack(app, 'Magenta'),
    ];
    const fixed = copies.map((stack) => {
      const names = new Set<string>();
      for (const [type, resource] of Object.values(Template.fromStack(stack).toJSON().Resources as Record<string, { Type: string; Properties?: Record<string, unknown> }>).map((r) => [r.Type, r] as const)) {
        for (const [key, value] of Object.entries(resource.Properties ?? {})) {
          // A Cloud Map service's name is unique only within its namespace, which is the stack's own.
          if (!unique.test(key) || (type === 'AWS::ServiceDiscovery::Service' && key === 'Name')) continue;
          // Names derived from the stack's name, or generated by CloudFormation and referred to, differ between copies.
          if (typeof value === 'string') names.add(`${type}.${key}=${value}`);
        }
      }
      return [...names];
    });
    for (const names of fixed) expect(names).toEqual([]);
    // Names that must differ do: the namespaces of the two Fargate copies come from their stack names.
    const namespaces = copies.slice(2, 4).map((stack) => JSON.stringify(Template.fromStack(stack).findResources('AWS::ServiceDiscovery::PrivateDnsNamespace')));
    for (const ns of namespaces) expect(ns).toContain('{"Fn::Join":["",[{"Ref":"AWS::StackName"},".internal"]]}');
  });

  it('synthesizes every stack environment-agnostic', () => {
    const { stacks } = shared();
    for (const stack of [stacks.spotAutoScalingWebApp, stacks.spotFleetWebApp, stacks.fargateService]) {
      expect(stack.environment).toBe('aws://unknown-account/unknown-region');
    }
  });

  it('writes plain templates for npm run synth: no bootstrap version parameter or rule, no bootstrap roles, no staged template', () => {
    const { assembly } = shared();
    for (const name of STACK_NAMES) {
      const artifact = assembly.getStackByName(name);
      expect(artifact.assumeRoleArn).toBeUndefined();
      expect(artifact.cloudFormationExecutionRoleArn).toBeUndefined();
      expect(artifact.stackTemplateAssetObjectUrl).toBeUndefined();
      expect(artifact.requiresBootstrapStackVersion).toBeUndefined();
      const template = artifact.template as { Parameters?: object; Rules?: object };
      expect(Object.keys(template.Parameters ?? {})).not.toContain('BootstrapVersion');
      expect(template.Rules).toBeUndefined();
    }
    expect(assembly.artifacts.filter((a) => a.id.endsWith('.assets'))).toEqual([]);
  });

  it('synthesizes for cdk deploy with CDK\'s default synthesizer: the template staged in the bootstrap bucket, the bootstrap version checked, no other asset', () => {
    const app = newApp({ synthesizer: 'default' });
    addSpotwiseStacks(app);
    const assembly = app.synth();
    for (const name of STACK_NAMES) {
      const artifact = assembly.getStackByName(name);
      expect(artifact.assumeRoleArn).toMatch(/cdk-hnb659fds-deploy-role/);
      expect(artifact.stackTemplateAssetObjectUrl).toMatch(/^s3:\/\/cdk-hnb659fds-assets-/);
      expect(artifact.requiresBootstrapStackVersion).toBe(6);
      expect(Object.keys((artifact.template as { Parameters?: object }).Parameters ?? {})).toContain('BootstrapVersion');
      const assets = assembly.tryGetArtifact(`${name}.assets`) as { file: string } | undefined;
      const manifest = JSON.parse(readFileSync(assets?.file ?? '', 'utf8')) as { files: Record<string, { source: { path: string } }> };
      // The stack's own template is its one file asset: the Lambda code is inline.
      expect(Object.values(manifest.files).map((f) => f.source.path)).toEqual([`${name}.template.json`]);
      // And it is the plain template, which cfn-lint checks, with only CDK's bootstrap version check added.
      const plain = shared().assembly.getStackByName(name).template as Record<string, Record<string, unknown>>;
      const deployed = artifact.template as Record<string, Record<string, unknown>>;
      const { BootstrapVersion, ...parameters } = deployed.Parameters ?? {};
      expect(BootstrapVersion).toMatchObject({ Type: 'AWS::SSM::Parameter::Value<String>', Default: '/cdk-bootstrap/hnb659fds/version' });
      expect(parameters).toEqual(plain.Parameters);
      expect(Object.keys(deployed.Rules ?? {})).toEqual(['CheckBootstrapVersion']);
      expect({ ...deployed, Parameters: undefined, Rules: undefined }).toEqual({ ...plain, Parameters: undefined, Rules: undefined });
    }
  });

  it('stays within the 460,800 bytes CloudFormation reads from S3, as synth writes each template', () => {
    const { assembly } = shared();
    for (const name of STACK_NAMES) {
      const bytes = Buffer.byteLength(readFileSync(join(assembly.directory, `${name}.template.json`)));
      expect(bytes, name).toBeLessThanOrEqual(460_800);
      // Inline code as it is read makes the templates larger than the old 51,200-byte goal: a bucket carries them.
      expect(bytes, name).toBeGreaterThan(51_200);
    }
  });

  it('fails at synth, with the plain synthesizer, when a construct adds an asset that plain CloudFormation cannot deploy', () => {
    const { fargateService } = addSpotwiseStacks(newApp());
    expect(
      () =>
        new LambdaFunction(fargateService, 'Zipped', {
          runtime: Runtime.NODEJS_24_X,
          handler: 'index.handler',
          code: Code.fromAsset(__dirname),
        }),
    ).toThrow(/FargateService must deploy as plain CloudFormation, without an asset bucket.*Inline the code/);
  });

  it.each(STACK_NAMES)('%s resolves the Powertools layer only through its one SSM parameter, with no layer account or ARN in the template', (name) => {
    const template = shared().assembly.getStackByName(name).template as {
      Parameters: Record<string, { Type?: string; Default?: unknown }>;
      Resources: Record<string, { Type: string; Properties?: Record<string, unknown> }>;
    };
    const layerParameters = Object.entries(template.Parameters).filter(([, p]) => typeof p.Default === 'string' && p.Default.startsWith('/aws/service/powertools/'));
    expect(layerParameters).toEqual([
      ['PowertoolsLayerParameter', { Type: 'AWS::SSM::Parameter::Value<String>', Default: '/aws/service/powertools/typescript/generic/all/2.35.0', Description: 'SSM parameter: Powertools 2.35.0 layer ARN' }],
    ]);
    // Every Powertools function, and only those, has the layer, and names it by the parameter alone.
    const functions = Object.entries(template.Resources).filter(([, r]) => r.Type === 'AWS::Lambda::Function');
    const usesPowertools = ([, r]: (typeof functions)[number]): boolean =>
      (r.Properties?.Environment as { Variables?: Record<string, unknown> } | undefined)?.Variables?.POWERTOOLS_SERVICE_NAME !== undefined;
    expect(functions.filter(usesPowertools).length).toBeGreaterThan(0);
    for (const fn of functions) expect(fn[1].Properties?.Layers, fn[0]).toEqual(usesPowertools(fn) ? [{ Ref: 'PowertoolsLayerParameter' }] : undefined);
    // The account Powertools publishes from in the commercial partition, and any layer ARN, appear nowhere.
    const text = JSON.stringify(template);
    expect(text).not.toContain('094274105915');
    expect(text).not.toContain(':layer:');
    expect(text).not.toContain('{{resolve:ssm:');
  });

  it('holds these resources in SpotFleetWebApp', () => {
    expect(inventory(shared().stacks.spotFleetWebApp)).toMatchInlineSnapshot(`
      {
        "AWS::ApplicationAutoScaling::ScalableTarget": 1,
        "AWS::ApplicationAutoScaling::ScalingPolicy": 1,
        "AWS::CloudWatch::Alarm": 7,
        "AWS::CloudWatch::Dashboard": 1,
        "AWS::EC2::FlowLog": 1,
        "AWS::EC2::InternetGateway": 1,
        "AWS::EC2::LaunchTemplate": 1,
        "AWS::EC2::Route": 2,
        "AWS::EC2::RouteTable": 2,
        "AWS::EC2::SecurityGroup": 2,
        "AWS::EC2::SecurityGroupEgress": 1,
        "AWS::EC2::SecurityGroupIngress": 2,
        "AWS::EC2::SpotFleet": 1,
        "AWS::EC2::Subnet": 2,
        "AWS::EC2::SubnetRouteTableAssociation": 2,
        "AWS::EC2::VPC": 1,
        "AWS::EC2::VPCGatewayAttachment": 1,
        "AWS::ElasticLoadBalancingV2::Listener": 2,
        "AWS::ElasticLoadBalancingV2::LoadBalancer": 1,
        "AWS::ElasticLoadBalancingV2::TargetGroup": 1,
        "AWS::Events::Rule": 3,
        "AWS::FIS::ExperimentTemplate": 1,
        "AWS::IAM::InstanceProfile": 1,
        "AWS::IAM::Policy": 6,
        "AWS::IAM::Role": 8,
        "AWS::KMS::Key": 1,
        "AWS::Lambda::EventInvokeConfig": 1,
        "AWS::Lambda::EventSourceMapping": 1,
        "AWS::Lambda::Function": 4,
        "AWS::Lambda::Permission": 1,
        "AWS::Logs::LogGroup": 5,
        "AWS::SNS::Subscription": 1,
        "AWS::SNS::Topic": 1,
        "AWS::SNS::TopicPolicy": 1,
        "AWS::SQS::Queue": 3,
        "AWS::SQS::QueuePolicy": 3,
        "Custom::PinnedImage": 1,
        "Custom::ServiceLinkedRoles": 1,
        "Custom::SpotFleetHandover": 1,
      }
    `);
  });

  it('holds these resources in SpotAutoScalingWebApp', () => {
    expect(inventory(shared().stacks.spotAutoScalingWebApp)).toMatchInlineSnapshot(`
      {
        "AWS::AutoScaling::AutoScalingGroup": 1,
        "AWS::AutoScaling::ScalingPolicy": 1,
        "AWS::CloudWatch::Alarm": 7,
        "AWS::CloudWatch::Dashboard": 1,
        "AWS::EC2::FlowLog": 1,
        "AWS::EC2::InternetGateway": 1,
        "AWS::EC2::LaunchTemplate": 1,
        "AWS::EC2::Route": 2,
        "AWS::EC2::RouteTable": 2,
        "AWS::EC2::SecurityGroup": 2,
        "AWS::EC2::SecurityGroupEgress": 1,
        "AWS::EC2::SecurityGroupIngress": 2,
        "AWS::EC2::Subnet": 2,
        "AWS::EC2::SubnetRouteTableAssociation": 2,
        "AWS::EC2::VPC": 1,
        "AWS::EC2::VPCGatewayAttachment": 1,
        "AWS::ElasticLoadBalancingV2::Listener": 2,
        "AWS::ElasticLoadBalancingV2::LoadBalancer": 1,
        "AWS::ElasticLoadBalancingV2::TargetGroup": 1,
        "AWS::Events::Rule": 3,
        "AWS::FIS::ExperimentTemplate": 1,
        "AWS::IAM::InstanceProfile": 1,
        "AWS::IAM::Policy": 5,
        "AWS::IAM::Role": 6,
        "AWS::KMS::Key": 1,
        "AWS::Lambda::EventInvokeConfig": 1,
        "AWS::Lambda::EventSourceMapping": 1,
        "AWS::Lambda::Function": 3,
        "AWS::Lambda::Permission": 1,
        "AWS::Logs::LogGroup": 4,
        "AWS::SNS::Subscription": 1,
        "AWS::SNS::Topic": 1,
        "AWS::SNS::TopicPolicy": 1,
        "AWS::SQS::Queue": 3,
        "AWS::SQS::QueuePolicy": 3,
        "Custom::PinnedImage": 1,
      }
    `);
  });

  it('holds these resources in FargateService', () => {
    expect(inventory(shared().stacks.fargateService)).toMatchInlineSnapshot(`
      {
        "AWS::ApplicationAutoScaling::ScalableTarget": 1,
        "AWS::ApplicationAutoScaling::ScalingPolicy": 2,
        "AWS::CloudWatch::Alarm": 8,
        "AWS::CloudWatch::Dashboard": 1,
        "AWS::EC2::FlowLog": 1,
        "AWS::EC2::InternetGateway": 1,
        "AWS::EC2::Route": 2,
        "AWS::EC2::RouteTable": 2,
        "AWS::EC2::SecurityGroup": 5,
        "AWS::EC2::SecurityGroupEgress": 4,
        "AWS::EC2::SecurityGroupIngress": 5,
        "AWS::EC2::Subnet": 2,
        "AWS::EC2::SubnetRouteTableAssociation": 2,
        "AWS::EC2::VPC": 1,
        "AWS::EC2::VPCEndpoint": 2,
        "AWS::EC2::VPCGatewayAttachment": 1,
        "AWS::ECS::Cluster": 1,
        "AWS::ECS::ClusterCapacityProviderAssociations": 1,
        "AWS::ECS::Service": 1,
        "AWS::ECS::TaskDefinition": 1,
        "AWS::ElasticLoadBalancingV2::Listener": 2,
        "AWS::ElasticLoadBalancingV2::LoadBalancer": 1,
        "AWS::ElasticLoadBalancingV2::TargetGroup": 1,
        "AWS::Events::Rule": 3,
        "AWS::IAM::Policy": 5,
        "AWS::IAM::Role": 6,
        "AWS::KMS::Key": 1,
        "AWS::Lambda::EventInvokeConfig": 2,
        "AWS::Lambda::Function": 3,
        "AWS::Lambda::Permission": 3,
        "AWS::Logs::LogGroup": 5,
        "AWS::Logs::MetricFilter": 1,
        "AWS::SNS::Subscription": 1,
        "AWS::SNS::Topic": 1,
        "AWS::SNS::TopicPolicy": 1,
        "AWS::ServiceDiscovery::PrivateDnsNamespace": 1,
        "AWS::ServiceDiscovery::Service": 1,
        "Custom::ServiceLinkedRoles": 1,
      }
    `);
  });
});
