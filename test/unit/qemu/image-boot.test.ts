import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { buildQemuArgs, type QemuConfig } from '../../../src/qemu/args.js';
import { contentGuid, contentId32 } from '../../../src/outputs/disk/ids.js';
import { peChecksum } from '../../../src/outputs/disk/uki.js';

const base: QemuConfig = {
  boot: { image: '/img/x.iso', format: 'raw', media: 'cdrom', uefi: false },
  accel: 'tcg',
  mem: 1024,
  cpus: 1,
  publish: [],
  disks: [],
  qmpSocket: '/tmp/s/qmp.sock',
};
const values = (args: string[], flag: string): string[] => args.flatMap((a, i) => (a === flag ? [args[i + 1]!] : []));

describe('buildQemuArgs for an image file', () => {
  it('an ISO is a SCSI CD-ROM with boot priority, no -kernel, no firmware flash under BIOS', () => {
    const a = buildQemuArgs(base);
    expect(a).not.toContain('-kernel');
    expect(a).not.toContain('-append');
    expect(values(a, '-device')).toContain('scsi-cd,bus=scsi0.0,drive=bootcd,bootindex=0');
    expect(values(a, '-drive').some((d) => d.startsWith('if=pflash'))).toBe(false);
  });
  it('the boot ISO and a seed ISO share one virtio-scsi controller', () => {
    const a = buildQemuArgs({ ...base, seedIso: '/s/seed.iso' });
    expect(values(a, '-device').filter((d) => d.startsWith('virtio-scsi-pci'))).toHaveLength(1);
    expect(values(a, '-device')).toContain('scsi-cd,bus=scsi0.0,drive=seed');
  });
  it('a disk image is a virtio disk with boot priority before the data disks; UEFI adds OVMF code (read-only) and vars', () => {
    const a = buildQemuArgs({
      ...base,
      boot: { image: '/img/x.qcow2', format: 'qcow2', media: 'disk', uefi: true },
      firmware: { code: '/usr/share/OVMF/OVMF_CODE_4M.fd', vars: '/st/vars.fd' },
      disks: [{ path: '/d/data.qcow2', format: 'qcow2' }],
    });
    const drives = values(a, '-drive');
    expect(drives[0]).toBe('if=pflash,format=raw,unit=0,readonly=on,file=/usr/share/OVMF/OVMF_CODE_4M.fd');
    expect(drives[1]).toBe('if=pflash,format=raw,unit=1,file=/st/vars.fd');
    expect(drives[2]).toBe('file=/img/x.qcow2,format=qcow2,if=none,id=bootdisk');
    expect(drives[3]).toBe('file=/d/data.qcow2,format=qcow2,if=virtio,index=0');
    expect(values(a, '-device')).toContain('virtio-blk-pci,drive=bootdisk,bootindex=0');
  });
});

describe('content-derived ids', () => {
  it('are stable, differ by key and role, and are well-formed', () => {
    expect(contentGuid('k', 'disk')).toBe(contentGuid('k', 'disk'));
    expect(contentGuid('k', 'disk')).not.toBe(contentGuid('k', 'esp'));
    expect(contentGuid('k2', 'disk')).not.toBe(contentGuid('k', 'disk'));
    expect(contentGuid('k', 'disk')).toMatch(/^[0-9A-F]{8}-[0-9A-F]{4}-4[0-9A-F]{3}-[89AB][0-9A-F]{3}-[0-9A-F]{12}$/);
    expect(contentId32('k', 'fat')).toMatch(/^[0-9a-f]{8}$/);
  });
});

describe('PE checksum', () => {
  it('sums 16-bit words with carries folded, skips the field, adds the length', () => {
    const b = Buffer.alloc(16);
    b.writeUInt16LE(0xffff, 0);
    b.writeUInt16LE(0x0002, 2);
    b.writeUInt32LE(0xdeadbeef, 8); // the checksum field: not summed
    // 0xffff + 2 = 0x10001 -> folded 0x0002; + length 16
    expect(peChecksum(b, 8)).toBe(0x0002 + 16);
  });
  it('matches the checksum systemd-boot-efi\'s linker wrote into its EFI stub', () => {
    const b = readFileSync('/usr/lib/systemd/boot/efi/linuxx64.efi.stub');
    const at = b.readUInt32LE(0x3c) + 24 + 64;
    expect(b.readUInt32LE(at)).not.toBe(0);
    expect(peChecksum(b, at)).toBe(b.readUInt32LE(at));
  });
});
