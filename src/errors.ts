/**
 * Errors meant for the user: the CLI prints `coracle: <message>` and exits
 * non-zero without a stack trace. Anything else is a bug and keeps its stack
 * when CORACLE_DEBUG is set.
 */
export class CoracleError extends Error {
  /** Process exit code the CLI uses for this error. */
  readonly exitCode: number;
  constructor(message: string, options?: { cause?: unknown; exitCode?: number }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'CoracleError';
    this.exitCode = options?.exitCode ?? 1;
  }
}

/** A problem at a position in a source file, printed as FILE:LINE:COL: message. */
export interface SourceDiagnostic {
  file: string;
  line: number;
  col: number;
  message: string;
  severity: 'error' | 'warning';
}

export function formatDiagnostic(d: SourceDiagnostic): string {
  const prefix = d.severity === 'warning' ? 'warning: ' : '';
  return `${d.file}:${d.line}:${d.col}: ${prefix}${d.message}`;
}

/** Several diagnostics at once: validation reports all errors, not only the first. */
export class DiagnosticsError extends CoracleError {
  readonly diagnostics: SourceDiagnostic[];
  constructor(diagnostics: SourceDiagnostic[]) {
    super(diagnostics.map(formatDiagnostic).join('\n'));
    this.name = 'DiagnosticsError';
    this.diagnostics = diagnostics;
  }
}

export function isCoracleError(e: unknown): e is CoracleError {
  return e instanceof CoracleError;
}
