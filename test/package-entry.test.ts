import { execFileSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { SecurityGroup, Vpc } from 'aws-cdk-lib/aws-ec2';
import { ApplicationTargetGroup } from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import { PrivateDnsNamespace } from 'aws-cdk-lib/aws-servicediscovery';
import { describe, expect, it } from 'vitest';
import * as entry from '../lib';
import { newApp } from './support/app';

const TG_ARN = 'arn:aws:elasticloadbalancing:eu-west-1:111122223333:targetgroup/theirs/0123456789abcdef';

/** Another team's app: its own VPC, target group and Cloud Map service, and our two constructs. */
function consumerStack(lib: Pick<typeof entry, 'SpotInterruptionDrainer' | 'CloudMapProber'>): Template {
  const stack = new Stack(newApp(), 'Consumer');
  const vpc = new Vpc(stack, 'Vpc', { maxAzs: 2, natGateways: 0, restrictDefaultSecurityGroup: false });
  new lib.SpotInterruptionDrainer(stack, 'Drainer', {
    targetGroups: [ApplicationTargetGroup.fromTargetGroupAttributes(stack, 'Tg', { targetGroupArn: TG_ARN })],
  });
  const namespace = new PrivateDnsNamespace(stack, 'Ns', { vpc, name: 'theirs.internal' });
  new lib.CloudMapProber(stack, 'Prober', {
    service: namespace.createService('Api', { name: 'api' }),
    vpc,
    targetSecurityGroup: new SecurityGroup(stack, 'Api', { vpc }),
    port: 8080,
  });
  return Template.fromStack(stack);
}

function assertBothFunctions(template: Template): void {
  template.hasResourceProperties('AWS::Lambda::Function', {
    Environment: { Variables: Match.objectLike({ TARGET_GROUP_ARNS: TG_ARN }) },
    Code: { ZipFile: Match.stringLikeRegexp('DeregisterTargets') },
  });
  template.hasResourceProperties('AWS::Lambda::Function', {
    Environment: {
      Variables: Match.objectLike({ NAMESPACE_NAME: 'theirs.internal', SERVICE_NAME: { 'Fn::GetAtt': [Match.stringLikeRegexp('^NsApi'), 'Name'] } }),
    },
    Code: { ZipFile: Match.stringLikeRegexp('DiscoverInstances') },
  });
  template.hasResourceProperties('AWS::EC2::SecurityGroupIngress', { FromPort: 8080, ToPort: 8080 });
}

describe('the package entry', () => {
  it('exports the reusable constructs and both stacks', () => {
    for (const name of ['SpotInterruptionDrainer', 'CloudMapProber', 'InlineNodeFunction', 'WebLoadBalancer', 'SpotFleet', 'SpotFargateService', 'PublicVpc', 'NotificationTopic', 'SpotFleetWebAppStack', 'FargateServiceStack']) {
      expect(typeof (entry as Record<string, unknown>)[name], name).toBe('function');
    }
  });

  it('lets another CDK app compose the drainer and the prober', () => {
    assertBothFunctions(consumerStack(entry));
  });

  it('works compiled, as another app installs it: handlers bundle from the emitted JavaScript', () => {
    const root = join(__dirname, '..');
    const outDir = join(root, '.test-build', 'dist-lib');
    rmSync(outDir, { recursive: true, force: true });
    execFileSync(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(root, 'tsconfig.build.json'), '--outDir', outDir], {
      cwd: root,
      stdio: 'pipe',
    });
    const compiled = createRequire(__filename)(join(outDir, 'index.js')) as typeof entry;
    assertBothFunctions(consumerStack(compiled));
  });
});
