/**
 * A kernel `.config` as a map from option name (without CONFIG_) to its
 * value: `y`, `m`, a string or number as written, or `n` for the
 * "# CONFIG_X is not set" lines. Options the file does not mention are absent.
 */
export type KernelConfig = Map<string, string>;

const SET = /^CONFIG_([A-Za-z0-9_]+)=(.*)$/;
const UNSET = /^# CONFIG_([A-Za-z0-9_]+) is not set$/;

export function parseKernelConfig(text: string): KernelConfig {
  const out: KernelConfig = new Map();
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    const s = SET.exec(line);
    if (s) {
      out.set(s[1]!, s[2]!.replace(/^"(.*)"$/, '$1'));
      continue;
    }
    const u = UNSET.exec(line);
    if (u) out.set(u[1]!, 'n');
  }
  return out;
}

/** Enabled: built in (`y`) or a module (`m`). */
export function isEnabled(config: KernelConfig, option: string): boolean {
  const v = config.get(option);
  return v === 'y' || v === 'm';
}

/** Does this text look like a kernel config (at least one CONFIG_ line)? */
export function looksLikeKernelConfig(text: string): boolean {
  return text.split('\n', 2000).some((l) => SET.test(l.trim()) || UNSET.test(l.trim()));
}
