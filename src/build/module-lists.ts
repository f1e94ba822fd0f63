/** The files that list modules to load at boot, and how they are read (no dependencies: a warm build reads /etc/modules without loading the module tools). */

/** The init image's boot set: one module name a line (the init's lib.sh reads the same file). */
export const BOOT_MODULES_FILE = 'usr/lib/coracle/boot-modules';
/** More modules to load at boot, one a line (the init reads it too). */
export const ETC_MODULES_FILE = 'etc/modules';

/** Names in a modules list file: one a line, `#` starts a comment. */
export function parseModuleList(text: string): string[] {
  return text
    .split('\n')
    .map((l) => l.replace(/#.*/, '').trim())
    .flatMap((l) => l.split(/\s+/))
    .filter(Boolean);
}
