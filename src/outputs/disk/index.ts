/**
 * The bootable formats of `coracle build --format`, each made from the
 * kernel, the initrd and the command line with Debian's tools (see
 * boot/README.md for what each holds and why):
 *   uki         NAME.efi          systemd-stub + kernel + initrd + cmdline
 *   iso-efi     NAME-efi.iso      UEFI ISO (El Torito FAT with the UKI)
 *   iso-bios    NAME.iso          hybrid ISO: ISOLINUX for BIOS and the UKI for UEFI
 *   raw-efi     NAME-efi.img      GPT disk, one ESP holding the UKI as BOOTX64.EFI
 *   raw-bios    NAME-bios.img     MBR disk, one FAT partition booted by SYSLINUX
 *   qcow2-efi   NAME-efi.qcow2    raw-efi as qcow2
 *   qcow2-bios  NAME.qcow2        raw-bios as qcow2
 *   vhd         NAME.vhd          raw-bios as a fixed VHD (Azure, Hyper-V)
 *   vmdk        NAME.vmdk         raw-bios as a monolithic sparse VMDK (VMware)
 *   gcp         NAME.img.tar.gz   raw-bios as disk.raw in a gzipped tar (GCE image import)
 *   aws         NAME.raw          raw-bios as it is (EC2 snapshot import)
 * Every image is cached under a key of its inputs, like the initrd
 * segments: a rebuild of the same spec copies the cached image.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { copyFile, mkdir, readFile, rename, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createGzip } from 'node:zlib';
import { pipeline } from 'node:stream/promises';
import { CoracleError } from '../../errors.js';
import { TarWriter } from '../../tar/index.js';
import { convertRaw } from './convert.js';
import { writeFat, type FatFile } from './fat.js';
import { contentGuid, contentId32, FAT_EPOCH_MIN } from './ids.js';
import { writeIso, ISO_PATHS } from './iso.js';
import { ESP_TYPE, PART_START, writeDisk } from './partition.js';
import { runTool } from './run.js';
import { requireTools, type ToolName } from './tools.js';
import { hasEfiStub, writeUki } from './uki.js';

import type { DiskFormat } from '../formats.js';
export { DISK_FORMATS, isDiskFormat, type DiskFormat } from '../formats.js';

/** The file each format writes in the output folder (LinuxKit's names). */
export function diskFileName(format: DiskFormat, name: string): string {
  const names: Record<DiskFormat, string> = {
    uki: `${name}.efi`,
    'iso-efi': `${name}-efi.iso`,
    'iso-bios': `${name}.iso`,
    'raw-efi': `${name}-efi.img`,
    'raw-bios': `${name}-bios.img`,
    'qcow2-efi': `${name}-efi.qcow2`,
    'qcow2-bios': `${name}.qcow2`,
    vhd: `${name}.vhd`,
    vmdk: `${name}.vmdk`,
    gcp: `${name}.img.tar.gz`,
    aws: `${name}.raw`,
  };
  return names[format];
}

/** Does the format boot through UEFI (and so need a kernel with the EFI stub)? */
export function isEfiFormat(f: DiskFormat): boolean {
  return f === 'uki' || f.endsWith('-efi') || f === 'iso-bios';
}

const UKI_TOOLS: ToolName[] = ['objcopy', 'efiStub'];
const FAT_TOOLS: ToolName[] = ['mformat', 'mmd', 'mcopy'];
const BIOS_DISK: ToolName[] = [...FAT_TOOLS, 'syslinux', 'ldlinux', 'mbr', 'sfdisk'];
const NEEDS: Record<DiskFormat, ToolName[]> = {
  uki: UKI_TOOLS,
  'iso-efi': [...UKI_TOOLS, ...FAT_TOOLS, 'xorriso'],
  'iso-bios': [...UKI_TOOLS, ...FAT_TOOLS, 'xorriso', 'isolinux', 'isohdpfx', 'ldlinux'],
  'raw-efi': [...UKI_TOOLS, ...FAT_TOOLS, 'sfdisk'],
  'raw-bios': BIOS_DISK,
  'qcow2-efi': [...UKI_TOOLS, ...FAT_TOOLS, 'sfdisk', 'qemuImg'],
  'qcow2-bios': [...BIOS_DISK, 'qemuImg'],
  vhd: [...BIOS_DISK, 'qemuImg'],
  vmdk: [...BIOS_DISK, 'qemuImg'],
  gcp: BIOS_DISK,
  aws: BIOS_DISK,
};

/** The boot/ folder shipped with the package: loader configuration templates. */
export const BOOT_DIR = fileURLToPath(new URL('../../../boot/', import.meta.url));

export interface DiskInputs {
  name: string;
  kernel: string;
  /** the whole initrd (every segment concatenated) */
  initrd: string;
  cmdline: string;
  /** SOURCE_DATE_EPOCH (or 0); FAT cannot date before 1980, so earlier is moved there */
  mtime: number;
  /** where built images are kept, by key */
  cacheDir: string;
  /** the kernel image's name, for errors */
  kernelName?: string;
}

/** Check, before any work, that every format can be made here: tools installed, an EFI stub where one is needed. */
export async function checkDiskFormats(formats: readonly DiskFormat[], kernel: string, kernelName = 'the kernel'): Promise<void> {
  for (const f of formats) requireTools(f, NEEDS[f]);
  const efi = formats.find(isEfiFormat);
  if (efi !== undefined && !(await hasEfiStub(kernel)))
    throw new CoracleError(`format ${efi} boots through UEFI, but ${kernelName} has no EFI stub (CONFIG_EFI_STUB): use raw-bios, qcow2-bios, vhd or vmdk, or a kernel built with it`);
}

type Artifact = DiskFormat | 'esp' | 'esp-part' | 'bios-part';

/** Bumped when a recipe changes what it makes: cached images of an older recipe are not reused. */
const RECIPE = 'coracle-disk-recipe/3';

/** The installed tools' identity (a Debian upgrade may change what they write) and the boot/ templates. */
async function toolStamp(names: readonly ToolName[]): Promise<unknown[]> {
  const tools = requireTools('cache', names);
  const out: unknown[] = [];
  for (const n of [...new Set(names)].sort()) {
    const st = await stat(tools[n]);
    out.push([n, st.size, st.mtimeMs]);
  }
  for (const f of ['syslinux.cfg', 'os-release']) out.push(await readFile(join(BOOT_DIR, f), 'utf8'));
  return out;
}

function sha(parts: unknown[]): string {
  return createHash('sha256').update(JSON.stringify(parts)).digest('hex');
}

async function fileSha(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const c of createReadStream(path)) h.update(c as Buffer);
  return h.digest('hex');
}

function fill(template: string, vars: Record<string, string>): string {
  return template.replace(/@([A-Z]+)@/g, (m, k: string) => vars[k] ?? m);
}

/** Builds (or finds cached) each format's image; one instance per build, so shared parts are made once. */
export class DiskImages {
  readonly #in: DiskInputs;
  readonly #epoch: number;
  #content?: Promise<string>;
  readonly #made = new Map<Artifact, Promise<string>>();

  constructor(inputs: DiskInputs) {
    this.#in = inputs;
    this.#epoch = Math.max(inputs.mtime, FAT_EPOCH_MIN);
  }

  /** What the images are made of, by content (not by path): the key of the cache and the seed of every id. */
  content(): Promise<string> {
    this.#content ??= (async () => sha(['coracle-disk/1', await fileSha(this.#in.kernel), await fileSha(this.#in.initrd), this.#in.cmdline, this.#in.name, this.#epoch]))();
    return this.#content;
  }

  /** The cached image of `format` (built now when missing). */
  image(format: DiskFormat): Promise<string> {
    return this.#artifact(format);
  }

  #artifact(a: Artifact): Promise<string> {
    let p = this.#made.get(a);
    if (!p) {
      p = this.#cached(a);
      this.#made.set(a, p);
    }
    return p;
  }

  async #cached(a: Artifact): Promise<string> {
    const key = await this.content();
    const dir = join(this.#in.cacheDir, sha([RECIPE, key, a, await toolStamp(this.#tools(a))]).slice(0, 32));
    const file = join(dir, this.#fileName(a));
    if (await stat(file).then((s) => s.isFile(), () => false)) {
      // In use: `coracle cache prune` keeps entries touched within its grace period.
      // The folder, not the file: outputs tell an unchanged file by its mtime.
      const now = new Date();
      await utimes(dir, now, now).catch(() => undefined);
      return file;
    }
    const tmp = `${dir}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
    await mkdir(tmp, { recursive: true });
    try {
      await this.#make(a, join(tmp, this.#fileName(a)), tmp, key);
      await rm(dir, { recursive: true, force: true });
      await rename(tmp, dir);
    } catch (e) {
      await rm(tmp, { recursive: true, force: true });
      throw e;
    }
    return file;
  }

  #tools(a: Artifact): ToolName[] {
    return a === 'esp' || a === 'esp-part' ? [...UKI_TOOLS, ...FAT_TOOLS] : a === 'bios-part' ? BIOS_DISK : NEEDS[a];
  }

  #fileName(a: Artifact): string {
    return a === 'esp' || a === 'esp-part' || a === 'bios-part' ? `${a}.fat` : diskFileName(a, this.#in.name);
  }

  async #make(a: Artifact, out: string, tmp: string, key: string): Promise<void> {
    const e = this.#epoch;
    const t = requireTools(a, this.#tools(a));
    const making = `format ${a}`;
    switch (a) {
      case 'uki': {
        const osRelease = fill(await readFile(join(BOOT_DIR, 'os-release'), 'utf8'), { NAME: this.#in.name });
        return writeUki(out, { stub: t.efiStub, kernel: this.#in.kernel, initrd: this.#in.initrd, cmdline: this.#in.cmdline, osRelease, epoch: e, objcopy: t.objcopy, tmp: join(tmp, 'section') });
      }
      case 'esp':
      case 'esp-part': {
        const files: FatFile[] = [{ path: 'EFI/BOOT/BOOTX64.EFI', source: await this.#artifact('uki') }];
        const hidden = a === 'esp-part' ? { hiddenSectors: PART_START } : {};
        await writeFat(out, { label: 'CORACLE-EFI', serial: contentId32(key, a), files, epoch: e, tools: t, ...hidden }, making);
        return;
      }
      case 'bios-part': {
        const cfg = join(tmp, 'syslinux.cfg');
        await writeFile(cfg, await this.#syslinuxCfg('/kernel', '/initrd.img'));
        const files: FatFile[] = [
          { path: 'syslinux.cfg', source: cfg },
          { path: 'kernel', source: this.#in.kernel },
          { path: 'initrd.img', source: this.#in.initrd },
        ];
        // room for ldlinux.sys and ldlinux.c32, which syslinux adds
        await writeFat(out, { label: 'CORACLE', serial: contentId32(key, a), files, epoch: e, tools: t, hiddenSectors: PART_START, spare: 1048576 }, making);
        await runTool(t.syslinux, ['--install', out], { making, epoch: e });
        return;
      }
      case 'iso-efi':
      case 'iso-bios': {
        const efiImage = await this.#artifact('esp');
        let bios;
        if (a === 'iso-bios') {
          const config = join(tmp, 'isolinux.cfg');
          await writeFile(config, await this.#syslinuxCfg(ISO_PATHS.kernel, ISO_PATHS.initrd));
          bios = { isolinuxBin: t.isolinux, ldlinux: t.ldlinux, isohdpfx: t.isohdpfx, config, kernel: this.#in.kernel, initrd: this.#in.initrd };
        }
        return writeIso(out, { volumeId: 'CORACLE', efiImage, ...(bios ? { bios } : {}), epoch: e, xorriso: t.xorriso }, making);
      }
      case 'raw-efi':
        return writeDisk(
          out,
          {
            table: 'gpt',
            diskId: contentGuid(key, 'disk'),
            partition: { image: await this.#artifact('esp-part'), type: ESP_TYPE, uuid: contentGuid(key, 'esp'), name: 'EFI System' },
            sfdisk: t.sfdisk,
            epoch: e,
          },
          making,
        );
      case 'raw-bios':
        return writeDisk(
          out,
          { table: 'dos', diskId: contentId32(key, 'disk'), partition: { image: await this.#artifact('bios-part'), type: 'c', bootable: true }, bootCode: t.mbr, sfdisk: t.sfdisk, epoch: e },
          making,
        );
      case 'qcow2-efi':
      case 'qcow2-bios':
      case 'vhd':
      case 'vmdk': {
        const raw = await this.#artifact(a === 'qcow2-efi' ? 'raw-efi' : 'raw-bios');
        const target = a.startsWith('qcow2') ? 'qcow2' : a === 'vhd' ? 'vhd' : 'vmdk';
        const uniqueId = Buffer.from(contentGuid(key, 'vhd').replace(/-/g, ''), 'hex');
        return convertRaw(out, { raw, target, qemuImg: t.qemuImg, epoch: e, cid: contentId32(key, 'vmdk'), uniqueId }, making);
      }
      case 'aws': {
        return copyFile(await this.#artifact('raw-bios'), out);
      }
      case 'gcp':
        return writeGcpTar(out, await this.#artifact('raw-bios'), e);
    }
  }

  async #syslinuxCfg(kernel: string, initrd: string): Promise<string> {
    return fill(await readFile(join(BOOT_DIR, 'syslinux.cfg'), 'utf8'), { KERNEL: kernel, INITRD: initrd, CMDLINE: this.#in.cmdline.trim() });
  }
}

/** GCE's image import: a gzipped tar holding one file, disk.raw. */
async function writeGcpTar(out: string, raw: string, mtime: number): Promise<void> {
  const size = (await stat(raw)).size;
  const gz = createGzip({ level: 6 });
  const done = pipeline(gz, createWriteStream(out));
  const w = new TarWriter(gz);
  await w.addFile({ path: 'disk.raw', mode: 0o644, mtime, size }, createReadStream(raw));
  await w.finish();
  await done;
}

