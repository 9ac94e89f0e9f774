import { Aws, Duration, Token, Validations } from 'aws-cdk-lib/core';
import { Metric } from 'aws-cdk-lib/aws-cloudwatch';
import type { CapacityProviderStrategy, FargateService } from 'aws-cdk-lib/aws-ecs';
import { Rule, Schedule } from 'aws-cdk-lib/aws-events';
import { LambdaFunction as LambdaTarget } from 'aws-cdk-lib/aws-events-targets';
import { PolicyStatement } from 'aws-cdk-lib/aws-iam';
import type { ILayerVersion } from 'aws-cdk-lib/aws-lambda';
import type { RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { ITopic } from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';
import { join } from 'node:path';
import type { FallbackMetric } from '../functions/spot-capacity-fallback/contract';
import { FALLBACK_SERVICE_NAME, FALLBACK_TAG_KEY, FallbackEnv, PLACEMENT_FAILURE, SERVICE_ACTION } from '../functions/spot-capacity-fallback/contract';
import { requireWholeNumber, SettingError } from '../validation';
import { InlineNodeFunction } from './inline-node-function';

export interface SpotCapacityFallbackProps {
  /** The service to keep whole. Its strategy must use FARGATE_SPOT; the function changes this service and no other. */
  readonly service: FargateService;
  /** The capacity provider strategy the service declares, which the function returns it to after the cool-off. */
  readonly declaredStrategy: readonly CapacityProviderStrategy[];
  /** Where people are told of each shift. */
  readonly notificationTopic: ITopic;
  /**
   * How long the service stays on FARGATE after a shift before the declared strategy is tried again, in whole
   * minutes. ECS sends no event when Fargate Spot capacity returns, so the return is a timed retry.
   * @default Duration.minutes(30)
   */
  readonly coolOff?: Duration;
  /**
   * How often the schedule looks whether the cool-off is over, in whole minutes: the return comes up to this
   * much after it.
   * @default Duration.minutes(5)
   */
  readonly checkInterval?: Duration;
  /**
   * Retention of the function's logs, which carry its EMF metrics.
   * @default RetentionDays.ONE_MONTH
   */
  readonly logRetention?: RetentionDays;
  /**
   * CloudWatch namespace of the function's metrics.
   * @default 'Spotwise'
   */
  readonly metricsNamespace?: string;
  /**
   * The Powertools for AWS Lambda (TypeScript) layer of release POWERTOOLS_VERSION, for the function.
   * @default - the layer Powertools publishes in the Region the stack deploys to, read at deploy time
   */
  readonly powertoolsLayer?: ILayerVersion;
}

/**
 * Keeps a Fargate Spot service at its desired count when Fargate Spot runs out of capacity: on ECS's
 * `SERVICE_TASK_PLACEMENT_FAILURE` for the service, naming FARGATE_SPOT and a capacity reason, a function moves
 * the service onto FARGATE alone (UpdateService with a new deployment, desired count untouched), and after
 * `coolOff` back to the declared strategy; a deployment it did not start is never interrupted. Each shift is
 * told on the topic and counted (`FallbackMetric`).
 */
export class SpotCapacityFallback extends Construct {
  public readonly function: InlineNodeFunction;
  /** Matches the service's placement failures. */
  public readonly placementFailures: Rule;
  /** Runs the function every `checkInterval` to see whether the cool-off is over. */
  public readonly schedule: Rule;
  public readonly metricsNamespace: string;

  constructor(scope: Construct, id: string, props: SpotCapacityFallbackProps) {
    super(scope, id);
    const coolOff = props.coolOff ?? Duration.minutes(30);
    const checkInterval = props.checkInterval ?? Duration.minutes(5);
    requireWholeNumber(this, 'coolOff', coolOff.toMinutes({ integral: false }), 5, 24 * 60, 'Give whole minutes from 5 to 1440 (a day).');
    requireWholeNumber(this, 'checkInterval', checkInterval.toMinutes({ integral: false }), 1, 60, 'Give whole minutes from 1 to 60.');
    if (!props.declaredStrategy.some((s) => s.capacityProvider === 'FARGATE_SPOT')) {
      throw new SettingError(this, 'declaredStrategy has no FARGATE_SPOT, so there is nothing to fall back from. Give the strategy the service declares.');
    }
    const { service } = props;
    this.metricsNamespace = props.metricsNamespace ?? 'Spotwise';

    this.function = new InlineNodeFunction(this, 'Handler', {
      entry: join(__dirname, '..', 'functions', FALLBACK_SERVICE_NAME, 'handler'),
      description: 'Moves the Fargate service onto FARGATE while Fargate Spot has no capacity, and back after a cool-off',
      serviceName: FALLBACK_SERVICE_NAME,
      metricsNamespace: this.metricsNamespace,
      timeout: Duration.minutes(1),
      logRetention: props.logRetention,
      powertoolsLayer: props.powertoolsLayer,
      environment: {
        [FallbackEnv.serviceArn]: service.serviceArn,
        [FallbackEnv.clusterArn]: service.cluster.clusterArn,
        [FallbackEnv.declaredStrategy]: JSON.stringify(props.declaredStrategy.map((s) => ({ capacityProvider: s.capacityProvider, weight: s.weight ?? 0, base: s.base ?? 0 }))),
        [FallbackEnv.coolOffMinutes]: String(coolOff.toMinutes()),
        [FallbackEnv.topicArn]: props.notificationTopic.topicArn,
        [FallbackEnv.stackName]: Aws.STACK_NAME,
      },
    });
    // A failed shift is retried twice by Lambda; each invocation decides afresh from the service's state, so a
    // retry after a partial success does nothing twice.
    this.function.configureAsyncInvoke({ retryAttempts: 2, maxEventAge: Duration.hours(1) });

    // Exactly the calls it makes, on this one service.
    this.function.addToRolePolicy(
      new PolicyStatement({ actions: ['ecs:DescribeServices', 'ecs:UpdateService', 'ecs:ListTagsForResource'], resources: [service.serviceArn] }),
    );
    this.function.addToRolePolicy(
      new PolicyStatement({
        actions: ['ecs:TagResource'],
        resources: [service.serviceArn],
        conditions: { 'ForAllValues:StringEquals': { 'aws:TagKeys': [FALLBACK_TAG_KEY] } },
      }),
    );
    props.notificationTopic.grantPublish(this.function);
    Validations.of(this.function.executionRole).acknowledge({
      id: 'AwsSolutions::AwsSolutions-IAM5[Action::kms:GenerateDataKey*]',
      reason: "Publishing to the encrypted topic needs a data key from the topic's one key; the grant names that key only.",
    });

    const target = new LambdaTarget(this.function, { retryAttempts: 2, maxEventAge: Duration.hours(1) });
    this.placementFailures = new Rule(this, 'PlacementFailures', {
      description: 'ECS could not place a task of the Fargate service',
      eventPattern: {
        source: ['aws.ecs'],
        detailType: [SERVICE_ACTION],
        resources: [service.serviceArn],
        detail: { eventName: [PLACEMENT_FAILURE], clusterArn: [service.cluster.clusterArn] },
      },
      targets: [target],
    });
    this.schedule = new Rule(this, 'ReturnSchedule', {
      description: 'Look whether the Fargate service may try Fargate Spot again',
      schedule: Schedule.rate(checkInterval),
      targets: [target],
    });
    if (!Token.isUnresolved(coolOff.toMinutes()) && coolOff.toMinutes() < checkInterval.toMinutes()) {
      throw new SettingError(this, `coolOff (${coolOff.toMinutes()} min) is shorter than checkInterval (${checkInterval.toMinutes()} min); raise coolOff or check more often.`);
    }
  }

  /** One of the function's metrics, with the dimensions it publishes them under; `Sum` per 5 minutes unless told. */
  public metric(metricName: FallbackMetric, statistic = 'Sum', period = Duration.minutes(5)): Metric {
    return new Metric({
      namespace: this.metricsNamespace,
      metricName,
      dimensionsMap: { service: FALLBACK_SERVICE_NAME, Stack: Aws.STACK_NAME },
      period,
      statistic,
    });
  }
}
