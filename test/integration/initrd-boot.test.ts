/**
 * The kernel accepts what the initrd writer makes: Debian's cloud kernel
 * boots, under QEMU (TCG), an initrd of six concatenated segments (gzip,
 * zstd, plain, zstd, then two lz4 streams back to back at the end) holding busybox-static with hardlinked applets, a
 * deduplicated file pair, device nodes, a file replacing a hardlink of an
 * earlier segment, and an /init that reports what it sees, then powers off.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execa } from 'execa';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeInitrd } from '../../src/initrd/index.js';
import type { InitrdEntry, SegmentInput } from '../../src/initrd/types.js';
import { devKernel, type DevKernel } from '../helpers/dev-initrd.js';

let work: string;
let kernel: DevKernel;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'coracle-initrd-boot-'));
  kernel = await devKernel();
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

const dir = (path: string, mode = 0o755): InitrdEntry => ({ path, type: 'dir', mode, uid: 0, gid: 0 });
const text = (path: string, s: string, mode = 0o644): InitrdEntry => ({ path, type: 'file', mode, uid: 0, gid: 0, data: { kind: 'buffer', data: Buffer.from(s) } });
const link = (path: string, target: string): InitrdEntry => ({ path, type: 'hardlink', mode: 0, uid: 0, gid: 0, linkTarget: target });

// Runs as PID 1 from the initramfs. Every check prints one line the test reads.
const INIT = `#!/bin/sh
export PATH=/bin
mount -t proc proc /proc
echo "CORACLE-INITRD init running"
echo "CORACLE-INITRD marker=$(cat /etc/marker) plain=$(cat /etc/plain) lz4=$(cat /etc/lz4) last=$(cat /etc/last)"
echo "CORACLE-INITRD links busybox=$(stat -c %i:%h /bin/busybox) sh=$(stat -c %i /bin/sh) stat=$(stat -c %i /bin/stat)"
echo "CORACLE-INITRD dedupe a=$(stat -c %i:%h /data/a) b=$(stat -c %i /data/b) content=$(cat /data/b)"
echo "CORACLE-INITRD console=$(stat -c %F:%t:%T /dev/console) null=$(stat -c %F:%t:%T /dev/null) loop=$(stat -c %F:%t:%T /dev/loop7)"
echo "CORACLE-INITRD modes init=$(stat -c %a /init) secret=$(stat -c %a:%u:%g /etc/secret) symlink=$(readlink /bin/ls)"
echo "CORACLE-INITRD replaced true=$(cat /bin/true) links=$(stat -c %h /bin/true)"
echo "CORACLE-INITRD done"
poweroff -f
`;

describe('initrd boot', () => {
  it('boots a kernel with concatenated gzip + zstd + plain + lz4 segments, hardlinks and device nodes', async () => {
    const applets = ['sh', 'mount', 'cat', 'stat', 'echo', 'poweroff', 'readlink', 'true'];
    const segments: SegmentInput[] = [
      {
        name: 'base', compression: 'gzip',
        entries: [
          dir('bin'),
          { path: 'bin/busybox', type: 'file', mode: 0o755, uid: 0, gid: 0, data: { kind: 'file', path: '/bin/busybox' } },
          ...applets.map((a) => link(`bin/${a}`, 'bin/busybox')),
          { path: 'bin/ls', type: 'symlink', mode: 0o777, uid: 0, gid: 0, linkTarget: 'busybox' },
          dir('dev'),
          { path: 'dev/console', type: 'char', mode: 0o600, uid: 0, gid: 0, rdev: { major: 5, minor: 1 } },
          { path: 'dev/null', type: 'char', mode: 0o666, uid: 0, gid: 0, rdev: { major: 1, minor: 3 } },
          { path: 'dev/loop7', type: 'block', mode: 0o660, uid: 0, gid: 6, rdev: { major: 7, minor: 7 } },
          dir('proc'),
        ],
      },
      {
        name: 'data', compression: 'zstd', dedupe: true,
        entries: [dir('etc'), text('etc/marker', 'from-zstd'), { ...text('etc/secret', 'x', 0o600), uid: 42, gid: 43 }, dir('data'), text('data/a', 'same-bytes'), text('data/b', 'same-bytes')],
      },
      { name: 'plain', compression: 'none', entries: [text('etc/plain', 'from-plain')] },
      // bin/true is a hardlink to busybox in 'base': without `replace` the kernel would write this over busybox itself
      { name: 'replace', compression: 'zstd', entries: [{ ...text('bin/true', 'replaced-true'), replace: true }] },
      // lz4 last (the kernel's LZ4 unpacker reads to the end), two streams with nothing between them
      { name: 'lz4-a', compression: 'lz4', entries: [text('etc/lz4', 'from-lz4')] },
      { name: 'init', compression: 'lz4', entries: [text('init', INIT, 0o755), text('etc/last', 'from-last-lz4')] },
    ];
    const out = join(work, 'initrd.img');
    const r = await writeInitrd(segments, out, { compression: 'gzip', cacheDir: join(work, 'cache') });
    expect(r.segments.map((s) => s.compression)).toEqual(['gzip', 'zstd', 'none', 'zstd', 'lz4', 'lz4']);
    const img = await readFile(out);
    // padded segments up to the first lz4 one, which starts on a boundary
    expect(r.segments.slice(0, 4).reduce((n, s) => n + s.size, 0) % 512).toBe(0);
    expect(img.length).toBe(r.segments.reduce((n, s) => n + s.size, 0));

    const q = await execa('qemu-system-x86_64', [
      '-accel', 'tcg', '-m', '256', '-smp', '1', '-nographic', '-no-reboot', '-nodefaults', '-serial', 'stdio', '-net', 'none',
      '-kernel', kernel.kernel, '-initrd', out, '-append', 'console=ttyS0 panic=-1 quiet',
    ], { reject: false, timeout: 240_000, stdin: 'ignore' });
    const log = `${q.stdout}\n${q.stderr}`;
    if (process.env.CORACLE_SHOW_BOOT) console.log(log.split('\n').filter((l) => l.includes('CORACLE')).join('\n'));
    expect(q.timedOut, log).toBe(false);
    expect(log).toContain('CORACLE-INITRD init running');
    expect(log).toContain('CORACLE-INITRD marker=from-zstd plain=from-plain lz4=from-lz4 last=from-last-lz4');
    const links = /links busybox=(\d+):(\d+) sh=(\d+) stat=(\d+)/.exec(log);
    expect(links, log).not.toBeNull();
    // busybox + its applets, less bin/true which the later segment replaced
    expect(links![2]).toBe(String(applets.length));
    expect(links![3]).toBe(links![1]);
    expect(links![4]).toBe(links![1]);
    const dd = /dedupe a=(\d+):(\d+) b=(\d+) content=(\S+)/.exec(log);
    expect(dd, log).not.toBeNull();
    expect([dd![2], dd![3], dd![4]]).toEqual(['2', dd![1], 'same-bytes']);
    // stat prints major/minor in hex
    expect(log).toContain('console=character special file:5:1 null=character special file:1:3 loop=block special file:7:7');
    expect(log).toContain('modes init=755 secret=600:42:43 symlink=busybox');
    expect(log).toContain('CORACLE-INITRD replaced true=replaced-true links=1');
    expect(log).toContain('CORACLE-INITRD done');
  });
});

describe('lz4 segments', () => {
  it('must come last: a segment of another kind after one is refused before anything is written', async () => {
    const segments: SegmentInput[] = [
      { name: 'a', compression: 'lz4', entries: [text('a', 'a')] },
      { name: 'b', compression: 'zstd', entries: [text('b', 'b')] },
    ];
    await expect(writeInitrd(segments, join(work, 'bad.img'), { compression: 'lz4', cacheDir: join(work, 'cache') })).rejects.toThrow(/segment b \(zstd\) follows the lz4 segment a/);
  });
});
