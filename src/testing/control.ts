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
 *   host  -> guest   logs ID NAME TAIL FOLLOW      (TAIL 0: all the guest holds; FOLLOW 0|1)
 *   guest -> host    line ID BASE64(LINE)          (one per line)
 *   host  -> guest   stop ID                       (ends a follow)
 *   guest -> host    end ID STATUS BASE64(MESSAGE)
 *
 * COMMAND runs as `/bin/sh -c COMMAND` in the service's container through
 * `ctr task exec` (exec), or beside the init in the host's own namespaces
 * (host); OUTPUT is its stdout and stderr together. LINE is one line of a
 * container's output as the guest's logd keeps it.
 *
 * IDs start with a random word: a second client of the same VM (one
 * `coracle logs` after another) never takes a late answer meant for the
 * first as its own.
 */
import { randomBytes } from 'node:crypto';
import { connect, type Socket } from 'node:net';

export { CONTROL_PORT_NAME, controlChannelArgs } from '../qemu/args.js';

export interface ExecResult {
  status: number;
  output: string;
}

export interface LogsRequest {
  /** the last lines only (0 or unset: all the guest holds) */
  tail?: number;
  /** then new lines as they come, until stop() */
  follow?: boolean;
  onLine: (line: string) => void;
}

export interface LogsStream {
  /** the guest's end of the stream: status 0, or non-zero with its message (no such container ...) */
  done: Promise<{ status: number; message: string }>;
  /** end a follow (the guest answers with its end) */
  stop: () => void;
}

export class ControlChannel {
  private buf = '';
  private waiters = new Map<string, (words: string[]) => void>();
  /** handlers of requests answered by several lines (logs) */
  private streams = new Map<string, (words: string[]) => void>();
  private readonly idPrefix = randomBytes(4).toString('hex');
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
        const stream = this.streams.get(words[1] ?? '');
        if (stream) {
          stream(words);
          continue;
        }
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

  private newId(): string {
    return `${this.idPrefix}.${++this.nextId}`;
  }

  private request(line: (id: string) => string, timeoutMs: number): Promise<string[] | undefined> {
    const id = this.newId();
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

  /**
   * A container's output lines (a service by name, an onboot or onshutdown
   * container by name or as onboot/NNN-NAME), as the guest's logd holds them.
   */
  logs(name: string, req: LogsRequest): LogsStream {
    if (!/^[^\s]+$/.test(name)) throw new Error(`not a container name: ${JSON.stringify(name)}`);
    const id = this.newId();
    let stopped = false;
    const done = new Promise<{ status: number; message: string }>((resolve) => {
      const finish = (r: { status: number; message: string }) => {
        this.streams.delete(id);
        this.sock.off('close', onClose);
        resolve(r);
      };
      const onClose = () => finish({ status: 1, message: 'the control channel closed (the VM stopped?)' });
      this.sock.once('close', onClose);
      this.streams.set(id, (words) => {
        if (words[0] === 'line') req.onLine(Buffer.from(words[2] ?? '', 'base64').toString('utf8'));
        else if (words[0] === 'end') finish({ status: Number(words[2]), message: Buffer.from(words[3] ?? '', 'base64').toString('utf8') });
      });
    });
    this.sock.write(`logs ${id} ${name} ${Math.max(0, Math.floor(req.tail ?? 0))} ${req.follow ? 1 : 0}\n`);
    return {
      done,
      stop: () => {
        if (stopped || !this.streams.has(id)) return;
        stopped = true;
        this.sock.write(`stop ${id}\n`);
      },
    };
  }

  close(): void {
    this.sock.destroy();
  }
}
