/**
 * Phase timings for finding where a command's time goes: with
 * CORACLE_TRACE=1 each mark prints "trace LABEL T ms (+D)" to stderr, T
 * counted from the process's start (so Node's own start-up shows as the
 * first mark's T). Off, a mark costs one property read.
 */
const on = process.env.CORACLE_TRACE === '1';
let last = 0;

export function traceMark(label: string): void {
  if (!on) return;
  const t = performance.now();
  process.stderr.write(`trace ${label} ${t.toFixed(1)} ms (+${(t - last).toFixed(1)})\n`);
  last = t;
}
