import { Aws, Fn, Stack, Validations } from 'aws-cdk-lib/core';
import type { ISecurityGroup, IVpc } from 'aws-cdk-lib/aws-ec2';
import type { CfnLaunchTemplate } from 'aws-cdk-lib/aws-ec2';
import {
  BlockDeviceVolume,
  EbsDeviceVolumeType,
  InstanceArchitecture,
  InstanceType,
  LaunchTemplate,
  MachineImage,
  OperatingSystemType,
  Port,
  SecurityGroup,
  UserData,
} from 'aws-cdk-lib/aws-ec2';
import { PolicyStatement, Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import type { Construct } from 'constructs';
import { instanceTypeProblem, SettingError } from '../validation';

/** AWS's public pointer to the newest Amazon Linux 2023 AMI on the default kernel. */
export const AL2023_AMI_PARAMETER = '/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64';

/**
 * The key of the tag that marks one fleet's or group's instances, `<stack name>/<construct path in the stack>`:
 * the rehearsal selects on it.
 */
export const SPOT_FLEET_TAG_KEY = 'spotwise:fleet';

/** Current-generation x86_64 types of one size, so any mix of them serves the same load. */
export const DEFAULT_SPOT_INSTANCE_TYPES: readonly InstanceType[] = [
  new InstanceType('c6i.large'),
  new InstanceType('m6i.large'),
  new InstanceType('c5.large'),
  new InstanceType('m5.large'),
];

export interface WebServerLaunchTemplateOptions {
  readonly vpc: IVpc;
  /** Security group of the load balancer; only it may reach the instances on port 80. */
  readonly loadBalancerSecurityGroup: ISecurityGroup;
  /**
   * What launches the servers, as the descriptions of their security group, role and the load balancer's
   * egress rule name it: `Spot Fleet`, `Auto Scaling group`. Part of those descriptions, so changing it
   * replaces the security group.
   */
  readonly launchedBy: string;
  /**
   * AMI the instances launch from: x86_64 Linux with `dnf`.
   * @default - the newest Amazon Linux 2023 AMI from AWS's public SSM parameter, resolved on every deploy
   */
  readonly imageId?: string;
  /**
   * Name tag given to the instances.
   * @default - '<stack name>-web'
   */
  readonly instanceName?: string;
  /**
   * The user data.
   * @default webServerUserData()
   */
  readonly userData?: UserData;
}

/** What {@link webServerLaunchTemplate} creates. */
export interface WebServerLaunchTemplate {
  readonly launchTemplate: LaunchTemplate;
  readonly securityGroup: SecurityGroup;
  readonly instanceRole: Role;
  /** A tag that these instances carry and no others: `spotwise:fleet` = `<stack name>/<path of scope in the stack>`. */
  readonly instanceTag: { readonly key: string; readonly value: string };
}

/**
 * The web servers' launch template, shared by SpotFleet and SpotAutoScalingGroup: Amazon Linux 2023 (or
 * `imageId`), IMDSv2 only with one hop, an encrypted gp3 root volume, nginx from `webServerUserData`, SSM
 * Session Manager instead of SSH, HTTP from the load balancer only, and instance tags alone. Created directly
 * in `scope` as `SecurityGroup`, `InstanceRole` and `LaunchTemplate`, not in a construct of its own, so that
 * the logical ids SpotFleet had before it was shared stay as they were.
 */
export function webServerLaunchTemplate(scope: Construct, options: WebServerLaunchTemplateOptions): WebServerLaunchTemplate {
  const securityGroup = new SecurityGroup(scope, 'SecurityGroup', {
    vpc: options.vpc,
    description: `${options.launchedBy} web servers: HTTP from the ALB only, no SSH`,
    // Outbound stays open: the web server is installed from the distribution's repositories at boot.
    allowAllOutbound: true,
  });
  securityGroup.addIngressRule(options.loadBalancerSecurityGroup, Port.tcp(80), 'HTTP from the ALB');
  options.loadBalancerSecurityGroup.addEgressRule(securityGroup, Port.tcp(80), `HTTP to the ${options.launchedBy}`);

  const instanceRole = new Role(scope, 'InstanceRole', {
    assumedBy: new ServicePrincipal('ec2.amazonaws.com'),
    description: `${options.launchedBy} web servers: SSM Session Manager access only`,
  });
  // Not AmazonSSMManagedInstanceCore: it also grants ssm:GetParameter(s) on every parameter in the Region,
  // which an internet-facing web server has no use for. These are the actions AWS's Session Manager guide
  // lists for a custom instance profile without S3 or KMS session logging.
  instanceRole.addToPrincipalPolicy(
    new PolicyStatement({
      actions: [
        'ssm:UpdateInstanceInformation',
        'ssmmessages:CreateControlChannel',
        'ssmmessages:CreateDataChannel',
        'ssmmessages:OpenControlChannel',
        'ssmmessages:OpenDataChannel',
      ],
      resources: ['*'],
    }),
  );

  const launchTemplate = new LaunchTemplate(scope, 'LaunchTemplate', {
    // Resolved by CloudFormation at deploy time: no lookup at synth.
    machineImage:
      options.imageId === undefined
        ? MachineImage.fromSsmParameter(AL2023_AMI_PARAMETER, { os: OperatingSystemType.LINUX })
        : { getImage: () => ({ imageId: options.imageId as string, osType: OperatingSystemType.LINUX, userData: UserData.forLinux() }) },
    requireImdsv2: true,
    httpPutResponseHopLimit: 1,
    securityGroup,
    role: instanceRole,
    userData: options.userData ?? webServerUserData(),
    blockDevices: [
      {
        deviceName: '/dev/xvda',
        volume: BlockDeviceVolume.ebs(8, { volumeType: EbsDeviceVolumeType.GP3, encrypted: true }),
      },
    ],
  });
  // The scope's path inside its stack is unique there, and stack names are unique per account and Region.
  const pathInStack = scope.node.scopes.slice(scope.node.scopes.indexOf(Stack.of(scope)) + 1).map((s) => s.node.id).join('/');
  const instanceTag = { key: SPOT_FLEET_TAG_KEY, value: Fn.join('/', [Aws.STACK_NAME, pathInStack]) };
  // Instances only: tags on their volumes and on the launch template itself would cost template bytes and
  // serve nothing here. Set directly, since the Tags aspect writes all three.
  const cfnLaunchTemplate = launchTemplate.node.defaultChild as CfnLaunchTemplate;
  cfnLaunchTemplate.addPropertyDeletionOverride('TagSpecifications');
  cfnLaunchTemplate.addPropertyOverride('LaunchTemplateData.TagSpecifications', [
    {
      ResourceType: 'instance',
      Tags: [
        { Key: 'Name', Value: options.instanceName ?? Fn.join('-', [Aws.STACK_NAME, 'web']) },
        { Key: instanceTag.key, Value: instanceTag.value },
      ],
    },
  ]);
  return { launchTemplate, securityGroup, instanceRole, instanceTag };
}

/**
 * Acknowledges cdk-nag's IAM5 on `role` for the Session Manager statement, plus `also`: what else the role
 * is granted on `*`, and why.
 */
export function acknowledgeSessionManager(role: Role, also = ''): void {
  Validations.of(role).acknowledge({
    id: 'AwsSolutions::AwsSolutions-IAM5[Resource::*]',
    reason:
      "Session Manager's documented minimum for the SSM Agent: the ssmmessages actions name no resource, and " +
      `the instance registering itself has no ARN before launch. No parameter, document or S3 access.${also}`,
  });
}

/**
 * Throws unless `instanceTypes` is a list of distinct x86_64 EC2 instance types, at least one, that the
 * launch template's Amazon Linux 2023 AMI runs on.
 */
export function validateInstanceTypes(scope: Construct, instanceTypes: readonly InstanceType[], launchedBy: string): void {
  if (instanceTypes.length === 0) {
    throw new SettingError(scope, `instanceTypes is empty; give the ${launchedBy} at least one instance type, and preferably three or more so that Spot can diversify.`);
  }
  const names = instanceTypes.map((t) => t.toString());
  const problems = names.map(instanceTypeProblem).filter((problem) => problem !== undefined);
  if (problems.length > 0) {
    throw new SettingError(scope, `instanceTypes: ${problems.join('; ')}. List types EC2 offers, such as m6i.large.`);
  }
  const duplicate = names.find((name, i) => names.indexOf(name) !== i);
  if (duplicate !== undefined) {
    throw new SettingError(scope, `instanceTypes lists ${duplicate} twice; list each type once.`);
  }
  const arm = instanceTypes.filter((t) => t.architecture !== InstanceArchitecture.X86_64);
  if (arm.length > 0) {
    throw new SettingError(
      scope,
      `instanceTypes ${arm.join(', ')} are not x86_64, but the launch template's Amazon Linux 2023 AMI is; use x86_64 types.`,
    );
  }
}

/** nginx answering `hello from <instance-id> in <az>`, read from IMDSv2, so a user can watch the ALB spread load. */
export function webServerUserData(): UserData {
  const userData = UserData.forLinux();
  userData.addCommands(...WEB_SERVER_COMMANDS);
  return userData;
}

/** The shell commands of {@link webServerUserData}, for user data that runs more after them. */
export const WEB_SERVER_COMMANDS: readonly string[] = [
  'set -euo pipefail',
  'dnf install -y nginx',
  'TOKEN=$(curl -sf -X PUT http://169.254.169.254/latest/api/token -H "X-aws-ec2-metadata-token-ttl-seconds: 300")',
  'md() { curl -sf -H "X-aws-ec2-metadata-token: $TOKEN" "http://169.254.169.254/latest/meta-data/$1"; }',
  'echo "hello from $(md instance-id) in $(md placement/availability-zone)" > /usr/share/nginx/html/index.html',
  'systemctl enable --now nginx',
];
