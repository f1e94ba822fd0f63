/**
 * Compressing a segment's archive stream into a file. gzip comes from
 * node:zlib (no timestamp or name in the header: reproducible); zstd from the
 * `zstd` CLI (Node 20's zlib has none) in its multi-threaded mode, whose
 * output is the same for any number of worker threads (-T1 = -T8; only
 * --single-thread differs), so every core helps and every host writes the
 * same bytes. lz4 from the `lz4` CLI in its legacy format (`-l`), the only
 * LZ4 format the kernel's initramfs unpacker reads: less work for the guest
 * to unpack than zstd (under QEMU's TCG that unpacking is a large part of
 * the boot; bench/RESULTS.md, build), at about 1.26 times zstd's size.
 */
import { createWriteStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { CoracleError } from '../errors.js';
import type { Compression } from './types.js';

// gzip -6 is as small as -9 on binaries at half the time; zstd -9 is within ~10% of -19 at 1/50 of the time (bench/RESULTS.md).
const GZIP_OS_UNIX = 3;

// lz4 -9 is LZ4 HC: slower to write, the same speed to unpack as -1, ~20% smaller.
export const DEFAULT_LEVEL: Record<Compression, number> = { gzip: 6, zstd: 9, lz4: 9, none: 0 };

const LEVELS: Record<Compression, [number, number]> = { gzip: [1, 9], zstd: [1, 19], lz4: [1, 12], none: [0, 0] };

export function checkLevel(compression: Compression, level: number): void {
  const [lo, hi] = LEVELS[compression];
  if (!Number.isInteger(level) || level < lo || level > hi) {
    // zstd levels above 19 need windows larger than the kernel's 8 MiB limit.
    throw new CoracleError(`initrd: ${compression} level ${level} is out of range ${lo}-${hi}`);
  }
}

/** Write `chunks`, compressed, to `outPath`; returns the uncompressed byte count. */
export async function compressToFile(
  chunks: AsyncIterable<Uint8Array>,
  outPath: string,
  compression: Compression,
  level: number,
): Promise<number> {
  let count = 0;
  const counter = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      count += chunk.length;
      cb(null, chunk);
    },
  });
  const source = Readable.from(chunks, { objectMode: false });
  if (compression === 'none') {
    await pipeline(source, counter, createWriteStream(outPath));
  } else if (compression === 'gzip') {
    const { createGzip, constants: zc } = await import('node:zlib');
    await pipeline(source, counter, createGzip({ level, memLevel: 9, strategy: zc.Z_DEFAULT_STRATEGY }), createWriteStream(outPath));
    // The header's OS byte is zlib's build platform (3 on Linux, 19 on macOS): fix it so every host writes the same bytes.
    const fh = await open(outPath, 'r+');
    try {
      await fh.write(Buffer.from([GZIP_OS_UNIX]), 0, 1, 9);
    } finally {
      await fh.close();
    }
  } else {
    const tool = compression;
    const args = compression === 'zstd' ? ['-q', '-c', `-${level}`, '-T0', '--no-progress'] : ['-q', '-c', '-l', `-${level}`];
    // node:child_process, not execa: the one-file rebuild compresses one small segment and should not load a library for it
    const { spawn } = await import('node:child_process');
    const out = await open(outPath, 'w');
    let feedError: unknown;
    let r: { code: number | null; spawnError?: NodeJS.ErrnoException; stderr: string };
    try {
      const proc = spawn(tool, args, { stdio: ['pipe', out.fd, 'pipe'] });
      let stderr = '';
      proc.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
      const exited = new Promise<typeof r>((res) => {
        proc.on('error', (e: NodeJS.ErrnoException) => res({ code: null, spawnError: e, stderr }));
        proc.on('close', (code) => res({ code, stderr }));
      });
      try {
        await pipeline(source, counter, proc.stdin!);
      } catch (e) {
        feedError = e;
        proc.kill();
      }
      r = await exited;
    } finally {
      await out.close();
    }
    // A bad data source is the real cause even though the tool was killed for it;
    // a tool that failed (or never started) is the cause of a broken pipe.
    if (feedError instanceof CoracleError) throw feedError;
    if (r.spawnError !== undefined || r.code !== 0) {
      const why = r.spawnError?.code === 'ENOENT' ? `the ${tool} command is not installed (Debian package ${tool})` : r.stderr.trim() || r.spawnError?.message || `exit code ${r.code}`;
      throw new CoracleError(`initrd: ${tool} failed: ${why}`);
    }
    if (feedError !== undefined) throw feedError;
  }
  return count;
}
