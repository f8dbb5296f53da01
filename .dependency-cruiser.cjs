/**
 * The layers of src/, checked by test/src/layers.test.ts (and by `npx depcruise src` by hand). From the ground up:
 * shared helpers (src/shared/), then the adapters and domain (acs, caller, identities, limits, tokens), then the
 * request path (http/, openapi/), then the operations (functions/), and at the top the composition root
 * (services.ts, routes.ts, index.ts). Arrows point down only; type imports count (tsPreCompilationDeps).
 */
const ADAPTERS = '^src/(acs|caller|identities|limits|tokens)/';
const SHARED = '^src/shared/';
const REQUEST_PATH = '^src/(http|openapi)/';
const OPERATIONS = '^src/functions/';
const ROOT = '^src/(services|routes|index)[.]ts$';

module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      comment: 'No import cycle in src/, type imports included.',
      severity: 'error',
      from: { path: '^src/' },
      to: { circular: true },
    },
    {
      name: 'shared-stands-alone',
      comment: 'Shared helpers import only each other (and packages).',
      severity: 'error',
      from: { path: SHARED },
      to: { path: '^src/', pathNot: SHARED },
    },
    {
      name: 'adapters-below-the-request-path',
      comment:
        'Adapters and the domain never import the request path, the operations or the composition root.',
      severity: 'error',
      from: { path: ADAPTERS },
      to: { path: [REQUEST_PATH, OPERATIONS, ROOT, '^src/app-services[.]ts$'] },
    },
    {
      name: 'adapters-take-their-own-options',
      comment:
        'Shared helpers and adapters declare the options they take; only the composition root maps settings onto them.',
      severity: 'error',
      from: { path: [SHARED, ADAPTERS] },
      to: { path: '^src/settings[.]ts$' },
    },
    {
      name: 'request-path-below-operations',
      comment: 'The pipeline, routing and OpenAPI never import an operation or the composition root.',
      severity: 'error',
      from: { path: REQUEST_PATH },
      to: { path: [OPERATIONS, ROOT, '^src/app-services[.]ts$'] },
    },
    {
      name: 'operations-below-the-root',
      comment: 'Operations get their services through their scope, never from the composition root.',
      severity: 'error',
      from: { path: OPERATIONS },
      to: { path: ROOT },
    },
    {
      name: 'only-the-host-entry-reads-the-root',
      comment: 'src/services.ts (the composition root) is imported by src/index.ts alone within src/.',
      severity: 'error',
      from: { path: '^src/', pathNot: '^src/index[.]ts$' },
      to: { path: '^src/services[.]ts$' },
    },
    {
      name: 'src-never-imports-dev-test-bench',
      severity: 'error',
      from: { path: '^src/' },
      to: { path: '^(dev|test|bench|scripts|demo)/' },
    },
  ],
  options: {
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    doNotFollow: { path: 'node_modules' },
    exclude: { path: 'node_modules' },
    includeOnly: '^src/',
  },
};
