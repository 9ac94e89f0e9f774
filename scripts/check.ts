/**
 * The typecheck and the lint in one process, over one TypeScript program: `tsc --noEmit` and typed `eslint .`
 * would each build the same program of about 5,000 files, most of them aws-cdk-lib's and the SDK's
 * declarations. `npm test` runs this beside the tests; `npm run typecheck` and `npm run lint` run each alone.
 * Prints `typecheck: passed|FAILED` and `lint: passed|FAILED`, with the findings of a failure, and exits
 * non-zero if either failed.
 */
import { join } from 'node:path';
import { ESLint } from 'eslint';
import ts from 'typescript';

const root = join(__dirname, '..');

async function main(): Promise<number> {
  const parsed = ts.getParsedCommandLineOfConfigFile(join(root, 'tsconfig.json'), {}, {
    ...ts.sys,
    onUnRecoverableConfigFileDiagnostic: (diagnostic) => {
      throw new Error(ts.flattenDiagnosticMessageText(diagnostic.messageText, '\n'));
    },
  });
  if (parsed === undefined) throw new Error('tsconfig.json could not be read');
  const program = ts.createProgram({ rootNames: parsed.fileNames, options: parsed.options, projectReferences: parsed.projectReferences });
  let status = 0;

  const diagnostics = ts.getPreEmitDiagnostics(program);
  if (diagnostics.length === 0) {
    console.log('typecheck: passed');
  } else {
    console.log('typecheck: FAILED');
    console.log(
      ts.formatDiagnostics(diagnostics, { getCanonicalFileName: (f) => f, getCurrentDirectory: () => root, getNewLine: () => '\n' }),
    );
    status = 1;
  }

  // The same rules as eslint.config.mjs, typed through the program above rather than one of its own.
  const eslint = new ESLint({
    cwd: root,
    overrideConfig: { languageOptions: { parserOptions: { project: false, projectService: false, programs: [program] } } },
  });
  const results = await eslint.lintFiles(['.']);
  const problems = results.reduce((sum, r) => sum + r.errorCount + r.warningCount, 0);
  if (problems === 0) {
    console.log('lint: passed');
  } else {
    console.log('lint: FAILED');
    console.log(await (await eslint.loadFormatter('stylish')).format(results));
    status = 1;
  }
  return status;
}

main().then(
  (status) => {
    process.exitCode = status;
  },
  (error: unknown) => {
    console.error(error);
    process.exitCode = 1;
  },
);
