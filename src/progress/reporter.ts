/**
 * Progress for long work. On a terminal a task line is redrawn in place; in
 * CI logs (no TTY, or CI set) each task prints plain lines at start, every
 * 25% when the total is known, and at the end, so logs stay short.
 */
export interface TaskProgress {
  /** Advance by `n` units (bytes, files ...). */
  advance(n: number): void;
  /** Set the total once it becomes known. */
  setTotal(total: number): void;
  done(note?: string): void;
  fail(note?: string): void;
}

export interface Reporter {
  task(label: string, total?: number): TaskProgress;
  /** A plain informational line. */
  info(line: string): void;
  warn(line: string): void;
}

export interface ReporterOptions {
  stream?: NodeJS.WriteStream;
  /** Force plain (line) mode; default: plain unless the stream is a TTY and CI is unset. */
  plain?: boolean;
  quiet?: boolean;
}

function human(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(1)} ${units[i]}`;
}

export function formatBytes(n: number): string {
  return human(n);
}

export function createReporter(opts: ReporterOptions = {}): Reporter {
  const stream = opts.stream ?? process.stderr;
  const plain = opts.plain ?? (!stream.isTTY || !!process.env.CI);
  const quiet = opts.quiet ?? false;
  const write = (s: string) => {
    if (!quiet) stream.write(s);
  };
  return {
    info: (line) => write(`${line}\n`),
    warn: (line) => stream.write(`warning: ${line}\n`),
    task(label, total) {
      let done = 0;
      let tot = total;
      let lastQuarter = 0;
      let lastDraw = 0;
      const draw = (final?: string) => {
        const amount = tot ? `${human(done)}/${human(tot)}` : human(done);
        if (plain) {
          if (final !== undefined) write(`${label}: ${final}\n`);
          return;
        }
        const now = Date.now();
        if (final === undefined && now - lastDraw < 100) return;
        lastDraw = now;
        write(`\r\x1b[K${label}: ${final ?? amount}${final !== undefined ? '\n' : ''}`);
      };
      if (plain) write(`${label}: started${tot ? ` (${human(tot)})` : ''}\n`);
      return {
        advance(n) {
          done += n;
          if (plain && tot) {
            const q = Math.floor((done / tot) * 4);
            if (q > lastQuarter && q < 4) {
              lastQuarter = q;
              write(`${label}: ${q * 25}%\n`);
            }
          } else draw();
        },
        setTotal(t) {
          tot = t;
        },
        done(note) {
          draw(note ?? `done${done ? ` (${human(done)})` : ''}`);
        },
        fail(note) {
          draw(`failed${note ? `: ${note}` : ''}`);
        },
      };
    },
  };
}

/** A reporter that prints nothing: the library default. */
export const silentReporter: Reporter = {
  info() {},
  warn() {},
  task() {
    return { advance() {}, setTotal() {}, done() {}, fail() {} };
  },
};
