import { describe, expect, it } from 'vitest';
import { checkKernelConfig, formatCheckResult } from '../../../src/kernel/check.js';
import { isEnabled, looksLikeKernelConfig, parseKernelConfig } from '../../../src/kernel/config.js';
import { REQUIREMENTS } from '../../../src/kernel/requirements.js';

const every = REQUIREMENTS.flatMap((g) => g.options.filter((o) => o.want !== 'off').map((o) => `CONFIG_${o.option}=y`)).join('\n');

describe('kernel config', () => {
  it('reads y, m, strings and "is not set" lines', () => {
    const c = parseKernelConfig('#\n# comment\nCONFIG_A=y\nCONFIG_B=m\nCONFIG_LOCALVERSION="-x"\nCONFIG_NR=64\n# CONFIG_C is not set\n');
    expect([...c]).toEqual([['A', 'y'], ['B', 'm'], ['LOCALVERSION', '-x'], ['NR', '64'], ['C', 'n']]);
    expect(isEnabled(c, 'A') && isEnabled(c, 'B')).toBe(true);
    expect(isEnabled(c, 'C') || isEnabled(c, 'D')).toBe(false);
    expect(looksLikeKernelConfig('hello\nworld\n')).toBe(false);
  });
});

describe('kernel config check', () => {
  it('passes a config with every option, modules counting as enabled', () => {
    const r = checkKernelConfig(parseKernelConfig(every.replace('CONFIG_VETH=y', 'CONFIG_VETH=m')));
    expect(r.ok).toBe(true);
    expect(r.missingRequired).toEqual([]);
    expect(r.missingRecommended).toEqual([]);
    expect(r.groups.flatMap((g) => g.options).find((o) => o.option === 'VETH')?.state).toBe('module');
  });

  it('fails on one required option removed, and names it; a recommended one only reports', () => {
    const r = checkKernelConfig(parseKernelConfig(every.replace('CONFIG_OVERLAY_FS=y', '# CONFIG_OVERLAY_FS is not set').replace('CONFIG_SECURITY_YAMA=y', '')));
    expect(r.ok).toBe(false);
    expect(r.missingRequired).toEqual(['OVERLAY_FS']);
    expect(r.missingRecommended).toEqual(['SECURITY_YAMA']);
    const text = formatCheckResult(r, 'x.config');
    expect(text).toMatch(/^kernel config: x\.config\n\nRequired:\n/);
    expect(text).toMatch(/CONFIG_OVERLAY_FS +MISSING/);
    expect(text).toContain('required: 50/51 (missing: OVERLAY_FS)');
  });

  it('hardening options wanted off fail when set', () => {
    const r = checkKernelConfig(parseKernelConfig(`${every}\nCONFIG_KEXEC=y\n`));
    expect(r.ok).toBe(true);
    expect(r.missingRecommended).toEqual(['KEXEC']);
  });
});
