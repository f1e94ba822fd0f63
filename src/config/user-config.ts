import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import type { Node } from 'yaml';
import { CoracleError, DiagnosticsError, type SourceDiagnostic } from '../errors.js';

/**
 * The user's own settings (`$CORACLE_CONFIG`, else
 * `$XDG_CONFIG_HOME/coracle/config.yml`, else `~/.config/coracle/config.yml`):
 *
 *     mirrors:
 *       docker.io: [http://127.0.0.1:5000]
 *     insecure: [registry.lan:5000]
 *
 * A missing file is an empty config (except a named $CORACLE_CONFIG).
 */
export interface UserConfig {
  /** The file read, when there was one. */
  path?: string;
  /** Registry host -> mirror base URLs, tried in order before the registry itself. */
  mirrors: Record<string, string[]>;
  /** Registries (host or host:port) reached over plain HTTP. */
  insecure: string[];
}

export function userConfigPath(env: NodeJS.ProcessEnv = process.env): string {
  if (env.CORACLE_CONFIG) return env.CORACLE_CONFIG;
  const base = env.XDG_CONFIG_HOME || join(homedir(), '.config');
  return join(base, 'coracle', 'config.yml');
}

/** Check a mirror URL: http(s) with a host; returned without a trailing slash. */
export function normaliseMirrorUrl(text: string): string | undefined {
  let u: URL;
  try {
    u = new URL(text);
  } catch {
    return undefined;
  }
  if ((u.protocol !== 'http:' && u.protocol !== 'https:') || !u.host || u.search || u.hash) return undefined;
  return `${u.protocol}//${u.host}${u.pathname}`.replace(/\/+$/, '');
}

// yaml is loaded only when there is a config file to parse: most commands
// that reach registries have none, and they start faster without it
// (yaml is a CommonJS package, so this is the same instance `import` gives).
const requireYaml = (): typeof import('yaml') => createRequire(import.meta.url)('yaml') as typeof import('yaml');

export function parseUserConfig(text: string, file: string): UserConfig {
  const { LineCounter, isMap, isSeq, parseDocument } = requireYaml();
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, prettyErrors: false });
  const diags: SourceDiagnostic[] = [];
  const at = (node: Node | null | undefined, message: string) => {
    const pos = node?.range ? lc.linePos(node.range[0]) : { line: 1, col: 1 };
    diags.push({ file, line: pos.line, col: pos.col, message, severity: 'error' });
  };
  for (const e of doc.errors) {
    const pos = lc.linePos(e.pos[0]);
    diags.push({ file, line: pos.line, col: pos.col, message: e.message.split('\n')[0]!, severity: 'error' });
  }
  if (diags.length) throw new DiagnosticsError(diags);
  const cfg: UserConfig = { path: file, mirrors: {}, insecure: [] };
  const root = doc.contents;
  if (root === null || root === undefined) return cfg;
  if (!isMap(root)) {
    at(root as Node, 'the config must be a mapping (mirrors:, insecure:)');
    throw new DiagnosticsError(diags);
  }
  for (const pair of root.items) {
    const key = (pair.key as { value?: unknown })?.value;
    const value = pair.value as Node | null;
    if (key === 'mirrors') {
      if (!isMap(value)) {
        at(value ?? (pair.key as Node), 'mirrors: expected a mapping of registry host to a list of mirror URLs');
        continue;
      }
      for (const m of value.items) {
        const host = String((m.key as { value?: unknown })?.value ?? '');
        const list = m.value as Node | null;
        const urls: string[] = [];
        const items = isSeq(list) ? list.items : [list];
        for (const it of items) {
          const raw = (it as { value?: unknown } | null)?.value;
          const url = typeof raw === 'string' ? normaliseMirrorUrl(raw) : undefined;
          if (!url) at(it as Node, `mirrors.${host}: "${String(raw)}" is not an http:// or https:// URL`);
          else urls.push(url);
        }
        cfg.mirrors[host] = urls;
      }
    } else if (key === 'insecure') {
      const items = isSeq(value) ? value.items : [value];
      for (const it of items) {
        const raw = (it as { value?: unknown } | null)?.value;
        if (typeof raw !== 'string' || raw === '' || /\s/.test(raw)) at(it as Node, `insecure: expected a registry host[:port], got "${String(raw)}"`);
        else cfg.insecure.push(raw);
      }
    } else {
      at(pair.key as Node, `unknown key "${String(key)}" (known: mirrors, insecure)`);
    }
  }
  if (diags.length) throw new DiagnosticsError(diags);
  return cfg;
}

export async function loadUserConfig(env: NodeJS.ProcessEnv = process.env): Promise<UserConfig> {
  const file = userConfigPath(env);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' && !env.CORACLE_CONFIG) return { mirrors: {}, insecure: [] };
    throw new CoracleError(`cannot read config file ${file}: ${code === 'ENOENT' ? 'no such file' : (e as Error).message}`);
  }
  return parseUserConfig(text, file);
}

/** Parse `--mirror REGISTRY=URL`. */
export function parseMirrorOption(text: string): { registry: string; url: string } {
  const eq = text.indexOf('=');
  const registry = eq > 0 ? text.slice(0, eq).trim() : '';
  const url = eq > 0 ? normaliseMirrorUrl(text.slice(eq + 1).trim()) : undefined;
  if (!registry || !url) {
    throw new CoracleError(`invalid --mirror "${text}": expected REGISTRY=URL, e.g. docker.io=http://127.0.0.1:5000`);
  }
  return { registry: registry === 'index.docker.io' || registry === 'registry-1.docker.io' ? 'docker.io' : registry, url };
}

/** Command-line mirrors first (in order), then the config file's. */
export function mergeMirrors(cli: Array<{ registry: string; url: string }>, config: Record<string, string[]>): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const { registry, url } of cli) (out[registry] ??= []).push(url);
  for (const [registry, urls] of Object.entries(config)) {
    for (const u of urls) if (!(out[registry] ??= []).includes(u)) out[registry]!.push(u);
  }
  return out;
}

/**
 * Mirrors and insecure registries for registry access: `--mirror` values
 * (REGISTRY=URL, first) merged with the user config file; `insecure: true`
 * from a command-line `--insecure`, else the file's list.
 */
export async function loadRegistryAccess(
  flags: { mirror?: string[]; insecure?: boolean } = {},
  env: NodeJS.ProcessEnv = process.env,
): Promise<{ mirrors: Record<string, string[]>; insecure: boolean | string[] }> {
  const cli = (flags.mirror ?? []).map(parseMirrorOption);
  const config = await loadUserConfig(env);
  return { mirrors: mergeMirrors(cli, config.mirrors), insecure: flags.insecure ? true : config.insecure };
}
