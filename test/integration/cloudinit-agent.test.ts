/**
 * The guest cloud-init agent (images/cloud-init, Go): its own unit tests
 * (`go test`: YAML 1.1, MIME, gzip, encodings, permissions, datasource
 * parsing and superblock probing, account files, write_files, module order
 * and instance semantics over a temporary root), `go vet` and gofmt, run
 * with Debian's toolchain offline as the image build does.
 */
import { execa } from 'execa';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { projectRoot } from '../helpers/cli.js';

const agentDir = join(projectRoot, 'images', 'cloud-init', 'src', 'coracle-cloud-init');
const goEnv = { ...process.env, GO111MODULE: 'off', GOPATH: '/usr/share/gocode', CGO_ENABLED: '0', GOFLAGS: '' };

async function go(args: string[]) {
  return execa('go', args, { cwd: agentDir, env: goEnv, reject: false, all: true, timeout: 300_000 });
}

describe('cloud-init agent (Go)', () => {
  it('go test passes', async () => {
    const r = await go(['test', '-count=1', '-v', '.']);
    expect(r.exitCode, r.all).toBe(0);
    // the suite really ran: the tests that need the real tools did not skip
    // (TestRunEndToEnd chowns files: it needs root, like the agent in the guest)
    if (process.getuid?.() === 0) expect(r.all).toMatch(/--- PASS: TestRunEndToEnd/);
    expect(r.all).toMatch(/--- PASS: TestFindLabelled/);
    expect(r.all).toMatch(/--- PASS: TestBadYAMLIsLoggedAndScriptsStillRun/);
    expect(r.all).not.toMatch(/--- FAIL/);
  }, 300_000);

  it('go vet finds nothing', async () => {
    const r = await go(['vet', '.']);
    expect(r.exitCode, r.all).toBe(0);
  }, 300_000);

  it('the sources are gofmt-clean', async () => {
    const r = await execa('gofmt', ['-l', '.'], { cwd: agentDir, reject: false, all: true });
    expect(r.exitCode, r.all).toBe(0);
    expect(r.stdout.trim()).toBe('');
  });

  it('builds static, reproducibly', async () => {
    const build = async (out: string) => {
      const r = await go(['build', '-trimpath', '-ldflags=-s -w -buildid=', '-o', out, '.']);
      expect(r.exitCode, r.all).toBe(0);
      return (await execa('sha256sum', [out])).stdout.split(' ')[0];
    };
    const { mkdtemp, rm } = await import('node:fs/promises');
    const { tmpdir } = await import('node:os');
    const dir = await mkdtemp(join(tmpdir(), 'coracle-agent-'));
    try {
      const a = await build(join(dir, 'a'));
      const b = await build(join(dir, 'b'));
      expect(a).toBe(b);
      const file = await execa('file', [join(dir, 'a')], { reject: false });
      if (file.exitCode === 0) expect(file.stdout).toMatch(/statically linked/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }, 300_000);
});
