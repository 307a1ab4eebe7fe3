/** Scaled poolings (placeholder: filled in by its owner). */
export {};
