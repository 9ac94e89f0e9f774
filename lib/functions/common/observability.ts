import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';

/**
 * One logger and one metrics object per function. Service name and namespace come from
 * POWERTOOLS_SERVICE_NAME and POWERTOOLS_METRICS_NAMESPACE, which each construct sets. Every metric also
 * carries the stack's name as its `Stack` dimension (METRICS_STACK), so that two copies of a stack in one
 * account and Region keep their numbers apart.
 */
export const logger = new Logger();
const stack = process.env.METRICS_STACK;
export const metrics = new Metrics(stack ? { defaultDimensions: { Stack: stack } } : {});
