import { Duration, Stack } from 'aws-cdk-lib/core';
import { Template } from 'aws-cdk-lib/assertions';
import { Metric } from 'aws-cdk-lib/aws-cloudwatch';
import { Vpc } from 'aws-cdk-lib/aws-ec2';
import { ContainerImage } from 'aws-cdk-lib/aws-ecs';
import { TargetType } from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import { PrivateDnsNamespace } from 'aws-cdk-lib/aws-servicediscovery';
import { describe, expect, it } from 'vitest';
import { CloudMapProber } from '../../lib/constructs/cloud-map-prober';
import { OperationsDashboard, search } from '../../lib/constructs/operations-dashboard';
import { SpotFargateService } from '../../lib/constructs/spot-fargate-service';
import { WebLoadBalancer } from '../../lib/constructs/web-load-balancer';
import { SpotInterruptionDrainer } from '../../lib/constructs/spot-interruption-drainer';
import { ProberMetric } from '../../lib/functions/cloud-map-prober/contract';
import { fleetBehindLoadBalancer, newApp, resourcesOfType } from '../support/app';

interface Widget {
  readonly type: string;
  readonly width: number;
  readonly height: number;
  readonly x: number;
  readonly y: number;
  readonly properties: { readonly title: string; readonly region: string; readonly metrics: unknown[][] };
}

/**
 * The dashboard body as JSON, with each CloudFormation token in it written `<Ref X>` or `<GetAtt X.Attr>`, so
 * that a test reads widgets and expressions as CloudWatch will once the stack is deployed.
 */
function body(stack: Stack): { start: string; widgets: Widget[] } {
  const [[, dashboard]] = resourcesOfType(Template.fromStack(stack), 'AWS::CloudWatch::Dashboard') as [[string, { DashboardBody: unknown }]];
  const join = dashboard.DashboardBody as { 'Fn::Join': ['', unknown[]] };
  const text = join['Fn::Join'][1]
    .map((part) => {
      if (typeof part === 'string') return part;
      const token = part as { Ref?: string; 'Fn::GetAtt'?: [string, string] };
      if (token.Ref !== undefined) return `<Ref ${token.Ref}>`;
      if (token['Fn::GetAtt'] !== undefined) return `<GetAtt ${token['Fn::GetAtt'].join('.')}>`;
      throw new Error(`unexpected token in the dashboard body: ${JSON.stringify(part)}`);
    })
    .join('');
  return JSON.parse(text) as { start: string; widgets: Widget[] };
}

function id(stack: Stack, construct: { node: { defaultChild?: unknown } }): string {
  return stack.getLogicalId(construct.node.defaultChild as never);
}

function setup(): { stack: Stack; dashboard: OperationsDashboard } {
  const stack = new Stack(newApp(), 'Host');
  return { stack, dashboard: new OperationsDashboard(stack, 'Dashboard') };
}

/** A dashboard beside a load balancer, a Fargate service behind it and a prober of that service. */
function withService(): { stack: Stack; dashboard: OperationsDashboard; web: WebLoadBalancer; service: SpotFargateService; prober: CloudMapProber } {
  const { stack, dashboard } = setup();
  const vpc = new Vpc(stack, 'Vpc', { maxAzs: 2, natGateways: 0, restrictDefaultSecurityGroup: false });
  const web = new WebLoadBalancer(stack, 'Web', { vpc, targetType: TargetType.IP });
  const namespace = new PrivateDnsNamespace(stack, 'Namespace', { vpc, name: 'host.internal' });
  const service = new SpotFargateService(stack, 'Service', {
    vpc,
    targetGroup: web.targetGroup,
    loadBalancerSecurityGroup: web.securityGroup,
    namespace,
    image: ContainerImage.fromRegistry('nginx:1.28.0'),
  });
  const prober = new CloudMapProber(stack, 'Prober', { service: service.cloudMapService, vpc, targetSecurityGroup: service.securityGroup });
  return { stack, dashboard, web, service, prober };
}

describe('dashboard', () => {
  it('is one dashboard in the template, opening on the last 3 hours', () => {
    const { stack, dashboard } = setup();
    dashboard.addGraphs(['Things', [new Metric({ namespace: 'Test', metricName: 'Things' })]]);
    Template.fromStack(stack).resourceCountIs('AWS::CloudWatch::Dashboard', 1);
    expect(body(stack).start).toBe('-PT3H');
  });

  it('gives the console URL of the dashboard in the stack\'s Region, on the console host of its partition', () => {
    const { stack, dashboard } = setup();
    const [mapping] = Object.entries(Template.fromStack(stack).toJSON().Mappings as Record<string, unknown>);
    expect(mapping?.[1]).toEqual({
      aws: { host: 'console.aws.amazon.com' },
      'aws-cn': { host: 'console.amazonaws.cn' },
      'aws-us-gov': { host: 'console.amazonaws-us-gov.com' },
    });
    expect(stack.resolve(dashboard.url)).toEqual({
      'Fn::Join': [
        '',
        [
          'https://',
          { 'Fn::FindInMap': [mapping?.[0], { Ref: 'AWS::Partition' }, 'host'] },
          '/cloudwatch/home?region=',
          { Ref: 'AWS::Region' },
          '#dashboards/dashboard/',
          { Ref: id(stack, dashboard.dashboard) },
        ],
      ],
    });
  });

  it('lays each addGraphs call out as one row of graphs, 8 wide and 6 high', () => {
    const { stack, dashboard } = setup();
    const things = new Metric({ namespace: 'Test', metricName: 'Things', period: Duration.minutes(1), statistic: 'Sum' });
    dashboard.addGraphs(['A', [things]], ['B', [things]]);
    dashboard.addGraphs(['C', [things]]);
    expect(body(stack).widgets.map(({ type, width, height, x, y, properties }) => ({ type, width, height, x, y, title: properties.title }))).toEqual([
      { type: 'metric', width: 8, height: 6, x: 0, y: 0, title: 'A' },
      { type: 'metric', width: 8, height: 6, x: 8, y: 0, title: 'B' },
      { type: 'metric', width: 8, height: 6, x: 0, y: 6, title: 'C' },
    ]);
    expect(body(stack).widgets[0]?.properties.metrics).toEqual([['Test', 'Things', { stat: 'Sum', period: 60 }]]);
  });
});

describe('search', () => {
  it('searches one metric of a schema with a filter, one line per Availability Zone', () => {
    const expression = search('{NS,AvailabilityZone,Thing}', 'Count', 'Thing="a"', 'Sum', 'Count');
    expect(expression.expression).toBe(`SEARCH('{NS,AvailabilityZone,Thing} MetricName="Count" Thing="a"', 'Sum', 60)`);
    expect(expression.label).toBe("Count ${PROP('Dim.AvailabilityZone')}");
    expect(expression.period.toSeconds()).toBe(60);
    expect(expression.usingMetrics).toEqual({});
  });

  it('labels lines with the metric name and another dimension when told', () => {
    expect(search('{NS,Thing}', 'Count', '', 'Sum', undefined, 'Thing').label).toBe("Count ${PROP('Dim.Thing')}");
  });
});

describe('addLoadBalancer', () => {
  it('adds a row of requests, 5xx and healthy hosts, each searched per Availability Zone of this load balancer and target group', () => {
    const { stack, dashboard, web } = withService();
    dashboard.addLoadBalancer(web);
    const lb = `<GetAtt ${id(stack, web.loadBalancer)}.LoadBalancerFullName>`;
    const tg = `<GetAtt ${id(stack, web.targetGroup)}.TargetGroupFullName>`;
    const widgets = body(stack).widgets;
    expect(widgets.map((w) => [w.properties.title, w.x, w.y, w.properties.region])).toEqual([
      ['Requests per AZ', 0, 0, '<Ref AWS::Region>'],
      ['5xx per AZ (load balancer, targets)', 8, 0, '<Ref AWS::Region>'],
      ['Healthy hosts per AZ', 16, 0, '<Ref AWS::Region>'],
    ]);
    expect(widgets.map((w) => w.properties.metrics)).toEqual([
      [
        [
          {
            expression: `SEARCH('{AWS/ApplicationELB,AvailabilityZone,LoadBalancer} MetricName="RequestCount" LoadBalancer="${lb}"', 'Sum', 60)`,
            label: "Requests ${PROP('Dim.AvailabilityZone')}",
            period: 60,
          },
        ],
      ],
      [
        [
          {
            expression: `SEARCH('{AWS/ApplicationELB,AvailabilityZone,LoadBalancer} MetricName="HTTPCode_ELB_5XX_Count" LoadBalancer="${lb}"', 'Sum', 60)`,
            label: "ELB ${PROP('Dim.AvailabilityZone')}",
            period: 60,
          },
        ],
        [
          {
            expression: `SEARCH('{AWS/ApplicationELB,AvailabilityZone,LoadBalancer,TargetGroup} MetricName="HTTPCode_Target_5XX_Count" TargetGroup="${tg}"', 'Sum', 60)`,
            label: "Target ${PROP('Dim.AvailabilityZone')}",
            period: 60,
          },
        ],
      ],
      [
        [
          {
            expression: `SEARCH('{AWS/ApplicationELB,AvailabilityZone,LoadBalancer,TargetGroup} MetricName="HealthyHostCount" TargetGroup="${tg}"', 'Minimum', 60)`,
            label: "Healthy ${PROP('Dim.AvailabilityZone')}",
            period: 60,
          },
        ],
      ],
    ]);
  });
});

describe('addProber', () => {
  it('adds a row of probe outcomes and latency per Availability Zone, searched in this stack\'s prober metrics of this service', () => {
    const { stack, dashboard, service, prober } = withService();
    dashboard.addProber(prober, service);
    const serviceName = `<GetAtt ${id(stack, service.cloudMapService)}.Name>`;
    const filter = `Stack="<Ref AWS::StackName>" ServiceName="${serviceName}"`;
    const perZone = (metricName: string, statistic: string, label: string): unknown[] => [
      {
        expression: `SEARCH('{Spotwise,AvailabilityZone,ServiceName,Stack,service} MetricName="${metricName}" ${filter}', '${statistic}', 60)`,
        label: `${label} \${PROP('Dim.AvailabilityZone')}`,
        period: 60,
      },
    ];
    const [outcomes, latency] = body(stack).widgets;
    expect(outcomes?.properties.title).toBe('Probes per AZ: success and failure');
    expect(outcomes?.properties.metrics).toEqual([perZone('ProbeSuccess', 'Sum', 'OK'), perZone('ProbeFailure', 'Sum', 'Failed')]);
    expect(latency?.properties.title).toBe('Probe latency per AZ (p90, ms)');
    expect(latency?.properties.metrics).toEqual([perZone('ProbeLatency', 'p90', 'p90')]);
  });

  it('searches the per-zone series under exactly the dimensions the prober publishes them with', () => {
    const { stack, dashboard, service, prober } = withService();
    dashboard.addProber(prober, service);
    const [outcomes] = body(stack).widgets;
    const expression = (outcomes?.properties.metrics[0]?.[0] as { expression: string }).expression;
    const schema = /^SEARCH\('\{([^,]+),([^}]+)\}/.exec(expression);
    const published = prober.metric(ProberMetric.ProbeSuccess, 'Sum', 'us-east-1a');
    expect(schema?.[1]).toBe(published.namespace);
    expect(schema?.[2]?.split(',').sort()).toEqual(Object.keys(published.dimensions ?? {}).sort());
  });

  it('graphs the tasks ECS wants and runs beside the instances Cloud Map holds', () => {
    const { stack, dashboard, service, prober } = withService();
    dashboard.addProber(prober, service);
    const tasks = body(stack).widgets[2];
    expect(tasks?.properties.title).toBe('Tasks: desired, running, discovered');
    const ecs = ['ClusterName', `<Ref ${id(stack, service.cluster)}>`, 'ServiceName', `<GetAtt ${id(stack, service.service)}.Name>`];
    const serviceName = `<GetAtt ${id(stack, service.cloudMapService)}.Name>`;
    expect(tasks?.properties.metrics).toEqual([
      ['ECS/ContainerInsights', 'DesiredTaskCount', ...ecs, { period: 60 }],
      ['ECS/ContainerInsights', 'RunningTaskCount', ...ecs, { period: 60 }],
      ['Spotwise', 'InstancesDiscovered', 'ServiceName', serviceName, 'Stack', '<Ref AWS::StackName>', 'service', 'cloud-map-prober', { stat: 'Minimum', period: 60 }],
    ]);
  });
});

describe('addSpotFleet', () => {
  it("adds a row of the drainer's Spot signals, drains and ignored events, and the fleet's target against fulfilled capacity", () => {
    const { stack, dashboard } = setup();
    const { web, fleet } = fleetBehindLoadBalancer(stack);
    const drainer = new SpotInterruptionDrainer(stack, 'Drainer', { targetGroups: [web.targetGroup] });
    dashboard.addSpotFleet(fleet, drainer);
    const [signals, capacity] = body(stack).widgets;
    const drainerDimensions = ['Stack', '<Ref AWS::StackName>', 'service', 'spot-interruption-drainer'];
    expect(signals?.properties.title).toBe('Spot signals and drains');
    expect(signals?.properties.metrics).toEqual([
      ['Spotwise', 'Interruptions', ...drainerDimensions, { label: 'Interruption warnings', period: 60, stat: 'Sum' }],
      ['Spotwise', 'RebalanceRecommendations', ...drainerDimensions, { label: 'Rebalance recommendations', period: 60, stat: 'Sum' }],
      ['Spotwise', 'InstancesDrained', ...drainerDimensions, { label: 'Instances drained', period: 60, stat: 'Sum' }],
      ['Spotwise', 'EventsIgnored', ...drainerDimensions, { label: 'Ignored (not ours)', period: 60, stat: 'Sum' }],
    ]);
    const request = ['FleetRequestId', `<Ref ${stack.getLogicalId(fleet.fleet)}>`];
    expect(capacity?.properties.title).toBe('Fleet capacity: target and fulfilled');
    expect(capacity?.properties.metrics).toEqual([
      ['AWS/EC2Spot', 'TargetCapacity', ...request, { label: 'Target' }],
      ['AWS/EC2Spot', 'FulfilledCapacity', ...request, { label: 'Fulfilled' }],
    ]);
    expect([signals?.y, capacity?.y, signals?.x, capacity?.x]).toEqual([0, 0, 0, 8]);
  });
});
