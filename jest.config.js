/**
 * Unit tests: ts-jest, one process per file, the backend chosen by TFJS_LIP_TEST_BACKEND (`cpu`
 * by default, or `wasm`). `npm test` runs the suite twice, once per backend; the suites below do
 * not depend on the in-process backend (they start their own processes or browsers, or read the
 * sources), so they run in the cpu pass only. The reporter prints the backend of the pass, the
 * suites it left to the other pass, and every skipped test with its reason.
 */
const backend = process.env.TFJS_LIP_TEST_BACKEND ?? 'cpu';

/** Suites that run once, in the cpu pass (file names under test/, without `.test.ts`). */
const ONCE_SUITES = [
  'architecture',
  'bench_smoke',
  'browser',
  'cli',
  'cli_plots_browser',
  'browser_training',
  'deployment',
  'package',
  'process_child',
  'public_api',
  'readme_snippets',
];

module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  testPathIgnorePatterns: ['/node_modules/', ...(backend === 'cpu' ? [] : ONCE_SUITES.map((name) => `/test/${name}\\.test\\.ts$`))],
  transform: {
    '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.json', diagnostics: false }],
  },
  setupFilesAfterEnv: ['<rootDir>/test/setup.ts'],
  testTimeout: 300000,
  maxWorkers: 2,
  reporters: ['default', ['<rootDir>/test/summary_reporter.js', { backend, onceSuites: ONCE_SUITES }]],
};
