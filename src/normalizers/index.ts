/** Normalizers: power iteration, spectral normalization, Björck, reshaped kernel orthogonalization (placeholder: filled in by its owner). */
export {};
