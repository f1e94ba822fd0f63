import { isEnabled, type KernelConfig } from './config.js';
import { REQUIREMENTS, type ConfigRequirement, type Level, type RequirementGroup } from './requirements.js';

/** How one option stands: built in, a module, missing (wanted on), off as wanted, or set though it should be off. */
export type OptionState = 'builtin' | 'module' | 'missing' | 'off' | 'unwanted';

export interface OptionResult extends ConfigRequirement {
  state: OptionState;
  ok: boolean;
}

export interface GroupResult {
  level: Level;
  title: string;
  why: string;
  options: OptionResult[];
}

export interface CheckResult {
  groups: GroupResult[];
  /** `required` options that are not met. */
  missingRequired: string[];
  missingRecommended: string[];
  ok: boolean;
}

function checkOption(config: KernelConfig, r: ConfigRequirement): OptionResult {
  const v = config.get(r.option);
  if (r.want === 'off') {
    const set = isEnabled(config, r.option);
    return { ...r, state: set ? 'unwanted' : 'off', ok: !set };
  }
  if (v === 'y') return { ...r, state: 'builtin', ok: true };
  if (v === 'm') return { ...r, state: 'module', ok: true };
  return { ...r, state: 'missing', ok: false };
}

/** Check a config against the requirement groups (the built-in list unless given). */
export function checkKernelConfig(config: KernelConfig, groups: readonly RequirementGroup[] = REQUIREMENTS): CheckResult {
  const results = groups.map((g) => ({ level: g.level, title: g.title, why: g.why, options: g.options.map((o) => checkOption(config, o)) }));
  const failing = (level: Level) => results.filter((g) => g.level === level).flatMap((g) => g.options.filter((o) => !o.ok).map((o) => o.option));
  const missingRequired = failing('required');
  return { groups: results, missingRequired, missingRecommended: failing('recommended'), ok: missingRequired.length === 0 };
}

const STATE_TEXT: Record<OptionState, string> = {
  builtin: 'built in',
  module: 'module',
  missing: 'MISSING',
  off: 'off',
  unwanted: 'SET (should be off)',
};

/** The report as moby's check-config prints it: grouped, one line per option, then a summary line. */
export function formatCheckResult(result: CheckResult, source: string): string {
  const lines: string[] = [`kernel config: ${source}`];
  const width = Math.max(...result.groups.flatMap((g) => g.options.map((o) => o.option.length))) + 7;
  for (const level of ['required', 'recommended'] as const) {
    const groups = result.groups.filter((g) => g.level === level);
    lines.push('', `${level === 'required' ? 'Required' : 'Recommended'}:`);
    for (const g of groups) {
      const bad = g.options.filter((o) => !o.ok).length;
      lines.push(`- ${g.title} (${g.options.length - bad}/${g.options.length}): ${g.why}`);
      for (const o of g.options) lines.push(`    ${`CONFIG_${o.option}`.padEnd(width)} ${STATE_TEXT[o.state]}`);
    }
  }
  const count = (level: Level) => result.groups.filter((g) => g.level === level).reduce((n, g) => n + g.options.length, 0);
  const req = count('required');
  const rec = count('recommended');
  lines.push('');
  lines.push(
    `required: ${req - result.missingRequired.length}/${req}` +
      (result.missingRequired.length ? ` (missing: ${result.missingRequired.join(', ')})` : '') +
      `; recommended: ${rec - result.missingRecommended.length}/${rec}` +
      (result.missingRecommended.length ? ` (not met: ${result.missingRecommended.join(', ')})` : ''),
  );
  return `${lines.join('\n')}\n`;
}
