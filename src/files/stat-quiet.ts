import { statSync, type Stats } from 'node:fs';

/** statSync, or undefined when the path cannot be stat'ed for any reason (missing, under a file, no permission). */
export function statQuiet(path: string): Stats | undefined {
  try {
    return statSync(path);
  } catch {
    return undefined;
  }
}
