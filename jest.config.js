/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  // Product tests in test/, each developer tool's own tests in tools/<tool>/test/.
  roots: ['<rootDir>/test', '<rootDir>/tools'],
  testMatch: ['**/*.test.ts'],
  // Transpile only: `npm test` type-checks the whole tree once with tsc before jest starts.
  transform: { '^.+\\.ts$': ['ts-jest', { diagnostics: false }] },
  testTimeout: 60_000,
  maxWorkers: process.env.CI ? 2 : '50%',
};
