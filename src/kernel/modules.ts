/**
 * A kernel's module metadata as depmod and the kernel build write it under
 * lib/modules/VER (modules.dep, modules.builtin, modules.alias,
 * modules.softdep, modules.builtin.modinfo), and the choice of which module
 * files a system needs: the named modules with everything they depend on.
 */

/** `kernel/fs/overlayfs/overlay.ko.xz` -> `overlay`; dashes and underscores are one (as modprobe treats them). */
export function moduleName(path: string): string {
  const base = path.slice(path.lastIndexOf('/') + 1);
  return normaliseModuleName(base.replace(/\.ko(\.(xz|gz|zst))?$/, ''));
}

export function normaliseModuleName(name: string): string {
  return name.replace(/-/g, '_');
}

export interface ModuleIndex {
  /** Module name -> file, relative to lib/modules/VER. */
  files: Map<string, string>;
  /** File -> the files it needs loaded first (modules.dep is already transitive). */
  deps: Map<string, string[]>;
  /** Names of the modules built into the kernel image. */
  builtin: Set<string>;
  /** alias pattern -> module name, for loadable and built-in modules. */
  aliases: Array<{ pattern: RegExp; module: string }>;
  /** Module name -> names modprobe also loads (softdep pre: and post:). */
  softdeps: Map<string, string[]>;
}

function lines(text: string | undefined): string[] {
  return (text ?? '').split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'));
}

/** fnmatch(3) as kmod applies it to alias patterns: `*`, `?` and `[...]`. */
function aliasPattern(p: string): RegExp {
  let re = '';
  for (let i = 0; i < p.length; i++) {
    const c = p[i]!;
    if (c === '*') re += '.*';
    else if (c === '?') re += '.';
    else if (c === '[') {
      const end = p.indexOf(']', i + 1);
      if (end < 0) re += '\\[';
      else {
        re += `[${p.slice(i + 1, end).replace(/^!/, '^').replace(/\\/g, '\\\\')}]`;
        i = end;
      }
    } else re += c.replace(/[.+^${}()|\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

export interface ModuleMetadata {
  dep: string;
  builtin?: string;
  alias?: string;
  softdep?: string;
  /** modules.builtin.modinfo: NUL-separated `name.key=value` records. */
  builtinModinfo?: Buffer;
}

export function parseModuleIndex(m: ModuleMetadata): ModuleIndex {
  const files = new Map<string, string>();
  const deps = new Map<string, string[]>();
  for (const l of lines(m.dep)) {
    const colon = l.indexOf(':');
    if (colon < 0) continue;
    const file = l.slice(0, colon).trim();
    deps.set(file, l.slice(colon + 1).trim().split(/\s+/).filter(Boolean));
    files.set(moduleName(file), file);
  }
  const builtin = new Set(lines(m.builtin).map(moduleName));
  const aliases: ModuleIndex['aliases'] = [];
  for (const l of lines(m.alias)) {
    const [kw, pattern, module] = l.split(/\s+/);
    if (kw === 'alias' && pattern && module) aliases.push({ pattern: aliasPattern(pattern), module: normaliseModuleName(module) });
  }
  if (m.builtinModinfo) {
    for (const rec of m.builtinModinfo.toString('utf8').split('\0')) {
      const r = /^([^.=]+)\.alias=(.+)$/.exec(rec);
      if (r) aliases.push({ pattern: aliasPattern(r[2]!), module: normaliseModuleName(r[1]!) });
    }
  }
  const softdeps = new Map<string, string[]>();
  for (const l of lines(m.softdep)) {
    const [kw, module, ...rest] = l.split(/\s+/);
    if (kw !== 'softdep' || !module) continue;
    const names = rest.filter((w) => w !== 'pre:' && w !== 'post:').map(normaliseModuleName);
    softdeps.set(normaliseModuleName(module), [...(softdeps.get(normaliseModuleName(module)) ?? []), ...names]);
  }
  return { files, deps, builtin, aliases, softdeps };
}

export type Resolution = { kind: 'module'; name: string; file: string } | { kind: 'builtin'; name: string };

/**
 * A name as modprobe finds it: a module, a built-in one, else every module
 * (or built-in) with a matching alias (modprobe loads all of them). Empty
 * when the kernel has nothing by that name.
 */
export function resolveModule(index: ModuleIndex, requested: string): Resolution[] {
  const name = normaliseModuleName(requested);
  const byName = (n: string): Resolution | undefined => {
    const file = index.files.get(n);
    if (file) return { kind: 'module', name: n, file };
    return index.builtin.has(n) ? { kind: 'builtin', name: n } : undefined;
  };
  const direct = byName(name);
  if (direct) return [direct];
  const out: Resolution[] = [];
  for (const a of index.aliases) {
    if (!a.pattern.test(requested) && !a.pattern.test(name)) continue;
    const r = byName(a.module);
    if (r && !out.some((o) => o.name === r.name)) out.push(r);
  }
  return out;
}

export interface ModuleSelection {
  /** Module files to keep (relative to lib/modules/VER), sorted. */
  files: string[];
  /** Requested names that are built in (nothing to copy). */
  builtin: string[];
  /** Requested names the kernel has neither as a module nor built in. */
  unknown: string[];
}

/** The files the requested modules need: each one, what modules.dep says it needs, and their soft dependencies. */
export function selectModules(index: ModuleIndex, requested: readonly string[]): ModuleSelection {
  const keep = new Set<string>();
  const builtin = new Set<string>();
  const unknown: string[] = [];
  const seen = new Set<string>();
  const add = (req: string, top: boolean): void => {
    const found = resolveModule(index, req);
    if (found.length === 0) {
      if (top && !unknown.includes(req)) unknown.push(req);
      return;
    }
    for (const r of found) {
      if (r.kind === 'builtin' && top) builtin.add(r.name);
      if (seen.has(r.name)) continue;
      seen.add(r.name);
      if (r.kind === 'module') {
        keep.add(r.file);
        for (const d of index.deps.get(r.file) ?? []) {
          keep.add(d);
          // a dependency's own soft dependencies are loaded with it
          for (const s of index.softdeps.get(moduleName(d)) ?? []) add(s, false);
        }
      }
      // soft dependencies a kernel lacks are skipped by modprobe too
      for (const s of index.softdeps.get(r.name) ?? []) add(s, false);
    }
  };
  for (const r of requested) add(r, true);
  return { files: [...keep].sort(), builtin: [...builtin].sort(), unknown };
}
