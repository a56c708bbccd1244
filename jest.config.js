/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: { '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.json' }] },
  // The client package from its sources, as tsconfig.json's `paths` type-checks it: tests of the service
  // and of the client see one copy of it (the built package is what dist/ and the pack test use).
  moduleNameMapper: {
    '^@snowflake-id/client$': '<rootDir>/packages/client/src/index.ts',
    '^@snowflake-id/client/contract$': '<rootDir>/packages/client/src/contract/index.ts',
    // A dynamic import() names the compiled file (Node's ES module resolution needs the extension);
    // from the sources that is the .ts beside it.
    '^(\\.{1,2}/.*)\\.js$': '$1',
  },
  maxWorkers: 2,
  testTimeout: 30000,
};
