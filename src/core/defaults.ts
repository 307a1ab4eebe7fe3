/** Default settings, mirroring DEEL-LIP (deel/lip/normalizers.py). */
export const DEFAULT_K_COEF_LIP = 1.0;
export const DEFAULT_EPS_SPECTRAL = 1e-3;
export const DEFAULT_EPS_BJORCK = 1e-3;
export const DEFAULT_BETA_BJORCK = 0.5;
export const DEFAULT_MAX_ITER_SPECTRAL = 10;
export const DEFAULT_MAX_ITER_BJORCK = 15;
/** Björck's Taylor order: 1 is DEEL-LIP's update `(1 + beta) W - beta W WᵀW` (LNets offers 1 to 4). */
export const DEFAULT_BJORCK_ORDER = 1;
/** Gradient-safe square root: below this the L2-norm poolings use a linear surrogate. */
export const DEFAULT_EPS_GRAD_SQRT = 1e-6;
