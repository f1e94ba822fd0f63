import { CAPABILITIES } from '../linux/names.js';

/**
 * Linux capabilities by number (linux/capability.h, CAP_CHOWN = 0 through
 * CAP_CHECKPOINT_RESTORE = 40): what `capabilities: [all]` expands to, as in
 * LinuxKit (every capability its capability library knows).
 */
export const ALL_CAPABILITIES: readonly string[] = CAPABILITIES;

const KNOWN = new Set(ALL_CAPABILITIES);

export function isCapability(name: string): boolean {
  return KNOWN.has(name);
}

/** The bit of a capability in /proc/PID/status Cap* masks. */
export function capabilityBit(name: string): number {
  return ALL_CAPABILITIES.indexOf(name);
}
