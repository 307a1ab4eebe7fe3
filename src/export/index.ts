/** vanillaExport and condense (placeholder: filled in by its owner). */
export {};
