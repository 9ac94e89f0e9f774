import type * as ElbSdk from '@aws-sdk/client-elastic-load-balancing-v2';
import { boundedClientConfig } from '../common/sdk-config';

/**
 * ELB's API is throttled per account and Region, and in a mass reclaim or a busy account the drainer
 * competes for it with everything else that calls ELB. The handler paces its own calls (`ELB_PACE_MS`), so
 * that the drainer as a whole spends a bounded share of the account's tokens; the SDK's standard mode
 * retries a `Throttling` answer after a jittered exponential back-off (random up to 0.5, 1, 2, 4 s for
 * throttling in current SDKs), so 5 attempts spend at most about 7.5 s waiting on one call. A batch's calls
 * for one group run one after another (a describe, then a deregistration per 200 targets), so throttling
 * on every one of them would outlast the 30 s timeout: every call is therefore raced against the
 * invocation's deadline (and given it as an abort signal), and what is left at the deadline is reported
 * as failed, to be retried on the next delivery, rather than the batch timing out whole.
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
