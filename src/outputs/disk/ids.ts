/**
 * Identifiers that tools would otherwise make random (GPT disk and partition
 * GUIDs, FAT volume serials, MBR disk signatures), derived from a key of the
 * image's content so the same inputs give the same bytes, and different
 * images do not share ids.
 */
import { createHash } from 'node:crypto';

function digest(key: string, role: string): Buffer {
  return createHash('sha256').update(`coracle-disk-id/1\0${key}\0${role}`).digest();
}

/** A version-4-shaped GUID (RFC 4122 variant bits) in the textual form sfdisk takes. */
export function contentGuid(key: string, role: string): string {
  const b = Buffer.from(digest(key, role).subarray(0, 16));
  b[6] = (b[6]! & 0x0f) | 0x40;
  b[8] = (b[8]! & 0x3f) | 0x80;
  const h = b.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`.toUpperCase();
}

/** 32 bits as 8 hex digits (FAT volume serial, MBR disk signature), never zero. */
export function contentId32(key: string, role: string): string {
  const n = digest(key, role).readUInt32BE(0) || 1;
  return n.toString(16).padStart(8, '0');
}

/** FAT dates start in 1980: an earlier SOURCE_DATE_EPOCH (the default is 0) is moved there. */
export const FAT_EPOCH_MIN = 315532800;
