/**
 * Provable-robustness metrics (`lip.metrics.*`, DEEL-LIP's deel/lip/metrics.py). The certified
 * radii themselves are `lip.certify` / `lip.certifyLogits` (src/metrics/certify.ts).
 */
export {
  DEFAULT_ROBUST_EPSILON,
  categoricalProvableRobustAccuracy,
  binaryProvableRobustAccuracy,
  categoricalProvableAvgRobustness,
  binaryProvableAvgRobustness,
} from './provable';
export type {
  ProvableMetric,
  CategoricalProvableRobustAccuracyArgs,
  BinaryProvableRobustAccuracyArgs,
  CategoricalProvableAvgRobustnessArgs,
  BinaryProvableAvgRobustnessArgs,
} from './provable';
