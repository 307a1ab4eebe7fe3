/** Convolution corrective factor and spectral normalization of the convolution operator (placeholder). */
export {};
