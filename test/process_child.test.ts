/**
 * What a Node program sees, in child processes running the built package (`npm test` builds
 * first; skipped when dist/ is missing):
 * - without any tfjs backend, tfjs-lip's entry points name `lip.backend.useFastest()` instead of
 *   tfjs-core's `No backend found in registry.`;
 * - after `useFastest()` starts wasm, an uncaught error or unhandled rejection of the program
 *   itself keeps its stack and Node's exit code 1 (the emscripten runtime's listeners would print
 *   it from inside tf-backend-wasm.node.js and exit with 7, as the control with a bare
 *   `tf.setBackend('wasm')` shows), and `lip.backend.restoreProcessHandlers()` repairs that case.
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { isRethrowingListener, withProcessStateKept } from '../src/backend/process_handlers';
import { itIf } from './helpers/skip';

const ROOT = path.resolve(__dirname, '..');
const built = fs.existsSync(path.join(ROOT, 'dist', 'index.js'));
const maybe = itIf(built, 'dist/ is not built (npm run build)');

let tmp: string;
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tfjs-lip-child-'));
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** `require` of the built package from a script outside the repository. */
const REQUIRE_LIP = `require(${JSON.stringify(path.join(ROOT, 'dist'))})`;

/**
 * Runs `code` as the file `<tmp>/<name>.js` (a program of its own, outside the repository; the
 * repository's node_modules on NODE_PATH) and returns its outcome.
 */
function runScript(name: string, code: string): { status: number | null; stdout: string; stderr: string; file: string } {
  const file = path.join(tmp, `${name}.js`);
  fs.writeFileSync(file, code);
  const env = { ...process.env, NODE_OPTIONS: '', NODE_PATH: path.join(ROOT, 'node_modules') };
  const result = spawnSync(process.execPath, [file], { cwd: tmp, encoding: 'utf8', timeout: 60000, env });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr, file };
}

const FIX = 'call `await lip.backend.useFastest()` (or import @tensorflow/tfjs, or a backend package such as @tensorflow/tfjs-backend-cpu) first.';

describe('no tfjs backend', () => {
  maybe('the README quick start without useFastest() fails at lip.sequential naming useFastest; layers still construct; an unawaited wasm is named', () => {
    const { status, stdout, stderr } = runScript(
      'no_backend',
      `
      const tf = require('@tensorflow/tfjs-core');
      const tfl = require('@tensorflow/tfjs-layers');
      const lip = ${REQUIRE_LIP};
      const attempt = (f) => { try { f(); return 'ok'; } catch (e) { return e.message; } };
      const dense = () => lip.layers.spectralDense({ units: 10, inputShape: [784] });
      console.log(JSON.stringify({
        backends: tf.engine().backendNames(),
        construct: attempt(dense),
        sequential: attempt(() => lip.sequential({ layers: [dense()] })),
        tfSequential: attempt(() => tfl.sequential({ layers: [lip.layers.spectralDense({ units: 10, inputShape: [784], name: 'd' })] })),
        conv: attempt(() => tfl.sequential({ layers: [lip.layers.spectralConv2d({ filters: 2, kernelSize: 3, inputShape: [8, 8, 1], name: 'c' })] })),
        mnist: attempt(() => lip.data.loadMnist({ trainSize: 10, testSize: 10 })),
        notReady: (require('@tensorflow/tfjs-backend-wasm'), attempt(() => lip.sequential({ layers: [dense()] }))),
      }));
      `,
    );
    expect(stderr).toBe('');
    expect(status).toBe(0);
    expect(JSON.parse(stdout)).toEqual({
      backends: [],
      construct: 'ok',
      sequential: `lip.sequential: no tfjs backend is registered: ${FIX}`,
      tfSequential: `SpectralDense 'd' (building its weights): no tfjs backend is registered: ${FIX}`,
      conv: `SpectralConv2D 'c' (building its weights): no tfjs backend is registered: ${FIX}`,
      mnist: `loadMnist: no tfjs backend is registered: ${FIX}`,
      notReady:
        "lip.sequential: the tfjs backend is not ready (The highest priority backend 'wasm' has not yet been initialized. " +
        `Make sure to await tf.ready() or await tf.setBackend() before calling other methods): ${FIX}`,
    });
  });
});

describe('errors of the program after useFastest() keep their stack and exit code', () => {
  const prelude = `
    const tf = require('@tensorflow/tfjs-core');
    const lip = ${REQUIRE_LIP};
  `;

  maybe('an uncaught exception thrown in a timer: exit 1, its own stack, nothing from tf-backend-wasm', () => {
    const { status, stderr, stdout, file } = runScript(
      'timer_throw',
      `${prelude}
      lip.backend.useFastest({ native: false }).then((name) => {
        console.log(name, process.listeners('uncaughtException').length, process.listeners('unhandledRejection').length);
        setTimeout(function userCode() { throw new Error('user boom'); }, 5);
      });
      `,
    );
    expect(stdout.trim()).toBe('wasm 0 0');
    expect(status).toBe(1);
    expect(stderr).toContain('Error: user boom');
    expect(stderr.startsWith(`${file}:`)).toBe(true); // Node prints the throwing line of the program first
    expect(stderr).toMatch(/at Timeout\.userCode .*timer_throw\.js:\d+:\d+\)/);
    expect(stderr).not.toContain('tf-backend-wasm');
  });

  maybe('an error thrown after await in an async main (an unhandled rejection): exit 1, its own stack', () => {
    const { status, stderr, file } = runScript(
      'async_throw',
      `${prelude}
      async function main() {
        await lip.backend.useFastest({ native: false });
        throw new Error('user async boom');
      }
      main();
      `,
    );
    expect(status).toBe(1);
    expect(stderr).toContain('Error: user async boom');
    expect(stderr).toContain(`at main (${file}:`);
    expect(stderr).not.toContain('tf-backend-wasm');
  });

  maybe("control: a bare tf.setBackend('wasm') exits with 7 from inside tf-backend-wasm; restoreProcessHandlers() repairs it", () => {
    const script = (repair: boolean) => `${prelude}
      require('@tensorflow/tfjs-backend-wasm');
      tf.setBackend('wasm').then(() => {
        ${repair ? "console.log('removed', lip.backend.restoreProcessHandlers());" : ''}
        setTimeout(function userCode() { throw new Error('user boom'); }, 5);
      });
      `;
    const bare = runScript('bare_wasm', script(false));
    expect(bare.status).toBe(7);
    expect(bare.stderr).toContain('tf-backend-wasm');
    const repaired = runScript('repaired_wasm', script(true));
    expect(repaired.stdout.trim()).toBe('removed 2');
    expect(repaired.status).toBe(1);
    expect(repaired.stderr.startsWith(`${repaired.file}:`)).toBe(true);
    expect(repaired.stderr).toMatch(/at Timeout\.userCode .*repaired_wasm\.js:\d+:\d+\)/);
    expect(repaired.stderr).not.toContain('tf-backend-wasm');
  });
});

describe('isRethrowingListener', () => {
  it("recognizes emscripten's listeners (as shipped, minified, arrow) and nothing else", () => {
    const shipped = [
      'function (ex) { if (!(ex instanceof ExitStatus)) {\n                    throw ex;\n                } }',
      'function (reason) { throw reason; }',
      'function(e){if(!(e instanceof Ct))throw e}',
      'e=>{throw e}',
      '(reason) => { throw reason; }',
    ];
    for (const source of shipped) {
      // eslint-disable-next-line no-new-func
      const listener = new Function(`return ${source}`)() as () => void;
      expect([source, isRethrowingListener(listener)]).toEqual([source, true]);
    }
    const others = [
      (e: Error) => console.error(e),
      function log(reason: unknown) {
        console.error(reason);
        throw new Error('wrapped');
      },
      (e: Error) => {
        throw new Error(e.message);
      },
      'not a function',
    ];
    for (const other of others) expect(isRethrowingListener(other)).toBe(false);
  });

  it('withProcessStateKept removes a rethrowing listener its start added and puts back process.exitCode', async () => {
    const exitCode = process.exitCode;
    // Listeners that do more than rethrow stay (under the wasm test backend, emscripten's go too).
    const others = process.listeners('unhandledRejection').filter((l) => !isRethrowingListener(l));
    const listener = (reason: unknown) => {
      throw reason;
    };
    const result = await withProcessStateKept(async () => {
      process.on('unhandledRejection', listener);
      process.exitCode = 7;
      return 'started';
    });
    expect(result).toBe('started');
    expect(process.listeners('unhandledRejection')).not.toContain(listener);
    expect(process.listeners('unhandledRejection')).toEqual(others);
    expect(process.exitCode).toBe(exitCode);
  });
});
