/**
 * The boundary types of `coracle test`: a test file (what to boot, which
 * steps to check) and the report a run produces (also its --json document).
 */
import type { SourceLocation } from '../spec/types.js';

export interface ConsoleStep {
  kind: 'console';
  /**
   * JavaScript regular expressions, multiline; matched against console text
   * without carriage returns. Every one must match after the previous
   * console step's match, in any order among themselves.
   */
  match: RegExp[];
  timeoutMs: number;
}

export interface HttpStep {
  kind: 'http';
  /** guest port; must be published */
  port: number;
  path: string;
  status: number;
  /** substring the body must contain */
  body?: string;
  timeoutMs: number;
}

/** What a command's output (stdout and stderr) and exit status must be. */
export interface OutputCheck {
  /** substrings the output must contain, each of them */
  expect: string[];
  /** regular expressions (multiline) the output must match, each of them */
  match: RegExp[];
  /** exit status the command must have */
  status: number;
}

export interface ExecStep extends OutputCheck {
  kind: 'exec';
  /** the service whose container the command runs in; undefined: the host itself (`host: true`) */
  service?: string;
  /** given to `sh -c` inside the service's container, or on the host */
  run: string;
  timeoutMs: number;
}

/**
 * A command on the machine running `coracle test` (ssh, curl with options,
 * a client of the guest's service): `sh -c RUN` in the test file's folder,
 * with CORACLE_PORT_<GUEST> / CORACLE_ADDR_<GUEST> naming where each
 * published TCP port is forwarded from.
 */
export interface LocalStep extends OutputCheck {
  kind: 'local';
  run: string;
  timeoutMs: number;
}

export interface PoweroffStep {
  kind: 'poweroff';
  /** the guest must power off cleanly this soon after the ACPI power button */
  withinMs: number;
}

export type StepBody = ConsoleStep | HttpStep | ExecStep | LocalStep | PoweroffStep;
export type StepKind = StepBody['kind'];
export const STEP_KINDS: readonly StepKind[] = ['console', 'http', 'exec', 'local', 'poweroff'];

export type Step = StepBody & {
  /** 1-based position in the list */
  index: number;
  /** where the step was written */
  at: SourceLocation;
  /** where each field was written, for errors about one of them */
  fieldAt: Record<string, SourceLocation>;
  /** one-line description: `console /all services started/` */
  label: string;
};

export interface TestFile {
  file: string;
  /** `publish:` entries as written (HOST:GUEST, or a guest port given a free host port) */
  publish: string[];
  disks: string[];
  userData?: string;
  mem?: number;
  steps: Step[];
}

export type StepStatus = 'pass' | 'fail' | 'skip';

export interface StepResult {
  index: number;
  kind: StepKind;
  label: string;
  file: string;
  line: number;
  col: number;
  status: StepStatus;
  durationMs: number;
  /** why it failed (one line) */
  message?: string;
}

/** What `coracle test` reports; `--json` prints it. */
export interface TestReport {
  schemaVersion: number;
  file: string;
  /** the spec built, or the image folder booted */
  target: string;
  passed: boolean;
  steps: StepResult[];
  /** how the guest ended: poweroff, killed, ... */
  guest?: { reason: string; status: number };
  durationMs: number;
  /** last console lines, when a step failed */
  consoleTail?: string[];
}
