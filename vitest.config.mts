import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    environment: 'node',
    // Stack synthesis runs esbuild and cdk-nag; give it room on a 2-core machine.
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // Both cores: much of a test file's time is loading aws-cdk-lib, which runs as well beside another file.
    maxWorkers: 2,
    // A passing run prints the summary; a failing test's logs still show.
    silent: 'passed-only',
    env: {
      // The SDK warns on every fork that its 2027 releases need Node.js 22; the tests run on 20 deliberately.
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    },
  },
});
