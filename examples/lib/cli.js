/**
 * Command-line plumbing shared by the examples: options parsed with Node's `util.parseArgs`
 * (each option also readable from an environment variable, the command line winning), the
 * backend choice (the fastest available by default) and the data choice (the digits embedded in
 * the `mnist` package by default, or an IDX folder: full MNIST, Fashion-MNIST, KMNIST).
 */
'use strict';

const path = require('path');
const { parseArgs } = require('util');
const tf = require('@tensorflow/tfjs');

/**
 * Options common to every example. `env` lists the environment variables read when the flag is
 * absent (the first one set wins).
 */
const COMMON_OPTIONS = {
  data: {
    type: 'string',
    env: ['DEMO_DATA'],
    help: 'folder of IDX files (train-images-idx3-ubyte[.gz], train-labels-idx1-ubyte[.gz], t10k-*): full MNIST or Fashion-MNIST; default: the 10,000 digits embedded in the mnist package',
  },
  backend: {
    type: 'string',
    env: ['DEMO_BACKEND', 'TFJS_BACKEND'],
    default: 'fastest',
    choices: ['fastest', 'wasm', 'cpu'],
    help: 'fastest (lip.backend.useFastest: tfjs-node if installed, else wasm, else cpu), wasm or cpu',
  },
  help: { type: 'boolean', short: 'h', help: 'print this help' },
};

function usage(script, description, options) {
  const lines = [`usage: node ${script} [options]`, '', description, '', 'options:'];
  for (const [name, o] of Object.entries(options)) {
    const flag = `--${name}${o.type === 'string' ? ' <value>' : ''}${o.short ? `, -${o.short}` : ''}`;
    const extra = [
      o.default !== undefined ? `default ${o.default}` : undefined,
      o.env ? `env ${o.env.join(' or ')}` : undefined,
    ].filter(Boolean);
    lines.push(`  ${flag.padEnd(24)} ${o.help}${extra.length ? ` (${extra.join('; ')})` : ''}`);
  }
  return lines.join('\n');
}

/**
 * Parses `process.argv` for `options` (plus --data, --backend, --help) and returns the values:
 * strings stay strings, options with `number: true` are checked and converted, `choices` are
 * enforced. Exits with the usage on --help or a bad option.
 */
function parseCli({ script, description, options = {} }) {
  const all = { ...options, ...COMMON_OPTIONS };
  const config = {};
  for (const [name, o] of Object.entries(all)) {
    config[name] = { type: o.type };
    if (o.short) config[name].short = o.short;
  }
  let values;
  try {
    ({ values } = parseArgs({ options: config, allowPositionals: false, strict: true }));
  } catch (error) {
    console.error(`${error.message}\n\n${usage(script, description, all)}`);
    process.exit(2);
  }
  if (values.help) {
    console.log(usage(script, description, all));
    process.exit(0);
  }
  const out = {};
  for (const [name, o] of Object.entries(all)) {
    if (o.type === 'boolean') {
      out[name] = Boolean(values[name]);
      continue;
    }
    let raw = values[name];
    let source = `--${name}`;
    if (raw === undefined && o.env) {
      const envName = o.env.find((e) => process.env[e] !== undefined && process.env[e] !== '');
      if (envName !== undefined) {
        raw = process.env[envName];
        source = envName;
      }
    }
    if (raw === undefined) raw = o.default;
    if (raw === undefined) {
      out[name] = undefined;
      continue;
    }
    if (o.choices && !o.choices.includes(raw)) fail(`${source} must be one of ${o.choices.join(', ')}, got '${raw}'`);
    if (o.number) {
      const value = Number(raw);
      const ok = Number.isFinite(value) && (o.nonNegative ? value >= 0 : value > 0) && (!o.integer || Number.isInteger(value));
      if (!ok) fail(`${source} must be a ${o.nonNegative ? 'non-negative' : 'positive'} ${o.integer ? 'integer' : 'number'}, got '${raw}'`);
      out[name] = value;
    } else {
      out[name] = raw;
    }
  }
  return out;
}

function fail(message) {
  console.error(`error: ${message} (--help lists the options)`);
  process.exit(2);
}

/**
 * Activates the backend asked for ('fastest', 'wasm' or 'cpu') and returns a one-line
 * description such as `wasm (SIMD, 1 thread)`.
 */
async function setupBackend(lip, choice) {
  if (choice === 'fastest') {
    await lip.backend.useFastest();
  } else {
    if (choice === 'wasm') {
      require('@tensorflow/tfjs-backend-wasm');
      lip.backend.registerWasmGradientKernels();
    }
    if (!(await tf.setBackend(choice))) throw new Error(`backend '${choice}' could not be initialized`);
    await tf.ready();
  }
  const d = lip.backend.describeBackend();
  const details = [];
  if (d.simd !== undefined) details.push(d.simd ? 'SIMD' : 'no SIMD');
  if (d.threads !== undefined) details.push(d.threads ? 'multi-threaded' : '1 thread');
  return `${d.name}${details.length ? ` (${details.join(', ')})` : ''}${choice === 'fastest' ? ', chosen by lip.backend.useFastest()' : ''}`;
}

/**
 * The data set: `lip.data.loadIdx(dir)` when `dir` is given, else `lip.data.loadMnist()`.
 * Returns `{ data, description }`.
 */
async function loadData(lip, dir, options = {}) {
  if (dir === undefined) {
    const data = lip.data.loadMnist(options);
    return { data, description: `embedded mnist package: ${data.labelsTrain.length} train / ${data.labelsTest.length} test digits` };
  }
  const data = await lip.data.loadIdx(path.resolve(dir), options);
  const [rows, cols] = data.imageSize;
  return { data, description: `${dir} (IDX): ${data.labelsTrain.length} train / ${data.labelsTest.length} test images, ${rows}x${cols}` };
}

module.exports = { parseCli, setupBackend, loadData };
