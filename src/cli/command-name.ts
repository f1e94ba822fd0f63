/** Which command a command line runs, read without loading commander (start-up). */

/** The command word of `argv` (after global options), if any. */
export function commandName(argv: readonly string[]): string | undefined {
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--cache') i++;
    else if (!a.startsWith('--cache=')) return a.startsWith('-') ? undefined : a;
  }
  return undefined;
}
