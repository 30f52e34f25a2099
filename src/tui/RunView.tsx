import { Box, Text } from 'ink';
import { formatDuration } from '../workbench/index.js';
import { displayPath, fit, truncate, truncateLeft } from './layout.js';
import { reportCommand, type ModelProgress, type RunState } from './runner.js';

/** A text progress bar of `width` characters. */
export function bar(done: number, total: number, width: number): string {
  const f = total > 0 ? Math.min(width, Math.round((done / total) * width)) : 0;
  return '█'.repeat(f) + '░'.repeat(width - f);
}

function unitShort(unit: string): string {
  return unit === 'images' ? 'img' : unit === 'queries' ? 'q' : unit === 'vectors' ? 'vec' : unit;
}

/** One line of a model's progress: status, step, bar, count, rate (images/s while embedding), ETA. */
export function progressLine(p: ModelProgress, width: number): string {
  const mark = p.status === 'done' ? '✓' : p.status === 'running' ? '▶' : p.status === 'failed' ? '✗' : '·';
  const name = fit(p.model, 16);
  if (p.status === 'waiting') return `${mark} ${name} waiting`;
  if (p.status === 'failed') return `${mark} ${name} failed during ${p.phase || 'start'}`;
  if (p.status === 'done')
    return truncate(
      `${mark} ${name} done${p.embedRate ? ` · embedded at ${p.embedRate >= 100 ? p.embedRate.toFixed(0) : p.embedRate.toFixed(1)} images/s` : ''}`,
      width,
    );
  const u = unitShort(p.unit);
  const rate = `${p.rate >= 100 ? p.rate.toFixed(0) : p.rate.toFixed(1)} ${u}/s`;
  const count = `${p.done}/${p.total} ${u}`;
  const barW = Math.max(4, Math.min(20, width - 38 - count.length - rate.length - 12));
  return truncate(
    `${mark} ${name} ${fit(p.step === 'embed' ? 'embed' : p.phase, 18)} ${bar(p.done, p.total, barW)} ${count} ${rate} ETA ${formatDuration(p.etaSeconds)}`,
    width,
  );
}

/** The run screen: what runs (as a `cbir` command), per-model progress, the log. */
export function RunView(props: { run: RunState; width: number; height: number; now: number }) {
  const { run: r, width, height } = props;
  const elapsed = ((r.finishedAt ?? props.now) - r.startedAt) / 1000;
  const state =
    r.status === 'running'
      ? 'running'
      : r.status === 'done'
        ? 'finished'
        : r.status === 'failed'
          ? 'failed'
          : 'stopped';
  const head = `${state} · ${formatDuration(elapsed)} · ${reportCommand(r.request)}`;
  const data = `dataset ${r.dataDir ? truncateLeft(displayPath(r.dataDir), 40) : 'phantom (being made)'} → ${displayPath(r.request.out)} (work/ keeps embeddings: a rerun resumes)`;
  const lines: { text: string; color?: string; bold?: boolean; dim?: boolean }[] = [
    { text: truncate(head, width), bold: true },
    { text: truncate(data, width), dim: true },
  ];
  if (r.dataProgress) {
    const e = r.dataProgress;
    lines.push({
      text: truncate(
        `▶ phantom dataset ${bar(e.done, e.total, 20)} ${e.done}/${e.total} images ${e.rate.toFixed(0)} images/s ETA ${formatDuration(e.etaSeconds)}`,
        width,
      ),
    });
  }
  for (const p of r.models)
    lines.push({
      text: progressLine(p, width),
      color:
        p.status === 'running' ? 'cyan' : p.status === 'failed' ? 'red' : p.status === 'done' ? 'green' : undefined,
    });
  if (r.figures) {
    const e = r.figures;
    const doneAll = r.status === 'done';
    lines.push({
      text: truncate(
        `${doneAll ? '✓' : '▶'} ${fit('figures', 16)} ${fit(e.phase, 18)} ${bar(e.done, e.total, 12)} ${e.done}/${e.total} ${e.unit} ETA ${formatDuration(e.etaSeconds)}`,
        width,
      ),
      color: doneAll ? 'green' : 'cyan',
    });
  }
  if (r.error) for (const l of r.error.split('\n')) lines.push({ text: truncate(l, width), color: 'red' });
  const logRoom = Math.max(0, height - lines.length - 1);
  if (logRoom > 0 && r.log.length) {
    lines.push({ text: 'log', bold: true });
    for (const l of r.log.slice(-(logRoom - 1))) lines.push({ text: truncate(l, width), dim: true });
  }
  return (
    <Box flexDirection="column" height={height}>
      {lines.slice(0, height).map((l, i) => (
        <Text key={i} color={l.color} bold={l.bold} dimColor={l.dim} wrap="truncate">
          {l.text}
        </Text>
      ))}
    </Box>
  );
}
