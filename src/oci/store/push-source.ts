/**
 * Bytes a producer pushes into a consumer, each chunk valid only during the
 * call: how a socket read into one reused buffer hands a blob body to the
 * store without allocating (and garbage-collecting) a buffer per read.
 */
export interface ChunkSink {
  /**
   * Take `chunk` now: its memory is reused once this returns. Returns false
   * to ask the producer to pause until `drained()` settles. Throws to stop
   * the producer (e.g. more bytes than expected).
   */
  write(chunk: Uint8Array): boolean;
  drained(): Promise<void>;
  /**
   * Optional zero-copy path: memory (at most `max` bytes) for the producer
   * to read the next bytes straight into, or undefined for none. The
   * producer then reports how much landed there with `filled(n)` (instead
   * of write) before it asks for more space.
   */
  space?(max: number): Uint8Array | undefined;
  /** The first `n` bytes of the last space() hold data now. Returns and throws as write() does. */
  filled?(n: number): boolean;
}

export interface PushSource {
  /** Push every byte into `sink`; settles at the end of the data (or its failure). Once only. */
  pushTo(sink: ChunkSink): Promise<void>;
}

export function isPushSource(x: unknown): x is PushSource {
  return typeof x === 'object' && x !== null && typeof (x as { pushTo?: unknown }).pushTo === 'function';
}
