import { describe, expect, it } from 'vitest';
import { moduleName, parseModuleIndex, resolveModule, selectModules } from '../../../src/kernel/modules.js';

// A slice of a real 6.1 modules.dep (cloud kernel), as depmod writes it.
const DEP = `kernel/fs/overlayfs/overlay.ko.xz:
kernel/fs/btrfs/btrfs.ko.xz: kernel/crypto/xor.ko.xz kernel/lib/raid6/raid6_pq.ko.xz kernel/lib/libcrc32c.ko.xz
kernel/crypto/xor.ko.xz:
kernel/lib/raid6/raid6_pq.ko.xz:
kernel/lib/libcrc32c.ko.xz:
kernel/arch/x86/crypto/crc32c-intel.ko.xz:
kernel/crypto/crc32c_generic.ko.xz:
kernel/net/bridge/bridge.ko.xz: kernel/net/802/stp.ko.xz kernel/net/llc/llc.ko.xz
kernel/net/802/stp.ko.xz: kernel/net/llc/llc.ko.xz
kernel/net/llc/llc.ko.xz:
kernel/drivers/misc/pvpanic/pvpanic-mmio.ko.xz: kernel/drivers/misc/pvpanic/pvpanic.ko.xz
kernel/drivers/misc/pvpanic/pvpanic.ko.xz:
`;
const index = parseModuleIndex({
  dep: DEP,
  builtin: 'kernel/fs/ext4/ext4.ko\nkernel/drivers/tty/serial/8250/8250.ko\n',
  alias: '# Aliases extracted from modules themselves.\nalias fs-overlay overlay\nalias fs-btrfs btrfs\nalias crypto-crc32c* crc32c_intel\nalias crc32c crc32c_intel\nalias crc32c crc32c_generic\n',
  softdep: '# Soft dependencies extracted from modules themselves.\nsoftdep libcrc32c pre: crc32c\nsoftdep btrfs pre: crc32c\n',
  builtinModinfo: Buffer.from('ext4.alias=fs-ext4\0ext4.license=GPL\0'),
});

describe('kernel module metadata', () => {
  it('names modules as modprobe does: no folder, no .ko(.xz), dashes as underscores', () => {
    expect(moduleName('kernel/drivers/misc/pvpanic/pvpanic-mmio.ko.xz')).toBe('pvpanic_mmio');
    expect(moduleName('kernel/fs/overlayfs/overlay.ko')).toBe('overlay');
  });

  it('finds a module, a built-in one, and either through an alias; anything else is unknown', () => {
    expect(resolveModule(index, 'overlay')).toEqual([{ kind: 'module', name: 'overlay', file: 'kernel/fs/overlayfs/overlay.ko.xz' }]);
    expect(resolveModule(index, 'pvpanic-mmio')).toMatchObject([{ kind: 'module', name: 'pvpanic_mmio' }]);
    expect(resolveModule(index, 'fs-btrfs')).toMatchObject([{ kind: 'module', name: 'btrfs' }]);
    expect(resolveModule(index, 'crypto-crc32c-intel')).toMatchObject([{ kind: 'module', name: 'crc32c_intel' }]);
    // modprobe loads every module an alias names
    expect(resolveModule(index, 'crc32c').map((r) => r.name)).toEqual(['crc32c_intel', 'crc32c_generic']);
    expect(resolveModule(index, 'ext4')).toEqual([{ kind: 'builtin', name: 'ext4' }]);
    expect(resolveModule(index, 'fs-ext4')).toEqual([{ kind: 'builtin', name: 'ext4' }]);
    expect(resolveModule(index, 'wireguard')).toEqual([]);
  });

  it('selects each module with what modules.dep says it needs and its soft dependencies', () => {
    const s = selectModules(index, ['bridge', 'fs-btrfs', 'ext4', 'nosuch']);
    expect(s.files).toEqual([
      'kernel/arch/x86/crypto/crc32c-intel.ko.xz',
      'kernel/crypto/crc32c_generic.ko.xz',
      'kernel/crypto/xor.ko.xz',
      'kernel/fs/btrfs/btrfs.ko.xz',
      'kernel/lib/libcrc32c.ko.xz',
      'kernel/lib/raid6/raid6_pq.ko.xz',
      'kernel/net/802/stp.ko.xz',
      'kernel/net/bridge/bridge.ko.xz',
      'kernel/net/llc/llc.ko.xz',
    ]);
    expect(s.builtin).toEqual(['ext4']);
    expect(s.unknown).toEqual(['nosuch']);
  });

  it('selects nothing for nothing, and a soft dependency the kernel lacks is not an error', () => {
    expect(selectModules(index, [])).toEqual({ files: [], builtin: [], unknown: [] });
    const lacking = parseModuleIndex({ dep: 'kernel/lib/libcrc32c.ko.xz:\n', softdep: 'softdep libcrc32c pre: crc32c\n' });
    expect(selectModules(lacking, ['libcrc32c'])).toEqual({ files: ['kernel/lib/libcrc32c.ko.xz'], builtin: [], unknown: [] });
  });
});
