/**
 * The README's architectures, for the export tests: the demo MLP (784-256-128-10 SpectralDense
 * with GroupSort2), the same with MaxMin and with relu, and the MNIST CNN (SpectralConv2D 16/32 +
 * GroupSort2 + scaled L2-norm or average pooling, SpectralDense 64/10, the DEEL-LIP tutorial shape).
 */
import * as tfl from '@tensorflow/tfjs-layers';
import { groupSort2, maxMin } from '../../src/activations';
import { spectralConv2d } from '../../src/layers/convolutional';
import { spectralDense } from '../../src/layers/dense';
import { scaledAveragePooling2d, scaledL2NormPooling2d } from '../../src/layers/pooling';
import { sequential } from '../../src/model';

export type Architecture = 'mlpGroupSort2' | 'mlpMaxMin' | 'mlpRelu' | 'cnnL2' | 'cnnAverage';

export const ARCHITECTURES: readonly Architecture[] = ['mlpGroupSort2', 'mlpMaxMin', 'mlpRelu', 'cnnL2', 'cnnAverage'];

/** Input shape (without the batch) of an architecture. */
export function inputShapeOf(arch: Architecture): number[] {
  return arch.startsWith('cnn') ? [28, 28, 1] : [784];
}

function activation(arch: Architecture): tfl.layers.Layer {
  if (arch === 'mlpMaxMin') return maxMin();
  if (arch === 'mlpRelu') return tfl.layers.reLU();
  return groupSort2();
}

/** A freshly initialized model of the architecture, assembled by `lip.sequential`. */
export function buildArchitecture(arch: Architecture, kCoefLip = 1): tfl.Sequential {
  if (arch.startsWith('mlp')) {
    return sequential({
      kCoefLip,
      layers: [
        spectralDense({ units: 256, inputShape: [784] }),
        activation(arch),
        spectralDense({ units: 128 }),
        activation(arch),
        spectralDense({ units: 10 }),
      ],
    });
  }
  const pool = () => (arch === 'cnnL2' ? scaledL2NormPooling2d({ poolSize: 2 }) : scaledAveragePooling2d({ poolSize: 2 }));
  return sequential({
    kCoefLip,
    layers: [
      spectralConv2d({ inputShape: [28, 28, 1], filters: 16, kernelSize: 3, padding: 'same' }),
      groupSort2(),
      pool(),
      spectralConv2d({ filters: 32, kernelSize: 3, padding: 'same' }),
      groupSort2(),
      pool(),
      tfl.layers.flatten(),
      spectralDense({ units: 64 }),
      groupSort2(),
      spectralDense({ units: 10 }),
    ],
  });
}
