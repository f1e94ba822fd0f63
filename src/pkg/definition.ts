import { readFile } from 'node:fs/promises';
import { basename, resolve } from 'node:path';
import { LineCounter, isMap, isSeq, parseDocument, type Document, type Node } from 'yaml';
import { z } from 'zod';
import { DiagnosticsError, type SourceDiagnostic } from '../errors.js';

/** The definition file in each image folder. */
export const DEFINITION_FILE = 'build.yml';

/** Position of a value in build.yml. */
export interface Loc {
  file: string;
  line: number;
  col: number;
}

const octal = z.union([z.number().int(), z.string().regex(/^0?[0-7]{3,4}$/, 'mode must be octal, e.g. "0755"')]);
const id = z.number().int().min(0);

const fileEntry = z
  .object({
    path: z.string().min(1),
    source: z.string().min(1).optional(),
    contents: z.string().optional(),
    directory: z.boolean().optional(),
    mode: octal.optional(),
    uid: id.optional(),
    gid: id.optional(),
  })
  .strict();

const symlinkEntry = z.object({ path: z.string().min(1), target: z.string().min(1) }).strict();

const schema = z
  .object({
    name: z.string().regex(/^[a-z0-9]+([._-][a-z0-9]+)*$/, 'lower-case image name').optional(),
    description: z.string().optional(),
    debian: z
      .object({
        packages: z.array(z.string().min(1)).min(1),
        /** false: unpack only the named packages (the narrow path for static binaries). */
        dependencies: z.boolean().optional(),
        /** Globs on package names: resolve everything, but unpack (and list in the SBOM) only these. */
        unpack: z.array(z.string().min(1)).optional(),
      })
      .strict()
      .optional(),
    rootfs: z.string().optional(),
    files: z.array(fileEntry).optional(),
    symlinks: z.array(symlinkEntry).optional(),
    remove: z.array(z.string().min(1)).optional(),
    keep: z.array(z.string().min(1)).optional(),
    /** `needed`: drop shared libraries no ELF program in the image needs. */
    libraries: z.enum(['all', 'needed']).optional(),
    build: z
      .object({
        command: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]),
        env: z.record(z.string(), z.string()).optional(),
        /** Extra input files/folders (relative to the image folder) hashed into the tag. */
        inputs: z.array(z.string()).optional(),
      })
      .strict()
      .optional(),
    kernel: z
      .object({
        /** Module folders (under lib/modules/VER/kernel/) left out of kernel.tar. */
        dropModules: z.array(z.string()).optional(),
        /** Compress the module files (xz: read by busybox's and kmod's modprobe). */
        compressModules: z.enum(['xz']).optional(),
      })
      .strict()
      .optional(),
    config: z
      .object({
        entrypoint: z.array(z.string()).optional(),
        cmd: z.array(z.string()).optional(),
        env: z.array(z.string().regex(/^[^=]+=/, 'env entries are KEY=VALUE')).optional(),
        workdir: z.string().optional(),
        user: z.string().optional(),
      })
      .strict()
      .optional(),
    label: z.record(z.string(), z.unknown()).optional(),
  })
  .strict();

export type DefinitionData = z.infer<typeof schema>;
export type FileEntry = z.infer<typeof fileEntry>;

/** A parsed image definition, with positions for error messages. */
export interface PackageDefinition {
  /** Image folder (absolute). */
  dir: string;
  /** build.yml path (absolute). */
  file: string;
  /** build.yml path as the user named it, for messages. */
  displayFile: string;
  /** Image name (`name:` or the folder name). */
  name: string;
  /** Raw build.yml text (hashed into the tag). */
  text: string;
  data: DefinitionData;
  /** Position of the value at a path (['files', 2, 'source']), or of the nearest parent. */
  locate(path: Array<string | number>): Loc;
  /** Position of the key at the end of a path (for unknown keys). */
  locateKey(path: Array<string | number>): Loc;
}

function toLoc(file: string, lc: LineCounter, offset: number): Loc {
  const p = lc.linePos(offset);
  return { file, line: p.line, col: p.col };
}

function nodeAt(doc: Document, path: Array<string | number>, atKey = false): Node | undefined {
  let cur: unknown = doc.contents;
  let best: Node | undefined = doc.contents ?? undefined;
  for (const [i, key] of path.entries()) {
    if (isMap(cur)) {
      const pair = cur.items.find((it) => (it.key as { value?: unknown } | null)?.value === key);
      if (!pair) break;
      cur = atKey && i === path.length - 1 ? pair.key : pair.value;
    } else if (isSeq(cur) && typeof key === 'number') {
      cur = cur.items[key];
    } else break;
    if (cur && typeof cur === 'object' && 'range' in (cur as object)) best = cur as Node;
  }
  return best;
}

export function parseDefinitionText(text: string, displayFile: string, dir: string): PackageDefinition {
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, prettyErrors: false });
  const diags: SourceDiagnostic[] = [];
  for (const e of doc.errors) {
    const p = toLoc(displayFile, lc, e.pos[0]);
    diags.push({ ...p, message: e.message.split('\n')[0]!, severity: 'error' });
  }
  if (diags.length) throw new DiagnosticsError(diags);
  const locate = (path: Array<string | number>): Loc => {
    const n = nodeAt(doc, path);
    return n?.range ? toLoc(displayFile, lc, n.range[0]) : { file: displayFile, line: 1, col: 1 };
  };
  const locateKey = (path: Array<string | number>): Loc => {
    const n = nodeAt(doc, path, true);
    return n?.range ? toLoc(displayFile, lc, n.range[0]) : locate(path.slice(0, -1));
  };
  const raw = doc.toJS() ?? {};
  const r = schema.safeParse(raw);
  if (!r.success) {
    for (const issue of r.error.issues) {
      const path = issue.path.filter((k): k is string | number => typeof k !== 'symbol');
      let msg = issue.message;
      if (issue.code === 'unrecognized_keys') {
        for (const k of issue.keys) {
          const n = nodeAt(doc, [...path, k], true);
          const at = n?.range ? toLoc(displayFile, lc, n.range[0]) : locate(path);
          diags.push({ ...at, message: `unknown key "${k}"`, severity: 'error' });
        }
        continue;
      }
      if (path.length) msg = `${path.join('.')}: ${msg}`;
      diags.push({ ...locate(path), message: msg, severity: 'error' });
    }
    throw new DiagnosticsError(diags);
  }
  const data = r.data;
  // Semantic checks the schema cannot express.
  (data.files ?? []).forEach((f, i) => {
    const kinds = [f.source !== undefined, f.contents !== undefined, f.directory === true].filter(Boolean).length;
    if (kinds > 1) diags.push({ ...locate(['files', i]), message: 'a file takes one of source, contents or directory', severity: 'error' });
    if (!f.path.startsWith('/')) diags.push({ ...locate(['files', i, 'path']), message: `path "${f.path}" must be absolute`, severity: 'error' });
  });
  (data.symlinks ?? []).forEach((s, i) => {
    if (!s.path.startsWith('/')) diags.push({ ...locate(['symlinks', i, 'path']), message: `path "${s.path}" must be absolute`, severity: 'error' });
  });
  if (!data.debian && !data.rootfs && !data.files && !data.build) {
    diags.push({ ...locate([]), message: 'the definition adds nothing: give debian, files, rootfs or build', severity: 'error' });
  }
  if (diags.length) throw new DiagnosticsError(diags);
  return { dir, file: resolve(dir, DEFINITION_FILE), displayFile, name: data.name ?? basename(dir), text, data, locate, locateKey };
}

/** Read images/NAME/build.yml (pass the folder or the file). */
export async function loadDefinition(pathArg: string): Promise<PackageDefinition> {
  const isFile = pathArg.endsWith('.yml') || pathArg.endsWith('.yaml');
  const dir = resolve(isFile ? resolve(pathArg, '..') : pathArg);
  const file = isFile ? resolve(pathArg) : resolve(dir, DEFINITION_FILE);
  const displayFile = isFile ? pathArg : `${pathArg.replace(/\/+$/, '')}/${DEFINITION_FILE}`;
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    throw new DiagnosticsError([{ file: displayFile, line: 1, col: 1, message: `cannot read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, severity: 'error' }]);
  }
  const def = parseDefinitionText(text, displayFile, dir);
  return { ...def, file };
}

/** Parse a mode written as 0755, "0755" or 493. YAML 1.2 reads 0755 as decimal 755, so numbers are read as octal digits. */
export function parseMode(m: number | string): number {
  if (typeof m === 'number') return parseInt(String(m), 8);
  return parseInt(m, 8);
}
