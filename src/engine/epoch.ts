/**
 * The build's SOURCE_DATE_EPOCH: stagecraft builds are reproducible by default, so every build has
 * one unless the user turns it off (`--reproducible=false`). In order: the explicit value (the
 * SOURCE_DATE_EPOCH environment variable or build arg), the commit time of the git work tree the
 * context is in, the newest `created` time of the base images, else 0 (1970-01-01).
 *
 * The epoch sets the image config's `created` and the history times, clamps the times of the layers
 * the build made (base-image layers are left as they are) and sets every time in local and tar
 * outputs, as BuildKit does with SOURCE_DATE_EPOCH (research note D).
 */
import type { History } from '../oci/index.js';

/** Where the epoch came from (printed in the build summary, recorded in provenance). */
export type EpochSource = 'SOURCE_DATE_EPOCH' | 'git' | 'base-image' | 'default';

export const EPOCH_SOURCES: readonly EpochSource[] = ['SOURCE_DATE_EPOCH', 'git', 'base-image', 'default'];

export interface BuildEpoch {
  /** Seconds since 1970-01-01 UTC. */
  readonly seconds: number;
  readonly source: EpochSource;
}

export interface EpochInputs {
  /** SOURCE_DATE_EPOCH from the environment or a build arg (the CLI parses it). */
  readonly explicit: number | undefined;
  /** False: no epoch unless explicit (wall-clock times, as before). */
  readonly reproducible: boolean;
  /** The commit time of the context's git work tree, if it is in one (asked only when needed). */
  readonly gitCommitTime: () => Promise<number | undefined>;
  /** The `created` times of the base images (RFC 3339; unparsable or missing ones are skipped). */
  readonly baseCreated: readonly (string | undefined)[];
}

/** Seconds of an RFC 3339 time, or undefined for a missing, invalid or pre-1970 one. */
export function epochSeconds(time: string | undefined): number | undefined {
  if (time === undefined || time === '') return undefined;
  const ms = Date.parse(time);
  if (!Number.isFinite(ms) || ms < 0) return undefined;
  return Math.floor(ms / 1000);
}

export async function resolveEpoch(inputs: EpochInputs): Promise<BuildEpoch | undefined> {
  if (inputs.explicit !== undefined) return { seconds: inputs.explicit, source: 'SOURCE_DATE_EPOCH' };
  if (!inputs.reproducible) return undefined;
  const git = await inputs.gitCommitTime();
  if (git !== undefined && Number.isInteger(git) && git >= 0) return { seconds: git, source: 'git' };
  let newest: number | undefined;
  for (const created of inputs.baseCreated) {
    const seconds = epochSeconds(created);
    if (seconds !== undefined && (newest === undefined || seconds > newest)) newest = seconds;
  }
  if (newest !== undefined) return { seconds: newest, source: 'base-image' };
  return { seconds: 0, source: 'default' };
}

/** RFC 3339 with second precision and `Z`. */
function rfc3339(seconds: number): string {
  return new Date(seconds * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

export interface ImageTimes {
  readonly history: readonly History[];
  /** The config's `created`. */
  readonly created: string;
}

/**
 * The history and config times of the image. With an epoch: the build's entries get it, and base
 * entries later than it are clamped (as BuildKit). Without: each entry of a step that made a layer
 * gets the time that layer was first made (its cache record's, so a cached rebuild has the same
 * times), an entry without a layer the time of the entry before it, and the config the latest of
 * them (as BuildKit); `now` only when there is no time at all.
 *
 * `layers[i]` is the layer of the i-th history entry that is not `empty_layer` (the image spec's pairing).
 */
export function imageTimes(history: readonly History[], layers: readonly { readonly created?: number | undefined }[], epoch: number | undefined, now: () => number): ImageTimes {
  if (epoch !== undefined) {
    const stamp = rfc3339(epoch);
    const out = history.map((entry) => {
      const seconds = epochSeconds(entry.created);
      return seconds === undefined || seconds > epoch ? { ...entry, created: stamp } : entry;
    });
    return { history: out, created: stamp };
  }
  let layer = 0;
  let last: string | undefined;
  let latest: number | undefined;
  const out = history.map((entry) => {
    const own = entry.empty_layer === true ? undefined : layers[layer++];
    let created = entry.created;
    if (created === undefined) {
      const seconds = own?.created;
      created = seconds !== undefined ? rfc3339(seconds) : last;
    }
    if (created !== undefined) {
      last = created;
      const seconds = epochSeconds(created);
      if (seconds !== undefined && (latest === undefined || seconds > latest)) latest = seconds;
    }
    return created === undefined ? entry : { ...entry, created };
  });
  return { history: out, created: rfc3339(latest ?? Math.floor(now() / 1000)) };
}
