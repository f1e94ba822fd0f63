import { describe, expect, it } from 'vitest';
import { buildQemuArgs, type QemuConfig } from '../../../src/qemu/args.js';

const base: QemuConfig = {
  boot: { kernel: '/img/x-kernel', initrd: '/img/x-initrd.img', cmdline: 'console=ttyS0 quiet\n' },
  accel: 'tcg',
  mem: 1024,
  cpus: 1,
  publish: [],
  disks: [],
  qmpSocket: '/tmp/s/qmp.sock',
};

/** the value following each occurrence of a flag */
function values(args: string[], flag: string): string[] {
  return args.flatMap((a, i) => (a === flag ? [args[i + 1]!] : []));
}

describe('buildQemuArgs', () => {
  it('boots the bzImage with the initrd and the trimmed cmdline', () => {
    const a = buildQemuArgs(base);
    expect(values(a, '-kernel')).toEqual(['/img/x-kernel']);
    expect(values(a, '-initrd')).toEqual(['/img/x-initrd.img']);
    expect(values(a, '-append')).toEqual(['console=ttyS0 quiet']);
  });
  it('boots vmlinux through PVH when there is one', () => {
    const a = buildQemuArgs({ ...base, boot: { ...base.boot, vmlinux: '/img/x-vmlinux' } });
    expect(values(a, '-kernel')).toEqual(['/img/x-vmlinux']);
  });
  it('uses the accelerator and a matching CPU model', () => {
    expect(values(buildQemuArgs(base), '-accel')).toEqual(['tcg']);
    expect(values(buildQemuArgs(base), '-cpu')).toEqual(['max']);
    const k = buildQemuArgs({ ...base, accel: 'kvm' });
    expect(values(k, '-accel')).toEqual(['kvm']);
    expect(values(k, '-cpu')).toEqual(['host']);
  });
  it('has no default devices, a serial console on stdio, QMP, pvpanic and no reboot', () => {
    const a = buildQemuArgs({ ...base, mem: 2048, cpus: 2 });
    expect(a).toContain('-nodefaults');
    expect(a).toContain('-no-reboot');
    expect(values(a, '-m')).toEqual(['2048']);
    expect(values(a, '-smp')).toEqual(['2']);
    expect(values(a, '-serial')).toEqual(['chardev:console']);
    expect(values(a, '-chardev')[0]).toMatch(/^stdio,id=console,signal=off/);
    expect(values(a, '-qmp')).toEqual(['unix:/tmp/s/qmp.sock,server=on,wait=off']);
    expect(values(a, '-device')).toContain('pvpanic');
    expect(values(a, '-action')).toEqual(['panic=exit-failure']);
  });
  it('puts a virtio NIC without option ROM on user networking with the published ports', () => {
    const a = buildQemuArgs({
      ...base,
      publish: [
        { hostPort: 8080, guestPort: 80, protocol: 'tcp', hostAddress: '127.0.0.1' },
        { hostPort: 5353, guestPort: 53, protocol: 'udp' },
      ],
    });
    expect(values(a, '-netdev')).toEqual(['user,id=net0,hostfwd=tcp:127.0.0.1:8080-:80,hostfwd=udp::5353-:53']);
    expect(values(a, '-device')).toContain('virtio-net-pci,netdev=net0,romfile=');
  });
  it('can run without a network', () => {
    const a = buildQemuArgs({ ...base, network: false });
    expect(values(a, '-netdev')).toEqual([]);
  });
  it('attaches disks as virtio and the seed ISO as a SCSI CD-ROM, escaping commas', () => {
    const a = buildQemuArgs({
      ...base,
      disks: [
        { path: '/d/a.qcow2', format: 'qcow2' },
        { path: '/d/b,c.img', format: 'raw' },
      ],
      seedIso: '/s/seed.iso',
    });
    expect(values(a, '-drive')).toEqual([
      'file=/d/a.qcow2,format=qcow2,if=virtio,index=0',
      'file=/d/b,,c.img,format=raw,if=virtio,index=1',
      'file=/s/seed.iso,format=raw,media=cdrom,readonly=on,if=none,id=seed',
    ]);
    expect(values(a, '-device')).toEqual(expect.arrayContaining(['virtio-scsi-pci,id=scsi0', 'scsi-cd,bus=scsi0.0,drive=seed']));
  });
});
