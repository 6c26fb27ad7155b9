/** What a running ingestion has done so far. */
export interface ProgressState {
  phase: 'reading' | 'writing' | 'publishing' | 'done';
  rows: number;
  rejected: number;
  bytesRead: number;
  bytesTotal: number | null;
  segments: number;
  segmentsTotal: number | null;
  bytesUploaded: number;
}

export interface Progress {
  update(s: ProgressState): void;
  finish(s: ProgressState): void;
}

const BAR_WIDTH = 24;
const REDRAW_MS = 100;
const PLAIN_LINE_MS = 2000;

/**
 * On a terminal, one line redrawn in place with a bar (rows, bytes, segments); elsewhere (CI, a
 * pipe), a plain line every two seconds and at each phase change, so logs stay readable.
 */
export function createProgress(out: NodeJS.WriteStream | { write(s: string): boolean; isTTY?: boolean }, now: () => number = () => Date.now()): Progress {
  const tty = out.isTTY === true;
  let last = 0;
  let lastPhase = '';
  const line = (s: ProgressState) => {
    const fraction = s.phase === 'reading'
      ? (s.bytesTotal ? s.bytesRead / s.bytesTotal : null)
      : s.segmentsTotal ? s.segments / s.segmentsTotal : null;
    const bar = fraction === null ? '' : `[${'#'.repeat(Math.round(Math.min(1, fraction) * BAR_WIDTH)).padEnd(BAR_WIDTH, '.')}] ${(Math.min(1, fraction) * 100).toFixed(0).padStart(3)}% `;
    return `${s.phase.padEnd(10)} ${bar}${fmt(s.rows)} rows${s.rejected ? ` (${fmt(s.rejected)} rejected)` : ''}, ${bytes(s.bytesRead)} read, ${s.segments}${s.segmentsTotal ? `/${s.segmentsTotal}` : ''} segments, ${bytes(s.bytesUploaded)} uploaded`;
  };
  return {
    update(s) {
      const t = now();
      if (tty) {
        if (t - last < REDRAW_MS && s.phase === lastPhase) return;
        out.write(`\r${line(s)}\x1b[K`);
      } else {
        if (t - last < PLAIN_LINE_MS && s.phase === lastPhase) return;
        out.write(`${line(s)}\n`);
      }
      last = t;
      lastPhase = s.phase;
    },
    finish(s) {
      out.write(tty ? `\r${line(s)}\x1b[K\n` : `${line(s)}\n`);
    },
  };
}

function fmt(n: number): string {
  return n.toLocaleString('en-US');
}

function bytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 ** 2) return `${(n / 1024).toFixed(1)} KiB`;
  if (n < 1024 ** 3) return `${(n / 1024 ** 2).toFixed(1)} MiB`;
  return `${(n / 1024 ** 3).toFixed(2)} GiB`;
}
