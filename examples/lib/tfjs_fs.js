/**
 * Loading a saved Layers model (model.json + weight files) in Node with nothing but tfjs and fs:
 * what any plain TensorFlow.js user does with an exported tfjs-lip model.
 */
'use strict';

const fs = require('fs');
const path = require('path');
const tf = require('@tensorflow/tfjs-core');
const tfl = require('@tensorflow/tfjs-layers');

/** A tfjs IOHandler reading `<dir>/model.json` and the weight files it names. */
function fileLoadHandler(dir) {
  return {
    load: async () => {
      const json = JSON.parse(fs.readFileSync(path.join(dir, 'model.json'), 'utf8'));
      const weightSpecs = [];
      const buffers = [];
      for (const group of json.weightsManifest) {
        weightSpecs.push(...group.weights);
        for (const p of group.paths) buffers.push(fs.readFileSync(path.join(dir, p)));
      }
      const all = Buffer.concat(buffers);
      return {
        modelTopology: json.modelTopology,
        format: json.format,
        generatedBy: json.generatedBy,
        convertedBy: json.convertedBy,
        trainingConfig: json.trainingConfig,
        weightSpecs,
        weightData: all.buffer.slice(all.byteOffset, all.byteOffset + all.byteLength),
      };
    },
  };
}

/** `tfl.loadLayersModel` on a folder written by `lip.io.saveModel` (or tfjs-node's file://). */
function loadPlainModel(dir) {
  return tfl.loadLayersModel(fileLoadHandler(dir));
}

module.exports = { fileLoadHandler, loadPlainModel, tf };
