/** The CLI's version, in a module of its own so `coracle --version` loads nothing else. */
export const VERSION = '0.1.0';
