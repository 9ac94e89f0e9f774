import type * as ElbSdk from '@aws-sdk/client-elastic-load-balancing-v2';
import { boundedClientConfig } from '../common/sdk-config';

/**
 * ELB's API is throttled per account and Region, and in a mass reclaim or a busy account the drainer
 * competes for it with everything else that calls ELB. The SDK's standard mode retries a `Throttling`
 * answer after a jittered exponential back-off (random up to 0.5, 1, 2, 4 s for throttling in current
 * SDKs), so 5 attempts spend at most about 7.5 s waiting on one call, and a batch makes at most two calls
 * in a row per target group (groups run concurrently): about 15 s plus the calls themselves, inside the
 * function's 30 s timeout. The handler also gives every call an abort signal at the invocation's deadline,
 * so that a batch that runs out of time still reports which messages failed rather than timing out whole.
 */
export const ELB_CLIENT_CONFIG = boundedClientConfig(5, 2_000) satisfies ElbSdk.ElasticLoadBalancingV2ClientConfig;

let sdk: typeof ElbSdk | undefined;
let client: ElbSdk.ElasticLoadBalancingV2Client | undefined;

/**
 * The SDK module, loaded on first use. Loading it costs more than the rest of the cold start put
 * together, and a batch of malformed or foreign messages never needs it. A `require` rather than
 * `import()`: esbuild keeps `import()` in the CommonJS bundle, and Node's ESM resolver ignores NODE_PATH,
 * through which Lambda exposes the runtime's SDK.
 */
export function elbSdk(): typeof ElbSdk {
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- deferred load, see above
  sdk ??= require('@aws-sdk/client-elastic-load-balancing-v2') as typeof ElbSdk;
  return sdk;
}

/** The function's one ELB client, created on first use and kept for the life of the execution environment. */
export function elbClient(): ElbSdk.ElasticLoadBalancingV2Client {
  client ??= new (elbSdk().ElasticLoadBalancingV2Client)(ELB_CLIENT_CONFIG);
  return client;
}
