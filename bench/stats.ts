// The statistics every scenario reports: nearest-rank percentiles and medians.

/** Nearest-rank percentile (p in 0..100) of the samples. */
export const percentile = (xs: readonly number[], p: number) =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.ceil((p / 100) * xs.length) - 1)] as number;

/** The middle sample (the upper one of an even count). */
export const median = (xs: readonly number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
