/**
 * The compiled lean kernel image (images/kernel-lean: Debian's
 * linux-source-6.1 built from kernel-config/): `coracle kernel check` passes
 * it and finds every VM driver built in. Compiles the kernel on first use
 * (about 12 minutes of both cores on a 2-core machine, once per store), in
 * the integration group, so the boot group's system-lean.test.ts finds it.
 */
import { describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { ensureSystemImages, systemStore } from '../helpers/system.js';

describe('coracle kernel check on the lean kernel', () => {
  it('passes the lean kernel image (images/kernel-lean, compiled on first use)', async () => {
    await ensureSystemImages(['kernel-lean']);
    const r = await runCli(['--cache', systemStore(), 'kernel', 'check', 'images/kernel-lean']);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^kernel config: docker\.io\/coracle\/kernel-lean:\w+ \/kernel\.config\n/);
    expect(r.stdout).toMatch(/CONFIG_VIRTIO_NET +built in/);
    expect(r.stdout).not.toMatch(/ module\n/);
    expect(r.stdout).toMatch(/\nrequired: (\d+)\/\1; recommended: /);
  }, 45 * 60_000);
});
