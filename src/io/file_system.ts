/**
 * A Node.js file-system IOHandler writing and reading the standard tfjs artifacts, as
 * tfjs-node's `file://` handler does: `model.json` (topology, format, weightsManifest with
 * paths relative to model.json, trainingConfig, ...) and one `weights.bin`.
 *
 * It needs only Node's `fs` and `path` (no tfjs-node), fetched at call time so that tfjs-lip
 * still loads in a browser bundle; in a browser the handler throws when used.
 *
 * IO problems (missing or malformed model.json, missing or short weight file) throw a plain
 * `Error` naming the file; `LipschitzConfigError` is kept for configuration mistakes.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import type * as fsModule from 'fs';
import type * as pathModule from 'path';
import { checkKnownKeys, optionNames } from '../core/validation';
import { configError } from '../core/errors';
import { assertFiniteWeights } from '../model/finite';
import { checkModelArgument } from '../model/model_argument';
import { prepareDirectory } from './target_dir';

const MODEL_JSON_FILENAME = 'model.json';
const WEIGHTS_BINARY_FILENAME = 'weights.bin';
const FILE_SCHEME = 'file://';

/** Loads a Node built-in module without a static `require` (invisible to browser bundlers). */
function nodeBuiltin<T>(id: string): T {
  const proc = typeof process === 'undefined' ? undefined : process;
  if (proc?.versions?.node === undefined) {
    throw new Error(`lip.io file handlers need Node.js ('${id}' is unavailable here); in a browser use tf.io handlers such as 'indexeddb://'.`);
  }
  const getBuiltin = (proc as { getBuiltinModule?: (name: string) => unknown }).getBuiltinModule;
  if (typeof getBuiltin === 'function') {
    const found = getBuiltin.call(proc, id);
    if (found !== undefined) return found as T;
  }
  // Node < 20.16: the CommonJS require of this module.
  const req = (typeof module === 'object' && module !== null ? module.require?.bind(module) : undefined) as
    | ((name: string) => unknown)
    | undefined;
  if (req === undefined) throw new Error(`lip.io file handlers could not load Node's '${id}' module.`);
  return req(id) as T;
}

/**
 * `location` as a file-system path (a `file://` URL has its scheme removed, as tfjs-node does);
 * throws `LipschitzConfigError` naming `name` for anything but a non-empty path.
 */
function toPath(location: unknown, name: string): string {
  const path = typeof location === 'string' && location.startsWith(FILE_SCHEME) ? location.slice(FILE_SCHEME.length) : location;
  if (typeof path !== 'string' || path.length === 0) {
    configError(name, "a directory path or a file:// URL (e.g. './out')", location);
  }
  return path;
}

/** Bytes per element of a stored weight, or undefined when variable (strings). */
function bytesPerElement(spec: tf.io.WeightsManifestEntry): number | undefined {
  const stored = spec.quantization?.dtype ?? spec.dtype;
  switch (stored) {
    case 'float32':
    case 'int32':
      return 4;
    case 'float16':
    case 'uint16':
      return 2;
    case 'uint8':
    case 'bool':
      return 1;
    default:
      return undefined;
  }
}

function describeError(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** Writes one file; an error names it. */
async function writeNamed(fs: typeof fsModule, file: string, data: Uint8Array | string): Promise<void> {
  try {
    await fs.promises.writeFile(file, data);
  } catch (e) {
    throw new Error(`lip.io cannot write ${file}: ${describeError(e)}`);
  }
}

/** Node file-system IOHandler for `model.save(...)` and `tf.loadLayersModel(...)`. */
export class FileSystemHandler implements tf.io.IOHandler {
  /** The path given (a directory, or a `.json` file path), without `file://`. */
  readonly path: string;

  constructor(location: string) {
    this.path = toPath(location, 'fileSystem location');
  }

  /** Where model.json lives: `path/model.json`, or `path` itself when it names a `.json` file. */
  private modelJsonPath(): string {
    const path = nodeBuiltin<typeof pathModule>('path');
    return this.path.toLowerCase().endsWith('.json') ? path.resolve(this.path) : path.resolve(this.path, MODEL_JSON_FILENAME);
  }

  async save(artifacts: tf.io.ModelArtifacts): Promise<tf.io.SaveResult> {
    const fs = nodeBuiltin<typeof fsModule>('fs');
    const path = nodeBuiltin<typeof pathModule>('path');
    if (artifacts.modelTopology instanceof ArrayBuffer) {
      throw new Error('lip.io saves JSON model topologies only (got a binary GraphDef).');
    }
    const jsonPath = this.modelJsonPath();
    const dir = path.dirname(jsonPath);
    await prepareDirectory(fs, path, dir);

    const modelJSON: tf.io.ModelJSON = {
      modelTopology: artifacts.modelTopology ?? {},
      weightsManifest: [{ paths: [WEIGHTS_BINARY_FILENAME], weights: artifacts.weightSpecs ?? [] }],
      format: artifacts.format,
      generatedBy: artifacts.generatedBy,
      convertedBy: artifacts.convertedBy,
    };
    if (artifacts.trainingConfig != null) modelJSON.trainingConfig = artifacts.trainingConfig;
    if (artifacts.signature != null) modelJSON.signature = artifacts.signature;
    if (artifacts.userDefinedMetadata != null) modelJSON.userDefinedMetadata = artifacts.userDefinedMetadata;
    if (artifacts.modelInitializer != null) modelJSON.modelInitializer = artifacts.modelInitializer;
    if (artifacts.initializerSignature != null) modelJSON.initializerSignature = artifacts.initializerSignature;

    const weightData = artifacts.weightData === undefined ? new ArrayBuffer(0) : tf.io.CompositeArrayBuffer.join(artifacts.weightData);
    await writeNamed(fs, path.join(dir, WEIGHTS_BINARY_FILENAME), new Uint8Array(weightData));
    await writeNamed(fs, jsonPath, JSON.stringify(modelJSON));
    return { modelArtifactsInfo: tf.io.getModelArtifactsInfoForJSON(artifacts) };
  }

  async load(): Promise<tf.io.ModelArtifacts> {
    const jsonPath = this.modelJsonPath();
    const modelJSON = await readModelJson(jsonPath);
    const { weightSpecs, weightData } = await readWeights(jsonPath, modelJSON);
    const artifacts: tf.io.ModelArtifacts = {
      modelTopology: modelJSON.modelTopology,
      format: modelJSON.format,
      generatedBy: modelJSON.generatedBy,
      convertedBy: modelJSON.convertedBy,
      weightSpecs,
      weightData,
    };
    if (modelJSON.trainingConfig != null) artifacts.trainingConfig = modelJSON.trainingConfig;
    if (modelJSON.signature != null) artifacts.signature = modelJSON.signature;
    if (modelJSON.userDefinedMetadata != null) artifacts.userDefinedMetadata = modelJSON.userDefinedMetadata;
    if (modelJSON.modelInitializer != null) artifacts.modelInitializer = modelJSON.modelInitializer;
    if (modelJSON.initializerSignature != null) artifacts.initializerSignature = modelJSON.initializerSignature;
    return artifacts;
  }
}

/** Reads and checks `model.json` (exists, valid JSON, has a `modelTopology` object). */
async function readModelJson(jsonPath: string): Promise<tf.io.ModelJSON> {
  const fs = nodeBuiltin<typeof fsModule>('fs');
  let text: string;
  try {
    text = await fs.promises.readFile(jsonPath, 'utf8');
  } catch (e) {
    const code = (e as { code?: string }).code;
    throw new Error(
      code === 'ENOENT' ? `lip.io: model file ${jsonPath} does not exist.` : `lip.io: cannot read ${jsonPath}: ${describeError(e)}`,
    );
  }
  let modelJSON: tf.io.ModelJSON;
  try {
    modelJSON = JSON.parse(text) as tf.io.ModelJSON;
  } catch (e) {
    throw new Error(`lip.io: ${jsonPath} is not valid JSON: ${describeError(e)}`);
  }
  if (typeof modelJSON !== 'object' || modelJSON === null || typeof modelJSON.modelTopology !== 'object' || modelJSON.modelTopology === null) {
    throw new Error(`lip.io: ${jsonPath} has no 'modelTopology' object; it is not a tfjs model.json.`);
  }
  return modelJSON;
}

/** Reads the weight files `model.json` lists (in manifest order), checking their total size. */
async function readWeights(jsonPath: string, modelJSON: tf.io.ModelJSON): Promise<{ weightSpecs: tf.io.WeightsManifestEntry[]; weightData: ArrayBuffer }> {
  const fs = nodeBuiltin<typeof fsModule>('fs');
  const path = nodeBuiltin<typeof pathModule>('path');
  const manifest = modelJSON.weightsManifest ?? [];
  if (!Array.isArray(manifest)) throw new Error(`lip.io: 'weightsManifest' of ${jsonPath} is not an array.`);
  const dir = path.dirname(jsonPath);
  const buffers: Uint8Array[] = [];
  const weightSpecs: tf.io.WeightsManifestEntry[] = [];
  for (const group of manifest) {
    if (!Array.isArray(group?.paths) || !Array.isArray(group?.weights)) {
      throw new Error(`lip.io: 'weightsManifest' of ${jsonPath} has a group without 'paths' and 'weights' arrays.`);
    }
    for (const relative of group.paths) {
      const file = path.join(dir, relative);
      try {
        buffers.push(await fs.promises.readFile(file));
      } catch (e) {
        const code = (e as { code?: string }).code;
        throw new Error(
          code === 'ENOENT'
            ? `lip.io: weight file ${file} listed in ${jsonPath} does not exist.`
            : `lip.io: cannot read weight file ${file}: ${describeError(e)}`,
        );
      }
    }
    weightSpecs.push(...group.weights);
  }
  const joined = new Uint8Array(buffers.reduce((s, b) => s + b.byteLength, 0));
  let offset = 0;
  for (const b of buffers) {
    joined.set(b, offset);
    offset += b.byteLength;
  }
  checkWeightSize(jsonPath, weightSpecs, joined.byteLength);
  return { weightSpecs, weightData: joined.buffer };
}

/** Throws when the weight files do not hold the bytes the manifest needs (dtypes known). */
function checkWeightSize(jsonPath: string, weightSpecs: tf.io.WeightsManifestEntry[], total: number): void {
  let needed = 0;
  for (const spec of weightSpecs) {
    const bytes = bytesPerElement(spec);
    if (bytes === undefined) return;
    needed += bytes * spec.shape.reduce((p, d) => p * d, 1);
  }
  if (needed !== total) {
    throw new Error(`lip.io: the weight files of ${jsonPath} hold ${total} bytes, but its weightsManifest needs ${needed}.`);
  }
}

/**
 * IOHandler for a directory (or a `model.json` path, or a `file://` URL of either), usable as
 * `model.save(lip.io.fileSystem(dir))` and `tf.loadLayersModel(lip.io.fileSystem(dir))`.
 * Node.js only.
 */
export function fileSystem(location: string): FileSystemHandler {
  return new FileSystemHandler(location);
}

/**
 * Saves `model` as `dir/model.json` + `dir/weights.bin` (the directory is created if needed).
 * Rejects with an error naming the weight when a weight is NaN or infinite (the model would
 * predict NaN), and with an error naming the path when the directory cannot be used (a file on
 * the way, procfs/sysfs, not writable). `model.save(lip.io.fileSystem(dir))` saves without the
 * weight check.
 */
export async function saveModel(model: tfl.LayersModel, location: string): Promise<tf.io.SaveResult> {
  checkModelArgument('saveModel', model);
  const handler = new FileSystemHandler(toPath(location, 'saveModel location'));
  assertFiniteWeights(model, 'saveModel');
  return model.save(handler);
}

/** The names of tfjs' `LoadOptions`, checked against its type. */
const LOAD_OPTIONS = optionNames<tf.io.LoadOptions>({
  requestInit: true,
  onProgress: true,
  fetchFunc: true,
  strict: true,
  weightPathPrefix: true,
  fromTFHub: true,
  weightUrlConverter: true,
  streamWeights: true,
});

/**
 * Loads a LayersModel saved by `saveModel` (or by tfjs-node's `file://` handler). tfjs-lip
 * layers resolve because importing tfjs-lip registers their classes.
 */
export function loadModel(location: string, options?: tf.io.LoadOptions): Promise<tfl.LayersModel> {
  checkKnownKeys('loadModel', options, LOAD_OPTIONS);
  return tfl.loadLayersModel(new FileSystemHandler(toPath(location, 'loadModel location')), options);
}
