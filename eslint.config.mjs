import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import prettier from 'eslint-config-prettier';

const ETCD3 = {
  name: 'etcd3',
  message: 'Only src/worker-id/etcd/etcd3-adapter.ts uses etcd3; the claim talks to etcd through EtcdPort.',
};
/** The service uses the client package as a package, like any consumer. */
const CLIENT_FILES = {
  regex: '(^|/)packages/',
  message:
    'The service imports the client package as @snowflake-id/client or @snowflake-id/client/contract, never its files.',
};
/** The one code → gRPC status mapping belongs to the transport edge. */
const STATUS_MAP = {
  regex: '(^|/)grpc/status$',
  message: 'Only the gRPC layer (src/grpc/) maps errors to gRPC status (toGrpcStatus).',
};

export default tseslint.config(
  { ignores: ['**/dist/', 'coverage/', '**/node_modules/', 'src/generated/', 'packages/client/proto/'] },
  js.configs.recommended,
  ...tseslint.configs.strictTypeChecked,
  {
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/restrict-template-expressions': [
        'error',
        { allowNumber: true, allowBoolean: true },
      ],
    },
  },
  {
    files: ['src/core/**'],
    rules: {
      'no-restricted-syntax': [
        'error',
        {
          selector: "CallExpression[callee.object.name='Date'][callee.property.name='now']",
          message: 'The core reads time only through its injected Clock.',
        },
        {
          selector: "CallExpression[callee.object.name='performance'][callee.property.name='now']",
          message: 'The core reads time only through its injected Clock.',
        },
        {
          selector: "NewExpression[callee.name='Date'][arguments.length=0]",
          message: 'The core reads time only through its injected Clock.',
        },
      ],
      'no-restricted-globals': ['error', 'setTimeout', 'setInterval', 'setImmediate', 'process'],
    },
  },
  // Dependencies point inward (README "Source tree"): the rules below are the layering, enforced. For a file,
  // the last matching entry's no-restricted-imports wins, so each entry lists everything its folder may not do.
  {
    files: ['src/**/*.ts'],
    rules: { 'no-restricted-imports': ['error', { paths: [ETCD3], patterns: [CLIENT_FILES, STATUS_MAP] }] },
  },
  {
    files: ['src/grpc/**/*.ts'],
    rules: { 'no-restricted-imports': ['error', { paths: [ETCD3], patterns: [CLIENT_FILES] }] },
  },
  {
    files: ['src/worker-id/etcd/etcd3-adapter.ts'],
    rules: { 'no-restricted-imports': ['error', { patterns: [CLIENT_FILES, STATUS_MAP] }] },
  },
  {
    files: ['src/core/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              regex: '^(?!\\./|@snowflake-id/client/contract$)',
              message:
                'src/core is pure: it imports only src/core and @snowflake-id/client/contract (no gRPC, pino, prom-client, zod, node:* or service module).',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['packages/client/src/**/*.ts', 'packages/client/src/**/*.mts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              regex: '^(?!\\.{1,2}/|@grpc/grpc-js$|@grpc/proto-loader$|node:)',
              message:
                'The client package imports only its own files (the contract among them), @grpc/grpc-js, @grpc/proto-loader and node:*.',
            },
            {
              regex: '^(\\.\\./){2,}',
              message:
                'The client package never imports from outside itself (the service, its config, engine or worker-ID code).',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['packages/client/src/contract/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              regex: '^(?!\\./)',
              message:
                'The contract is a leaf: it imports only its own files (no package, no node:*, nothing of the client or service).',
            },
          ],
        },
      ],
    },
  },
  {
    // The simulation drives the sources on simulated time: real timers or Date.now would escape it. The
    // etcd3 adapter is the exception: gRPC deadlines are wall-clock dates.
    files: ['src/worker-id/**/*.ts'],
    ignores: ['src/worker-id/etcd/etcd3-adapter.ts'],
    rules: {
      'no-restricted-globals': ['error', 'setTimeout', 'setInterval', 'clearTimeout', 'clearInterval'],
      'no-restricted-syntax': [
        'error',
        {
          selector: "CallExpression[callee.object.name='Date'][callee.property.name='now']",
          message: 'Worker-ID sources read time only through their injected monotonic clock.',
        },
      ],
    },
  },
  {
    // The engine runs on injected clocks, timers and schedulers: the simulation drives the real supervisor
    // on simulated time, where a real timer or clock read would escape it.
    files: ['src/engine/**'],
    rules: {
      'no-restricted-globals': [
        'error',
        'setTimeout',
        'setInterval',
        'setImmediate',
        'clearTimeout',
        'clearInterval',
        'clearImmediate',
      ],
      'no-restricted-syntax': [
        'error',
        {
          selector: "CallExpression[callee.object.name='Date'][callee.property.name='now']",
          message: 'The engine reads time only through its injected clocks.',
        },
        {
          selector: "CallExpression[callee.object.name='performance'][callee.property.name='now']",
          message: 'The engine reads time only through its injected clocks.',
        },
        {
          selector: "NewExpression[callee.name='Date'][arguments.length=0]",
          message: 'The engine reads time only through its injected clocks.',
        },
      ],
    },
  },
  {
    files: ['**/*.mjs', '**/*.js'],
    extends: [tseslint.configs.disableTypeChecked],
    languageOptions: { globals: { module: 'writable', require: 'readonly', __dirname: 'readonly' } },
  },
  {
    files: ['test/**', 'bench/**'],
    rules: { '@typescript-eslint/no-non-null-assertion': 'off' },
  },
  prettier,
);
