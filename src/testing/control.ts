/**
 * Host side of the guest control channel: a virtio-serial port named
 * org.coracle.control whose other end is a Unix socket QEMU serves. The
 * guest agent (images/init/rootfs/usr/lib/coracle/agent) answers one
 * request at a time, one line each way:
 *
 *   host  -> guest   ping ID
 *   guest -> host    pong ID
 *   host  -> guest   exec ID SERVICE BASE64(COMMAND)
 *   host  -> guest   host ID BASE64(COMMAND)
 *   guest -> host    exit ID STATUS BASE64(OUTPUT)
 *
 * COMMAND runs as `/bin/sh -c COMMAND` in the service's container through
 * `ctr task exec` (exec), or beside the init in the host's own namespaces
 * (host); OUTPUT is its stdout and stderr together.
 */
import { connect, type Socket } from 'node:net';
import { qemuValue } from '../qemu/args.js';

export const CONTROL_PORT_NAME = 'org.coracle.control';

/** QEMU arguments that attach the port, served on `socketPath`. */
export function controlChannelArgs(socketPath: string): string[] {
  return [
    '-device', 'virtio-serial-pci,id=coracle-serial',
    '-chardev', `socket,id=coracle-control,path=${qemuValue(socketPath)},server=on,wait=off`,
    '-device', `virtserialport,bus=coracle-serial.0,chardev=coracle-control,name=${CONTROL_PORT_NAME}`,
  ];
}

export interface ExecResult {
  status: number;
  output: string;
}

export class ControlChannel {
  private buf = '';
  private waiters = new Map<string, (words: string[]) => void>();
  private nextId = 0;
  private agentReady = false;

  private constructor(private readonly sock: Socket) {
    sock.setEncoding('utf8');
    sock.on('data', (d: string) => {
      this.buf += d;
      let nl: number;
      while ((nl = this.buf.indexOf('\n')) >= 0) {
        const words = this.buf.slice(0, nl).trim().split(/\s+/);
        this.buf = this.buf.slice(nl + 1);
        const w = this.waiters.get(words[1] ?? '');
        if (w) {
          this.waiters.delete(words[1]!);
          w(words);
        }
      }
    });
    sock.on('error', () => undefined);
  }

  /** Connect to the socket QEMU serves (it exists once QEMU is up). */
  static async connect(socketPath: string, timeoutMs = 10_000): Promise<ControlChannel> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      try {
        const sock = await new Promise<Socket>((resolve, reject) => {
          const s = connect(socketPath);
          s.once('connect', () => resolve(s));
          s.once('error', reject);
        });
        return new ControlChannel(sock);
      } catch (e) {
        if (Date.now() > deadline) throw e;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  }

  private request(line: (id: string) => string, timeoutMs: number): Promise<string[] | undefined> {
    const id = String(++this.nextId);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.waiters.delete(id);
        resolve(undefined);
      }, timeoutMs);
      this.waiters.set(id, (words) => {
        clearTimeout(timer);
        resolve(words);
      });
      this.sock.write(`${line(id)}\n`);
    });
  }

  /**
   * Wait until the agent answers a ping. The guest drops what arrives before
   * its agent opens the port, so ask again every 2 s. False at the deadline.
   */
  async waitReady(timeoutMs: number, stillRunning: () => boolean): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (!this.agentReady && Date.now() < deadline && stillRunning()) {
      if (await this.request((id) => `ping ${id}`, Math.min(2000, Math.max(1, deadline - Date.now())))) this.agentReady = true;
    }
    return this.agentReady;
  }

  /**
   * Run `sh -c command` in a service's container, or on the host itself
   * (service undefined); undefined when no answer came in time.
   */
  async exec(service: string | undefined, command: string, timeoutMs: number): Promise<ExecResult | undefined> {
    const b64 = Buffer.from(command).toString('base64');
    const words = await this.request((id) => (service === undefined ? `host ${id} ${b64}` : `exec ${id} ${service} ${b64}`), timeoutMs);
    if (!words) return undefined;
    return { status: Number(words[2]), output: Buffer.from(words[3] ?? '', 'base64').toString('utf8') };
  }

  close(): void {
    this.sock.destroy();
  }
}
