import type { IAspect, ICfnConditionExpression } from 'aws-cdk-lib/core';
import { AspectPriority, Aspects, Aws, CfnCondition, CfnResource, Fn, Token, Validations } from 'aws-cdk-lib/core';
import { CfnExperimentTemplate } from 'aws-cdk-lib/aws-fis';
import { PolicyDocument, PolicyStatement, Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import type { IConstruct } from 'constructs';
import { Construct } from 'constructs';

/**
 * Regions whose CloudFormation knows `AWS::FIS::ExperimentTemplate`, as cfn-lint 1.51.0 records it: the Regions
 * whose `cfnlint/data/schemas/providers/<region>.py` lists the type (the data installed here is dated
 * 2026-05-20; read on 2026-11-29). Outside these, a template that creates the type fails to deploy at all,
 * which is why every resource of this construct is conditional on them.
 *
 * Left out in that data: ap-east-2, ap-south-2, ap-southeast-3 to -7, ca-west-1, cn-north-1, cn-northwest-1,
 * il-central-1 and mx-central-1. Regenerate the list when cfn-lint is upgraded; the construct's test compares
 * it with the installed cfn-lint's data and fails on any difference.
 *
 * The list says where the resource type exists, not where the Spot action runs: see
 * {@link SPOT_INTERRUPTION_UNSUPPORTED_REGIONS}.
 */
export const FIS_EXPERIMENT_TEMPLATE_REGIONS: readonly string[] = [
  'af-south-1',
  'ap-east-1',
  'ap-northeast-1',
  'ap-northeast-2',
  'ap-northeast-3',
  'ap-south-1',
  'ap-southeast-1',
  'ap-southeast-2',
  'ca-central-1',
  'eu-central-1',
  'eu-central-2',
  'eu-isoe-west-1',
  'eu-north-1',
  'eu-south-1',
  'eu-south-2',
  'eu-west-1',
  'eu-west-2',
  'eu-west-3',
  'eusc-de-east-1',
  'me-central-1',
  'me-south-1',
  'sa-east-1',
  'us-east-1',
  'us-east-2',
  'us-gov-east-1',
  'us-gov-west-1',
  'us-iso-east-1',
  'us-iso-west-1',
  'us-isob-east-1',
  'us-isob-west-1',
  'us-isof-east-1',
  'us-isof-south-1',
  'us-west-1',
  'us-west-2',
];

/**
 * Regions where the EC2 User Guide ("Initiate a Spot Instance interruption") says FIS cannot send Spot
 * interruptions, though their CloudFormation knows the resource type. Left out of the condition: whether
 * FIS there would refuse the template at create time, failing the deploy, is not documented.
 */
export const SPOT_INTERRUPTION_UNSUPPORTED_REGIONS: readonly string[] = ['ap-northeast-3', 'me-central-1'];

/**
 * Where the stack creates the rehearsal: the commercial and GovCloud Regions among those above. The isolated
 * partitions (`us-iso*`, `eu-isoe`, `eusc`) are left out because the stacks do not claim them: Powertools
 * publishes no layer there.
 */
export const SPOT_INTERRUPTION_REHEARSAL_REGIONS: readonly string[] = FIS_EXPERIMENT_TEMPLATE_REGIONS.filter(
  (region) => !SPOT_INTERRUPTION_UNSUPPORTED_REGIONS.includes(region) && !/^(us-iso|eu-isoe|eusc)/.test(region),
);

/** The FIS action that sends the real two-minute Spot interruption notice, then interrupts the instance. */
export const SPOT_INTERRUPTION_ACTION_ID = 'aws:ec2:send-spot-instance-interruptions';

export interface SpotInterruptionRehearsalProps {
  /**
   * Key of the tag that marks the fleet's instances, such as `Name`. A literal: it becomes a key in the FIS
   * target and in the role's IAM condition, and CloudFormation resolves no intrinsic function in a key.
   */
  readonly tagKey: string;
  /** Value of that tag on the fleet's instances. May be a token, such as a `Fn::Join` with the stack name. */
  readonly tagValue: string;
}

/**
 * An AWS FIS experiment template that rehearses a Spot interruption for real: it sends the two-minute
 * interruption notice to one running Spot Instance carrying `tagKey=tagValue`, and EC2 then interrupts it
 * (terminates, stops or hibernates it, as its interruption behavior says). Deploying the template does
 * nothing by itself; start a rehearsal with
 * `aws fis start-experiment --experiment-template-id <id>`, where `<id>` is `experimentTemplate.ref`.
 *
 * It has no stop condition: there is nothing to stop once the notice is sent. The experiment fails if no
 * running instance carries the tag.
 *
 * By default FIS lets this action target at most 5 Spot Instances ("Target SpotInstances for
 * aws:ec2:send-spot-instance-interruptions", quota code L-F3F4B54A, adjustable, in Service Quotas listings);
 * this template selects one, well inside it.
 *
 * The stack is meant to deploy in every Region, so every resource here carries {@link condition}, which is
 * true only in {@link SPOT_INTERRUPTION_REHEARSAL_REGIONS}. Put anything outside the construct that refers to it,
 * such as a stack output of the template id, under the same condition.
 */
export class SpotInterruptionRehearsal extends Construct {
  public readonly experimentTemplate: CfnExperimentTemplate;
  /** The role FIS assumes to run the experiment. */
  public readonly role: Role;
  /** True in {@link SPOT_INTERRUPTION_REHEARSAL_REGIONS}: FIS has the resource type and can interrupt Spot Instances there. */
  public readonly condition: CfnCondition;

  constructor(scope: Construct, id: string, props: SpotInterruptionRehearsalProps) {
    super(scope, id);
    this.validate(props);
    const { tagKey, tagValue } = props;

    this.condition = new CfnCondition(this, 'FisAvailable', {
      expression: anyOf(SPOT_INTERRUPTION_REHEARSAL_REGIONS.map((region) => Fn.conditionEquals(Aws.REGION, region))),
    });
    // Every CloudFormation resource under this construct, including a DefaultPolicy should a caller later
    // add to the role, must share the condition: a resource that refers to a missing one fails the deploy.
    Aspects.of(this).add(new ApplyCondition(this.condition), { priority: AspectPriority.MUTATING });

    this.role = new Role(this, 'Role', {
      // FIS's user guide recommends both keys against the confused deputy: only experiments of this
      // account, in this Region, may assume the role.
      // https://docs.aws.amazon.com/fis/latest/userguide/getting-started-iam-service-role.html
      assumedBy: new ServicePrincipal('fis.amazonaws.com').withConditions({
        StringEquals: { 'aws:SourceAccount': Aws.ACCOUNT_ID },
        ArnLike: { 'aws:SourceArn': `arn:${Aws.PARTITION}:fis:${Aws.REGION}:${Aws.ACCOUNT_ID}:experiment/*` },
      }),
      // Inline, so that the permissions exist as soon as the role does: the experiment template depends on the
      // role it names, but would not depend on a separate policy resource.
      inlinePolicies: {
        SpotInterruption: new PolicyDocument({
          statements: [
            // The FIS actions reference lists ec2:SendSpotInstanceInterruptions and ec2:DescribeInstances for
            // aws:ec2:send-spot-instance-interruptions, and AWSFaultInjectionSimulatorEC2Access grants both:
            // https://docs.aws.amazon.com/fis/latest/userguide/fis-actions-reference.html#send-spot-instance-interruptions
            // https://docs.aws.amazon.com/aws-managed-policy/latest/reference/AWSFaultInjectionSimulatorEC2Access.html
            // Unlike the managed policy, the interruption is allowed only on instances that carry the tag.
            new PolicyStatement({
              actions: ['ec2:SendSpotInstanceInterruptions'],
              resources: [`arn:${Aws.PARTITION}:ec2:*:${Aws.ACCOUNT_ID}:instance/*`],
              conditions: { StringEquals: { [`aws:ResourceTag/${tagKey}`]: tagValue } },
            }),
            // DescribeInstances has no resource-level permissions: the managed policy, too, grants it on *.
            new PolicyStatement({ actions: ['ec2:DescribeInstances'], resources: ['*'] }),
          ],
        }),
      },
    });
    Validations.of(this.role).acknowledge({
      id: 'AwsSolutions::AwsSolutions-IAM5[Resource::*]',
      reason:
        'Only ec2:DescribeInstances, a read, is on *: IAM has no resource-level permission for it, and FIS needs it ' +
        'to resolve the experiment targets. The interruption itself is allowed only on instances carrying the tag.',
    });
    Validations.of(this.role).acknowledge({
      id: 'AwsSolutions::AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ec2:*:<AWS::AccountId>:instance/*]',
      reason:
        'FIS picks the instance at run time, so its ID is unknown here; an aws:ResourceTag condition limits ' +
        'ec2:SendSpotInstanceInterruptions to the instances that carry the fleet tag.',
    });

    this.experimentTemplate = new CfnExperimentTemplate(this, 'Resource', {
      description: `Interrupt one running instance tagged ${tagKey} in ${Aws.STACK_NAME}`,
      roleArn: this.role.roleArn,
      targets: {
        SpotInstances: {
          resourceType: 'aws:ec2:spot-instance',
          resourceTags: { [tagKey]: tagValue },
          filters: [{ path: 'State.Name', values: ['running'] }],
          selectionMode: 'COUNT(1)',
        },
      },
      actions: {
        InterruptOne: {
          actionId: SPOT_INTERRUPTION_ACTION_ID,
          description: 'Two-minute Spot interruption notice, then the interruption',
          // The shortest FIS allows (2 to 15 minutes): the notice comes at once, as it does from EC2.
          parameters: { durationBeforeInterruption: 'PT2M' },
          targets: { SpotInstances: 'SpotInstances' },
        },
      },
      stopConditions: [{ source: 'none' }],
      // A rehearsal that finds no running instance must say so, not pass having interrupted nothing.
      experimentOptions: { emptyTargetResolutionMode: 'fail' },
      tags: { Name: `${Aws.STACK_NAME}-spot-interruption-rehearsal` },
    });
  }

  private validate(props: SpotInterruptionRehearsalProps): void {
    const { tagKey, tagValue } = props;
    if (Token.isUnresolved(tagKey)) {
      throw new Error(
        `${this.node.path}: tagKey must be a literal string, not a token. It becomes a key in the FIS target's ` +
          'resourceTags and in the role\'s IAM condition, where CloudFormation resolves no intrinsic function.',
      );
    }
    if (tagKey.trim() === '') {
      throw new Error(`${this.node.path}: tagKey is empty; give the key of the tag that marks the fleet's instances, such as 'Name'.`);
    }
    // AWS reserves the prefix in any case for its own tags: users cannot set such a tag on their instances.
    if (tagKey.toLowerCase().startsWith('aws:')) {
      throw new Error(
        `${this.node.path}: tagKey '${tagKey}' starts with 'aws:', which AWS reserves for its own tags; ` +
          'tag the fleet\'s instances with a key of your own and select on that.',
      );
    }
    if (!Token.isUnresolved(tagValue) && tagValue.trim() === '') {
      throw new Error(`${this.node.path}: tagValue is empty; give the value of '${tagKey}' that marks the fleet's instances.`);
    }
  }
}

/** `Fn::Or` takes 2 to 10 conditions, so a longer list becomes an `Fn::Or` of `Fn::Or`s. */
function anyOf(conditions: ICfnConditionExpression[]): ICfnConditionExpression {
  if (conditions.length <= 10) return Fn.conditionOr(...conditions);
  const groups: ICfnConditionExpression[] = [];
  for (let i = 0; i < conditions.length; i += 10) groups.push(anyOf(conditions.slice(i, i + 10)));
  return anyOf(groups);
}

class ApplyCondition implements IAspect {
  constructor(private readonly condition: CfnCondition) {}

  public visit(node: IConstruct): void {
    if (CfnResource.isCfnResource(node) && node.cfnOptions.condition === undefined) {
      node.cfnOptions.condition = this.condition;
    }
  }
}
