import type { Command } from 'commander';
import { join } from 'node:path';
import { CoracleError } from '../../errors.js';
import { parseAccel, parseCpus, parseDisk, parseMem, parsePublish } from '../../qemu/options.js';
import type { QemuVm } from '../../qemu/vm.js';
import { storeRootFrom } from '../options.js';

interface QemuCliOptions {
  mem: string;
  cpus: string;
  publish: string[];
  disk: string[];
  data?: string;
  userData?: string;
  accel: string;
  console: string;
  log?: string;
  state?: string;
  qemu?: string;
  uefi?: boolean;
  stopTimeout: string;
}

/** Signals that stop the guest as Ctrl-C does: terminals, CI runners, timeout(1), systemd. */
const STOP_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
const SIGNAL_NUMBER: Record<(typeof STOP_SIGNALS)[number], number> = { SIGINT: 2, SIGTERM: 15, SIGHUP: 1 };

function parseStopTimeout(v: string): number {
  if (!/^\d+(\.\d+)?$/.test(v.trim())) throw new CoracleError(`--stop-timeout ${v}: expected a number of seconds`);
  return Number(v);
}

const collect = (v: string, prev: string[]) => [...prev, v];

export function registerRunCommands(program: Command): void {
  const run = program.command('run').description('Boot a built system image');
  run
    .command('qemu')
    .description('Boot NAME-kernel + NAME-initrd.img under QEMU until the guest powers off (exit status: 0 poweroff or reboot, 2 guest panic, 124 stopped hard after --stop-timeout, 137 killed, 1 QEMU failure)')
    .argument('[target]', 'image NAME prefix, build output DIR, system SPEC (.yml), or an image file (.iso .img .raw .qcow2 .vhd .vmdk .efi)', '.')
    .option('--mem <mib>', 'guest memory (MiB, or with M/G)', '1024')
    .option('--cpus <n>', 'guest CPUs', '1')
    .option('--publish <[addr:]host:guest[/tcp|udp]>', 'forward a host port to the guest (repeatable)', collect, [])
    .option('--disk <[file=]path[,size=][,format=]>', 'attach a virtio disk, created if missing (repeatable)', collect, [])
    .option('--data <file>', 'data attached as user-data on a NoCloud seed ISO (label cidata), as given')
    .option('--user-data <file>', 'cloud-init user-data on a NoCloud seed ISO, validated first')
    .option('--accel <auto|kvm|tcg>', 'accelerator: auto uses KVM only if a probe boot works and the guest reaches its init within 30 s (else TCG)', 'auto')
    .option('--console <stdio|none>', 'stdio: guest console on stdout, stdin typed into it; none: not shown', 'stdio')
    .option('--log <file>', 'also append the guest console to this file')
    .option('--state <dir>', 'folder for the control socket and seed ISO (default NAME-state beside the image)')
    .option('--qemu <binary>', 'QEMU binary', 'qemu-system-x86_64')
    .option('--uefi', 'boot an image file through UEFI (OVMF from Debian\'s ovmf) even when it also boots BIOS')
    .option('--stop-timeout <seconds>', 'after SIGINT/SIGTERM/SIGHUP, wait this long for the guest to power off, then stop it hard', '30')
    .action(async (target: string, o: QemuCliOptions, cmd: Command) => {
      const [{ createReporter }, { resolveImage }, { runQemu }] = await Promise.all([
        import('../../progress/reporter.js'),
        import('../../qemu/image.js'),
        import('../../qemu/run.js'),
      ]);
      const reporter = createReporter();
      const image = await resolveImage(target);
      if (o.uefi && !('file' in image)) throw new CoracleError('--uefi: boots an image file (build one with --format iso-bios, raw-efi ...); kernel + initrd boot without firmware');
      if (o.data && o.userData) throw new CoracleError('--data and --user-data both attach the seed ISO: give one');
      if (o.console !== 'stdio' && o.console !== 'none') throw new CoracleError(`--console ${o.console}: expected stdio or none`);
      const stopTimeout = parseStopTimeout(o.stopTimeout);
      const stateDir = o.state ?? join(image.dir, `${image.name}-state`);
      let interrupts = 0;
      let vmUp: QemuVm | undefined;
      let rawTty = false;
      const stdio = o.console === 'stdio';
      // First signal: the power button, bounded by --stop-timeout; second: kill.
      const onStop = (sig: (typeof STOP_SIGNALS)[number]) => {
        const vm = vmUp;
        // Before QEMU is up there is nothing to shut down (a probe QEMU dies with us).
        if (!vm) process.exit(128 + SIGNAL_NUMBER[sig]);
        interrupts++;
        // (a raw terminal needs the carriage return spelled out)
        const nl = rawTty ? '\r\n' : '\n';
        if (interrupts === 1) {
          const again = sig === 'SIGINT' ? 'Ctrl-C' : sig;
          process.stderr.write(`${nl}coracle: ${sig === 'SIGINT' ? '' : `${sig}: `}shutting the guest down (${again} again to kill it)${nl}`);
          vm.shutdown(stopTimeout * 1000, () =>
            process.stderr.write(`${nl}coracle: warning: the guest did not power off within ${stopTimeout} s of the power button: stopping it hard${nl}`),
          ).catch(() => vm.kill());
        } else vm.kill();
      };
      const handlers = STOP_SIGNALS.map((sig) => [sig, () => onStop(sig)] as const);
      for (const [sig, h] of handlers) process.on(sig, h);
      // A closed terminal or pipe must not end the runner before the guest is down.
      const ignoreEpipe = () => undefined;
      process.stdout.on('error', ignoreEpipe);
      try {
        const result = await runQemu({
          boot: 'file' in image ? { file: image.file } : image,
          ...(o.uefi ? { uefi: true } : {}),
          mem: parseMem(o.mem),
          cpus: parseCpus(o.cpus),
          accel: parseAccel(o.accel),
          publish: o.publish.map(parsePublish),
          disks: o.disk.map((d) => {
            const spec = parseDisk(d);
            return { ...spec, path: spec.path.startsWith('/') ? spec.path : join(process.cwd(), spec.path) };
          }),
          userDataFile: o.data ?? o.userData,
          validateUserData: o.userData !== undefined,
          stateDir,
          // `coracle logs` talks to the guest through it
          controlSocket: join(stateDir, 'control.sock'),
          console: stdio ? process.stdout : undefined,
          // A terminal is handled below (raw mode); a pipe is forwarded as is.
          input: stdio && !process.stdin.isTTY ? process.stdin : undefined,
          logFile: o.log,
          kvmCacheFile: join(storeRootFrom(cmd), 'kvm-probe.json'),
          qemu: o.qemu,
          reporter,
          onStart: (vm: QemuVm) => {
            vmUp = vm;
            if (stdio && process.stdin.isTTY) {
              // Raw mode: keys go to the guest as typed; Ctrl-C stays ours.
              rawTty = true;
              process.stdin.setRawMode(true);
              process.stdin.on('data', (d: Buffer) => {
                const i = d.indexOf(3);
                if (i < 0) return vm.sendConsole(d.toString('latin1'));
                if (i > 0) vm.sendConsole(d.subarray(0, i).toString('latin1'));
                onStop('SIGINT');
              });
            }
          },
        });
        if (rawTty) {
          process.stdin.setRawMode(false);
          rawTty = false;
        }
        if (result.reason === 'failed') {
          throw new CoracleError(`QEMU failed (exit ${result.qemuExitCode ?? result.qemuSignal}): ${result.qemuStderr.split('\n').slice(-3).join(' ') || 'no message'}`, {
            exitCode: result.status,
          });
        }
        reporter.info(`coracle: guest ended: ${result.reason} (status ${result.status})`);
        process.exitCode = result.status;
      } finally {
        for (const [sig, h] of handlers) process.off(sig, h);
        process.stdout.off('error', ignoreEpipe);
        if (rawTty) process.stdin.setRawMode(false);
        if (stdio) process.stdin.pause();
      }
    });
}
