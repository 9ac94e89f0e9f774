import type * as CloudMapSdk from '@aws-sdk/client-servicediscovery';
import type { HttpInstanceSummary, ServiceDiscoveryClient } from '@aws-sdk/client-servicediscovery';
import type { ProberConfig } from './config';
import { raceDeadline } from '../common/deadline';

/**
 * The ceiling of DiscoverInstances' `MaxResults` (`DiscoverMaxResults`, 1..1000 in the service model;
 * the JS SDK's doc comment only gives the default of 100). The API has no `NextToken`, so a service with
 * more registered instances than this is silently cut: callers warn when a response comes back full.
 */
export const DISCOVER_MAX_RESULTS = 1000;

/**
 * Three attempts of at most 3 s each fit the default 10 s discovery budget with room for back-off;
 * the abort signal in `discoverInstances` is what actually enforces the budget.
 */
const MAX_ATTEMPTS = 3;
const REQUEST_TIMEOUT_MS = 3000;
const CONNECTION_TIMEOUT_MS = 1000;

let sdk: typeof CloudMapSdk | undefined;

/**
 * The SDK module, loaded on first use rather than at init, as in the drainer: loading it at init more than
 * doubled the cold init in `bench/prober.ts` (about 145 ms rather than 60 ms, against a 50 ms goal), and the
 * first run pays for it instead, within its own goal. A `require` rather than `import()`: esbuild keeps
 * `import()` in the CommonJS bundle, and Node's ESM resolver ignores the NODE_PATH through which Lambda
 * exposes the runtime's SDK.
 */
function cloudMapSdk(): typeof CloudMapSdk {
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- deferred load, see above
  sdk ??= require('@aws-sdk/client-servicediscovery') as typeof CloudMapSdk;
  return sdk;
}

export class DiscoveryError extends Error {
  override readonly name = 'DiscoveryError';
}

/**
 * Standard rather than adaptive retries: the adaptive mode's client-side rate limiter only learns within one
 * process, and this function makes one call a minute, so it could only add delay.
 */
export function createDiscoveryClient(): ServiceDiscoveryClient {
  return new (cloudMapSdk().ServiceDiscoveryClient)({
    retryMode: 'standard',
    maxAttempts: MAX_ATTEMPTS,
    requestHandler: {
      connectionTimeout: CONNECTION_TIMEOUT_MS,
      requestTimeout: REQUEST_TIMEOUT_MS,
      // Recent @smithy/node-http-handler only warns when requestTimeout passes unless told to throw;
      // older runtimes ignore the flag and always throw.
      throwOnRequestTimeout: true,
    },
  });
}

export async function discoverInstances(
  client: ServiceDiscoveryClient,
  config: Pick<ProberConfig, 'namespaceName' | 'serviceName' | 'discoveryTimeoutMs'>,
): Promise<HttpInstanceSummary[]> {
  const { namespaceName, serviceName, discoveryTimeoutMs } = config;
  const deadline = AbortSignal.timeout(discoveryTimeoutMs);
  const command = new (cloudMapSdk().DiscoverInstancesCommand)({
    NamespaceName: namespaceName,
    ServiceName: serviceName,
    // What a Cloud Map or DNS client is given: the healthy instances, or all of them when none is healthy.
    // Probing that same set means a fully-down service shows up as probe failures rather than as silence.
    HealthStatus: 'HEALTHY_OR_ELSE_ALL',
    MaxResults: DISCOVER_MAX_RESULTS,
  });
  try {
    // The race keeps the budget even on SDK versions whose retry back-off does not watch the signal.
    const response = await raceDeadline(client.send(command, { abortSignal: deadline }), deadline);
    return response.Instances ?? [];
  } catch (error) {
    const target = `service ${JSON.stringify(serviceName)} in namespace ${JSON.stringify(namespaceName)}`;
    if (deadline.aborted) {
      throw new DiscoveryError(`DiscoverInstances for ${target} did not complete within ${discoveryTimeoutMs} ms, retries included.`, {
        cause: error,
      });
    }
    throw new DiscoveryError(`DiscoverInstances for ${target} failed: ${describeError(error)}`, { cause: error });
  }
}

export function describeError(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}
