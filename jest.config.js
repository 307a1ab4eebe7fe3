/** Unit tests: ts-jest, one process per file, the backend chosen by TFJS_LIP_TEST_BACKEND. */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: {
    '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.json', diagnostics: false }],
  },
  setupFilesAfterEnv: ['<rootDir>/test/setup.ts'],
  testTimeout: 300000,
  maxWorkers: 2,
  reporters: ['default', '<rootDir>/test/summary_reporter.js'],
};
