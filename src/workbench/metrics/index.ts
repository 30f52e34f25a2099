/**
 * Metrics of the study (retrieval precision at N, k-NN classification, linear probing) and
 * beyond it (bootstrap intervals, paired tests). Pure functions on typed arrays.
 */
export type { Codes, Reals } from './check.js';
export {
  type PrecisionDefinition,
  type PrecisionAtNOptions,
  type PrecisionAtN,
  type GroupPrecision,
  type ClassPrecisionRow,
  precisionAtN,
  groupedPrecision,
  perClassPrecision,
  classCounts,
  column,
} from './precision.js';
export {
  type Average,
  type AbsentClasses,
  type OvrOptions,
  type LabelOptions,
  type ClassificationSummary,
  rocAuc,
  averagePrecision,
  rocAucOvr,
  averagePrecisionOvr,
  rocAucPerClass,
  averagePrecisionPerClass,
  precision,
  recall,
  f1,
  accuracy,
  argmaxRows,
  classificationSummary,
} from './classification.js';
export {
  type KnnCap,
  type KnnQueries,
  type KnnClassificationOptions,
  type KnnClassificationResult,
  knnClassification,
  knnClassScores,
  knnMicroF1ByK,
} from './knnClassification.js';
export {
  type ProbeSplit,
  type AdamWOptions,
  type LinearProbeOptions,
  type LinearProbeResult,
  LinearClassifier,
  linearProbe,
} from './linearProbe.js';
export { type Objective, type LbfgsOptions, type LbfgsStatus, type LbfgsResult, lbfgs } from './lbfgs.js';
export {
  type Features,
  type Standardizer,
  type LogisticFitOptions,
  type LogisticFit,
  type LogisticProbeOptions,
  type LogisticGridPoint,
  type LogisticProbeResult,
  fitStandardizer,
  standardize,
  fitLogisticRegression,
  logisticProbabilities,
  logisticProbe,
  distinctArgmax,
} from './logisticProbe.js';
export {
  type ProbeProtocol,
  type ProbeFlag,
  type ProbeOutcome,
  type ProbeRequest,
  type ProbeFacts,
  probeFlags,
  priorEntropy,
  runProbe,
  probeMethod,
} from './probes.js';
export {
  type ChancePrecisionOptions,
  type ChancePrecision,
  type MajorityBaseline,
  chancePrecisionAtN,
  majorityBaseline,
} from './baselines.js';
export {
  type Interval,
  type BootstrapOptions,
  type PrecisionBootstrap,
  type PairedTestOptions,
  type PairedTestResult,
  bootstrapPrecision,
  pairedPrecisionTest,
} from './bootstrap.js';
export {
  type ExactKnnTable,
  type ApproxKnnTable,
  type KnnIntersectionOptions,
  knnIntersection,
} from './knnIntersection.js';
export {
  type Relevance,
  classRelevance,
  hierarchicalGains,
  ordinalGains,
  ordinalGrade,
  labelSetRelevance,
  labelMasks,
} from './relevance.js';
export {
  type RankingScore,
  averagePrecisionAtK,
  recallAtK,
  rPrecision,
  ndcgAtK,
  majorityVoteAccuracy,
  topOneGradeError,
  rankingMeans,
} from './ranking.js';
