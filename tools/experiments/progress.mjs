/**
 * Progress of a run: one line per event, as text on stderr (people) or as
 * JSON lines on stdout (--json, for scripts). Events: a step starting, a step
 * done (with its wall and CPU seconds), a step skipped, notes, the total.
 */
export function createProgress(json) {
  const started = Date.now();
  const elapsed = () => Math.round((Date.now() - started) / 100) / 10;
  const emit = (event) => {
    if (json) {
      process.stdout.write(`${JSON.stringify({ ...event, elapsed: elapsed() })}\n`);
      return;
    }
    process.stderr.write(`${textLine(event, elapsed())}\n`);
  };
  return { emit, elapsed };
}

function textLine(e, elapsed) {
  const at = `[${formatClock(elapsed)}]`;
  switch (e.event) {
    case 'start':
      return `${at} ${e.index}/${e.total} ${e.id}: ${e.command}`;
    case 'done':
      return `${at} ${e.index}/${e.total} ${e.id}: done in ${e.wallSeconds.toFixed(1)} s${e.cpuSeconds === null ? '' : ` (CPU ${e.cpuSeconds.toFixed(1)} s)`}${e.file ? ` -> ${e.file}` : ''}`;
    case 'failed':
      return `${at} ${e.index}/${e.total} ${e.id}: FAILED after ${e.wallSeconds.toFixed(1)} s: ${e.error}`;
    case 'skip':
      return `${at} ${e.id}: skipped (${e.reason})`;
    case 'total':
      return `${at} total: ${e.steps} steps, wall ${formatClock(e.wallSeconds)}${e.cpuSeconds === null ? '' : `, CPU ${formatClock(e.cpuSeconds)}`}${e.report ? `; report ${e.report}` : ''}`;
    default:
      return `${at} ${e.message ?? JSON.stringify(e)}`;
  }
}

/** Seconds as m:ss (or h:mm:ss). */
export function formatClock(seconds) {
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${ss}` : `${m}:${ss}`;
}
