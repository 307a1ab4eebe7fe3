/**
 * The ES-module build of tfjs-lip: `src/index.ts` bundled by esbuild into one file,
 * `dist/esm/index.mjs`, for bundlers (esbuild, Vite, webpack, Rollup) and browsers; and
 * `src/inference/index.ts` (`tfjs-lip/inference`, the inference layers of exports made with
 * `inferenceLayers: true`) into `dist/esm/inference.mjs`, on its own.
 *
 * Every npm package stays an `import` of that package (`@tensorflow/tfjs-core`,
 * `@tensorflow/tfjs-layers`, ...): the application's bundler resolves them, so the page has one
 * copy of tfjs-core, shared with `@tensorflow/tfjs`. Node itself loads the CommonJS build (the
 * `node` condition of `exports` in package.json) for both `require` and `import`, so a Node
 * process never holds two copies of tfjs-lip. Run by `npm run build` after `tsc`.
 */
import { build } from 'esbuild';
import { fileURLToPath } from 'node:url';
import * as path from 'node:path';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

const result = await build({
  absWorkingDir: root,
  entryPoints: { index: 'src/index.ts', inference: 'src/inference/index.ts' },
  outdir: 'dist/esm',
  outExtension: { '.js': '.mjs' },
  bundle: true,
  format: 'esm',
  platform: 'neutral',
  target: 'es2020',
  packages: 'external',
  sourcemap: true,
  legalComments: 'none',
  logLevel: 'warning',
  metafile: true,
});
if (result.errors.length > 0 || result.warnings.length > 0) {
  console.error('esbuild: the ESM build has errors or warnings.');
  process.exit(1);
}
for (const [file, output] of Object.entries(result.metafile.outputs)) {
  if (output.entryPoint === undefined) continue;
  console.log(`${file}: ${(output.bytes / 1024).toFixed(0)} kB (ES module; @tensorflow/* and other packages external)`);
}
