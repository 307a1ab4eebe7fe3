/** Lipschitz layers: `lip.layers.*`. */
export * from '../core/contracts';
export * from './dense';
export * from './convolutional';
export * from './pooling';
export * from './resampling';
