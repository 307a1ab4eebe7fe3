/** Vanilla export and condensation of tfjs-lip models. */
export { vanillaExport, condense } from './vanilla';
export type { VanillaExportOptions, ExportCertificate } from './vanilla';
