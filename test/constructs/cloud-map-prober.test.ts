import { Duration, Stack } from 'aws-cdk-lib/core';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { InterfaceVpcEndpoint, SecurityGroup, SubnetType, Vpc } from 'aws-cdk-lib/aws-ec2';
import { Cluster } from 'aws-cdk-lib/aws-ecs';
import { Schedule } from 'aws-cdk-lib/aws-events';
import type { IService as ICloudMapService } from 'aws-cdk-lib/aws-servicediscovery';
import { PrivateDnsNamespace } from 'aws-cdk-lib/aws-servicediscovery';
import { describe, expect, it } from 'vitest';
import type { CloudMapProberProps } from '../../lib/constructs/cloud-map-prober';
import { CloudMapProber } from '../../lib/constructs/cloud-map-prober';
import { ProberDimension, ProberMetric } from '../../lib/functions/cloud-map-prober/contract';
import { newApp, resourcesOfType, templateJson } from '../support/app';

interface Built {
  readonly stack: Stack;
  readonly vpc: Vpc;
  readonly namespace: PrivateDnsNamespace;
  readonly service: ICloudMapService;
  readonly tasks: SecurityGroup;
  readonly prober: CloudMapProber;
  readonly template: Template;
}

/** A fresh stack with a VPC, a Cloud Map service and its tasks' security group, the pieces a prober needs. */
function host(): Omit<Built, 'prober' | 'template'> {
  const stack = new Stack(newApp(), 'Host');
  const vpc = new Vpc(stack, 'Vpc', { maxAzs: 2, natGateways: 0, restrictDefaultSecurityGroup: false });
  const namespace = new PrivateDnsNamespace(stack, 'Namespace', { vpc, name: 'shared.internal' });
  const service = namespace.createService('Web', { name: 'web' });
  const tasks = new SecurityGroup(stack, 'Tasks', { vpc });
  return { stack, vpc, namespace, service, tasks };
}

function build(props: Partial<CloudMapProberProps> = {}): Built {
  const parts = host();
  const prober = new CloudMapProber(parts.stack, 'Prober', { service: parts.service, vpc: parts.vpc, targetSecurityGroup: parts.tasks, ...props });
  return { ...parts, prober, template: Template.fromStack(parts.stack) };
}

/** A prober told the ECS cluster of its service's tasks, in a fresh stack. */
function buildWithCluster(props: Partial<CloudMapProberProps> = {}): Built & { cluster: Cluster } {
  const parts = host();
  const cluster = new Cluster(parts.stack, 'Cluster', { vpc: parts.vpc });
  const prober = new CloudMapProber(parts.stack, 'Prober', { service: parts.service, vpc: parts.vpc, targetSecurityGroup: parts.tasks, cluster, ...props });
  return { ...parts, cluster, prober, template: Template.fromStack(parts.stack) };
}

/** Every IAM statement of the template whose actions include one of `service`'s. */
function statementsOf(template: Template, service: string): Record<string, unknown>[] {
  return resourcesOfType(template, 'AWS::IAM::Policy')
    .flatMap(([, p]) => (p.PolicyDocument as { Statement: Record<string, unknown>[] }).Statement)
    .filter((statement) => JSON.stringify(statement.Action).includes(`"${service}:`));
}

/** Builds a prober with `props` in a fresh stack, for `toThrow`. */
function attempt(props: Partial<CloudMapProberProps>): () => void {
  return () => build(props);
}

function id(stack: Stack, construct: { node: { defaultChild?: unknown } } | undefined): string {
  return stack.getLogicalId(construct?.node.defaultChild as never);
}

function groupId(stack: Stack, group: SecurityGroup | undefined): { 'Fn::GetAtt': [string, string] } {
  return { 'Fn::GetAtt': [id(stack, group), 'GroupId'] };
}

function rulesOn(template: Template, type: 'AWS::EC2::SecurityGroupIngress' | 'AWS::EC2::SecurityGroupEgress', group: unknown): Record<string, unknown>[] {
  return resourcesOfType(template, type)
    .map(([, p]) => p)
    .filter((p) => JSON.stringify(p.GroupId) === JSON.stringify(group));
}

describe('network', () => {
  it('reaches Cloud Map through its own data-servicediscovery interface endpoint with private DNS, open to the prober only on 443', () => {
    const { stack, prober, template } = build();
    template.hasResourceProperties('AWS::EC2::VPCEndpoint', {
      VpcEndpointType: 'Interface',
      ServiceName: { 'Fn::Join': ['', ['com.amazonaws.', { Ref: 'AWS::Region' }, '.data-servicediscovery']] },
      PrivateDnsEnabled: true,
      SecurityGroupIds: [groupId(stack, prober.endpointSecurityGroup)],
    });
    const endpointSg = groupId(stack, prober.endpointSecurityGroup);
    expect(templateJson(template).Resources[id(stack, prober.endpointSecurityGroup)]?.Properties?.SecurityGroupIngress).toBeUndefined();
    expect(rulesOn(template, 'AWS::EC2::SecurityGroupIngress', endpointSg)).toEqual([
      expect.objectContaining({ IpProtocol: 'tcp', FromPort: 443, ToPort: 443, SourceSecurityGroupId: groupId(stack, prober.securityGroup) }),
    ]);
  });

  it('reuses an endpoint the VPC already has, creating none and reaching it on 443 only', () => {
    const parts = host();
    const { stack } = parts;
    const endpoint = InterfaceVpcEndpoint.fromInterfaceVpcEndpointAttributes(stack, 'Existing', {
      vpcEndpointId: 'vpce-0123456789abcdef0',
      port: 443,
      securityGroups: [SecurityGroup.fromSecurityGroupId(stack, 'ExistingSg', 'sg-0123456789abcdef0')],
    });
    const prober = new CloudMapProber(stack, 'Prober', { service: parts.service, vpc: parts.vpc, targetSecurityGroup: parts.tasks, endpoint });
    const t = Template.fromStack(stack);

    t.resourceCountIs('AWS::EC2::VPCEndpoint', 0);
    expect(prober.endpoint).toBe(endpoint);
    expect(prober.endpointSecurityGroup).toBeUndefined();
    const proberSg = groupId(stack, prober.securityGroup);
    t.hasResourceProperties('AWS::EC2::SecurityGroupIngress', { GroupId: 'sg-0123456789abcdef0', SourceSecurityGroupId: proberSg, FromPort: 443, ToPort: 443 });
    t.hasResourceProperties('AWS::EC2::SecurityGroupEgress', { GroupId: proberSg, DestinationSecurityGroupId: 'sg-0123456789abcdef0', FromPort: 443, ToPort: 443 });
  });

  it('with a cluster, reaches the ECS API through its own ecs interface endpoint with private DNS, open to the prober only on 443', () => {
    const { stack, prober, template } = buildWithCluster();
    template.resourceCountIs('AWS::EC2::VPCEndpoint', 2);
    const ecsEndpoint = templateJson(template).Resources[id(stack, prober.ecsEndpoint)]?.Properties;
    expect(ecsEndpoint).toMatchObject({
      VpcEndpointType: 'Interface',
      ServiceName: { 'Fn::Join': ['', ['com.amazonaws.', { Ref: 'AWS::Region' }, '.ecs']] },
      PrivateDnsEnabled: true,
      SecurityGroupIds: [groupId(stack, prober.ecsEndpointSecurityGroup)],
    });
    const endpointSg = groupId(stack, prober.ecsEndpointSecurityGroup);
    expect(rulesOn(template, 'AWS::EC2::SecurityGroupIngress', endpointSg)).toEqual([
      expect.objectContaining({ IpProtocol: 'tcp', FromPort: 443, ToPort: 443, SourceSecurityGroupId: groupId(stack, prober.securityGroup) }),
    ]);
    expect(templateJson(template).Resources[id(stack, prober.ecsEndpointSecurityGroup)]?.Properties).toMatchObject({
      SecurityGroupEgress: [expect.objectContaining({ CidrIp: '255.255.255.255/32' })],
    });
    const egress = rulesOn(template, 'AWS::EC2::SecurityGroupEgress', groupId(stack, prober.securityGroup)).map((rule) => [rule.DestinationSecurityGroupId, rule.FromPort]);
    expect(egress).toHaveLength(3);
    expect(egress).toContainEqual([endpointSg, 443]);
    // The function starts only once the endpoint it calls ECS through exists.
    expect(templateJson(template).Resources[id(stack, prober.function)]?.DependsOn).toEqual(expect.arrayContaining([id(stack, prober.ecsEndpoint)]));
  });

  it('creates no ECS endpoint without a cluster', () => {
    const { prober, template } = build();
    template.resourceCountIs('AWS::EC2::VPCEndpoint', 1);
    expect(prober.ecsEndpoint).toBeUndefined();
    expect(prober.ecsEndpointSecurityGroup).toBeUndefined();
  });

  it('reuses an ecs endpoint the VPC already has, creating none of its own and reaching it on 443', () => {
    const parts = host();
    const ecsEndpoint = InterfaceVpcEndpoint.fromInterfaceVpcEndpointAttributes(parts.stack, 'ExistingEcs', {
      vpcEndpointId: 'vpce-0fedcba9876543210',
      port: 443,
      securityGroups: [SecurityGroup.fromSecurityGroupId(parts.stack, 'ExistingEcsSg', 'sg-0fedcba9876543210')],
    });
    const cluster = new Cluster(parts.stack, 'Cluster', { vpc: parts.vpc });
    const prober = new CloudMapProber(parts.stack, 'Prober', { service: parts.service, vpc: parts.vpc, targetSecurityGroup: parts.tasks, cluster, ecsEndpoint });
    const t = Template.fromStack(parts.stack);

    t.resourceCountIs('AWS::EC2::VPCEndpoint', 1);
    expect(prober.ecsEndpoint).toBe(ecsEndpoint);
    expect(prober.ecsEndpointSecurityGroup).toBeUndefined();
    const proberSg = groupId(parts.stack, prober.securityGroup);
    t.hasResourceProperties('AWS::EC2::SecurityGroupIngress', { GroupId: 'sg-0fedcba9876543210', SourceSecurityGroupId: proberSg, FromPort: 443, ToPort: 443 });
    t.hasResourceProperties('AWS::EC2::SecurityGroupEgress', { GroupId: proberSg, DestinationSecurityGroupId: 'sg-0fedcba9876543210', FromPort: 443, ToPort: 443 });
  });

  it('runs in the VPC\'s public subnets with its own security group, on Node.js 24 x86_64', () => {
    const { stack, vpc, prober, template } = build();
    template.hasResourceProperties('AWS::Lambda::Function', {
      VpcConfig: {
        SecurityGroupIds: [groupId(stack, prober.securityGroup)],
        SubnetIds: vpc.selectSubnets({ subnetType: SubnetType.PUBLIC }).subnets.map((subnet) => ({ Ref: id(stack, subnet) })),
      },
      Runtime: 'nodejs24.x',
      Architectures: ['x86_64'],
    });
  });

  it('lets itself into the targets on their port, and out only to them on that port and to the endpoint on 443', () => {
    const { stack, tasks, prober, template } = build({ port: 8080 });
    const proberSg = groupId(stack, prober.securityGroup);
    expect(rulesOn(template, 'AWS::EC2::SecurityGroupIngress', groupId(stack, tasks))).toEqual([
      expect.objectContaining({ IpProtocol: 'tcp', FromPort: 8080, ToPort: 8080, SourceSecurityGroupId: proberSg }),
    ]);
    const egress = rulesOn(template, 'AWS::EC2::SecurityGroupEgress', proberSg).map((rule) => [rule.DestinationSecurityGroupId, rule.FromPort, rule.ToPort]);
    expect(egress).toHaveLength(2);
    expect(egress).toEqual(
      expect.arrayContaining([
        [groupId(stack, tasks), 8080, 8080],
        [groupId(stack, prober.endpointSecurityGroup), 443, 443],
      ]),
    );
    expect(templateJson(template).Resources[id(stack, prober.securityGroup)]?.Properties?.SecurityGroupEgress).toBeUndefined();
  });
});

describe('function', () => {
  it('is named cloud-map-prober for Powertools and told its namespace, service, probe timeout, path and discovery budget', () => {
    const { stack, namespace, service, template } = build({ probePath: '/health', probeTimeout: Duration.millis(1500), metricsNamespace: 'Team' });
    template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: {
        Variables: {
          POWERTOOLS_SERVICE_NAME: 'cloud-map-prober',
          POWERTOOLS_METRICS_NAMESPACE: 'Team',
          NAMESPACE_NAME: 'shared.internal',
          SERVICE_NAME: { 'Fn::GetAtt': [id(stack, service), 'Name'] },
          PROBE_TIMEOUT_MS: '1500',
          PROBE_PATH: '/health',
          DISCOVERY_TIMEOUT_MS: '10000',
          ALLOWED_CIDRS: Match.anyValue(),
        },
      },
    });
    expect(namespace.namespaceName).toBe('shared.internal');
  });

  it('allows probes only into the VPC\'s primary CIDR block by default', () => {
    const { stack, vpc, template } = build();
    template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: { Variables: Match.objectLike({ ALLOWED_CIDRS: { 'Fn::GetAtt': [id(stack, vpc), 'CidrBlock'] } }) },
    });
  });

  it('passes the allowedCidrs it is given, comma-separated, tokens included', () => {
    build({ allowedCidrs: ['10.0.0.0/16', '100.64.0.0/16'] }).template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: { Variables: Match.objectLike({ ALLOWED_CIDRS: '10.0.0.0/16,100.64.0.0/16' }) },
    });
    const parts = host();
    new CloudMapProber(parts.stack, 'Prober', {
      service: parts.service,
      vpc: parts.vpc,
      targetSecurityGroup: parts.tasks,
      allowedCidrs: [parts.vpc.vpcCidrBlock, '100.64.0.0/16'],
    });
    Template.fromStack(parts.stack).hasResourceProperties('AWS::Lambda::Function', {
      Environment: {
        Variables: Match.objectLike({ ALLOWED_CIDRS: { 'Fn::Join': [',', [{ 'Fn::GetAtt': [id(parts.stack, parts.vpc), 'CidrBlock'] }, '100.64.0.0/16']] } }),
      },
    });
  });

  it('probes / with a 3 s timeout in a 30 s run by default', () => {
    build().template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: { Variables: Match.objectLike({ PROBE_TIMEOUT_MS: '3000', PROBE_PATH: '/' }) },
      Timeout: 30,
    });
  });

  it('lengthens the default run to hold a longer probe timeout, and keeps a timeout it is given', () => {
    build({ probeTimeout: Duration.seconds(20) }).template.hasResourceProperties('AWS::Lambda::Function', { Timeout: 32 });
    build({ probeTimeout: Duration.seconds(20), timeout: Duration.minutes(1) }).template.hasResourceProperties('AWS::Lambda::Function', { Timeout: 60 });
  });

  it('with a cluster, tells the function the cluster\'s name to count its tasks in', () => {
    const { stack, cluster, template } = buildWithCluster();
    template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: { Variables: Match.objectLike({ CLUSTER_NAME: { Ref: id(stack, cluster) } }) },
    });
  });

  it('without a cluster, sets no CLUSTER_NAME and grants no ECS call', () => {
    const { template } = build();
    const [[, fn]] = resourcesOfType(template, 'AWS::Lambda::Function') as [[string, { Environment: { Variables: Record<string, unknown> } }]];
    expect(fn.Environment.Variables).not.toHaveProperty('CLUSTER_NAME');
    expect(statementsOf(template, 'ecs')).toEqual([]);
  });

  it('with a cluster, may call ecs:DescribeTasks on that cluster\'s tasks only, and nothing else of ECS', () => {
    const { stack, cluster, template } = buildWithCluster();
    expect(statementsOf(template, 'ecs')).toEqual([
      {
        Effect: 'Allow',
        Action: 'ecs:DescribeTasks',
        Resource: {
          'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':ecs:', { Ref: 'AWS::Region' }, ':', { Ref: 'AWS::AccountId' }, ':task/', { Ref: id(stack, cluster) }, '/*']],
        },
        Condition: { ArnEquals: { 'ecs:cluster': { 'Fn::GetAtt': [id(stack, cluster), 'Arn'] } } },
      },
    ]);
  });

  it('may call only servicediscovery:DiscoverInstances, on its namespace and service', () => {
    const { stack, namespace, service, template } = build();
    const statements = resourcesOfType(template, 'AWS::IAM::Policy').flatMap(([, p]) =>
      (p.PolicyDocument as { Statement: { Action: string | string[]; Resource: unknown }[] }).Statement,
    );
    expect(statements.filter((s) => JSON.stringify(s.Action).includes('servicediscovery:'))).toEqual([
      {
        Effect: 'Allow',
        Action: 'servicediscovery:DiscoverInstances',
        Resource: [{ 'Fn::GetAtt': [id(stack, namespace), 'Arn'] }, { 'Fn::GetAtt': [id(stack, service), 'Arn'] }],
      },
    ]);
  });
});

describe('metric', () => {
  /** The function's environment, where Powertools and the handler read what they publish under. */
  function environment(template: Template): Record<string, unknown> {
    const [[, fn]] = resourcesOfType(template, 'AWS::Lambda::Function').filter(([, p]) => JSON.stringify(p).includes('POWERTOOLS_SERVICE_NAME')) as [
      [string, { Environment: { Variables: Record<string, unknown> } }],
    ];
    return fn.Environment.Variables;
  }

  it('names the namespace and the service, Stack and ServiceName dimensions the function publishes under, per minute summed by default', () => {
    const { stack, service, prober, template } = build();
    const env = environment(template);
    const metric = prober.metric(ProberMetric.ProbeFailure);
    expect(stack.resolve({ namespace: metric.namespace, dimensions: metric.dimensions })).toEqual({
      namespace: env.POWERTOOLS_METRICS_NAMESPACE,
      // Powertools' own `service`, the observability module's `Stack` (METRICS_STACK) and the handler's ServiceName (SERVICE_NAME).
      dimensions: { service: env.POWERTOOLS_SERVICE_NAME, Stack: env.METRICS_STACK, ServiceName: env.SERVICE_NAME },
    });
    const serviceName = { 'Fn::GetAtt': [id(stack, service), 'Name'] };
    expect(stack.resolve(metric.dimensions)).toEqual({ service: 'cloud-map-prober', Stack: { Ref: 'AWS::StackName' }, ServiceName: serviceName });
    expect([metric.namespace, metric.metricName, metric.statistic, metric.period.toSeconds()]).toEqual(['Spotwise', 'ProbeFailure', 'Sum', 60]);
  });

  it('adds the AvailabilityZone dimension of the per-zone series when given one', () => {
    const { stack, service, prober } = build();
    const metric = prober.metric(ProberMetric.ProbeLatency, 'p90', 'us-east-1a');
    expect(stack.resolve(metric.dimensions)).toEqual({
      service: 'cloud-map-prober',
      Stack: { Ref: 'AWS::StackName' },
      ServiceName: { 'Fn::GetAtt': [id(stack, service), 'Name'] },
      AvailabilityZone: 'us-east-1a',
    });
    expect(metric.statistic).toBe('p90');
  });

  it('uses the dimension names of the contract the handler publishes with', () => {
    const { prober } = build();
    expect(Object.keys(prober.metric(ProberMetric.ProbeSuccess, 'Sum', 'us-east-1a').dimensions ?? {}).sort()).toEqual(
      ['service', 'Stack', ProberDimension.ServiceName, ProberDimension.AvailabilityZone].sort(),
    );
  });

  it('names the Tasks series of one capacity provider, Maximum per minute by default, under the dimensions the function publishes it with', () => {
    const { stack, service, prober } = buildWithCluster();
    const metric = prober.metricTasks('FARGATE_SPOT');
    expect(stack.resolve(metric.dimensions)).toEqual({
      service: 'cloud-map-prober',
      Stack: { Ref: 'AWS::StackName' },
      ServiceName: { 'Fn::GetAtt': [id(stack, service), 'Name'] },
      CapacityProvider: 'FARGATE_SPOT',
    });
    expect(Object.keys(metric.dimensions ?? {})).toContain(ProberDimension.CapacityProvider);
    expect([metric.namespace, metric.metricName, metric.statistic, metric.period.toSeconds()]).toEqual(['Spotwise', ProberMetric.Tasks, 'Maximum', 60]);
    expect(prober.metricTasks('OTHER', 'Minimum').statistic).toBe('Minimum');
    // `Tasks` is only published per capacity provider, so `metric` refuses it at compile time.
    // @ts-expect-error Tasks has no series without a CapacityProvider dimension
    expect(prober.metric(ProberMetric.Tasks).metricName).toBe('Tasks');
  });

  it('fails when asked for Tasks without a cluster, which the prober then never publishes', () => {
    const { prober } = build();
    expect(prober.countsTasks).toBe(false);
    expect(buildWithCluster().prober.countsTasks).toBe(true);
    expect(() => prober.metricTasks('FARGATE')).toThrow(/^Host\/Prober: metricTasks needs the cluster prop: without it the prober counts no tasks\./);
  });

  it.each(['fargate', 'FARGATE-SPOT', 'X'.repeat(33), ''])('fails when asked for Tasks of %j, a name the prober counts as OTHER', (capacityProvider) => {
    const { prober } = buildWithCluster();
    expect(() => prober.metricTasks(capacityProvider)).toThrow(`Host/Prober: metricTasks: capacity provider '${capacityProvider}' is never published`);
  });

  it('follows a metricsNamespace it is given', () => {
    const { prober, template } = build({ metricsNamespace: 'Probes' });
    expect(prober.metric(ProberMetric.InstancesDiscovered, 'Minimum').namespace).toBe('Probes');
    expect(environment(template).POWERTOOLS_METRICS_NAMESPACE).toBe('Probes');
  });
});

describe('schedule', () => {
  it('runs every minute by default, without retries that would only repeat a stale probe', () => {
    const { stack, prober, template } = build();
    template.hasResourceProperties('AWS::Events::Rule', {
      ScheduleExpression: 'rate(1 minute)',
      Targets: [Match.objectLike({ Arn: { 'Fn::GetAtt': [id(stack, prober.function), 'Arn'] }, RetryPolicy: { MaximumRetryAttempts: 0 } })],
    });
    template.hasResourceProperties('AWS::Lambda::EventInvokeConfig', { FunctionName: { Ref: id(stack, prober.function) }, MaximumRetryAttempts: 0 });
  });

  it('takes the schedule as a typed prop', () => {
    build({ schedule: Schedule.rate(Duration.minutes(5)) }).template.hasResourceProperties('AWS::Events::Rule', {
      ScheduleExpression: 'rate(5 minutes)',
    });
  });
});

describe('validation', () => {
  it('fails when the port is not a TCP port', () => {
    expect(attempt({ port: 70000 })).toThrow(/^Host\/Prober: port must be a whole number from 1 to 65535; got 70000\.$/);
    expect(attempt({ port: 0 })).toThrow(/^Host\/Prober: port must be a whole number from 1 to 65535; got 0\.$/);
  });

  it('fails when the probe timeout is below 100 ms or not whole milliseconds', () => {
    expect(attempt({ probeTimeout: Duration.millis(50) })).toThrow(/^Host\/Prober: probeTimeout must be a whole number of at least 100; got 50\. Give whole milliseconds, at least 100 ms\.$/);
    expect(attempt({ probeTimeout: Duration.millis(150.5) })).toThrow(/^Host\/Prober: probeTimeout .*got 150\.5/);
  });

  it('fails when the probe timeout does not fit in the function timeout it is given', () => {
    expect(attempt({ probeTimeout: Duration.seconds(20), timeout: Duration.seconds(30) })).toThrow(
      /^Host\/Prober: probeTimeout 20000 ms does not fit in the function timeout of 30000 ms.*Lower probeTimeout or raise timeout to at least 32 s\.$/,
    );
  });

  it('fails when the probe timeout could not fit in any Lambda run', () => {
    expect(attempt({ probeTimeout: Duration.seconds(889) })).toThrow(
      /^Host\/Prober: probeTimeout 889000 ms does not fit in the longest Lambda run, 900 s: .* Lower probeTimeout to at most 888000 ms\.$/,
    );
  });

  it('fails when the function timeout is not whole seconds up to Lambda\'s 900', () => {
    expect(attempt({ timeout: Duration.minutes(16) })).toThrow(/^Host\/Prober: timeout must be a whole number from 1 to 900; got 960\./);
    expect(attempt({ timeout: Duration.millis(30_500) })).toThrow(/^Host\/Prober: timeout must be a whole number from 1 to 900; got 30\.5\./);
  });

  it('fails when the probe path does not start with a slash', () => {
    expect(attempt({ probePath: 'health' })).toThrow(/^Host\/Prober: probePath must start with '\/'; got 'health'\./);
  });

  it.each(['10.0.0.0/33', '10.0.0.1/16', '10.0.0.0', '010.0.0.0/16', '10.0.0.0/16,10.1.0.0/16', 'fd00::/8', ''])(
    'fails when allowedCidrs has a malformed block: %j',
    (cidr) => {
      expect(attempt({ allowedCidrs: ['10.0.0.0/16', cidr] })).toThrow(
        `Host/Prober: allowedCidrs has '${cidr}', which is not an IPv4 CIDR block with its host bits zero. Give blocks such as '10.0.0.0/16'.`,
      );
    },
  );

  it.each([
    ['0.0.0.0/0', '127.0.0.0/8'],
    ['127.0.0.1/32', '127.0.0.0/8'],
    ['126.0.0.0/7', '127.0.0.0/8'],
    ['169.254.169.254/32', '169.254.0.0/16'],
    ['169.0.0.0/8', '169.254.0.0/16'],
  ])('fails when allowedCidrs has %s, which covers loopback or link-local addresses', (cidr, forbidden) => {
    expect(attempt({ allowedCidrs: [cidr] })).toThrow(`Host/Prober: allowedCidrs has '${cidr}', which overlaps ${forbidden}: no task has such an address`);
  });

  it('accepts blocks beside loopback and link-local', () => {
    expect(attempt({ allowedCidrs: ['126.0.0.0/8', '128.0.0.0/8', '169.253.0.0/16', '169.255.0.0/16', '10.0.0.0/8'] })).not.toThrow();
  });

  it('fails when allowedCidrs is empty, which would reject every instance', () => {
    expect(attempt({ allowedCidrs: [] })).toThrow(/^Host\/Prober: allowedCidrs is empty, so no instance could be probed\./);
  });

  it('fails when an ecsEndpoint is given without a cluster, since nothing would use it', () => {
    const parts = host();
    const ecsEndpoint = InterfaceVpcEndpoint.fromInterfaceVpcEndpointAttributes(parts.stack, 'Ecs', {
      vpcEndpointId: 'vpce-0fedcba9876543210',
      port: 443,
      securityGroups: [SecurityGroup.fromSecurityGroupId(parts.stack, 'EcsSg', 'sg-0fedcba9876543210')],
    });
    expect(() => new CloudMapProber(parts.stack, 'Prober', { service: parts.service, vpc: parts.vpc, targetSecurityGroup: parts.tasks, ecsEndpoint })).toThrow(
      /^Host\/Prober: ecsEndpoint is given without cluster.*Pass the cluster, or leave ecsEndpoint out\.$/,
    );
  });

  it('fails when a reused ecs endpoint comes without security groups', () => {
    const parts = host();
    const cluster = new Cluster(parts.stack, 'Cluster', { vpc: parts.vpc });
    const ecsEndpoint = InterfaceVpcEndpoint.fromInterfaceVpcEndpointAttributes(parts.stack, 'Bare', { vpcEndpointId: 'vpce-0fedcba9876543210', port: 443 });
    expect(() => new CloudMapProber(parts.stack, 'Prober', { service: parts.service, vpc: parts.vpc, targetSecurityGroup: parts.tasks, cluster, ecsEndpoint })).toThrow(
      /^Host\/Prober: ecsEndpoint has no security groups.*Import it with its securityGroups/,
    );
  });

  it('fails when a reused endpoint comes without security groups, which would leave the prober no way in', () => {
    const parts = host();
    expect(
      () =>
        new CloudMapProber(parts.stack, 'Prober', {
          service: parts.service,
          vpc: parts.vpc,
          targetSecurityGroup: parts.tasks,
          endpoint: InterfaceVpcEndpoint.fromInterfaceVpcEndpointAttributes(parts.stack, 'Bare', { vpcEndpointId: 'vpce-0123456789abcdef0', port: 443 }),
        }),
    ).toThrow(/^Host\/Prober: endpoint has no security groups.*Import it with its securityGroups/);
  });
});
