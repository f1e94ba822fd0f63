/**
 * The QEMU command line for booting a kernel + initrd: a pure function of
 * the configuration, so it can be unit-tested without QEMU.
 */
import type { DiskSpec, PublishSpec } from './options.js';

/** The files `coracle build` writes (LinuxKit's names). */
export interface BootFiles {
  /** NAME-kernel (bzImage) */
  kernel: string;
  /** NAME-initrd.img */
  initrd: string;
  /** contents of NAME-cmdline */
  cmdline: string;
  /** NAME-vmlinux: ELF, booted through PVH when present (much faster under TCG) */
  vmlinux?: string;
}

/**
 * A bootable image the firmware starts (`coracle build --format` iso, raw,
 * qcow2, vhd, vmdk): attached first with boot priority, no -kernel.
 */
export interface ImageBoot {
  image: string;
  /** QEMU's block format (vhd is "vpc") */
  format: 'raw' | 'qcow2' | 'vmdk' | 'vpc';
  /** a CD-ROM (an ISO) or a virtio disk */
  media: 'cdrom' | 'disk';
  /** boots through UEFI: needs `firmware` */
  uefi: boolean;
}

export type BootSource = BootFiles | ImageBoot;

export function isImageBoot(b: BootSource): b is ImageBoot {
  return 'image' in b;
}

/** UEFI firmware (Debian's ovmf): read-only code and a private copy of the variable store. */
export interface Firmware {
  code: string;
  vars: string;
}

export interface QemuConfig {
  boot: BootSource;
  /** UEFI instead of SeaBIOS */
  firmware?: Firmware;
  accel: 'kvm' | 'tcg';
  /** MiB */
  mem: number;
  cpus: number;
  publish: PublishSpec[];
  disks: DiskSpec[];
  /** NoCloud seed ISO, attached as a CD-ROM */
  seedIso?: string;
  qmpSocket: string;
  /** user-mode network with a virtio NIC; default true */
  network?: boolean;
  /** appended as they are */
  extraArgs?: string[];
}

/** QEMU option values use "," as separator: a literal comma is doubled. */
export function qemuValue(s: string): string {
  return s.replace(/,/g, ',,');
}

export function hostfwd(p: PublishSpec): string {
  return `hostfwd=${p.protocol}:${p.hostAddress ?? ''}:${p.hostPort}-:${p.guestPort}`;
}

/** The guest control channel's virtio-serial port (the guest agent opens it by this name). */
export const CONTROL_PORT_NAME = 'org.coracle.control';

/** QEMU arguments that attach the control port, served on `socketPath` (protocol: src/testing/control.ts). */
export function controlChannelArgs(socketPath: string): string[] {
  return [
    '-device', 'virtio-serial-pci,id=coracle-serial',
    '-chardev', `socket,id=coracle-control,path=${qemuValue(socketPath)},server=on,wait=off`,
    '-device', `virtserialport,bus=coracle-serial.0,chardev=coracle-control,name=${CONTROL_PORT_NAME}`,
  ];
}

export function buildQemuArgs(cfg: QemuConfig): string[] {
  const a: string[] = [];
  a.push('-machine', 'q35', '-accel', cfg.accel === 'kvm' ? 'kvm' : 'tcg');
  a.push('-cpu', cfg.accel === 'kvm' ? 'host' : 'max');
  a.push('-m', String(cfg.mem), '-smp', String(cfg.cpus));
  // Only the devices we ask for: no VGA, no default NIC with its iPXE ROM.
  a.push('-nodefaults', '-no-user-config', '-display', 'none', '-no-reboot');
  // The serial console is our stdio; the runner owns the terminal, so QEMU
  // never sees Ctrl-C as a signal.
  a.push('-chardev', 'stdio,id=console,signal=off', '-serial', 'chardev:console');
  a.push('-qmp', `unix:${qemuValue(cfg.qmpSocket)},server=on,wait=off`);
  // A guest kernel panic makes QEMU exit non-zero (the pvpanic driver reports it).
  a.push('-device', 'pvpanic', '-action', 'panic=exit-failure');
  a.push('-device', 'virtio-rng-pci');
  if (cfg.firmware) {
    a.push('-drive', `if=pflash,format=raw,unit=0,readonly=on,file=${qemuValue(cfg.firmware.code)}`);
    a.push('-drive', `if=pflash,format=raw,unit=1,file=${qemuValue(cfg.firmware.vars)}`);
  }
  const boot = cfg.boot;
  if (!isImageBoot(boot)) {
    a.push('-kernel', boot.vmlinux ?? boot.kernel, '-initrd', boot.initrd);
    a.push('-append', boot.cmdline.trim());
  } else if (boot.media === 'disk') {
    // before the data disks, so the guest sees it as vda
    a.push('-drive', `file=${qemuValue(boot.image)},format=${boot.format},if=none,id=bootdisk`);
    a.push('-device', 'virtio-blk-pci,drive=bootdisk,bootindex=0');
  }
  if (cfg.network ?? true) {
    const fwd = cfg.publish.map(hostfwd);
    a.push('-netdev', ['user', 'id=net0', ...fwd].join(','));
    a.push('-device', 'virtio-net-pci,netdev=net0,romfile=');
  }
  cfg.disks.forEach((d, i) => {
    a.push('-drive', `file=${qemuValue(d.path)},format=${d.format},if=virtio,index=${i}`);
  });
  const cdrom = isImageBoot(boot) && boot.media === 'cdrom' ? boot : undefined;
  // SCSI CD-ROMs on virtio-scsi (/dev/sr0, /dev/sr1 in the guest): Debian's
  // cloud kernel has no AHCI driver for q35's built-in SATA controller.
  if (cfg.seedIso || cdrom) a.push('-device', 'virtio-scsi-pci,id=scsi0');
  if (cdrom) {
    a.push('-drive', `file=${qemuValue(cdrom.image)},format=raw,media=cdrom,readonly=on,if=none,id=bootcd`);
    a.push('-device', 'scsi-cd,bus=scsi0.0,drive=bootcd,bootindex=0');
  }
  if (cfg.seedIso) {
    a.push('-drive', `file=${qemuValue(cfg.seedIso)},format=raw,media=cdrom,readonly=on,if=none,id=seed`);
    a.push('-device', 'scsi-cd,bus=scsi0.0,drive=seed');
  }
  if (cfg.extraArgs) a.push(...cfg.extraArgs);
  return a;
}
