import { CoracleError, formatDiagnostic, type SourceDiagnostic } from '../errors.js';
import { imageConfigFields } from './convert.js';
import { issuesToDiagnostics } from './messages.js';
import { imageLabelSchema } from './schema.js';
import { sortDiagnostics } from './parse.js';
import { parseYaml } from './source.js';
import type { ImageLabelConfig } from './types.js';

export const MOBY_CONFIG_LABEL = 'org.mobyproject.config';

/** An image's org.mobyproject.config label is invalid; `diagnostics` have line:col inside the label text. */
export class LabelConfigError extends CoracleError {
  readonly image: string;
  readonly diagnostics: SourceDiagnostic[];
  constructor(image: string, diagnostics: SourceDiagnostic[]) {
    const lines = diagnostics.map((d) => `  ${formatDiagnostic({ ...d, file: 'label' })}`);
    super(`image ${image}: invalid ${MOBY_CONFIG_LABEL} label:\n${lines.join('\n')}`);
    this.name = 'LabelConfigError';
    this.image = image;
    this.diagnostics = diagnostics;
  }
}

/**
 * Parse and validate the `org.mobyproject.config` label of `imageName`
 * (JSON, or YAML as LinuxKit also accepts) against the same per-container
 * schema as the spec, without name and image. Throws LabelConfigError naming
 * the image with every problem.
 */
export function parseImageLabelConfig(text: string, imageName: string): ImageLabelConfig {
  const file = `${imageName} label ${MOBY_CONFIG_LABEL}`;
  const src = parseYaml(text, file);
  const errors = src.diagnostics.filter((d) => d.severity === 'error');
  if (errors.length > 0) throw new LabelConfigError(imageName, errors);
  const value = src.value;
  if (value === null || typeof value !== 'object' || Array.isArray(value))
    throw new LabelConfigError(imageName, [
      { file, line: 1, col: 1, message: `expected a JSON object, got ${Array.isArray(value) ? 'an array' : String(value)}`, severity: 'error' },
    ]);
  const r = imageLabelSchema.safeParse(value);
  if (!r.success) throw new LabelConfigError(imageName, sortDiagnostics(issuesToDiagnostics(src, value, r.error.issues, imageLabelSchema)));
  return imageConfigFields(r.data);
}
