/**
 * t-SNE maps of embedding spaces (the study's Fig. 4): PCA, fast Barnes–Hut t-SNE (as
 * scikit-learn's), the tsne-js reference, map-quality measures and stratified subsampling.
 *
 *   const rows = stratifiedSample(labels, { maxPerClass: 500 }, 0);
 *   const { embedding, kl } = tsne(vectors, n, dim, { perplexity: 30, seed: 0 });
 */
export { tsne, type TsneOptions, type TsneResult } from './tsne.js';
export { pca, pcaFit, pcaTransform, type PcaOptions, type PcaModel } from './pca.js';
export { tsneReference, type ReferenceOptions, type ReferenceResult } from './reference.js';
export { jointProbabilities, klDivergence, trustworthiness, knnRecall } from './quality.js';
export { exactKnn, type SparseP, type Neighbours } from './affinities.js';
export { stratifiedSample, type SampleLimit } from './sample.js';
