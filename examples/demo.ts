/**
 * The main job, start to finish, with the real CLI (`bin/coracle.js`):
 *   1. (within 2) the system images examples/web.yml names as @pkg: folders
 *   2. coracle build       examples/web.yml -> out/web-kernel, -initrd.img ...
 *   3. coracle run qemu    boot it with the web port published
 *   4. list the containerd tasks from the console, fetch the page from the host
 *   5. Ctrl-C -> clean ACPI shutdown, wait for the guest to power off
 * Run with `npm run demo` (after `.ci/install`).
 */
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const cli = join(root, 'bin', 'coracle.js');
const spec = join(root, 'examples', 'web.yml');
const out = join(root, 'out');

function step(s: string): void {
  process.stdout.write(`\n=== ${s}\n`);
}

function coracle(args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [cli, ...args], { stdio: 'inherit', cwd: root });
    p.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`coracle ${args.join(' ')} exited ${code}`))));
  });
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => resolve(typeof a === 'object' && a ? a.port : 0));
    });
  });
}

async function main(): Promise<void> {
  // The spec names its images as @pkg: folders: `coracle build` builds each
  // one that is not in the store yet, so there is no separate pkg build step.
  step('coracle build examples/web.yml -o out');
  await coracle(['build', spec, '-o', out]);

  const port = await freePort();
  step(`coracle run qemu out/web --publish ${port}:80`);
  const vm = spawn(process.execPath, [cli, 'run', 'qemu', join(out, 'web'), '--publish', `${port}:80`], { cwd: root, stdio: ['pipe', 'pipe', 'inherit'] });
  let console = '';
  let seen = 0;
  const waiters: Array<{ re: RegExp; resolve: () => void }> = [];
  vm.stdout.on('data', (d: Buffer) => {
    console += d.toString();
    // show the init's progress lines and what we type, not every kernel message
    const lines = console.slice(seen).split('\n');
    seen = console.length - lines[lines.length - 1]!.length;
    for (const l of lines.slice(0, -1)) if (/coracle: |TASK|RUNNING|STOPPED|services\.coracle/.test(l)) process.stdout.write(`  | ${l.replace(/\r/g, '')}\n`);
    for (const w of [...waiters]) if (w.re.test(console)) {
      waiters.splice(waiters.indexOf(w), 1);
      w.resolve();
    }
  });
  const exited = new Promise<number>((resolve) => vm.on('exit', (code) => resolve(code ?? 1)));
  const waitFor = async (re: RegExp, ms: number): Promise<void> => {
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        new Promise<void>((resolve) => (re.test(console) ? resolve() : waiters.push({ re, resolve }))),
        new Promise<void>((_, reject) => (timer = setTimeout(() => reject(new Error(`timed out waiting for ${re}`)), ms))),
        exited.then((c) => Promise.reject(new Error(`the guest stopped early (exit ${c})`))),
      ]);
    } finally {
      // a pending timer would keep the demo alive for its whole length after the guest is gone
      clearTimeout(timer);
    }
  };

  try {
    await waitFor(/coracle: all services started/, 600_000);
    step('services running (ctr task ls, typed into the getty shell on the console)');
    // The getty shell drops input typed before it reads: type again until it answers.
    const typeTaskLs = () => vm.stdin.write('nsenter -t 1 -m -- ctr -n services.coracle task ls\n');
    typeTaskLs();
    const retype = setInterval(typeTaskLs, 10_000);
    try {
      await waitFor(/TASK\s+PID\s+STATUS[\s\S]*web\s+\d+\s+RUNNING/, 120_000);
    } finally {
      clearInterval(retype);
    }

    step(`GET http://127.0.0.1:${port}/ from the host`);
    const res = await fetch(`http://127.0.0.1:${port}/`);
    process.stdout.write(`HTTP ${res.status}\n${await res.text()}`);
    if (res.status !== 200) throw new Error(`the web service answered ${res.status}`);
  } finally {
    step('shutting down (ACPI power button)');
    vm.kill('SIGINT');
  }
  const code = await exited;
  if (code !== 0) throw new Error(`coracle run qemu exited ${code}`);
  step('done: the guest powered off cleanly');
}

main().catch((e: Error) => {
  process.stderr.write(`demo: ${e.message}\n`);
  process.exit(1);
});
