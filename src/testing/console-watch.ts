/**
 * The guest console as a test reads it: text without carriage returns,
 * waited on with a regular expression from a cursor (each console step
 * continues where the previous match ended, so steps check order).
 */
import type { QemuVm } from '../qemu/vm.js';

export class ConsoleWatch {
  private text = '';
  private listeners = new Set<() => void>();
  private ended = false;
  /** where the next console step starts looking */
  cursor = 0;

  constructor(vm: QemuVm) {
    this.text = vm.console.replace(/\r/g, '');
    this.ended = !vm.running;
    vm.on('console', (d: string) => {
      this.text += d.replace(/\r/g, '');
      for (const l of this.listeners) l();
    });
    vm.once('exit', () => {
      this.ended = true;
      for (const l of this.listeners) l();
    });
  }

  /** The last `n` complete or partial lines. */
  tail(n = 50): string[] {
    const lines = this.text.split('\n');
    if (lines.at(-1) === '') lines.pop();
    return lines.slice(-n);
  }

  /**
   * Wait for `re` after the cursor; on a match move the cursor past it.
   * Resolves 'matched', 'timeout' or 'ended' (the VM stopped first).
   */
  wait(re: RegExp, timeoutMs: number): Promise<'matched' | 'timeout' | 'ended'> {
    return new Promise((resolve) => {
      const finish = (r: 'matched' | 'timeout' | 'ended') => {
        clearTimeout(timer);
        this.listeners.delete(check);
        resolve(r);
      };
      const check = () => {
        const m = re.exec(this.text.slice(this.cursor));
        if (m) {
          this.cursor += m.index + m[0].length;
          finish('matched');
        } else if (this.ended) finish('ended');
      };
      const timer = setTimeout(() => finish('timeout'), timeoutMs);
      this.listeners.add(check);
      check();
    });
  }
}
