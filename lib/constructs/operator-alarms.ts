import { Duration } from 'aws-cdk-lib/core';
import type { IMetric } from 'aws-cdk-lib/aws-cloudwatch';
import { Alarm, ComparisonOperator, MathExpression, Metric, TreatMissingData } from 'aws-cdk-lib/aws-cloudwatch';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import { Construct } from 'constructs';
import { SettingError } from '../validation';
import { NotificationTopic } from './notification-topic';
import { ProberMetric } from '../functions/cloud-map-prober/contract';
import type { CloudMapProber } from './cloud-map-prober';
import type { SpotAutoScalingGroup } from './spot-auto-scaling-group';
import type { SpotFargateService } from './spot-fargate-service';
import type { SpotFleet } from './spot-fleet';
import type { SpotInterruptionDrainer } from './spot-interruption-drainer';
import { DrainerMetric } from '../functions/spot-interruption-drainer/contract';
import type { WebLoadBalancer } from './web-load-balancer';

export interface OperatorAlarmsProps {
  /** Where every alarm tells people, when it goes off and when it comes back. */
  readonly notifications: NotificationTopic;
}

/** What an alarm watches and when it goes off. Periods are one minute unless the metric says otherwise. */
export interface OperatorAlarmOptions {
  readonly metric: IMetric;
  /** What it means and what to do: the first lines of every message. */
  readonly description: string;
  readonly threshold: number;
  /**
   * How the value compares with the threshold.
   * @default ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD
   */
  readonly comparisonOperator?: ComparisonOperator;
  /**
   * Periods looked at.
   * @default 1
   */
  readonly evaluationPeriods?: number;
  /**
   * Of those, how many must breach.
   * @default - all of them
   */
  readonly datapointsToAlarm?: number;
  /**
   * A period with no data: a metric published only when something happens is fine when missing; one
   * published every minute is not.
   * @default TreatMissingData.NOT_BREACHING
   */
  readonly treatMissingData?: TreatMissingData;
}

/** Capacity that should be there (`expected`) against what is (`actual`). */
export interface ShortfallOptions {
  readonly expected: Metric;
  readonly actual: Metric;
  /** Periods in a row the shortfall must last. */
  readonly periods: number;
  /**
   * How often both metrics are published.
   * @default Duration.minutes(1)
   */
  readonly period?: Duration;
  /** What it means and what to do. */
  readonly description: string;
  /**
   * A period in which either metric is missing. The default suits metrics published every period, where a gap
   * means something is wrong.
   * @default TreatMissingData.BREACHING
   */
  readonly treatMissingData?: TreatMissingData;
}

const MINUTE = Duration.minutes(1);

/**
 * The alarms that reach people, each named `<stack name>-<purpose>` and wired to the stack's notification
 * topic both ways. The `add*` methods hold the thresholds the README explains; {@link add} takes any other.
 */
export class OperatorAlarms extends Construct {
  /** Every alarm added, by purpose. */
  public readonly alarms = new Map<string, Alarm>();
  private readonly notifications: NotificationTopic;

  constructor(scope: Construct, id: string, props: OperatorAlarmsProps) {
    super(scope, id);
    this.notifications = props.notifications;
  }

  /** An alarm named `<stack name>-<purpose>` that tells people when it goes off and when it comes back. */
  public add(purpose: string, options: OperatorAlarmOptions): Alarm {
    if (!/^[A-Za-z0-9-]{1,64}$/.test(purpose)) {
      throw new SettingError(this, `alarm purpose "${purpose}" must be 1 to 64 letters, digits or hyphens: it becomes part of the alarm's name.`);
    }
    if (this.alarms.has(purpose)) throw new SettingError(this, `an alarm for "${purpose}" exists already; give each alarm its own purpose.`);
    const periods = options.evaluationPeriods ?? 1;
    if (options.datapointsToAlarm !== undefined && (options.datapointsToAlarm < 1 || options.datapointsToAlarm > periods)) {
      throw new SettingError(this, `alarm "${purpose}": datapointsToAlarm (${options.datapointsToAlarm}) must be from 1 to evaluationPeriods (${periods}).`);
    }
    const alarm = new Alarm(this, purpose, {
      alarmName: NotificationTopic.alarmName(purpose),
      alarmDescription: options.description,
      metric: options.metric,
      threshold: options.threshold,
      comparisonOperator: options.comparisonOperator ?? ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: options.evaluationPeriods ?? 1,
      datapointsToAlarm: options.datapointsToAlarm,
      treatMissingData: options.treatMissingData ?? TreatMissingData.NOT_BREACHING,
    });
    this.notifications.notifyOnAlarm(alarm);
    this.alarms.set(purpose, alarm);
    return alarm;
  }

  /** 5xx from the load balancer itself and from its targets, and targets failing their health check. */
  public addLoadBalancer(web: WebLoadBalancer): void {
    // The load balancer's full name from its own attribute: CDK's target group metrics derive it from a
    // listener ARN with three Fn::Select, a few hundred template bytes per alarm.
    const elb = (metricName: string, statistic: string, withTargetGroup: boolean): Metric =>
      new Metric({
        namespace: 'AWS/ApplicationELB',
        metricName,
        dimensionsMap: {
          LoadBalancer: web.loadBalancer.loadBalancerFullName,
          ...(withTargetGroup && { TargetGroup: web.targetGroup.targetGroupFullName }),
        },
        period: MINUTE,
        statistic,
      });
    this.add('LoadBalancer5xx', {
      metric: elb('HTTPCode_ELB_5XX_Count', 'Sum', false),
      description: 'The load balancer answered 5xx itself (10+ a minute, 3 of 5 minutes): no healthy target, or targets refusing connections.',
      threshold: 10,
      evaluationPeriods: 5,
      datapointsToAlarm: 3,
    });
    this.add('Target5xx', {
      metric: elb('HTTPCode_Target_5XX_Count', 'Sum', true),
      description: 'The targets answered 5xx (10+ a minute, 3 of 5 minutes): the app is failing; read its logs.',
      threshold: 10,
      evaluationPeriods: 5,
      datapointsToAlarm: 3,
    });
    this.add('UnhealthyHosts', {
      metric: elb('UnHealthyHostCount', 'Maximum', true),
      description: 'A target has failed its health check for 5 minutes and is out of rotation: read its app log; a task or instance that keeps failing is replaced only if ECS or EC2 sees it fail.',
      threshold: 1,
      evaluationPeriods: 5,
    });
  }

  /** Any invocation error of any of `functions`, summed: one alarm for all of them. */
  public addFunctionErrors(functions: readonly IFunction[]): void {
    if (functions.length === 0) return;
    const usingMetrics = Object.fromEntries(functions.map((fn, i) => [`e${i}`, fn.metricErrors({ period: Duration.minutes(5), statistic: 'Sum' })]));
    // Lambda publishes Errors only for periods with invocations, and `e0+e1` has no value where either has none:
    // a function invoked once a deploy would otherwise hide every error of one invoked each minute.
    const expression = Object.keys(usingMetrics)
      .map((id) => `FILL(${id},0)`)
      .join('+');
    this.add('FunctionErrors', {
      metric: new MathExpression({ expression, usingMetrics, label: 'Errors', period: Duration.minutes(5) }),
      description: "One of the stack's Lambda functions failed in the last 5 minutes; its log group has the error.",
      threshold: 1,
    });
  }

  /**
   * Probes failing for 3 minutes running (or the prober silent, since it reports every minute), and Cloud Map
   * holding fewer tasks than the service wants for 5 minutes.
   */
  public addProber(prober: CloudMapProber, service: SpotFargateService): void {
    this.add('ProbeFailures', {
      metric: prober.metric(ProberMetric.ProbeFailure),
      description: 'Tasks failed the direct probe 3 minutes running (or the prober did not report): read the prober log for each reason.',
      threshold: 1,
      evaluationPeriods: 3,
      treatMissingData: TreatMissingData.BREACHING,
    });
    this.addShortfall('DiscoveredBelowDesired', {
      expected: service.metricTasks('DesiredTaskCount'),
      actual: prober.metric(ProberMetric.InstancesDiscovered, 'Minimum'),
      periods: 5,
      description: 'Cloud Map has held fewer tasks than the service wants for 5 minutes: tasks fail to start or to register.',
    });
  }

  /** Fewer tasks running than desired for 5 minutes, and nginx answering 5xx. */
  public addService(service: SpotFargateService): void {
    this.addShortfall('RunningBelowDesired', {
      expected: service.metricTasks('DesiredTaskCount'),
      actual: service.metricTasks('RunningTaskCount'),
      periods: 5,
      description: 'ECS has run fewer tasks than desired for 5 minutes: Fargate Spot capacity, image pulls or health checks; see the service events.',
    });
    this.add('Nginx5xx', {
      metric: service.metricServerErrors(),
      description: 'nginx logged 10+ 5xx responses a minute, 3 of 5 minutes: read the service log group.',
      threshold: 10,
      evaluationPeriods: 5,
      datapointsToAlarm: 3,
    });
  }

  /**
   * `expected - actual` at least 1 for `periods` periods in a row: capacity that should be there and is not.
   * Both metrics publish every period, so a missing one counts against.
   */
  public addShortfall(purpose: string, shortfall: ShortfallOptions): Alarm {
    const period = shortfall.period ?? MINUTE;
    return this.add(purpose, {
      metric: new MathExpression({
        expression: 'expected - actual',
        usingMetrics: {
          expected: shortfall.expected.with({ period, statistic: 'Maximum' }),
          actual: shortfall.actual.with({ period, statistic: 'Minimum' }),
        },
        label: 'Shortfall',
        period,
      }),
      description: shortfall.description,
      threshold: 1,
      evaluationPeriods: shortfall.periods,
      treatMissingData: shortfall.treatMissingData ?? TreatMissingData.BREACHING,
    });
  }

  /**
   * Messages the drainer handed back as failed, in any minute: each is an instance whose drain was not done at
   * the first try and is now retried within the notice (its dead letters have their own alarm).
   */
  public addDrainer(drainer: SpotInterruptionDrainer): void {
    this.add('DrainFailures', {
      metric: drainer.metric(DrainerMetric.Failures),
      description:
        'The drainer could not drain some instances at the first try (ELB errors or throttling, read its log); they are retried ' +
        'within the two-minute notice and dead-lettered if that fails too.',
      threshold: 1,
    });
  }

  /**
   * The fleet holding less capacity than its target for 15 minutes: three of EC2's five-minute data points.
   * A gap in EC2's data raises nothing, since how steadily it publishes is not documented; the fleet's own
   * errors reach people through SpotFleetTroubleAlerts.
   */
  public addFleet(fleet: SpotFleet): void {
    this.addShortfall('FleetBelowTarget', {
      expected: fleet.metric('TargetCapacity'),
      actual: fleet.metric('FulfilledCapacity'),
      period: Duration.minutes(5),
      periods: 3,
      treatMissingData: TreatMissingData.NOT_BREACHING,
      description:
        'The Spot Fleet has held less capacity than its target for 15 minutes: Spot capacity is short in its pools, or launches fail. ' +
        'See the fleet request history; add instance types if it lasts.',
    });
  }

  /**
   * The Auto Scaling group holding fewer instances in service than it wants for 15 minutes running. The group
   * publishes both metrics every minute; a gap raises nothing, as for the fleet, so that the alarm never fires
   * on metrics collection starting late. The group's failed launches reach people through
   * AutoScalingTroubleAlerts.
   */
  public addAutoScalingGroup(group: SpotAutoScalingGroup): void {
    this.addShortfall('GroupBelowDesired', {
      expected: group.metric('GroupDesiredCapacity'),
      actual: group.metric('GroupInServiceInstances'),
      periods: 15,
      treatMissingData: TreatMissingData.NOT_BREACHING,
      description:
        'The Auto Scaling group has had fewer instances in service than desired for 15 minutes: Spot capacity is short in its pools, ' +
        'or launches or health checks fail. See the group activity history; add instance types if it lasts.',
    });
  }
}
