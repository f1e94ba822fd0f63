import type { Command } from 'commander';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { CoracleError } from '../../errors.js';

interface LogsCliOptions {
  follow?: boolean;
  tail?: string;
  state?: string;
  timeout: string;
}

function count(flag: string, v: string): number {
  if (!/^\d+(\.\d+)?$/.test(v.trim())) throw new CoracleError(`${flag} ${v}: expected a number`);
  return Number(v);
}

/**
 * `coracle logs NAME [TARGET]`: a container's output from a running VM
 * (`coracle run qemu`), through the control channel's Unix socket in the
 * run's state folder, answered by the guest agent from logd's ring buffer.
 */
export function registerLogsCommands(program: Command): void {
  program
    .command('logs')
    .description('Print a container\'s output from a VM that `coracle run qemu` is running (through its control channel)')
    .argument('<name>', 'service name, or onboot/onshutdown container name (also as onboot/NNN-NAME)')
    .argument('[target]', 'the image as given to coracle run qemu: NAME prefix, build output DIR, SPEC or image file', '.')
    .option('-f, --follow', 'then print new lines as they come, until Ctrl-C')
    .option('-n, --tail <lines>', 'only the last lines (default: all the guest holds)')
    .option('--state <dir>', 'the run\'s state folder (default NAME-state beside the image, as coracle run qemu)')
    .option('--timeout <seconds>', 'how long to wait for the guest agent to answer', '10')
    .action(async (name: string, target: string, o: LogsCliOptions) => {
      const tail = o.tail === undefined ? 0 : count('--tail', o.tail);
      const timeoutMs = count('--timeout', o.timeout) * 1000;
      if (/\s/.test(name) || name === '') throw new CoracleError(`"${name}" is not a container name`);
      let stateDir = o.state;
      if (stateDir === undefined) {
        const { resolveImage } = await import('../../qemu/image.js');
        const image = await resolveImage(target);
        stateDir = join(image.dir, `${image.name}-state`);
      }
      const sock = join(stateDir, 'control.sock');
      if (!existsSync(sock)) throw new CoracleError(`no running VM: ${sock} does not exist (coracle run qemu serves it while the VM runs)`);
      const { ControlChannel } = await import('../../testing/control.js');
      const channel = await ControlChannel.connect(sock, 2000).catch((e: Error) => {
        throw new CoracleError(`no VM answers on ${sock}: ${e.message}`);
      });
      let stream: ReturnType<typeof channel.logs> | undefined;
      let stopping = false;
      // first Ctrl-C: the guest ends the follow; a second one does not wait for it
      const onSignal = () => {
        if (stopping) process.exit(130);
        stopping = true;
        stream?.stop();
      };
      try {
        if (!(await channel.waitReady(timeoutMs, () => true)))
          throw new CoracleError(
            `the guest agent did not answer within ${o.timeout} s (it starts once the services have; or another coracle logs --follow holds the channel; or the init is not Coracle's)`,
          );
        process.stdout.on('error', onSignal);
        process.on('SIGINT', onSignal);
        process.on('SIGTERM', onSignal);
        stream = channel.logs(name, { tail, follow: o.follow === true, onLine: (l) => process.stdout.write(`${l}\n`) });
        const end = await stream.done;
        if (end.status !== 0) throw new CoracleError(`guest: ${end.message || `logs failed (status ${end.status})`}`);
      } finally {
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
        process.stdout.off('error', onSignal);
        channel.close();
      }
    });
}
