/**
 * Blob transfers as events: `transfer.started`, throttled `transfer.progress`, `transfer.completed`.
 * One reporter per blob and direction; the client makes it, the download or upload feeds it bytes.
 */
import type { EventSink, TransferDirection, TransferKind, TransferOutcome } from '../events/index.js';
import { MANIFEST_MEDIA_TYPES, type Descriptor } from '../oci/index.js';
import type { Clock } from '../util/retry.js';

/** At most one progress event per transfer in this many milliseconds (the last bytes always report). */
export const PROGRESS_INTERVAL_MS = 250;

/** What a blob is, from its media type: image configs and layers by their OCI/Docker names, anything else a blob. */
export function transferKind(mediaType: string): TransferKind {
  if ((MANIFEST_MEDIA_TYPES as readonly string[]).includes(mediaType)) return 'manifest';
  if (/\.config\.|container\.image\.v1\+json$/.test(mediaType)) return 'config';
  if (/layer|rootfs\.diff/.test(mediaType)) return 'layer';
  return 'blob';
}

export class TransferReporter {
  readonly #started: number;
  #lastProgress = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly events: EventSink,
    private readonly clock: Clock,
    private readonly transfer: { readonly direction: TransferDirection; readonly ref: string; readonly descriptor: Descriptor },
  ) {
    this.#started = clock.now();
  }

  private get base(): { direction: TransferDirection; ref: string; digest: string } {
    return { direction: this.transfer.direction, ref: this.transfer.ref, digest: this.transfer.descriptor.digest };
  }

  started(): void {
    const { descriptor } = this.transfer;
    this.events.emit({ type: 'transfer.started', time: this.clock.now(), ...this.base, kind: transferKind(descriptor.mediaType), total: descriptor.size });
  }

  /** `current` bytes of the blob are through (it goes back to 0 when an upload starts again). */
  progress(current: number): void {
    const now = this.clock.now();
    if (now - this.#lastProgress < PROGRESS_INTERVAL_MS && current < this.transfer.descriptor.size) return;
    this.#lastProgress = now;
    this.events.emit({ type: 'transfer.progress', time: now, ...this.base, current, total: this.transfer.descriptor.size });
  }

  completed(outcome: TransferOutcome): void {
    const { descriptor } = this.transfer;
    const now = this.clock.now();
    this.events.emit({
      type: 'transfer.completed',
      time: now,
      ...this.base,
      kind: transferKind(descriptor.mediaType),
      outcome,
      bytes: outcome === 'done' ? descriptor.size : 0,
      total: descriptor.size,
      durationMs: Math.max(0, now - this.#started),
    });
  }
}
