/** Lipschitz layers: `lip.layers.*`. */
export * from './base';
export * from './dense';
export * from './convolutional';
export * from './pooling';
export * from './resampling';
