/** Orthogonality regularizers (`lip.regularizers.*`, DEEL-LIP's deel/lip/regularizers.py). */
export { OrthDenseRegularizer, LorthRegularizer, orthDense, lorth2d } from './orthogonality';
export type { OrthDenseRegularizerArgs, LorthRegularizerArgs } from './orthogonality';
