// Pull benchmark: coracle vs skopeo, same registry, same image, same run.
//
//   node --import tsx bench/pull.ts [--runs N] [--mb SIZE] [--layers N]
//
// Makes a ~100 MB image of incompressible layers, pushes it with skopeo to a
// docker-registry it starts on 127.0.0.1 (plain http, no auth), then times,
// alternating, `coracle pull` into an empty store and
// `skopeo copy docker://... oci:DIR:tag`. Medians and the ratio
// coracle/skopeo go to bench/RESULTS.md (section "pull").
//
// coracle is timed as users run it: the compiled CLI (tsc output in
// bench/work/dist), not through tsx, whose start-up transpiling would be
// counted against coracle. The start-up cost of a bare `coracle --version` is
// reported alongside so the fixed cost of a process is visible.
import { execa } from 'execa';
import { mkdtemp, rm, mkdir } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { startRegistry, skopeoCopy, skopeoPolicyArgs } from '../test/helpers/registry.js';
import { makeImageLayout } from '../test/helpers/images.js';
import { compiledCli } from './compiled-cli.js';
import { median, table, writeSection } from './results.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

function arg(name: string, dflt: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
}

const RUNS = arg('runs', 5);
const TOTAL_MB = arg('mb', 100);
const LAYERS = arg('layers', 4);

const buildCli = (): Promise<string> => compiledCli(join(root, 'bench', 'work', 'pull-cli'));

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await fn();
  return (performance.now() - t0) / 1000;
}

async function main(): Promise<void> {
  console.log(`bench pull: ${TOTAL_MB} MB in ${LAYERS} layers, ${RUNS} runs each`);
  const cli = await buildCli();
  const reg = await startRegistry({ auth: 'none' });
  const layerBytes = Math.floor((TOTAL_MB * 1024 * 1024) / LAYERS);
  const img = await makeImageLayout({ layers: Array.from({ length: LAYERS }, () => layerBytes) }, 'bench');
  const ref = `${reg.host}/bench/pull:1`;
  const scratch = await mkdtemp(join(tmpdir(), 'coracle-bench-'));
  const coracleTimes: number[] = [];
  const skopeoTimes: number[] = [];
  const startup: number[] = [];
  const bareNode: number[] = [];
  const loadBefore = loadavg()[0]!;
  try {
    await skopeoCopy(`oci:${img.dir}:bench`, `docker://${ref}`);
    const policy = await skopeoPolicyArgs();
    const env = { ...process.env, CI: '1', DOCKER_CONFIG: scratch, XDG_CONFIG_HOME: scratch, REGISTRY_AUTH_FILE: join(scratch, 'auth.json') };

    const coracle = async (i: number): Promise<number> => {
      const cache = join(scratch, `coracle-${i}`);
      const t = await timed(() => execa(process.execPath, [cli, '--cache', cache, 'pull', ref], { env }));
      // sanity: what was timed really pulled the image
      if (!existsSync(join(cache, 'blobs', ...img.built.layerDigests[0]!.split(':')))) throw new Error('coracle pull stored no layer');
      await rm(cache, { recursive: true, force: true });
      return t;
    };
    const skopeo = async (i: number): Promise<number> => {
      const dir = join(scratch, `skopeo-${i}`);
      const t = await timed(() =>
        execa('skopeo', [...policy, 'copy', '--quiet', '--src-tls-verify=false', `docker://${ref}`, `oci:${dir}:bench`], { env }),
      );
      if (!existsSync(join(dir, 'blobs', ...img.built.layerDigests[0]!.split(':')))) throw new Error('skopeo copy stored no layer');
      await rm(dir, { recursive: true, force: true });
      return t;
    };

    // one untimed warm-up of each (page cache, registry's first reads)
    await coracle(-1);
    await skopeo(-1);
    for (let i = 0; i < RUNS; i++) {
      // alternate which goes first so drift hits both alike
      if (i % 2 === 0) {
        coracleTimes.push(await coracle(i));
        skopeoTimes.push(await skopeo(i));
      } else {
        skopeoTimes.push(await skopeo(i));
        coracleTimes.push(await coracle(i));
      }
      // start-up costs measured in the same conditions as this run's pulls
      startup.push(await timed(() => execa(process.execPath, [cli, '--version'], { env })));
      bareNode.push(await timed(() => execa(process.execPath, ['-e', '0'], { env })));
      console.log(`run ${i + 1}: coracle ${coracleTimes.at(-1)!.toFixed(2)} s, skopeo ${skopeoTimes.at(-1)!.toFixed(2)} s, coracle --version ${startup.at(-1)!.toFixed(2)} s`);
    }
  } finally {
    await reg.stop();
    await img.cleanup();
    await rm(scratch, { recursive: true, force: true });
  }

  const mc = median(coracleTimes);
  const ms = median(skopeoTimes);
  const ratio = mc / ms;
  const sizeMb = img.built.totalSize / 1024 / 1024;
  const body = [
    `Pull of a ${sizeMb.toFixed(1)} MiB image (${LAYERS} gzip layers of random bytes) from a local docker-registry`,
    '(127.0.0.1, plain http) into an empty store: `coracle pull` (compiled CLI) vs',
    '`skopeo copy docker://... oci:DIR:tag`, alternating, after one warm-up each.',
    '',
    table(
      ['tool', 'median (s)', 'MiB/s', 'runs (s)'],
      [
        ['coracle', mc.toFixed(2), (sizeMb / mc).toFixed(0), coracleTimes.map((t) => t.toFixed(2)).join(', ')],
        ['skopeo', ms.toFixed(2), (sizeMb / ms).toFixed(0), skopeoTimes.map((t) => t.toFixed(2)).join(', ')],
      ],
    ),
    '',
    `**ratio coracle/skopeo: ${ratio.toFixed(2)}** (goal ≤ 1.00: ${ratio <= 1 ? 'met' : 'not met'}).`,
    `Start-up, included above (medians): \`coracle --version\` ${median(startup).toFixed(2)} s, a bare \`node -e 0\` ${median(bareNode).toFixed(2)} s.`,
    `Coracle's pull work after start-up: ${(mc - median(startup)).toFixed(2)} s against skopeo's ${ms.toFixed(2)} s in total.`,
    `Load average (1 min) ${loadBefore.toFixed(1)} before, ${loadavg()[0]!.toFixed(1)} after: the machine is shared, compare the ratio, not the seconds.`,
    'Over plain http, blob bodies are read by coracle\'s own socket reader straight into the store\'s write buffers',
    '(src/oci/registry/socket-get.ts); https registries go through node:https, so this figure is the plain-http case.',
  ].join('\n');
  await writeSection('pull', 'Pull: coracle vs skopeo', body);
  console.log(body);
}

main().catch((e: unknown) => {
  console.error(e);
  process.exitCode = 1;
});
