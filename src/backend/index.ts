/** Backend selection and wasm gradient kernels (placeholder: filled in by its owner). */
export {};
