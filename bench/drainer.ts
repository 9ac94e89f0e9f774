import { execFile } from 'node:child_process';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { measureColdInit } from './cold-init';
import type { RecordedCall, Scenario } from '../test/functions/spot-drainer.scenarios';
import {
  SAMPLE_INSTANCE_ID,
  TARGET_GROUP_WEB,
  drainerScenarios,
  fakeContext,
  interruptionWarning,
  runScenario,
} from '../test/functions/spot-drainer.scenarios';

const ENTRY = join(__dirname, '..', 'lib', 'functions', 'spot-drainer', 'handler.ts');
const COLD_INIT_GOAL_MS = 50;
const ENV = {
  TARGET_GROUP_ARNS: TARGET_GROUP_WEB,
  POWERTOOLS_SERVICE_NAME: 'spot-drainer',
  POWERTOOLS_METRICS_NAMESPACE: 'Spotwise',
};

export async function run(): Promise<void> {
  console.log('## Spot drainer');
  const cold = measureColdInit('spot-drainer', ENTRY, ENV);
  console.log(`Inline code: ${cold.inlineBytes.toLocaleString('en')} bytes`);
  console.log(
    `Cold init (bundled module load, median of ${cold.samplesMs.length} fresh processes): ${ms(cold.medianMs)}` +
      ` (goal <= ${COLD_INIT_GOAL_MS} ms: ${cold.medianMs <= COLD_INIT_GOAL_MS ? 'met' : 'NOT met'})`,
  );

  const first = await measureFirstEvent(cold.bundlePath, 5);
  console.log('The ELB SDK module loads on the first event, so that is where its cost shows:');
  console.log(
    `  first event in a fresh process, median of ${first.runs}: ${ms(first.firstEventMs)}` +
      ` (SDK load, client, 2 calls to a local fake ELB endpoint); the next event: ${ms(first.warmEventMs)}`,
  );
  console.log(`  cold init + first event: ${ms(first.totalMs)}; ELB requests per process: ${first.requestsPerProcess}`);

  console.log('AWS calls per event (goal: <= 2 per target group; exactly 1 DescribeTargetHealth per group for a foreign instance):');
  let failed = false;
  for (const { scenario, check } of callChecks()) {
    const { calls } = await runScenario(scenario);
    const problem = check(calls, Object.keys(scenario.targetGroups));
    failed ||= problem !== undefined;
    console.log(`  ${scenario.name.padEnd(40)} ${summarize(calls).padEnd(36)} ${problem === undefined ? 'ok' : `FAIL: ${problem}`}`);
  }
  const missed: string[] = [];
  if (cold.medianMs > COLD_INIT_GOAL_MS) missed.push(`cold init took ${ms(cold.medianMs)}, goal <= ${COLD_INIT_GOAL_MS} ms`);
  if (failed) missed.push('AWS call goals not met (see above)');
  if (missed.length > 0) throw new Error(`Spot drainer benchmark missed its goals:\n- ${missed.join('\n- ')}`);
}

type Check = (calls: readonly RecordedCall[], targetGroupArns: readonly string[]) => string | undefined;

function callChecks(): { scenario: Scenario; check: Check }[] {
  const wanted: Record<string, Check> = {
    'one target group, instance registered': atMostTwoPerGroup,
    'one target group, foreign instance': oneDescribePerGroup,
    'two target groups, instance in both': atMostTwoPerGroup,
    'two target groups, foreign instance': oneDescribePerGroup,
  };
  return drainerScenarios().flatMap((scenario) => {
    const check = wanted[scenario.name];
    return check === undefined ? [] : [{ scenario, check }];
  });
}

const atMostTwoPerGroup: Check = (calls, targetGroupArns) => {
  const over = targetGroupArns.filter((arn) => callsFor(calls, arn).length > 2);
  return over.length > 0 ? `more than 2 calls for ${over.join(', ')}` : undefined;
};

const oneDescribePerGroup: Check = (calls, targetGroupArns) => {
  const wrong = targetGroupArns.filter((arn) => {
    const group = callsFor(calls, arn);
    return group.length !== 1 || group[0]?.command !== 'DescribeTargetHealth';
  });
  return wrong.length > 0 ? `not exactly one DescribeTargetHealth for ${wrong.join(', ')}` : undefined;
};

function callsFor(calls: readonly RecordedCall[], targetGroupArn: string): RecordedCall[] {
  return calls.filter((call) => (call.input as { TargetGroupArn?: string }).TargetGroupArn === targetGroupArn);
}

function summarize(calls: readonly RecordedCall[]): string {
  const count = (command: string) => calls.filter((call) => call.command === command).length;
  return `${calls.length} (${count('DescribeTargetHealth')} describe, ${count('DeregisterTargets')} deregister)`;
}

interface FirstEvent {
  readonly runs: number;
  readonly firstEventMs: number;
  readonly warmEventMs: number;
  readonly totalMs: number;
  readonly requestsPerProcess: string;
}

/**
 * Runs the bundled handler in fresh processes against a local stand-in for the ELB API (the SDK is
 * pointed at it with AWS_ENDPOINT_URL), so the first event pays everything a real one would: the SDK
 * load, client creation, credential resolution, signing, a connection and XML parsing.
 */
async function measureFirstEvent(bundlePath: string, runs: number): Promise<FirstEvent> {
  let requests = 0;
  const server = createServer((request, response) => {
    let body = '';
    request.on('data', (chunk: Buffer) => (body += chunk.toString('utf8')));
    request.on('end', () => {
      requests += 1;
      const action = new URLSearchParams(body).get('Action');
      response.writeHead(200, { 'content-type': 'text/xml' });
      response.end(action === 'DescribeTargetHealth' ? DESCRIBED : DEREGISTERED);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const probe = [
    'const t0 = performance.now();',
    `const m = require(${JSON.stringify(bundlePath)});`,
    'const t1 = performance.now();',
    `const event = ${JSON.stringify(interruptionWarning())};`,
    `const context = { ...${JSON.stringify(fakeContext)}, getRemainingTimeInMillis: () => 30000 };`,
    '(async () => {',
    '  await m.handler(event, context);',
    '  const t2 = performance.now();',
    '  await m.handler(event, context);',
    '  const t3 = performance.now();',
    "  process.stdout.write('\\nBENCH ' + JSON.stringify({ init: t1 - t0, first: t2 - t1, warm: t3 - t2 }) + '\\n');",
    '})();',
  ].join('\n');
  const samples: { init: number; first: number; warm: number }[] = [];
  const perProcess: number[] = [];
  try {
    for (let i = 0; i < runs; i += 1) {
      const before = requests;
      const { stdout } = await promisify(execFile)(process.execPath, ['-e', probe], {
        env: {
          ...process.env,
          ...ENV,
          AWS_REGION: 'us-east-2',
          AWS_ENDPOINT_URL: `http://127.0.0.1:${port}`,
          AWS_ACCESS_KEY_ID: 'AKIAIOSFODNN7EXAMPLE',
          AWS_SECRET_ACCESS_KEY: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
          NODE_NO_WARNINGS: '1',
        },
        encoding: 'utf8',
      });
      const line = stdout.split('\n').find((l) => l.startsWith('BENCH '));
      if (line === undefined) throw new Error(`The first-event probe printed no result:\n${stdout}`);
      samples.push(JSON.parse(line.slice('BENCH '.length)) as { init: number; first: number; warm: number });
      perProcess.push(requests - before);
    }
  } finally {
    server.close();
  }
  return {
    runs,
    firstEventMs: median(samples.map((s) => s.first)),
    warmEventMs: median(samples.map((s) => s.warm)),
    totalMs: median(samples.map((s) => s.init + s.first)),
    requestsPerProcess: `${[...new Set(perProcess)].join('/')} for 2 events`,
  };
}

const NS = 'http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/';
const DESCRIBED =
  `<DescribeTargetHealthResponse xmlns="${NS}"><DescribeTargetHealthResult><TargetHealthDescriptions><member>` +
  `<Target><Id>${SAMPLE_INSTANCE_ID}</Id><Port>80</Port></Target><HealthCheckPort>80</HealthCheckPort>` +
  '<TargetHealth><State>healthy</State></TargetHealth></member></TargetHealthDescriptions></DescribeTargetHealthResult>' +
  '<ResponseMetadata><RequestId>b2</RequestId></ResponseMetadata></DescribeTargetHealthResponse>';
const DEREGISTERED =
  `<DeregisterTargetsResponse xmlns="${NS}"><DeregisterTargetsResult/>` +
  '<ResponseMetadata><RequestId>c3</RequestId></ResponseMetadata></DeregisterTargetsResponse>';

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
}

function ms(value: number): string {
  return `${value.toFixed(1)} ms`;
}

if (require.main === module) {
  run().catch((error: unknown) => {
    console.error(error);
    process.exitCode = 1;
  });
}
