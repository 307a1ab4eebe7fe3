/** SpectralDense, FrobeniusDense (placeholder: filled in by its owner). */
export {};
