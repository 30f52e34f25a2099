/** The data of resume.test.ts and its child: clustered vectors, a train index and two query splits. */
import { clustered } from '../search/vectors.js';

export function fixture() {
  const dim = 16;
  const { x } = clustered(700, dim, 6, 0.7, 5);
  const range = (a: number, b: number) => Int32Array.from({ length: b - a }, (_, i) => a + i);
  return {
    common: { embeddings: x, dim, indexRows: range(0, 500), k: 10, embeddingsHash: 'fixture-v1' },
    splits: [
      { split: 'test', queryRows: range(500, 620) },
      { split: 'val', queryRows: range(620, 700) },
    ],
  };
}
