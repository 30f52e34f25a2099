/**
 * The study's protocol (Denner et al., "Leveraging Foundation Models for Content-Based Image
 * Retrieval in Radiology") as constants: every default of the pipeline that comes from the paper
 * is named here once, and the steps import it.
 */

/** Neighbours per query in the k-NN table (the study's knn.csv holds the top 100). */
export const STUDY_K = 100;

/** The N of the study's P@N tables (Tables 3, 4, 9, 10). */
export const STUDY_NS = [1, 3, 5, 10] as const;

/** Bootstrap replicates of the 95 % intervals of P@N. */
export const STUDY_REPLICATES = 1000;

/** Seed of the bootstrap resampling. */
export const BOOTSTRAP_SEED = 0;

/** Permutations of the paired sign-flip test between two models. */
export const STUDY_PERMUTATIONS = 10000;

/** The index-size ablation's parameters (study: T = 3000, Q = 38, N = 5 … 3000, seeds 0 … 4). */
export interface IndexSizeOptions {
  minIndexPerClass: number;
  queriesPerClass: number;
  sizes: number[];
  seeds: number[];
}

/** The study's index-size ablation (Fig. 2): T, Q, the N ladder and the seeds. */
export const STUDY_INDEX_SIZE = {
  /** T: classes take part when they have at least this many index images. */
  minIndexPerClass: 3000,
  /** Q: fixed test queries per class. */
  queriesPerClass: 38,
  /** Index images per class, N = 5 … 3000. */
  sizes: [5, 10, 20, 50, 100, 200, 500, 1000, 2000, 3000],
  /** One random index subset per seed. */
  seeds: [0, 1, 2, 3, 4],
} as const;

/** The study's linear probe: one linear layer, AdamW, early stopping on val accuracy. */
export const STUDY_PROBE = {
  epochs: 100,
  batchSize: 512,
  patience: 20,
  lr: 1e-3,
  weightDecay: 0.01,
  seed: 0,
} as const;

/**
 * The default linear probe (not the study's): multinomial logistic regression on standardised
 * embeddings, L-BFGS with scikit-learn's tol and max_iter, C chosen on val accuracy from this grid.
 */
export const LOGISTIC_PROBE = {
  cs: [0.001, 0.01, 0.1, 1, 10, 100],
  tol: 1e-4,
  maxIter: 1000,
  /** tol bounds the gradient of the mean loss (scikit-learn ≥ 1.4), not of the summed loss (1.2). */
  scale: 'mean',
} as const;
