import type { CloudFormationCustomResourceResponse } from 'aws-lambda';

/**
 * PUTs a custom resource's answer to CloudFormation's pre-signed S3 URL; without it the stack waits for the
 * service timeout. Shared by every custom resource handler.
 * The empty content type is part of what the URL was signed for.
 */
export async function sendResponse(url: string, body: CloudFormationCustomResourceResponse): Promise<void> {
  const res = await fetch(url, { method: 'PUT', headers: { 'content-type': '' }, body: JSON.stringify(body), signal: AbortSignal.timeout(10_000) });
  if (!res.ok) throw new Error(`CloudFormation response PUT answered ${res.status}`);
}
