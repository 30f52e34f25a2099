import { statSync } from 'node:fs';
import { basename, dirname, isAbsolute, relative, resolve } from 'node:path';
import { CbirError, errorCode, errorMessage } from '../errors.js';

/**
 * File-system failures while writing (a full disk, a read-only or foreign folder, a file where a
 * folder should be) as CbirErrors naming the path and what to do, instead of raw Node errors.
 * Codes: 'fs/no-space' (ENOSPC, EDQUOT), 'fs/not-writable' (EACCES, EPERM, EROFS),
 * 'fs/path-blocked' (EEXIST, ENOTDIR, EISDIR where a folder is expected), and 'fs/not-readable'
 * (EACCES, EPERM on a file outside `path`, the output: an input being read). Anything else is
 * returned unchanged.
 */
export function fsError(e: unknown, path: string, what: string, keptNote = ''): unknown {
  if (e instanceof CbirError) return e;
  const code = errorCode(e);
  const errPath = (e as { path?: unknown }).path;
  const file = typeof errPath === 'string' ? errPath : path;
  const kept = keptNote ? `; ${keptNote}` : '';
  if (code === 'ENOSPC' || code === 'EDQUOT') {
    return new CbirError(`no space left on the device while ${what}${kept}`, {
      file,
      hint: 'free disk space (or choose an output folder on another disk), then run the same command again: the work finished so far is kept',
      code: 'fs/no-space',
      cause: e,
    });
  }
  if ((code === 'EACCES' || code === 'EPERM') && !isOutput(file, path)) {
    // an input outside the output folder (an image a figure draws): a read failure, not a write one
    return new CbirError(`cannot read this file (permission denied) while ${what}${kept}`, {
      file,
      hint: 'make the file readable (chmod a+r), or give a copy you can read',
      code: 'fs/not-readable',
      cause: e,
    });
  }
  if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS') {
    const why = code === 'EROFS' ? 'the file system is read-only' : 'permission denied';
    return new CbirError(`cannot write here (${why}) while ${what}${kept}`, {
      file,
      hint: 'choose an output folder you can write to, or make this one writable',
      code: 'fs/not-writable',
      cause: e,
    });
  }
  if (code === 'EEXIST' || code === 'ENOTDIR' || code === 'EISDIR') {
    const blocker = blockingFile(file);
    return new CbirError(
      blocker
        ? `"${blocker}" is a file, not a folder, so the output folder cannot be made there (${what})${kept}`
        : `a file or folder is in the way while ${what} (${errorMessage(e).split('\n')[0]})${kept}`,
      {
        file,
        hint: 'choose another output folder, or move that file out of the way',
        code: 'fs/path-blocked',
        cause: e,
      },
    );
  }
  return e;
}

/** Whether `file` is `dir` or lies under it. */
function isInside(file: string, dir: string): boolean {
  const rel = relative(resolve(dir), resolve(file));
  return rel === '' || (!rel.startsWith('..') && !isAbsolute(rel));
}

/** Whether a failing `file` belongs to the output `path`: inside it, its temp sibling (`<path>.tmp-…`), or above it (a mkdir). */
function isOutput(file: string, path: string): boolean {
  const [f, p] = [resolve(file), resolve(path)];
  const tempSibling = dirname(f) === dirname(p) && basename(f).startsWith(basename(p));
  return isInside(f, p) || tempSibling || isInside(p, f);
}

/** The path itself or its nearest existing ancestor when that is not a folder (what blocks a mkdir), else null. */
function blockingFile(path: string): string | null {
  for (let p = resolve(path); ; p = dirname(p)) {
    try {
      return statSync(p).isDirectory() ? null : p;
    } catch {
      if (dirname(p) === p) return null;
    }
  }
}

/** Run `fn`; file-system failures become CbirErrors (see `fsError`) naming `path` when the error names none. */
export async function withFsErrors<T>(path: string, what: string, fn: () => Promise<T>, keptNote = ''): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    throw fsError(e, path, what, keptNote);
  }
}
