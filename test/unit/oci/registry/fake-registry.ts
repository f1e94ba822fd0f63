// A tiny in-memory registry on 127.0.0.1:0 for unit tests: serves
// manifests and blobs it is given, records requests, and lets a test put a
// hook in front (auth, faults). Not a real registry: the smoke tests use
// docker-registry for that.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createHash } from 'node:crypto';

export interface Recorded {
  method: string;
  path: string;
  headers: IncomingMessage['headers'];
}

export type Hook = (req: IncomingMessage, res: ServerResponse, url: URL) => boolean | Promise<boolean>;

export interface FakeRegistry {
  url: string;
  host: string;
  requests: Recorded[];
  /** Serve a manifest under repo:reference (and under its digest). */
  manifest(repo: string, reference: string, body: Buffer | string, mediaType: string, opts?: { digestHeader?: string }): string;
  /** Serve a blob; `bytes` may differ from what `digest` names (fault tests). */
  blob(repo: string, digest: string, bytes: Buffer): void;
  /** Hooks run in order before the default handling; one returning true has answered. */
  hooks: Hook[];
  close(): Promise<void>;
}

export function sha256(b: Buffer | string): string {
  return `sha256:${createHash('sha256').update(b).digest('hex')}`;
}

export async function startFakeRegistry(): Promise<FakeRegistry> {
  const manifests = new Map<string, { body: Buffer; mediaType: string; digestHeader: string }>();
  const blobs = new Map<string, Buffer>();
  const requests: Recorded[] = [];
  const hooks: Hook[] = [];
  const server = createServer(async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    requests.push({ method: req.method ?? 'GET', path: url.pathname, headers: req.headers });
    for (const h of hooks) if (await h(req, res, url)) return;
    if (url.pathname === '/v2/') {
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      return;
    }
    const m = /^\/v2\/(.+)\/(manifests|blobs)\/([^/]+)$/.exec(url.pathname);
    if (m) {
      const [, repo, kind, ref] = m as unknown as [string, string, string, string];
      if (kind === 'manifests') {
        const e = manifests.get(`${repo}:${ref}`);
        if (!e) {
          res.writeHead(404, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ errors: [{ code: 'MANIFEST_UNKNOWN', message: 'manifest unknown' }] }));
          return;
        }
        res.writeHead(200, { 'content-type': e.mediaType, 'content-length': e.body.length, 'docker-content-digest': e.digestHeader });
        res.end(req.method === 'HEAD' ? undefined : e.body);
        return;
      }
      const b = blobs.get(`${repo}@${ref}`);
      if (!b) {
        res.writeHead(404, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ errors: [{ code: 'BLOB_UNKNOWN', message: 'blob unknown to registry' }] }));
        return;
      }
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': b.length, 'docker-content-digest': ref });
      res.end(req.method === 'HEAD' ? undefined : b);
      return;
    }
    res.writeHead(404).end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    host: `127.0.0.1:${port}`,
    requests,
    hooks,
    manifest(repo, reference, body, mediaType, opts = {}) {
      const buf = Buffer.from(body);
      const digest = sha256(buf);
      const e = { body: buf, mediaType, digestHeader: opts.digestHeader ?? digest };
      manifests.set(`${repo}:${reference}`, e);
      manifests.set(`${repo}:${digest}`, e);
      return digest;
    },
    blob(repo, digest, bytes) {
      blobs.set(`${repo}@${digest}`, bytes);
    },
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

/** Serve a small one-layer image in `repo` under `tag`; returns its digests. */
export function serveImage(reg: FakeRegistry, repo: string, tag: string, layer: Buffer = Buffer.from('layer bytes')) {
  const layerDigest = sha256(layer);
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [layerDigest] } }));
  const configDigest = sha256(config);
  reg.blob(repo, layerDigest, layer);
  reg.blob(repo, configDigest, config);
  const manifest = JSON.stringify({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: configDigest, size: config.length },
    layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: layerDigest, size: layer.length }],
  });
  const manifestDigest = reg.manifest(repo, tag, manifest, 'application/vnd.oci.image.manifest.v1+json');
  return { manifestDigest, configDigest, layerDigest, config, layer };
}
