/**
 * The output formats `coracle build --format` accepts, in a module of their
 * own so the CLI can list them in its help without loading the writers.
 */
export type OutputFormat = 'kernel+initrd' | 'tar';
export const OUTPUT_FORMATS: readonly OutputFormat[] = ['kernel+initrd', 'tar'];
