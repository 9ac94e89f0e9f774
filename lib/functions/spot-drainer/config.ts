/** The function was deployed with settings it cannot work with; no event can succeed until they are fixed. */
export class ConfigurationError extends Error {
  override readonly name = 'ConfigurationError';
}

const TARGET_GROUP_ARN = /^arn:aws[a-z-]*:elasticloadbalancing:[a-z0-9-]+:\d{12}:targetgroup\/[A-Za-z0-9-]{1,32}\/[0-9a-f]{16}$/;

/**
 * Parses `TARGET_GROUP_ARNS`, a comma-separated list of target group ARNs. Read per invocation rather
 * than at module load so that a bad value fails the invocation (visible, retried, sent to the failure
 * destination) instead of the init phase.
 */
export function parseTargetGroupArns(value: string | undefined): string[] {
  if (value === undefined || value.trim() === '') {
    throw new ConfigurationError(
      'TARGET_GROUP_ARNS is not set: set it to the comma-separated ARNs of the target groups to drain interrupted instances from.',
    );
  }
  const arns = value.split(',').map((arn) => arn.trim());
  arns.forEach((arn, index) => {
    if (!TARGET_GROUP_ARN.test(arn)) {
      throw new ConfigurationError(
        `TARGET_GROUP_ARNS entry ${index + 1} (${JSON.stringify(arn)}) is not a target group ARN ` +
          '(arn:<partition>:elasticloadbalancing:<region>:<account>:targetgroup/<name>/<id>).',
      );
    }
  });
  // A repeated ARN would only repeat the same calls.
  return [...new Set(arns)];
}
