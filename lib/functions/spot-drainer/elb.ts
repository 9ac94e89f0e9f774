import type * as ElbSdk from '@aws-sdk/client-elastic-load-balancing-v2';

/**
 * Every ELB call happens inside the two-minute Spot notice, so each attempt is bounded and the whole
 * call is bounded by the attempts: at most 4 × (1 s to connect + 3 s for the exchange) plus the
 * retry strategy's back-off, which for throttling is jittered and capped per retry (about 7 s over
 * three retries). Standard mode rather than adaptive: adaptive's client-side rate limiter only helps a
 * long-lived client that keeps sending, and each drainer invocation sends a handful of requests.
 *
 * `throwOnRequestTimeout` makes newer SDKs fail the attempt (a retryable TimeoutError) instead of only
 * warning; older SDKs, such as the one in the Lambda runtime, ignore it and treat `requestTimeout` as
 * a socket idle timeout that throws, which bounds the attempt as well.
 */
export const ELB_CLIENT_CONFIG = {
  retryMode: 'standard',
  maxAttempts: 4,
  requestHandler: { connectionTimeout: 1_000, requestTimeout: 3_000, throwOnRequestTimeout: true },
} as const satisfies ElbSdk.ElasticLoadBalancingV2ClientConfig;

let sdk: typeof ElbSdk | undefined;
let client: ElbSdk.ElasticLoadBalancingV2Client | undefined;

/**
 * The SDK module, loaded on first use. Loading it costs more than the rest of the cold start put
 * together, and a malformed event never needs it; the price moves to the first event, where
 * `bench/drainer.ts` reports it. A `require` rather than `import()`: esbuild keeps `import()` as ESM
 * in the CommonJS bundle, and ESM resolution ignores the NODE_PATH through which Lambda's runtime
 * provides the SDK.
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
