/**
 * An AWS SDK client configuration for calls made inside a deadline: standard retries (jittered exponential
 * back-off, `Throttling` included) for `maxAttempts` in all, and each attempt bounded, 1 s to connect and
 * `requestTimeoutMs` for the exchange. `throwOnRequestTimeout` makes current SDKs fail the attempt (a
 * retryable TimeoutError) rather than only warn; older runtime SDKs ignore it and treat `requestTimeout` as a
 * socket idle timeout that throws, which bounds the attempt as well. Standard rather than adaptive: adaptive's
 * client-side rate limiter suits a long-lived client that keeps sending; an invocation sends a handful.
 */
export function boundedClientConfig(maxAttempts: number, requestTimeoutMs: number) {
  return {
    retryMode: 'standard',
    maxAttempts,
    requestHandler: { connectionTimeout: 1_000, requestTimeout: requestTimeoutMs, throwOnRequestTimeout: true },
  } as const;
}
