import { Aws, Duration, Fn, Stack, Token, Validations } from 'aws-cdk-lib/core';
import type { IInterfaceVpcEndpoint, ISecurityGroup, IVpc, SubnetSelection } from 'aws-cdk-lib/aws-ec2';
import type { ICluster } from 'aws-cdk-lib/aws-ecs';
import { InterfaceVpcEndpoint, InterfaceVpcEndpointAwsService, Port, SecurityGroup, SubnetType } from 'aws-cdk-lib/aws-ec2';
import { Rule, Schedule } from 'aws-cdk-lib/aws-events';
import { LambdaFunction as LambdaTarget } from 'aws-cdk-lib/aws-events-targets';
import { PolicyStatement } from 'aws-cdk-lib/aws-iam';
import type { RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { IService as ICloudMapService } from 'aws-cdk-lib/aws-servicediscovery';
import { Metric } from 'aws-cdk-lib/aws-cloudwatch';
import type { ILayerVersion } from 'aws-cdk-lib/aws-lambda';
import { Construct } from 'constructs';
import { join } from 'node:path';
import type { Ipv4Block } from '../functions/cloud-map-prober/contract';
import {
  CAPACITY_PROVIDER_PATTERN,
  parseIpv4Cidr,
  PROBER_DEFAULTS,
  PROBER_SERVICE_NAME,
  ProberDimension,
  ProberEnv,
  ProberMetric,
} from '../functions/cloud-map-prober/contract';
import { requireWholeNumber, SettingError } from '../validation';
import { InlineNodeFunction } from './inline-node-function';

/** Budget the handler gives discovery, SDK retries included, before it gives up and throws. */
export const DISCOVERY_TIMEOUT = Duration.millis(PROBER_DEFAULTS.discoveryTimeoutMs);
/** Slack for start-up, logging and the metrics flush. */
const RUN_OVERHEAD = Duration.seconds(2);
/** Less leaves a probe no time to connect and be answered. */
const MIN_PROBE_TIMEOUT = Duration.millis(100);
/** The function timeout when neither `timeout` is given nor `probeTimeout` needs more. */
const DEFAULT_TIMEOUT = Duration.seconds(30);
/** Lambda's ceiling. */
const MAX_TIMEOUT = Duration.minutes(15);

export interface CloudMapProberProps {
  /** The Cloud Map service whose instances are probed. Its namespace must be a DNS or HTTP namespace. */
  readonly service: ICloudMapService;
  /** VPC the instances live in; the prober runs inside it. */
  readonly vpc: IVpc;
  /** Security group of the instances; the prober is allowed in on `port`. */
  readonly targetSecurityGroup: ISecurityGroup;
  /**
   * The IPv4 CIDR blocks the instances' addresses are in, such as `['10.0.0.0/16', '100.64.0.0/16']` for a
   * VPC with a secondary block. An instance registered with any other address (loopback, link-local, public)
   * is never sent a request, so whoever can register in Cloud Map cannot aim the prober elsewhere. Blocks
   * must have their host bits zero and may not overlap 127.0.0.0/8 or 169.254.0.0/16.
   * @default - the VPC's primary CIDR block
   */
  readonly allowedCidrs?: string[];
  /**
   * Port the instances serve HTTP on, for the security group rules; 1 to 65535. The probe itself uses each
   * instance's registered `AWS_INSTANCE_PORT`.
   * @default 80
   */
  readonly port?: number;
  /**
   * Subnets for the prober and the Cloud Map endpoint.
   * @default - the VPC's public subnets (Lambda gets no public IP there, hence the endpoint)
   */
  readonly vpcSubnets?: SubnetSelection;
  /**
   * When to probe.
   * @default Schedule.rate(Duration.minutes(1))
   */
  readonly schedule?: Schedule;
  /**
   * Per-probe limit, connect to response, in whole milliseconds; at least 100 ms.
   * @default Duration.seconds(3)
   */
  readonly probeTimeout?: Duration;
  /**
   * Path each probe requests; it must start with `/`.
   * @default '/'
   */
  readonly probePath?: string;
  /**
   * Function timeout, in whole seconds. It must hold one probe timeout, 10 s for discovery
   * (`DISCOVERY_TIMEOUT`) and 2 s overhead.
   * @default - Duration.seconds(30), or what `probeTimeout` needs when that is more
   */
  readonly timeout?: Duration;
  /**
   * Retention of the prober's logs, which carry its EMF metrics.
   * @default RetentionDays.ONE_MONTH
   */
  readonly logRetention?: RetentionDays;
  /**
   * CloudWatch namespace of the probe metrics.
   * @default 'Spotwise'
   */
  readonly metricsNamespace?: string;
  /**
   * An interface endpoint for `data-servicediscovery` that the VPC already has, with private DNS. A VPC can
   * hold only one such endpoint with private DNS, so a second prober in the same VPC, or a VPC that already
   * reaches Cloud Map privately, must pass it here, imported with its security groups. The prober gets an
   * egress rule to them on 443, and they an ingress rule from the prober unless they were imported as
   * immutable, in which case their owner must admit the prober.
   * @default - a new endpoint whose security group admits this prober only
   */
  readonly endpoint?: IInterfaceVpcEndpoint;
  /**
   * The ECS cluster the service's tasks run in, in the prober's account and Region. With it, each run also asks
   * ECS (`DescribeTasks`, through an `ecs` interface endpoint) about the instances it may probe, and publishes
   * how many are RUNNING per capacity provider (`Tasks`, see `metricTasks`).
   * @default - no capacity-provider counts, and no ECS endpoint
   */
  readonly cluster?: ICluster;
  /**
   * An `ecs` interface endpoint with private DNS that the VPC already has; only with `cluster`. Like `endpoint`,
   * a VPC can hold only one, so a VPC that already reaches the ECS API privately must pass it here, imported
   * with its security groups.
   * @default - with `cluster`, a new endpoint whose security group admits this prober only
   */
  readonly ecsEndpoint?: IInterfaceVpcEndpoint;
  /**
   * The Powertools for AWS Lambda (TypeScript) layer of release POWERTOOLS_VERSION, for the function.
   * @default - the layer Powertools publishes in the Region the stack deploys to, read at deploy time
   */
  readonly powertoolsLayer?: ILayerVersion;
}

/**
 * Probes every instance of a Cloud Map service on a schedule: a Lambda in the VPC discovers the instances
 * through a private `data-servicediscovery` endpoint, GETs each `ip:port` inside `allowedCidrs` and in a zone
 * of its Region concurrently with its own timeout (rejecting the rest unprobed), and reports one log line per
 * instance and the EMF metrics of `ProberMetric`.
 */
export class CloudMapProber extends Construct {
  public readonly function: InlineNodeFunction;
  public readonly securityGroup: SecurityGroup;
  /** The endpoint the prober reaches Cloud Map through: the one passed in, or its own. */
  public readonly endpoint: IInterfaceVpcEndpoint;
  /** The security group of the prober's own endpoint; undefined when an endpoint was passed in. */
  public readonly endpointSecurityGroup?: SecurityGroup;
  /** With `cluster`, the endpoint the prober reaches the ECS API through: the one passed in, or its own. */
  public readonly ecsEndpoint?: IInterfaceVpcEndpoint;
  /** The security group of the prober's own ECS endpoint; undefined without `cluster` or when one was passed in. */
  public readonly ecsEndpointSecurityGroup?: SecurityGroup;
  public readonly rule: Rule;
  /** CloudWatch namespace of the probe metrics. */
  public readonly metricsNamespace: string;
  /** The Cloud Map service probed, which names the metrics' `ServiceName` dimension. */
  private readonly serviceName: string;
  /** Whether it was given a `cluster`, and so counts tasks by capacity provider: `metricTasks` needs it. */
  public readonly countsTasks: boolean;

  constructor(scope: Construct, id: string, props: CloudMapProberProps) {
    super(scope, id);
    const probeTimeout = props.probeTimeout ?? Duration.millis(PROBER_DEFAULTS.probeTimeoutMs);
    const probePath = props.probePath ?? PROBER_DEFAULTS.probePath;
    const port = props.port ?? 80;
    const timeout = validate(this, probeTimeout, props.timeout, probePath, port);
    const allowedCidrs = props.allowedCidrs ?? [props.vpc.vpcCidrBlock];
    validateCidrs(this, allowedCidrs);
    const subnets = props.vpcSubnets ?? { subnetType: SubnetType.PUBLIC };

    this.securityGroup = new SecurityGroup(this, 'SecurityGroup', {
      vpc: props.vpc,
      description: 'Cloud Map prober: HTTP to the instances, HTTPS to the Cloud Map endpoint',
      allowAllOutbound: false,
    });
    props.targetSecurityGroup.addIngressRule(this.securityGroup, Port.tcp(port), 'HTTP from the prober');
    this.securityGroup.addEgressRule(props.targetSecurityGroup, Port.tcp(port), 'HTTP probes');

    const cloudMap = this.interfaceEndpoint('endpoint', props.endpoint, props.vpc, subnets, {
      service: InterfaceVpcEndpointAwsService.CLOUD_MAP_DATA_SERVICE_DISCOVERY,
      endpointId: 'CloudMapEndpoint',
      securityGroupId: 'EndpointSecurityGroup',
      description: 'Cloud Map data-plane endpoint: HTTPS from the prober only',
      what: 'Cloud Map',
    });
    this.endpoint = cloudMap.endpoint;
    this.endpointSecurityGroup = cloudMap.securityGroup;
    this.countsTasks = props.cluster !== undefined;
    if (props.cluster === undefined) {
      if (props.ecsEndpoint !== undefined) {
        throw new SettingError(this, 'ecsEndpoint is given without cluster, and only the task count uses it. Pass the cluster, or leave ecsEndpoint out.');
      }
    } else {
      const ecs = this.interfaceEndpoint('ecsEndpoint', props.ecsEndpoint, props.vpc, subnets, {
        service: InterfaceVpcEndpointAwsService.ECS,
        endpointId: 'EcsEndpoint',
        securityGroupId: 'EcsEndpointSecurityGroup',
        description: 'ECS API endpoint: HTTPS from the prober only',
        what: 'ECS',
      });
      this.ecsEndpoint = ecs.endpoint;
      this.ecsEndpointSecurityGroup = ecs.securityGroup;
    }

    const service = props.service;
    this.metricsNamespace = props.metricsNamespace ?? 'Spotwise';
    this.serviceName = service.serviceName;
    this.function = new InlineNodeFunction(this, 'Handler', {
      entry: join(__dirname, '..', 'functions', PROBER_SERVICE_NAME, 'handler'),
      description: 'Discovers the Cloud Map instances and probes each one over HTTP',
      serviceName: PROBER_SERVICE_NAME,
      metricsNamespace: this.metricsNamespace,
      timeout,
      logRetention: props.logRetention,
      powertoolsLayer: props.powertoolsLayer,
      vpc: props.vpc,
      vpcSubnets: subnets,
      securityGroups: [this.securityGroup],
      allowPublicSubnet: true,
      environment: {
        [ProberEnv.namespaceName]: service.namespace.namespaceName,
        [ProberEnv.serviceName]: service.serviceName,
        [ProberEnv.probeTimeoutMs]: String(probeTimeout.toMilliseconds()),
        [ProberEnv.probePath]: probePath,
        [ProberEnv.discoveryTimeoutMs]: String(DISCOVERY_TIMEOUT.toMilliseconds()),
        [ProberEnv.allowedCidrs]: Fn.join(',', allowedCidrs),
        ...(props.cluster !== undefined && { [ProberEnv.clusterName]: props.cluster.clusterName }),
      },
    });
    // The next scheduled run is a fresher probe than a retry of this one could be.
    this.function.configureAsyncInvoke({ retryAttempts: 0 });
    // DiscoverInstances is authorized on both the namespace and the service; with a cluster, DescribeTasks on its
    // tasks; nothing else is called.
    this.function.addToRolePolicy(
      new PolicyStatement({
        actions: ['servicediscovery:DiscoverInstances'],
        resources: [service.namespace.namespaceArn, service.serviceArn],
      }),
    );
    this.function.node.addDependency(this.endpoint);
    if (props.cluster !== undefined && this.ecsEndpoint !== undefined) {
      this.function.addToRolePolicy(
        new PolicyStatement({
          actions: ['ecs:DescribeTasks'],
          resources: [Stack.of(this).formatArn({ service: 'ecs', resource: 'task', resourceName: `${props.cluster.clusterName}/*` })],
          conditions: { ArnEquals: { 'ecs:cluster': props.cluster.clusterArn } },
        }),
      );
      this.function.node.addDependency(this.ecsEndpoint);
      // cdk-nag names the finding after the cluster's name as it renders it: a Ref as <LogicalId>.
      const name = Stack.of(this).resolve(props.cluster.clusterName) as unknown;
      const rendered = typeof name === 'string' ? name : `<${(name as { Ref?: string }).Ref ?? 'cluster'}>`;
      Validations.of(this.function.executionRole).acknowledge({
        id: `AwsSolutions::AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ecs:<AWS::Region>:<AWS::AccountId>:task/${rendered}/*]`,
        reason: 'DescribeTasks takes task ARNs, unknown in advance: the grant covers only this cluster\'s tasks, and its condition the cluster itself.',
      });
    }

    this.rule = new Rule(this, 'Schedule', {
      description: 'Probe the Cloud Map service instances',
      schedule: props.schedule ?? Schedule.rate(Duration.minutes(1)),
      targets: [new LambdaTarget(this.function, { retryAttempts: 0 })],
    });
  }

  /**
   * One of the prober's metrics, with the dimensions it publishes them under: the Cloud Map service and the
   * stack, and with `availabilityZone` the per-zone series (`ProbeSuccess`, `ProbeFailure`, `ProbeLatency`).
   * `Tasks` exists only per capacity provider: see `metricTasks`.
   */
  public metric(metricName: Exclude<ProberMetric, typeof ProberMetric.Tasks>, statistic = 'Sum', availabilityZone?: string): Metric {
    return this.metricWith(metricName, statistic, availabilityZone === undefined ? {} : { [ProberDimension.AvailabilityZone]: availabilityZone });
  }

  /**
   * `Tasks` of one capacity provider, such as `FARGATE` or `FARGATE_SPOT` (or `OTHER`): the instances the prober
   * may probe whose ECS task is RUNNING, one value per run, so `Maximum` per minute by default. Only with `cluster`.
   */
  public metricTasks(capacityProvider: string, statistic = 'Maximum'): Metric {
    if (!this.countsTasks) {
      throw new SettingError(this, "metricTasks needs the cluster prop: without it the prober counts no tasks. Pass the service's cluster.");
    }
    if (!Token.isUnresolved(capacityProvider) && !CAPACITY_PROVIDER_PATTERN.test(capacityProvider)) {
      throw new SettingError(
        this,
        `metricTasks: capacity provider '${capacityProvider}' is never published, since names outside ${String(CAPACITY_PROVIDER_PATTERN)} count as OTHER. ` +
          'Give FARGATE, FARGATE_SPOT, OTHER or another name as ECS spells it.',
      );
    }
    return this.metricWith(ProberMetric.Tasks, statistic, { [ProberDimension.CapacityProvider]: capacityProvider });
  }

  private metricWith(metricName: ProberMetric, statistic: string, dimensions: Record<string, string>): Metric {
    return new Metric({
      namespace: this.metricsNamespace,
      metricName,
      dimensionsMap: { service: PROBER_SERVICE_NAME, Stack: Aws.STACK_NAME, [ProberDimension.ServiceName]: this.serviceName, ...dimensions },
      period: Duration.minutes(1),
      statistic,
    });
  }

  /**
   * The interface endpoint with private DNS through which the prober reaches `options.service`: `given`, or a
   * new one whose own security group admits the prober only on 443. A Lambda in a VPC has no internet access
   * even in a public subnet, and there is no NAT.
   */
  private interfaceEndpoint(
    prop: string,
    given: IInterfaceVpcEndpoint | undefined,
    vpc: IVpc,
    subnets: SubnetSelection,
    options: { service: InterfaceVpcEndpointAwsService; endpointId: string; securityGroupId: string; description: string; what: string },
  ): { endpoint: IInterfaceVpcEndpoint; securityGroup?: SecurityGroup } {
    let endpoint = given;
    let securityGroup: SecurityGroup | undefined;
    if (endpoint !== undefined) {
      if (endpoint.connections.securityGroups.length === 0) {
        throw new SettingError(
          this,
          `${prop} has no security groups, so the prober could not be let in on 443. ` +
            'Import it with its securityGroups (InterfaceVpcEndpoint.fromInterfaceVpcEndpointAttributes).',
        );
      }
    } else {
      securityGroup = new SecurityGroup(this, options.securityGroupId, { vpc, description: options.description, allowAllOutbound: false });
      endpoint = new InterfaceVpcEndpoint(this, options.endpointId, {
        vpc,
        service: options.service,
        privateDnsEnabled: true,
        subnets,
        securityGroups: [securityGroup],
        open: false,
      });
    }
    // Egress from the prober and ingress on the endpoint's security groups, whichever endpoint it is.
    this.securityGroup.connections.allowTo(endpoint, Port.tcp(443), `HTTPS from the prober to ${options.what}`);
    return { endpoint, securityGroup };
  }
}

/** No task in a VPC has these addresses (AWS refuses them as VPC CIDR blocks), and the prober's own host does. */
const FORBIDDEN_BLOCKS: readonly Ipv4Block[] = [
  { cidr: '127.0.0.0/8', first: 127 * 2 ** 24, size: 2 ** 24 },
  { cidr: '169.254.0.0/16', first: (169 * 256 + 254) * 2 ** 16, size: 2 ** 16 },
];

/** Literal blocks only: a token, such as the VPC's own `vpcCidrBlock`, is checked by the function when it starts. */
function validateCidrs(scope: Construct, cidrs: readonly string[]): void {
  if (cidrs.length === 0) {
    throw new SettingError(scope, "allowedCidrs is empty, so no instance could be probed. Give the VPC's CIDR blocks, or leave it out for the primary one.");
  }
  for (const cidr of cidrs) {
    if (Token.isUnresolved(cidr)) continue;
    const block = parseIpv4Cidr(cidr);
    if (block === undefined) {
      throw new SettingError(scope, `allowedCidrs has '${cidr}', which is not an IPv4 CIDR block with its host bits zero. Give blocks such as '10.0.0.0/16'.`);
    }
    const forbidden = FORBIDDEN_BLOCKS.find((other) => block.first < other.first + other.size && other.first < block.first + block.size);
    if (forbidden !== undefined) {
      throw new SettingError(
        scope,
        `allowedCidrs has '${cidr}', which overlaps ${forbidden.cidr}: no task has such an address, and the prober must not reach its own host. Give the VPC's CIDR blocks.`,
      );
    }
  }
}

/**
 * Checks the settings and returns the function timeout: the one given, or the default, lengthened when the
 * probe timeout needs more. Only a given `timeout` is ever blamed, so the advice never names a setting the
 * caller left alone (FargateServiceStack, for one, has no `timeout` to raise).
 */
function validate(scope: Construct, probeTimeout: Duration, timeout: Duration | undefined, probePath: string, port: number): Duration {
  requireWholeNumber(scope, 'port', port, 1, 65535);
  if (!Token.isUnresolved(probePath) && !probePath.startsWith('/')) {
    throw new SettingError(scope, `probePath must start with '/'; got '${probePath}'. Give the path part of a URL, such as '/health'.`);
  }
  const minProbeMs = MIN_PROBE_TIMEOUT.toMilliseconds();
  const probeMs = probeTimeout.toMilliseconds({ integral: false });
  requireWholeNumber(scope, 'probeTimeout', probeMs, minProbeMs, undefined, `Give whole milliseconds, at least ${minProbeMs} ms.`);
  const maxSeconds = MAX_TIMEOUT.toSeconds();
  if (timeout !== undefined) {
    const seconds = timeout.toSeconds({ integral: false });
    requireWholeNumber(scope, 'timeout', seconds, 1, maxSeconds, `Give whole seconds; Lambda allows up to ${maxSeconds}.`);
  }
  if (Token.isUnresolved(probeMs)) return timeout ?? DEFAULT_TIMEOUT;

  const neededMs = probeMs + DISCOVERY_TIMEOUT.toMilliseconds() + RUN_OVERHEAD.toMilliseconds();
  const needs = `a run needs the probe timeout plus ${DISCOVERY_TIMEOUT.toSeconds()} s for discovery and ${RUN_OVERHEAD.toSeconds()} s overhead`;
  if (timeout === undefined) {
    if (neededMs > MAX_TIMEOUT.toMilliseconds()) {
      throw new SettingError(
        scope,
        `probeTimeout ${probeMs} ms does not fit in the longest Lambda run, ${maxSeconds} s: ${needs}. ` +
          `Lower probeTimeout to at most ${MAX_TIMEOUT.toMilliseconds() - (neededMs - probeMs)} ms.`,
      );
    }
    return Duration.seconds(Math.max(DEFAULT_TIMEOUT.toSeconds(), Math.ceil(neededMs / 1000)));
  }
  const timeoutMs = timeout.toMilliseconds({ integral: false });
  if (!Token.isUnresolved(timeoutMs) && neededMs > timeoutMs) {
    throw new SettingError(
      scope,
      `probeTimeout ${probeMs} ms does not fit in the function timeout of ${timeoutMs} ms: ${needs}. ` +
        `Lower probeTimeout or raise timeout to at least ${Math.ceil(neededMs / 1000)} s.`,
    );
  }
  return timeout;
}
