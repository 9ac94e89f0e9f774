import type { StackProps } from 'aws-cdk-lib';
import { CfnOutput, CfnParameter, Duration, Stack } from 'aws-cdk-lib';
import type { InstanceType } from 'aws-cdk-lib/aws-ec2';
import { TargetType } from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import type { Construct } from 'constructs';
import { NotificationTopic } from './constructs/notification-topic';
import { PublicVpc } from './constructs/public-vpc';
import type { SpotAllocationStrategy } from './constructs/spot-fleet';
import { SpotFleet } from './constructs/spot-fleet';
import type { SpotInterruptionDrainerProps } from './constructs/spot-interruption-drainer';
import { SpotInterruptionDrainer } from './constructs/spot-interruption-drainer';
import { SpotInterruptionRehearsal } from './constructs/spot-interruption-rehearsal';
import { WebLoadBalancer } from './constructs/web-load-balancer';
import { requireWholeNumber } from './validation';

/** ELB's default quota of targets per target group: more instances could not all serve. */
const MAX_TARGET_CAPACITY = 1000;

export interface SpotFleetWebAppStackProps extends StackProps {
  /**
   * How long the ALB drains an interrupted instance; it must finish inside the two-minute notice.
   * @default Duration.seconds(90)
   */
  readonly deregistrationDelay?: Duration;
  /**
   * Instances the Spot Fleet keeps running: the default of the `TargetCapacity` parameter, which a deploy
   * may override.
   * @default 2
   */
  readonly targetCapacity?: number;
  /**
   * Settings of the interruption drainer, such as its batch size and timeout.
   * @default - the drainer's defaults
   */
  readonly drainer?: Omit<SpotInterruptionDrainerProps, 'targetGroups' | 'notificationTopic'>;
  /**
   * How the fleet spreads capacity over instance pools.
   * @default SpotAllocationStrategy.DIVERSIFIED
   */
  readonly allocationStrategy?: SpotAllocationStrategy;
  /**
   * Instance types the fleet may use (x86_64).
   * @default DEFAULT_SPOT_INSTANCE_TYPES
   */
  readonly instanceTypes?: readonly InstanceType[];
}

/** A web app on an EC2 Spot Fleet behind an ALB, drained and announced on every Spot interruption warning. */
export class SpotFleetWebAppStack extends Stack {
  public readonly loadBalancer: WebLoadBalancer;
  public readonly spotFleet: SpotFleet;
  public readonly drainer: SpotInterruptionDrainer;
  public readonly notifications: NotificationTopic;
  /** An AWS FIS experiment template that interrupts one running instance of the fleet, for real. */
  public readonly rehearsal: SpotInterruptionRehearsal;

  constructor(scope: Construct, id: string, props: SpotFleetWebAppStackProps = {}) {
    super(scope, id, props);
    const defaultCapacity = props.targetCapacity ?? 2;
    requireWholeNumber(this, 'targetCapacity', defaultCapacity, 1, MAX_TARGET_CAPACITY);

    const email = new CfnParameter(this, 'NotificationEmail', {
      type: 'String',
      default: '',
      description: 'Optional: an email address to tell about Spot interruptions. Leave empty for none.',
      allowedPattern: '^$|^[^\\s@]+@[^\\s@]+\\.[^\\s@]+$',
      constraintDescription: 'must be empty or an email address',
    });

    // A per-deployment value, so that people who deploy the plain template can change it without a synth.
    const capacity = new CfnParameter(this, 'TargetCapacity', {
      type: 'Number',
      default: defaultCapacity,
      minValue: 1,
      // ELB's default quota of targets per target group.
      maxValue: MAX_TARGET_CAPACITY,
      description: 'Instances the Spot Fleet keeps running.',
    });

    const { vpc } = new PublicVpc(this, 'Network');
    this.loadBalancer = new WebLoadBalancer(this, 'Web', {
      vpc,
      targetType: TargetType.INSTANCE,
      deregistrationDelay: props.deregistrationDelay ?? Duration.seconds(90),
    });
    this.spotFleet = new SpotFleet(this, 'SpotFleet', {
      vpc,
      targetGroup: this.loadBalancer.targetGroup,
      loadBalancerSecurityGroup: this.loadBalancer.securityGroup,
      targetCapacity: capacity.valueAsNumber,
      allocationStrategy: props.allocationStrategy,
      instanceTypes: props.instanceTypes,
    });
    this.notifications = new NotificationTopic(this, 'Notifications', {
      email: email.valueAsString,
      displayName: 'Spotwise interruptions',
    });
    this.drainer = new SpotInterruptionDrainer(this, 'Drainer', {
      ...props.drainer,
      targetGroups: [this.loadBalancer.targetGroup],
      notificationTopic: this.notifications.topic,
    });

    new CfnOutput(this, 'SiteUrl', { value: this.loadBalancer.url, description: 'The web app, behind the ALB' });
    new CfnOutput(this, 'TargetGroupArn', { value: this.loadBalancer.targetGroup.targetGroupArn });
    new CfnOutput(this, 'SpotFleetRequestId', { value: this.spotFleet.fleet.ref });
    new CfnOutput(this, 'TopicArn', { value: this.notifications.topic.topicArn });
    new CfnOutput(this, 'DrainerFunctionName', { value: this.drainer.function.functionName });
    this.rehearsal = new SpotInterruptionRehearsal(this, 'Rehearsal', {
      tagKey: this.spotFleet.instanceTag.key,
      tagValue: this.spotFleet.instanceTag.value,
    });
    new CfnOutput(this, 'RehearsalTemplateId', {
      value: this.rehearsal.experimentTemplate.ref,
      description: 'aws fis start-experiment --experiment-template-id <this>: a real Spot interruption for one running instance',
      condition: this.rehearsal.condition,
    });
  }
}
