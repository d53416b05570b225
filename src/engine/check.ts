/**
 * The build's `check` step: what the build was not given but the target's RUN steps require fails
 * before any base image is resolved or step runs, at the Dockerfile line that needs it (the same
 * error the step would fail with when it ran).
 */
import type { RequiredMount } from '../dockerfile/index.js';
import { missingMountError } from '../ops/index.js';

export function checkRequiredMounts(required: Iterable<RequiredMount>, secrets: ReadonlyMap<string, unknown>, ssh: ReadonlyMap<string, unknown>): void {
  for (const mount of required) {
    const given = mount.type === 'secret' ? secrets.has(mount.id) : ssh.has(mount.id);
    if (given) continue;
    const error = missingMountError(mount.type, mount.id);
    throw mount.location !== undefined ? error.withLocation(mount.location) : error;
  }
}
