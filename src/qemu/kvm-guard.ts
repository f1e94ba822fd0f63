/**
 * Start a VM under the accelerator `chooseAccel` picked, and when that was
 * KVM chosen automatically, watch the boot: a KVM that passed the probe can
 * still wedge the real guest (nested or paravirtual KVM hosts that assert
 * or stall on some instruction: seen in CI, where the probe kernel panicked
 * on time and every real boot then printed nothing for 300 s). If the guest
 * shows no sign of its init within the grace time, or QEMU itself fails
 * before it (an assertion in its KVM code), QEMU is killed, KVM is
 * recorded as unusable for this machine boot (so later runs go straight to
 * TCG), and the same VM starts again under TCG. Nothing in the guest has
 * run before its init, so nothing is lost by starting over.
 */
import type { Reporter } from '../progress/reporter.js';
import { recordKvmVerdict } from './kvm-probe.js';
import type { QemuVm } from './vm.js';

/**
 * The init's first line (the Coracle init), or the kernel handing over to
 * any other init. Under KVM either comes within seconds of QEMU's start.
 */
export const INIT_REACHED = /coracle: init\b|Run \S+ as init process|Freeing unused kernel (?:image )?\S* ?memory/;

/** Default grace (ms): firmware, boot loader, kernel and initrd unpack under KVM take a few seconds. */
export const KVM_GRACE_MS = 30_000;

export interface GuardOptions {
  /** true when KVM came from `auto` (an explicit `--accel kvm` is never overruled) */
  auto: boolean;
  /** probe cache to mark KVM unusable in */
  cacheFile?: string;
  qemu?: string;
  graceMs?: number;
  reporter?: Reporter;
}

/** Which accelerator the started VM runs under, and why it changed if it did. */
export interface GuardedStart {
  vm: QemuVm;
  accel: 'kvm' | 'tcg';
  fellBack?: string;
}

/**
 * `make(accel)` builds the VM (not started). Returns the started VM; the
 * caller waits on it as usual. A guest that powers off, reboots or panics
 * within the grace time is returned as it is (its result says why).
 */
export async function startWatchingKvm(
  make: (accel: 'kvm' | 'tcg') => QemuVm,
  accel: 'kvm' | 'tcg',
  opts: GuardOptions,
): Promise<GuardedStart> {
  const first = make(accel);
  await first.start();
  if (accel !== 'kvm' || !opts.auto) return { vm: first, accel };
  const graceMs = opts.graceMs ?? KVM_GRACE_MS;
  let reason = `a boot under KVM showed no init within ${Math.round(graceMs / 1000)} s`;
  try {
    await first.waitForConsole(INIT_REACHED, graceMs);
    return { vm: first, accel };
  } catch {
    if (!first.running) {
      const r = await first.wait();
      // The guest's own ending (poweroff, reboot, panic) or a kill is its result;
      // QEMU failing (an assertion in its KVM code, say) is KVM's.
      if (r.reason !== 'failed') return { vm: first, accel };
      const why = r.qemuSignal ?? `status ${r.qemuExitCode}`;
      const line = r.qemuStderr.split('\n').find((l) => l.trim()) ?? '';
      reason = `QEMU ended under KVM (${why}) before the guest's init${line ? `: ${line.trim().slice(0, 160)}` : ''}`;
    }
  }
  opts.reporter?.info(`KVM stalled (${reason}): starting again under TCG`);
  first.kill();
  // A KVM-wedged QEMU may take a while to die; its console is ignored from here.
  await Promise.race([first.wait(), new Promise((r) => setTimeout(r, 5_000).unref())]);
  if (opts.cacheFile) await recordKvmVerdict(opts.cacheFile, { qemu: opts.qemu, usable: false, reason }).catch(() => undefined);
  const second = make('tcg');
  await second.start();
  return { vm: second, accel: 'tcg', fellBack: reason };
}
