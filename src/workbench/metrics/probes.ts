/**
 * The two linear-probe protocols behind one call, and the flags that mark a degenerate probe.
 * 'logistic' (the default) is the well-posed probe of logisticProbe.ts; 'study' is the study's
 * AdamW protocol (linearProbe.ts), kept to reproduce its numbers.
 */
import type { ProgressListener } from '../util/progress.js';
import { linearProbe, type LinearProbeOptions, type LinearProbeResult, type ProbeSplit } from './linearProbe.js';
import { denseSplit } from './probeData.js';
import { logisticProbe, type LogisticProbeOptions, type LogisticProbeResult } from './logisticProbe.js';

export type ProbeProtocol = 'logistic' | 'study';

/**
 * Why a probe's numbers should not be read as the embedding's quality:
 * - single_class: it predicts one class for every test image;
 * - iteration_cap: it stopped at its iteration (L-BFGS) or epoch (AdamW) cap, not by converging
 *   or early stopping;
 * - line_search: L-BFGS found no step that decreases the loss (not converged);
 * - majority_level: its test accuracy is no higher than the majority-class baseline's;
 * - prior_level: at the chosen point its train cross-entropy is no lower than that of predicting
 *   the train class shares, H = −Σ_c p_c log p_c (it learnt nothing beyond the class prior).
 */
export type ProbeFlag = 'single_class' | 'iteration_cap' | 'line_search' | 'majority_level' | 'prior_level';

/** A probe result with its protocol and flags. */
export type ProbeOutcome =
  | (LogisticProbeResult & { protocol: 'logistic'; flags: ProbeFlag[] })
  | (LinearProbeResult & { protocol: 'study'; flags: ProbeFlag[] });

/** Which probes to run and their options. */
export interface ProbeRequest {
  protocols: ProbeProtocol[];
  logistic?: LogisticProbeOptions;
  study?: LinearProbeOptions;
}

/** The facts the flags are read from (a probe result supplies them). */
export interface ProbeFacts {
  protocol: ProbeProtocol;
  testPredictedClasses: number;
  testAccuracy: number;
  /** Logistic: the L-BFGS stop reason. */
  status?: LogisticProbeResult['status'];
  /** Study: whether patience ended training. */
  stoppedEarly?: boolean;
  /** Mean train cross-entropy at the chosen C or epoch. */
  trainLoss?: number;
  /** Entropy of the train class shares (the cross-entropy of predicting them). */
  priorLoss?: number;
  /** Test accuracy of the majority-class baseline. */
  majorityAccuracy?: number;
}

/** The flags of a probe (see ProbeFlag); a fact left out turns its flag off. */
export function probeFlags(f: ProbeFacts): ProbeFlag[] {
  const flags: ProbeFlag[] = [];
  if (f.testPredictedClasses <= 1) flags.push('single_class');
  if (f.protocol === 'logistic' ? f.status === 'max-iter' : f.stoppedEarly === false) flags.push('iteration_cap');
  if (f.protocol === 'logistic' && f.status === 'line-search') flags.push('line_search');
  if (f.majorityAccuracy !== undefined && f.testAccuracy <= f.majorityAccuracy + 1e-12) flags.push('majority_level');
  if (f.trainLoss !== undefined && f.priorLoss !== undefined && f.trainLoss >= f.priorLoss) flags.push('prior_level');
  return flags;
}

/** H = −Σ_c p_c log p_c of the class shares of `labels`: the cross-entropy of always predicting the shares. */
export function priorEntropy(labels: ArrayLike<number>, nClasses: number): number {
  const n = new Float64Array(nClasses);
  for (let i = 0; i < labels.length; i++) n[labels[i]]++;
  let h = 0;
  for (const k of n) if (k > 0) h -= (k / labels.length) * Math.log(k / labels.length);
  return h;
}

/**
 * Run one probe protocol on train / val / test and flag it. Splits with `rows` are read per
 * mini-batch by the study protocol; the logistic probe standardises them into one copy.
 */
export async function runProbe(
  protocol: ProbeProtocol,
  splits: { train: ProbeSplit; val: ProbeSplit; test: ProbeSplit },
  dim: number,
  nClasses: number,
  o: {
    logistic?: LogisticProbeOptions;
    study?: LinearProbeOptions;
    majorityAccuracy?: number;
    progress?: ProgressListener;
    source?: string;
  } = {},
): Promise<ProbeOutcome> {
  const { train, val, test } = splits;
  const common = { progress: o.progress, source: o.source };
  const facts = {
    priorLoss: priorEntropy(train.labels, nClasses),
    majorityAccuracy: o.majorityAccuracy,
  };
  if (protocol === 'logistic') {
    const [tr, va, te] = [train, val, test].map((s) => denseSplit(s, dim));
    const r = logisticProbe(tr, va, te, dim, nClasses, { ...o.logistic, ...common });
    const flags = probeFlags({
      ...facts,
      protocol,
      testPredictedClasses: r.testPredictedClasses,
      testAccuracy: r.metrics.accuracy,
      status: r.status,
      trainLoss: r.chosenTrainLoss,
    });
    return { ...r, protocol, flags };
  }
  const r = await linearProbe(train, val, test, dim, nClasses, { ...o.study, ...common });
  const flags = probeFlags({
    ...facts,
    protocol,
    testPredictedClasses: r.testPredictedClasses,
    testAccuracy: r.metrics.accuracy,
    stoppedEarly: r.stoppedEarly,
    trainLoss: r.trainLoss[r.bestEpoch],
  });
  return { ...r, protocol, flags };
}

/** The table name of a protocol's row: Table 5's `linear_probe` (default) and `linear_probe_study`. */
export function probeMethod(protocol: ProbeProtocol): string {
  return protocol === 'logistic' ? 'linear_probe' : 'linear_probe_study';
}
