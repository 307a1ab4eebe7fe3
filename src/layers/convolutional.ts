/** SpectralConv2D family (placeholder: filled in by its owner). */
export {};
