/**
 * Loading a saved Layers model (model.json + weight files) in Node with nothing but
 * `@tensorflow/tfjs` and `fs`: what any plain TensorFlow.js user does with an exported tfjs-lip
 * model. The same code as the Node snippet of docs/deployment.md (tested there).
 */
'use strict';

const fs = require('fs');
const path = require('path');
const tf = require('@tensorflow/tfjs');

/** `tf.loadLayersModel` from a folder holding model.json and the weight files it lists. */
async function loadPlainModel(dir) {
  const json = JSON.parse(fs.readFileSync(path.join(dir, 'model.json'), 'utf8'));
  const weightSpecs = json.weightsManifest.flatMap((group) => group.weights);
  const bytes = Buffer.concat(json.weightsManifest.flatMap((group) => group.paths.map((p) => fs.readFileSync(path.join(dir, p)))));
  const weightData = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength);
  return tf.loadLayersModel(tf.io.fromMemory({ modelTopology: json.modelTopology, weightSpecs, weightData }));
}

module.exports = { loadPlainModel, tf };
