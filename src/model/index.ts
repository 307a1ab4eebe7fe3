/** lip.sequential and lipschitzBound (placeholder: filled in by its owner). */
export {};
