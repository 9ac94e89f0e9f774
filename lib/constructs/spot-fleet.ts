import { Aws, Fn, Stack, Tags, Validations } from 'aws-cdk-lib';
import type { ISecurityGroup, IVpc, SubnetSelection } from 'aws-cdk-lib/aws-ec2';
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
  SubnetType,
  UserData,
} from 'aws-cdk-lib/aws-ec2';
import { CfnSpotFleet } from 'aws-cdk-lib/aws-ec2';
import type { IApplicationTargetGroup } from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import { ManagedPolicy, Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { Construct } from 'constructs';
import { requireWholeNumber, SettingError } from '../validation';
import { ServiceLinkedRoles, SPOT_SERVICE_LINKED_ROLES } from './service-linked-roles';

/** How the fleet spreads its Spot capacity over the instance pools (types × AZs). */
export enum SpotAllocationStrategy {
  /** Spread across all pools, as the original workshop does: one interruption takes out fewer instances. */
  DIVERSIFIED = 'diversified',
  /** Pools with the most spare capacity, least likely to be interrupted. */
  CAPACITY_OPTIMIZED = 'capacityOptimized',
  /** Spare capacity first, then price. */
  PRICE_CAPACITY_OPTIMIZED = 'priceCapacityOptimized',
  /** Cheapest pools; the most interruptions. */
  LOWEST_PRICE = 'lowestPrice',
}

/** AWS's public pointer to the newest Amazon Linux 2023 AMI on the default kernel. */
export const AL2023_AMI_PARAMETER = '/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64';

/** The key of the tag that marks a fleet's instances; see {@link SpotFleet.instanceTag}. */
export const SPOT_FLEET_TAG_KEY = 'spotwise:fleet';

/** Current-generation x86_64 types of one size, so any mix of them serves the same load. */
export const DEFAULT_SPOT_INSTANCE_TYPES: readonly InstanceType[] = [
  new InstanceType('c6i.large'),
  new InstanceType('m6i.large'),
  new InstanceType('c5.large'),
  new InstanceType('m5.large'),
];

export interface SpotFleetProps {
  readonly vpc: IVpc;
  /** Target group the fleet registers its instances in. */
  readonly targetGroup: IApplicationTargetGroup;
  /** Security group of the load balancer; only it may reach the instances on port 80. */
  readonly loadBalancerSecurityGroup: ISecurityGroup;
  /**
   * Instances the fleet keeps running.
   * @default 2
   */
  readonly targetCapacity?: number;
  /**
   * How capacity is spread over the instance pools.
   * @default SpotAllocationStrategy.DIVERSIFIED
   */
  readonly allocationStrategy?: SpotAllocationStrategy;
  /**
   * Instance types to request, each in every selected subnet. They must be x86_64, like the AMI.
   * @default DEFAULT_SPOT_INSTANCE_TYPES
   */
  readonly instanceTypes?: readonly InstanceType[];
  /**
   * Subnets to spread over.
   * @default - the VPC's public subnets
   */
  readonly vpcSubnets?: SubnetSelection;
  /**
   * Name tag given to the instances.
   * @default - '<stack name>-web'
   */
  readonly instanceName?: string;
}

/**
 * A `maintain` Spot Fleet of web servers behind an ALB target group: a launch template (AL2023 from the
 * public SSM parameter, IMDSv2 only, SSM Session Manager instead of SSH) and the fleet's IAM role.
 */
export class SpotFleet extends Construct {
  public readonly fleet: CfnSpotFleet;
  /** A tag that this fleet's instances carry and no other's: `spotwise:fleet` = `<stack name>/<construct path in the stack>`. */
  public readonly instanceTag: { readonly key: string; readonly value: string };
  public readonly launchTemplate: LaunchTemplate;
  public readonly securityGroup: SecurityGroup;
  public readonly instanceRole: Role;
  public readonly fleetRole: Role;
  /** Makes sure the account's Spot service-linked roles exist before the fleet. */
  public readonly serviceLinkedRoles: ServiceLinkedRoles;

  constructor(scope: Construct, id: string, props: SpotFleetProps) {
    super(scope, id);
    const targetCapacity = props.targetCapacity ?? 2;
    const instanceTypes = props.instanceTypes ?? DEFAULT_SPOT_INSTANCE_TYPES;
    validate(this, targetCapacity, instanceTypes);

    this.securityGroup = new SecurityGroup(this, 'SecurityGroup', {
      vpc: props.vpc,
      description: 'Spot Fleet web servers: HTTP from the ALB only, no SSH',
      // Outbound stays open: the web server is installed from the distribution's repositories at boot.
      allowAllOutbound: true,
    });
    this.securityGroup.addIngressRule(props.loadBalancerSecurityGroup, Port.tcp(80), 'HTTP from the ALB');
    props.loadBalancerSecurityGroup.addEgressRule(this.securityGroup, Port.tcp(80), 'HTTP to the Spot Fleet');

    this.instanceRole = new Role(this, 'InstanceRole', {
      assumedBy: new ServicePrincipal('ec2.amazonaws.com'),
      description: 'Spot Fleet web servers: SSM Session Manager access only',
      managedPolicies: [ManagedPolicy.fromAwsManagedPolicyName('AmazonSSMManagedInstanceCore')],
    });
    Validations.of(this.instanceRole).acknowledge({
      id: 'AwsSolutions::AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/AmazonSSMManagedInstanceCore]',
      reason: 'AWS maintains this policy as the minimum for Session Manager, which replaces SSH here; a copy would go stale.',
    });

    this.launchTemplate = new LaunchTemplate(this, 'LaunchTemplate', {
      // Resolved by CloudFormation from the public SSM parameter at deploy time: no lookup at synth.
      machineImage: MachineImage.fromSsmParameter(AL2023_AMI_PARAMETER, { os: OperatingSystemType.LINUX }),
      requireImdsv2: true,
      httpPutResponseHopLimit: 1,
      securityGroup: this.securityGroup,
      role: this.instanceRole,
      userData: webServerUserData(),
      blockDevices: [
        {
          deviceName: '/dev/xvda',
          volume: BlockDeviceVolume.ebs(8, { volumeType: EbsDeviceVolumeType.GP3, encrypted: true }),
        },
      ],
    });
    // The launch template carries these into its instance and volume tag specifications.
    Tags.of(this.launchTemplate).add('Name', props.instanceName ?? Fn.join('-', [Aws.STACK_NAME, 'web']));
    // The construct's path inside its stack is unique there, and stack names are unique per account and Region.
    const pathInStack = this.node.scopes.slice(this.node.scopes.indexOf(Stack.of(this)) + 1).map((scope) => scope.node.id).join('/');
    this.instanceTag = { key: SPOT_FLEET_TAG_KEY, value: Fn.join('/', [Aws.STACK_NAME, pathInStack]) };
    Tags.of(this.launchTemplate).add(this.instanceTag.key, this.instanceTag.value);

    this.fleetRole = new Role(this, 'FleetRole', {
      assumedBy: new ServicePrincipal('spotfleet.amazonaws.com'),
      description: 'Lets Spot Fleet launch, tag and register the web servers',
      managedPolicies: [ManagedPolicy.fromAwsManagedPolicyName('service-role/AmazonEC2SpotFleetTaggingRole')],
    });
    Validations.of(this.fleetRole).acknowledge({
      id: 'AwsSolutions::AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonEC2SpotFleetTaggingRole]',
      reason: 'The Spot Fleet IAM role AWS documents; AWS keeps it in step with what Spot Fleet calls on the role.',
    });

    this.serviceLinkedRoles = new ServiceLinkedRoles(this, 'ServiceLinkedRoles', { roles: SPOT_SERVICE_LINKED_ROLES });

    const subnets = props.vpc.selectSubnets(props.vpcSubnets ?? { subnetType: SubnetType.PUBLIC }).subnetIds;
    this.fleet = new CfnSpotFleet(this, 'Fleet', {
      spotFleetRequestConfigData: {
        type: 'maintain',
        targetCapacity,
        allocationStrategy: props.allocationStrategy ?? SpotAllocationStrategy.DIVERSIFIED,
        iamFleetRole: this.fleetRole.roleArn,
        replaceUnhealthyInstances: true,
        instanceInterruptionBehavior: 'terminate',
        launchTemplateConfigs: [
          {
            launchTemplateSpecification: {
              launchTemplateId: this.launchTemplate.launchTemplateId,
              // Never `$Latest`: a fleet pinned to a number is replaced, visibly, when the template changes.
              version: this.launchTemplate.latestVersionNumber,
            },
            overrides: instanceTypes.flatMap((type) =>
              subnets.map((subnetId) => ({ instanceType: type.toString(), subnetId })),
            ),
          },
        ],
        loadBalancersConfig: {
          targetGroupsConfig: { targetGroups: [{ arn: props.targetGroup.targetGroupArn }] },
        },
        tagSpecifications: [
          {
            resourceType: 'spot-fleet-request',
            tags: [{ key: 'Name', value: Fn.join('-', [Aws.STACK_NAME, 'fleet']) }],
          },
        ],
      },
    });
    this.fleet.node.addDependency(this.serviceLinkedRoles.resource);
    // The fleet role must exist with its policy before the request, or the fleet cannot launch or register;
    // and, as CDK does for Auto Scaling groups, instances register only once the group serves a listener.
    this.fleet.node.addDependency(this.fleetRole, props.targetGroup.loadBalancerAttached);
  }
}

/** `<family>.<size>`, the sizes EC2 names: `large`, `2xlarge`, `metal`, `metal-24xl`, … */
const INSTANCE_TYPE = /^[a-z][a-z0-9-]*\.(?:nano|micro|small|medium|large|xlarge|[1-9][0-9]*xlarge|metal(?:-[1-9][0-9]*xl)?)$/;

function validate(scope: Construct, targetCapacity: number, instanceTypes: readonly InstanceType[]): void {
  // At most ELB's default quota of targets per target group, which every instance of the fleet joins.
  requireWholeNumber(scope, 'targetCapacity', targetCapacity, 1, 1000, 'Delete the stack to stop all instances.');
  if (instanceTypes.length === 0) {
    throw new SettingError(scope, 'instanceTypes is empty; give the fleet at least one instance type, and preferably three or more so that Spot can diversify.');
  }
  const names = instanceTypes.map((t) => t.toString());
  const malformed = names.filter((name) => !INSTANCE_TYPE.test(name));
  if (malformed.length > 0) {
    throw new SettingError(scope, `instanceTypes ${malformed.join(', ')} are not EC2 instance types of the form <family>.<size>, such as m6i.large.`);
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
function webServerUserData(): UserData {
  const userData = UserData.forLinux();
  userData.addCommands(
    'set -euo pipefail',
    'dnf install -y nginx',
    'TOKEN=$(curl -sf -X PUT http://169.254.169.254/latest/api/token -H "X-aws-ec2-metadata-token-ttl-seconds: 300")',
    'md() { curl -sf -H "X-aws-ec2-metadata-token: $TOKEN" "http://169.254.169.254/latest/meta-data/$1"; }',
    'echo "hello from $(md instance-id) in $(md placement/availability-zone)" > /usr/share/nginx/html/index.html',
    'systemctl enable --now nginx',
  );
  return userData;
}
