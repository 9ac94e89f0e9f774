import type * as ElbSdk from '@aws-sdk/client-elastic-load-balancing-v2';

/**
 * Every ELB call happens inside the two-minute Spot notice, so each attempt is bounded, and so is the
 * whole drain of a target group (two calls; groups are drained concurrently). If every attempt times
 * out: 2 calls × 4 attempts × (1 s to connect + 2 s for the exchange) = 24 s, the back-off between
 * transient errors being tens of milliseconds. If every attempt is throttled, the replies are quick and
 * the jittered back-off dominates: at most 1 + 2 + 4 s per call in current SDKs. Either fits the
 * function's 30-second timeout. Standard mode rather than adaptive: adaptive's client-side rate limiter
 * helps a long-lived client that keeps sending, and an invocation sends a handful of requests.
 *
 * `throwOnRequestTimeout` makes current SDKs fail the attempt (a retryable TimeoutError) instead of only
 * warning. The runtime's SDK may predate the option: such versions ignore it and treat `requestTimeout`
 * as a socket idle timeout that throws, which bounds the attempt as well.
 */
export const ELB_CLIENT_CONFIG = {
  retryMode: 'standard',
  maxAttempts: 4,
  requestHandler: { connectionTimeout: 1_000, requestTimeout: 2_000, throwOnRequestTimeout: true },
} as const satisfies ElbSdk.ElasticLoadBalancingV2ClientConfig;

let sdk: typeof ElbSdk | undefined;
let client: ElbSdk.ElasticLoadBalancingV2Client | undefined;

/**
 * The SDK module, loaded on first use. Loading it costs more than the rest of the cold start put
 * together, and a malformed event never needs it; the price moves to the first event, where
 * `bench/drainer.ts` reports it. A `require` rather than `import()`: esbuild keeps `import()` in the
 * CommonJS bundle, and Node's ESM resolver ignores NODE_PATH, through which Lambda exposes the runtime's
 * SDK; `require` resolves it exactly as the bundle's other externals are resolved.
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
