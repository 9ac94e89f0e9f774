import { Aws, CfnMapping, Duration } from 'aws-cdk-lib/core';
import type { IMetric, IWidget } from 'aws-cdk-lib/aws-cloudwatch';
import { Dashboard, GraphWidget, MathExpression } from 'aws-cdk-lib/aws-cloudwatch';
import { Construct } from 'constructs';
import { ProberMetric } from '../functions/cloud-map-prober/contract';
import type { CloudMapProber } from './cloud-map-prober';
import type { SpotAutoScalingGroup } from './spot-auto-scaling-group';
import { FallbackMetric } from '../functions/spot-capacity-fallback/contract';
import type { SpotCapacityFallback } from './spot-capacity-fallback';
import type { SpotFargateService } from './spot-fargate-service';
import type { SpotFleet } from './spot-fleet';
import type { SpotInterruptionDrainer } from './spot-interruption-drainer';
import { DrainerMetric } from '../functions/spot-interruption-drainer/contract';
import type { WebLoadBalancer } from './web-load-balancer';

const MINUTE = Duration.minutes(1);
const WIDTH = 8;

/**
 * One CloudWatch dashboard per stack, in its template, with what an operator watches during a reclaim. The
 * `add*` methods each add one row; per-AZ graphs use SEARCH, so they follow whatever zones the stack runs in.
 */
export class OperationsDashboard extends Construct {
  public readonly dashboard: Dashboard;
  /** The dashboard in the CloudWatch console. */
  public readonly url: string;

  constructor(scope: Construct, id: string) {
    super(scope, id);
    this.dashboard = new Dashboard(this, 'Resource', { defaultInterval: Duration.hours(3) });
    // The console's host differs by partition.
    const consoles = new CfnMapping(this, 'Console', {
      mapping: { aws: { host: 'console.aws.amazon.com' }, 'aws-cn': { host: 'console.amazonaws.cn' }, 'aws-us-gov': { host: 'console.amazonaws-us-gov.com' } },
    });
    this.url = `https://${consoles.findInMap(Aws.PARTITION, 'host')}/cloudwatch/home?region=${Aws.REGION}#dashboards/dashboard/${this.dashboard.dashboardName}`;
  }

  /** A row of graphs, each `[title, metrics]`. */
  public addGraphs(...graphs: ReadonlyArray<readonly [string, readonly IMetric[]]>): void {
    const widgets: IWidget[] = graphs.map(([title, metrics]) => new GraphWidget({ title, left: [...metrics], width: WIDTH, height: 6 }));
    this.dashboard.addWidgets(...widgets);
  }

  /** Requests, 5xx and healthy hosts, each per Availability Zone. */
  public addLoadBalancer(web: WebLoadBalancer): void {
    const lb = web.loadBalancer.loadBalancerFullName;
    const tg = web.targetGroup.targetGroupFullName;
    this.addGraphs(
      ['Requests per AZ', [search('{AWS/ApplicationELB,AvailabilityZone,LoadBalancer}', 'RequestCount', `LoadBalancer="${lb}"`, 'Sum', 'Requests')]],
      [
        '5xx per AZ (load balancer, targets)',
        [
          search('{AWS/ApplicationELB,AvailabilityZone,LoadBalancer}', 'HTTPCode_ELB_5XX_Count', `LoadBalancer="${lb}"`, 'Sum', 'ELB'),
          search('{AWS/ApplicationELB,AvailabilityZone,LoadBalancer,TargetGroup}', 'HTTPCode_Target_5XX_Count', `TargetGroup="${tg}"`, 'Sum', 'Target'),
        ],
      ],
      [
        'Healthy hosts per AZ',
        [search('{AWS/ApplicationELB,AvailabilityZone,LoadBalancer,TargetGroup}', 'HealthyHostCount', `TargetGroup="${tg}"`, 'Minimum', 'Healthy')],
      ],
    );
  }

  /**
   * What the Spot signals did, each minute: interruption warnings and rebalance recommendations from the whole
   * account, the instances of ours drained, and the events about others' instances ignored. Beside it, the
   * fleet's target against its fulfilled capacity, at EC2's five-minute resolution.
   */
  public addSpotFleet(fleet: SpotFleet, drainer: SpotInterruptionDrainer): void {
    this.addGraphs(
      spotSignals(drainer),
      ['Fleet capacity: target and fulfilled', [fleet.metric('TargetCapacity').with({ label: 'Target' }), fleet.metric('FulfilledCapacity').with({ label: 'Fulfilled' })]],
    );
  }

  /**
   * The prober's success, failure and latency per Availability Zone, and the service's tasks: desired and
   * running as ECS counts them, and discovered as Cloud Map holds them.
   */
  public addProber(prober: CloudMapProber, service: SpotFargateService): void {
    const perZone = (metricName: ProberMetric, statistic: string, label: string): MathExpression =>
      search(
        `{${prober.metricsNamespace},AvailabilityZone,ServiceName,Stack,service}`,
        metricName,
        `Stack="${Aws.STACK_NAME}" ServiceName="${service.cloudMapService.serviceName}"`,
        statistic,
        label,
      );
    this.addGraphs(
      ['Probes per AZ: success and failure', [perZone(ProberMetric.ProbeSuccess, 'Sum', 'OK'), perZone(ProberMetric.ProbeFailure, 'Sum', 'Failed')]],
      ['Probe latency per AZ (p90, ms)', [perZone(ProberMetric.ProbeLatency, 'p90', 'p90')]],
      [
        'Tasks: desired, running, discovered',
        [service.metricTasks('DesiredTaskCount'), service.metricTasks('RunningTaskCount'), prober.metric(ProberMetric.InstancesDiscovered, 'Minimum')],
      ],
    );
    if (prober.countsTasks) {
      this.addGraphs([
        'Running tasks by capacity provider',
        [prober.metricTasks('FARGATE').with({ label: 'Fargate' }), prober.metricTasks('FARGATE_SPOT').with({ label: 'Fargate Spot' })],
      ]);
    }
  }

  /**
   * What the Spot signals did, each minute, as for the fleet: interruption warnings and rebalance
   * recommendations from the whole account (the latter only when the drainer acts on them), the instances of
   * ours drained and the events about others' ignored. Beside it, the group's desired capacity against its
   * instances in service and pending, every minute.
   */
  public addAutoScalingGroup(group: SpotAutoScalingGroup, drainer: SpotInterruptionDrainer): void {
    this.addGraphs(
      spotSignals(drainer),
      [
        'Group capacity: desired, in service, pending',
        [
          group.metric('GroupDesiredCapacity').with({ label: 'Desired' }),
          group.metric('GroupInServiceInstances').with({ label: 'In service' }),
          group.metric('GroupPendingInstances').with({ label: 'Pending' }),
        ],
      ],
    );
  }

  /**
   * The Spot capacity fallback: whether the service runs on FARGATE alone (the maximum of each 5 minutes, 1 while
   * it does), and the shifts each way, those deferred for a deploy, and the events ignored or malformed.
   */
  public addCapacityFallback(fallback: SpotCapacityFallback): void {
    this.addGraphs(
      ['Capacity fallback: on FARGATE alone (1) or declared (0)', [fallback.metric(FallbackMetric.OnFallback, 'Maximum').with({ label: 'On FARGATE alone' })]],
      [
        'Capacity fallback: shifts and events',
        [
          fallback.metric(FallbackMetric.ShiftsToOnDemand).with({ label: 'To FARGATE alone' }),
          fallback.metric(FallbackMetric.ShiftsToDeclared).with({ label: 'Back to declared' }),
          fallback.metric(FallbackMetric.ShiftsDeferred).with({ label: 'Deferred (deploy in progress)' }),
          fallback.metric(FallbackMetric.EventsIgnored).with({ label: 'Ignored' }),
          fallback.metric(FallbackMetric.MalformedEvents).with({ label: 'Malformed' }),
        ],
      ],
    );
  }
}

/**
 * Every metric of `schema` named `metricName` that also matches `filter`, one line each, labelled with
 * `label` and its Availability Zone (or whatever dimension `labelDimension` names).
 */
export function search(schema: string, metricName: string, filter: string, statistic: string, label = metricName, labelDimension = 'AvailabilityZone'): MathExpression {
  return new MathExpression({
    expression: `SEARCH('${schema} MetricName="${metricName}" ${filter}', '${statistic}', 60)`,
    usingMetrics: {},
    period: MINUTE,
    // Without a label CDK repeats the whole expression as one.
    label: `${label} \${PROP('Dim.${labelDimension}')}`,
  });
}

/** The Spot signals each minute and what the drainer made of them: one graph for a fleet and a group alike. */
function spotSignals(drainer: SpotInterruptionDrainer): readonly [string, readonly IMetric[]] {
  return [
    'Spot signals and drains',
    [
      drainer.metric(DrainerMetric.Interruptions).with({ label: 'Interruption warnings' }),
      drainer.metric(DrainerMetric.RebalanceRecommendations).with({ label: 'Rebalance recommendations' }),
      drainer.metric(DrainerMetric.InstancesDrained).with({ label: 'Instances drained' }),
      drainer.metric(DrainerMetric.EventsIgnored).with({ label: 'Ignored (not ours)' }),
    ],
  ];
}
