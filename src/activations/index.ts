/** Lipschitz activations as layers (placeholder: filled in by its owner). */
export {};
