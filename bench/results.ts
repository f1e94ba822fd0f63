// Shared by every benchmark: replace one named section of bench/RESULTS.md,
// between `<!-- bench:NAME -->` and `<!-- /bench:NAME -->`, leaving the other
// benchmarks' sections as they are. Each section records the machine and date.
import { cpus, totalmem, release, type as osType } from 'node:os';
import { readFile, writeFile, rename } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

export const resultsPath = join(dirname(fileURLToPath(import.meta.url)), 'RESULTS.md');

const HEADER = '# Benchmark results\n\nWritten by the scripts in `bench/`; each section is replaced by its own benchmark run.\n';

/** One line describing where the figures were measured. */
export function machineInfo(): string {
  const c = cpus();
  const model = c[0]?.model?.trim() ?? 'unknown CPU';
  const mem = (totalmem() / 1024 ** 3).toFixed(0);
  return `${c.length} × ${model}, ${mem} GiB RAM, ${osType()} ${release()}, Node ${process.versions.node}`;
}

/** Median of a non-empty list. */
export function median(xs: number[]): number {
  if (xs.length === 0) throw new Error('median of nothing');
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** A markdown table from a header row and data rows. */
export function table(head: string[], rows: Array<Array<string | number>>): string {
  const line = (cells: Array<string | number>) => `| ${cells.join(' | ')} |`;
  return [line(head), line(head.map(() => '---')), ...rows.map(line)].join('\n');
}

/**
 * Replace (or append) section `name` of RESULTS.md with `title` and `body`;
 * the machine line and date are added. Written to a temporary file, then renamed.
 */
export async function writeSection(name: string, title: string, body: string, file = resultsPath): Promise<void> {
  if (!/^[a-z0-9][a-z0-9._-]*$/.test(name)) throw new Error(`bad section name ${name}`);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch {
    text = HEADER;
  }
  const open = `<!-- bench:${name} -->`;
  const close = `<!-- /bench:${name} -->`;
  const section = [
    open,
    `## ${title}`,
    '',
    `Measured ${new Date().toISOString().replace(/\.\d+Z$/, 'Z')} on ${machineInfo()}.`,
    '',
    body.trim(),
    close,
  ].join('\n');
  const start = text.indexOf(open);
  const end = text.indexOf(close);
  if (start >= 0 && end > start) {
    text = text.slice(0, start) + section + text.slice(end + close.length);
  } else {
    text = text.replace(/\n*$/, '\n\n') + section + '\n';
  }
  const tmp = `${file}.tmp-${process.pid}`;
  await writeFile(tmp, text);
  await rename(tmp, file);
}
