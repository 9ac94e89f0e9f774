import { defineConfig } from 'vitest/config';
import type { TestSpecification } from 'vitest/node';
import { BaseSequencer } from 'vitest/node';

/**
 * The files that take longest, first, so that a fresh clone, which has no record of earlier runs' durations
 * for vitest to order by, does not start one of them last and finish on it alone.
 */
const SLOWEST = [
  'test/cfn-lint.test.ts',
  'test/app.test.ts',
  'test/functions/spot-interruption-drainer.test.ts',
  'test/constructs/spot-interruption-rehearsal.test.ts',
  'test/constructs/spot-fargate-service.test.ts',
  'test/constructs/spot-fleet.test.ts',
];

class SlowestFirst extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const sorted = await super.sort(files);
    const rank = (file: TestSpecification): number => {
      const index = SLOWEST.findIndex((path) => file.moduleId.endsWith(path));
      return index === -1 ? SLOWEST.length : index;
    };
    return [...sorted].sort((a, b) => rank(a) - rank(b));
  }
}

const shared = {
  environment: 'node',
  // Stack synthesis runs esbuild and cdk-nag; give it room on a 2-core machine.
  testTimeout: 60_000,
  hookTimeout: 60_000,
  // A passing run prints the summary; a failing test's logs still show.
  silent: 'passed-only',
  env: {
    // The SDK warns on every fork that its 2027 releases need Node.js 22; the tests run on 20 deliberately.
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
  },
} as const;

/** The package in consumer apps; the CDK CLI's deploy against moto, and its synth failing on bad settings. */
const INTEGRATION = ['test/package-entry.test.ts', 'test/cdk-deploy.integration.test.ts', 'test/synth-errors.test.ts'];

export default defineConfig({
  test: {
    pool: 'forks',
    sequence: { sequencer: SlowestFirst },
    // Both cores: much of a test file's time is loading aws-cdk-lib, which runs as well beside another file.
    maxWorkers: 2,
    projects: [
      {
        test: {
          ...shared,
          // Slower, and run on their own: `npm run test:package` and `npm run test:deploy`.
          name: 'integration',
          include: INTEGRATION,
          testTimeout: 300_000,
        },
      },
      {
        test: {
          ...shared,
          name: 'handlers',
          // Handlers read their environment and create their SDK clients at module scope, as Lambda runs them:
          // each test file loads them afresh.
          include: ['test/functions/**/*.test.ts'],
        },
      },
      {
        test: {
          ...shared,
          name: 'infrastructure',
          include: ['test/**/*.test.ts'],
          exclude: ['test/functions/**', ...INTEGRATION],
          // Synthesis tests share no state but aws-cdk-lib, whose loading is most of a file's time: a worker
          // loads it once for all the files it runs.
          isolate: false,
        },
      },
    ],
  },
});
