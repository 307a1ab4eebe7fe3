/** Invertible down/up sampling (placeholder: filled in by its owner). */
export {};
