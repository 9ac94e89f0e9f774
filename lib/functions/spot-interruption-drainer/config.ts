import { ConfigurationError } from '../common/configuration-error';
import { DrainerEnv } from './contract';

const TARGET_GROUP_ARN = /^arn:aws[a-z-]*:elasticloadbalancing:[a-z0-9-]+:\d{12}:targetgroup\/[A-Za-z0-9-]{1,32}\/[0-9a-f]{16}$/;
const FUNCTION_ARN = /^arn:aws[a-z-]*:lambda:([a-z0-9-]+):(\d{12}):function:/;

export interface DrainerConfig {
  readonly targetGroupArns: readonly string[];
  readonly notificationQueueUrl?: string;
  /** Whether a rebalance recommendation drains its instance, or is acknowledged and ignored. */
  readonly drainOnRebalance: boolean;
  /** Where a recommendation waits; without it nothing waits (the hold is 0). */
  readonly rebalanceQueueUrl?: string;
  /** How long after a recommendation's time its drain may wait for other targets to be healthy. */
  readonly rebalanceHoldMs: number;
}

/** Where the function runs: only events from this account and Region are about instances it may drain. */
export interface Identity {
  readonly account: string;
  readonly region: string;
}

/**
 * Read per invocation rather than at module load, so that a bad value fails the batch (visible, retried,
 * dead-lettered with an alarm) instead of the init phase.
 */
export function loadConfig(env: NodeJS.ProcessEnv): DrainerConfig {
  const value = env[DrainerEnv.targetGroupArns];
  if (value === undefined || value.trim() === '') {
    throw new ConfigurationError(
      `${DrainerEnv.targetGroupArns} is not set: set it to the comma-separated ARNs of the target groups to drain interrupted instances from.`,
    );
  }
  const arns = value.split(',').map((arn) => arn.trim());
  arns.forEach((arn, index) => {
    if (!TARGET_GROUP_ARN.test(arn)) {
      throw new ConfigurationError(
        `${DrainerEnv.targetGroupArns} entry ${index + 1} (${JSON.stringify(arn)}) is not a target group ARN ` +
          '(arn:<partition>:elasticloadbalancing:<region>:<account>:targetgroup/<name>/<id>).',
      );
    }
  });
  const queueUrl = env[DrainerEnv.notificationQueueUrl]?.trim();
  const onRebalance = env[DrainerEnv.drainOnRebalance]?.trim() || 'true';
  if (onRebalance !== 'true' && onRebalance !== 'false') {
    throw new ConfigurationError(`${DrainerEnv.drainOnRebalance} is ${JSON.stringify(onRebalance)}: set it to true or false.`);
  }
  const rebalanceQueueUrl = env[DrainerEnv.rebalanceQueueUrl]?.trim();
  const holdText = env[DrainerEnv.rebalanceHoldSeconds]?.trim() || '0';
  if (!/^\d{1,5}$/.test(holdText)) {
    throw new ConfigurationError(`${DrainerEnv.rebalanceHoldSeconds} is ${JSON.stringify(holdText)}: set it to a whole number of seconds.`);
  }
  const hasRebalanceQueue = rebalanceQueueUrl !== undefined && rebalanceQueueUrl !== '';
  return {
    // A repeated ARN would only repeat the same calls.
    targetGroupArns: [...new Set(arns)],
    drainOnRebalance: onRebalance === 'true',
    ...(queueUrl !== undefined && queueUrl !== '' && { notificationQueueUrl: queueUrl }),
    ...(hasRebalanceQueue && { rebalanceQueueUrl }),
    // Without a queue to wait on there is no waiting.
    rebalanceHoldMs: hasRebalanceQueue ? Number(holdText) * 1000 : 0,
  };
}

/** The account and Region of the invoked function, from its ARN: the one source that cannot be misconfigured. */
export function identityOf(invokedFunctionArn: string): Identity {
  const match = FUNCTION_ARN.exec(invokedFunctionArn);
  if (match === null) {
    throw new ConfigurationError(`The invoked function ARN ${JSON.stringify(invokedFunctionArn)} is not a Lambda function ARN.`);
  }
  return { region: match[1] as string, account: match[2] as string };
}

/** `spotwise-web` from `arn:…:targetgroup/spotwise-web/0123456789abcdef`: what people recognise in a message. */
export function targetGroupName(targetGroupArn: string): string {
  return targetGroupArn.split('/')[1] ?? targetGroupArn;
}
