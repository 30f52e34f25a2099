/**
 * The weights folder's lock file, `models.lock.json` beside the ONNX files: the sha256 a model's
 * first download had when its card pins none (checked on every later pull and verify), and the
 * reference checks that ran, keyed by the ONNX file's sha256 (so `embed` checks each file once).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CbirError, errorMessage } from '../errors.js';
import { writeJsonAtomic } from '../util/fsx.js';

export const LOCK_FILE = 'models.lock.json';

/** A model's hash as recorded on its first download. */
export interface LockPin {
  file: string;
  sha256: string;
  url?: string;
  recordedAt: string;
}

/** One reference check of one ONNX file (see reference.ts). */
export interface LockCheck {
  id: string;
  ok: boolean;
  /** Name, size and mtime of the file when it was checked (lets `models list` find it without hashing). */
  file: string;
  size: number;
  mtimeMs: number;
  /** sha256 of the <id>.reference.json the check used, and of what of the card shapes the embedding. */
  referenceSha256: string;
  cardKey: string;
  images: number;
  minCosine: number;
  maxAbsDiff: number;
  preprocessMaxAbsDiff: number;
  stage: string;
  problems: string[];
  checkedAt: string;
}

export interface ModelsLock {
  format: 'radcbir-models-lock';
  version: 1;
  models: Record<string, LockPin>;
  checks: Record<string, LockCheck>;
}

/** The lock file of a weights folder. */
export function lockPath(dir: string): string {
  return join(dir, LOCK_FILE);
}

function emptyLock(): ModelsLock {
  return { format: 'radcbir-models-lock', version: 1, models: {}, checks: {} };
}

/** Read a folder's lock file (an empty lock when there is none); a damaged one is an error naming it. */
export function readLock(dir: string): ModelsLock {
  const file = lockPath(dir);
  if (!existsSync(file)) return emptyLock();
  let doc: Partial<ModelsLock>;
  try {
    doc = JSON.parse(readFileSync(file, 'utf8')) as Partial<ModelsLock>;
  } catch (e) {
    throw new CbirError(`the models lock file cannot be read: ${errorMessage(e)}`, {
      file,
      hint: 'fix the JSON, or delete the file (the hashes it recorded are then recorded again on the next download)',
      code: 'model/lock-corrupt',
    });
  }
  if (doc.format !== 'radcbir-models-lock' || typeof doc.models !== 'object' || doc.models === null)
    throw new CbirError('this is not a radcbir models lock file (no "format": "radcbir-models-lock")', {
      file,
      hint: 'move the file away; radcbir writes a new one on the next download',
      code: 'model/lock-corrupt',
    });
  return { ...emptyLock(), ...doc, checks: doc.checks ?? {} } as ModelsLock;
}

/** Read, change and write back a folder's lock file atomically. */
export async function updateLock(dir: string, change: (lock: ModelsLock) => void): Promise<void> {
  const lock = readLock(dir);
  change(lock);
  await writeJsonAtomic(lockPath(dir), lock);
}

/** Like updateLock for caches: a folder that cannot be written (read-only weights) is not an error. */
export async function updateLockQuietly(dir: string, change: (lock: ModelsLock) => void): Promise<boolean> {
  try {
    await updateLock(dir, change);
    return true;
  } catch (e) {
    if (e instanceof CbirError) throw e;
    return false;
  }
}
