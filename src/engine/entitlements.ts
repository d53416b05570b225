/**
 * Entitlements (buildx `--allow`): what a build may do beyond the sandbox only because the user said
 * so on the command line. A Dockerfile alone can never grant them. Checked before any step runs.
 */
import { StagecraftError, closest } from '../core/index.js';
import type { Vertex } from '../plan/index.js';

export const ENTITLEMENTS = ['network.host', 'security.insecure'] as const;
export type Entitlement = (typeof ENTITLEMENTS)[number];

const GRANTS: Record<Entitlement, string> = {
  'network.host': "RUN steps in the host's network namespace reach every service of the host, including those bound to its loopback",
  'security.insecure': 'RUN --security=insecure runs with every capability, no seccomp filter and writable /sys and cgroups',
};

function isEntitlement(value: string): value is Entitlement {
  return (ENTITLEMENTS as readonly string[]).includes(value);
}

/** `--allow` values (repeatable, each may be a comma-separated list) → entitlements. */
export function parseEntitlements(values: readonly string[]): Entitlement[] {
  const out = new Set<Entitlement>();
  for (const value of values.flatMap((v) => v.split(','))) {
    const name = value.trim();
    if (isEntitlement(name)) {
      out.add(name);
      continue;
    }
    const suggestion = closest(name, ENTITLEMENTS);
    throw new StagecraftError('USAGE', `unknown entitlement "${name}" in --allow`, {
      hint: `${suggestion !== undefined ? `did you mean ${suggestion}? ` : ''}--allow takes ${ENTITLEMENTS.join(' or ')}`,
    });
  }
  return [...out];
}

function notAllowed(entitlement: Entitlement, what: string, location?: Vertex['meta']['location']): StagecraftError {
  return new StagecraftError('USAGE', `${what}: ${entitlement} is not allowed`, {
    hint: `${GRANTS[entitlement]}; to grant it, pass --allow ${entitlement}`,
    location,
  });
}

/** The build's own `--network` needs network.host when it is `host`. */
export function checkBuildEntitlements(network: 'default' | 'none' | 'host', allow: readonly Entitlement[]): void {
  if (network === 'host' && !allow.includes('network.host')) throw notAllowed('network.host', '--network=host');
}

/** Every RUN of the plan with `--network=host` or `--security=insecure` needs its entitlement; the first one without it fails. */
export function checkPlanEntitlements(vertices: readonly Vertex[], allow: readonly Entitlement[]): void {
  for (const vertex of vertices) {
    if (vertex.op.type !== 'exec') continue;
    if (vertex.op.network === 'host' && !allow.includes('network.host')) throw notAllowed('network.host', 'RUN --network=host', vertex.meta.location);
    if (vertex.op.security === 'insecure' && !allow.includes('security.insecure')) throw notAllowed('security.insecure', 'RUN --security=insecure', vertex.meta.location);
  }
}
