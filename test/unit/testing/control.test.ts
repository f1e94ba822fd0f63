/**
 * The host side of the control channel against a fake agent speaking the
 * protocol on a Unix socket (the real agent is exercised by the boot tests).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ControlChannel, controlChannelArgs } from '../../../src/testing/control.js';
import { junitXml } from '../../../src/testing/junit.js';

let dir: string | undefined;
let server: Server | undefined;

afterEach(async () => {
  server?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** A fake agent: ignores the first `deaf` requests (the guest had not opened its port yet). */
async function fakeAgent(deaf: number): Promise<string> {
  dir = await mkdtemp(join(tmpdir(), 'coracle-ctl-test-'));
  const path = join(dir, 's');
  server = createServer((sock) => {
    let buf = '';
    let following: string | undefined;
    sock.on('error', () => undefined); // a client that left
    sock.on('data', (d) => {
      buf += d.toString();
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const words = buf.slice(0, nl).split(' ');
        // `host ID B64` has no service word
        const [verb, id, service, b64, extra] = words[0] === 'host' ? [words[0], words[1], '(host)', words[2]] : words;
        buf = buf.slice(nl + 1);
        if (deaf-- > 0) continue;
        if (verb === 'ping') sock.write(`pong ${id}\n`);
        if (verb === 'logs') {
          const line = (t: string) => sock.write(`line ${id} ${Buffer.from(t).toString('base64')}\n`);
          if (service !== 'web') sock.write(`end ${id} 1 ${Buffer.from(`no container named ${service} (logs: web)`).toString('base64')}\n`);
          else {
            const all = ['one', 'two words', 'three'];
            for (const l of Number(b64) > 0 ? all.slice(-Number(b64)) : all) line(l);
            if (extra === '1') {
              following = id;
              setTimeout(() => !sock.destroyed && line('later'), 50);
            } else sock.write(`end ${id} 0 \n`);
          }
        }
        if (verb === 'stop' && id === following) sock.write(`end ${id} 0 \n`);
        if (verb === 'exec' || verb === 'host') {
          const cmd = Buffer.from(b64!, 'base64').toString();
          if (cmd === 'sleep') continue;
          const out = Buffer.from(`${service} ran: ${cmd}\nsecond line`).toString('base64');
          sock.write(`exit ${id} ${cmd.startsWith('false') ? 1 : 0} ${out}\n`);
        }
      }
    });
  });
  await new Promise<void>((r) => server!.listen(path, r));
  return path;
}

describe('control channel', () => {
  it('attaches a named virtio-serial port on a socket QEMU serves', () => {
    expect(controlChannelArgs('/tmp/a,b/s').join(' ')).toBe(
      '-device virtio-serial-pci,id=coracle-serial -chardev socket,id=coracle-control,path=/tmp/a,,b/s,server=on,wait=off -device virtserialport,bus=coracle-serial.0,chardev=coracle-control,name=org.coracle.control',
    );
  });

  it('pings until the agent answers, then runs commands and returns their status and output', async () => {
    const c = await ControlChannel.connect(await fakeAgent(1));
    expect(await c.waitReady(10_000, () => true)).toBe(true);
    expect(await c.exec('getty', 'echo "a b"; id', 5000)).toEqual({ status: 0, output: 'getty ran: echo "a b"; id\nsecond line' });
    expect(await c.exec('web', 'false x', 5000)).toEqual({ status: 1, output: 'web ran: false x\nsecond line' });
    expect(await c.exec(undefined, 'cat /proc/mounts', 5000)).toEqual({ status: 0, output: '(host) ran: cat /proc/mounts\nsecond line' });
    c.close();
  });

  it('gives up at the deadline: no answer is undefined, not a hang', async () => {
    const c = await ControlChannel.connect(await fakeAgent(1000));
    const t0 = Date.now();
    expect(await c.waitReady(1500, () => true)).toBe(false);
    expect(Date.now() - t0).toBeLessThan(4000);
    c.close();
    const c2 = await ControlChannel.connect(await fakeAgent(0));
    expect(await c2.exec('getty', 'sleep', 300)).toBeUndefined();
    c2.close();
  });
});

describe('control channel: logs', () => {
  it('streams a container\'s lines, the last N of them, and ends', async () => {
    const c = await ControlChannel.connect(await fakeAgent(0));
    const lines: string[] = [];
    const s = c.logs('web', { onLine: (l) => lines.push(l) });
    expect(await s.done).toEqual({ status: 0, message: '' });
    expect(lines).toEqual(['one', 'two words', 'three']);
    const last: string[] = [];
    await c.logs('web', { tail: 2, onLine: (l) => last.push(l) }).done;
    expect(last).toEqual(['two words', 'three']);
    c.close();
  });

  it('follows until stop(), then the guest ends the stream', async () => {
    const c = await ControlChannel.connect(await fakeAgent(0));
    const lines: string[] = [];
    let seen!: () => void;
    const later = new Promise<void>((r) => (seen = r));
    const s = c.logs('web', { follow: true, onLine: (l) => (lines.push(l), l === 'later' && seen()) });
    await later;
    s.stop();
    expect(await s.done).toEqual({ status: 0, message: '' });
    expect(lines).toEqual(['one', 'two words', 'three', 'later']);
    c.close();
  });

  it('an unknown container is the guest\'s message; a closed channel ends the stream', async () => {
    const c = await ControlChannel.connect(await fakeAgent(0));
    expect(await c.logs('nope', { onLine: () => undefined }).done).toEqual({ status: 1, message: 'no container named nope (logs: web)' });
    expect(() => c.logs('two words', { onLine: () => undefined })).toThrow(/not a container name/);
    const s = c.logs('web', { follow: true, onLine: () => undefined });
    c.close();
    expect((await s.done).status).toBe(1);
  });
});

describe('JUnit report', () => {
  it('one testcase per step; failures carry FILE:LINE:COL and the console tail; XML is escaped', () => {
    const xml = junitXml({
      schemaVersion: 1,
      file: 'a.test.yml',
      target: 'a.yml',
      passed: false,
      durationMs: 1500,
      steps: [
        { index: 1, kind: 'console', label: 'console /<x>/', file: 'a.test.yml', line: 2, col: 5, status: 'pass', durationMs: 1000 },
        { index: 2, kind: 'http', label: 'http :80/ -> 200', file: 'a.test.yml', line: 3, col: 5, status: 'fail', durationMs: 500, message: 'status 404 & "no"' },
        { index: 3, kind: 'poweroff', label: 'poweroff within 60 s', file: 'a.test.yml', line: 4, col: 5, status: 'skip', durationMs: 0 },
      ],
      consoleTail: ['boot \x1b[0m line', 'last'],
    });
    expect(xml).toContain('<testsuite name="a.test.yml" tests="3" failures="1" errors="0" skipped="1" time="1.500">');
    expect(xml).toContain('<testcase name="01 console /&lt;x&gt;/" classname="a.test.yml" file="a.test.yml" line="2" time="1.000"/>');
    expect(xml).toContain('<failure message="status 404 &amp; &quot;no&quot;" type="http">a.test.yml:3:5: status 404 &amp; &quot;no&quot;</failure>');
    expect(xml).toContain('<system-out>boot [0m line\nlast</system-out>');
    expect(xml).toContain('<skipped message="an earlier step failed"/>');
  });
});
