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
   * Wait until every one of `res` matches after the cursor (in any order
   * among themselves); then move the cursor past the furthest match.
   * Resolves 'matched', 'timeout' or 'ended' (the VM stopped first), with
   * the expressions that had not matched.
   */
  wait(res: readonly RegExp[], timeoutMs: number): Promise<{ result: 'matched' | 'timeout' | 'ended'; missing: RegExp[] }> {
    return new Promise((resolve) => {
      let missing = [...res];
      const finish = (result: 'matched' | 'timeout' | 'ended') => {
        clearTimeout(timer);
        this.listeners.delete(check);
        resolve({ result, missing });
      };
      const check = () => {
        const after = this.text.slice(this.cursor);
        let end = 0;
        missing = res.filter((re) => {
          const m = re.exec(after);
          if (m) end = Math.max(end, m.index + m[0].length);
          return !m;
        });
        if (missing.length === 0) {
          this.cursor += end;
          finish('matched');
        } else if (this.ended) finish('ended');
      };
      const timer = setTimeout(() => finish('timeout'), timeoutMs);
      this.listeners.add(check);
      check();
    });
  }
}
