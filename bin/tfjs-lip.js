#!/usr/bin/env node
'use strict';
// The experiments command line: see src/cli/index.ts (compiled to dist/cli/).
// The union package registers tfjs' chained tensor methods, which tfjs-layers' own orthogonal
// initializer needs (`rMat.flatten()`); without it, configs naming 'orthogonal' cannot run.
try {
  require('@tensorflow/tfjs');
} catch {
  /* @tensorflow/tfjs-core and -layers alone: fine for every other initializer */
}
require('../dist/cli').main().catch((error) => {
  console.error(error);
  process.exit(1);
});
