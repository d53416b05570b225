/**
 * The comparable summary of an image used by the conformance suite: the file tree a build adds on
 * top of its base (path, type, mode, uid, gid, size, content digest, link target; not times), the
 * base paths it removes, and the image config and history lines the Dockerfile produced.
 */
import { createHash } from 'node:crypto';
import { lstat, readFile, readdir, readlink } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { execFileSync, spawn } from 'node:child_process';
import { join } from 'node:path';

export interface TreeEntry {
  readonly type: 'file' | 'dir' | 'symlink' | 'other';
  readonly mode: string;
  readonly uid: number;
  readonly gid: number;
  readonly size?: number;
  readonly sha256?: string;
  readonly link?: string;
}

export async function walkTree(root: string): Promise<Map<string, TreeEntry>> {
  const out = new Map<string, TreeEntry>();
  const visit = async (rel: string): Promise<void> => {
    for (const name of (await readdir(join(root, rel))).sort()) {
      const path = rel === '' ? name : `${rel}/${name}`;
      const st = await lstat(join(root, path));
      const mode = (st.mode & 0o7777).toString(8).padStart(4, '0');
      if (st.isDirectory()) {
        out.set(path, { type: 'dir', mode, uid: st.uid, gid: st.gid });
        await visit(path);
      } else if (st.isSymbolicLink()) {
        out.set(path, { type: 'symlink', mode, uid: st.uid, gid: st.gid, link: await readlink(join(root, path)) });
      } else if (st.isFile()) {
        out.set(path, { type: 'file', mode, uid: st.uid, gid: st.gid, size: st.size, sha256: createHash('sha256').update(await readFile(join(root, path))).digest('hex') });
      } else {
        out.set(path, { type: 'other', mode, uid: st.uid, gid: st.gid });
      }
    }
  };
  await visit('');
  return out;
}

export interface TreeDelta {
  readonly added: Record<string, TreeEntry>;
  readonly removed: string[];
}

/**
 * Paths a container runtime makes (`docker export` always has them; runc leaves the mount-point
 * directories): not part of what a Dockerfile builds, so not compared.
 */
const RUNTIME_PATHS = ['.dockerenv', 'dev', 'proc', 'sys', 'etc/hosts', 'etc/hostname', 'etc/resolv.conf', 'etc/mtab'];

function runtimePath(path: string): boolean {
  return RUNTIME_PATHS.some((p) => path === p || path.startsWith(`${p}/`));
}

/** What `final` adds or changes relative to `base`, and which base paths it removes. */
export function treeDelta(base: ReadonlyMap<string, TreeEntry>, final: ReadonlyMap<string, TreeEntry>): TreeDelta {
  const added: Record<string, TreeEntry> = {};
  for (const [path, entry] of [...final].sort(([a], [b]) => (a < b ? -1 : 1))) {
    if (runtimePath(path)) continue;
    const before = base.get(path);
    // Directory metadata of base directories that merely gained children is not compared.
    if (before !== undefined && JSON.stringify(before) === JSON.stringify(entry)) continue;
    if (before !== undefined && before.type === 'dir' && entry.type === 'dir') continue;
    added[path] = entry;
  }
  const removed = [...base.keys()].filter((p) => !final.has(p) && !runtimePath(p)).sort();
  return { added, removed };
}

export interface ConfigSummary {
  readonly config: Record<string, unknown>;
  /** History lines the Dockerfile added (created_by, with " (empty)" for empty layers). */
  readonly history: string[];
}

const CONFIG_KEYS = ['User', 'Env', 'Entrypoint', 'Cmd', 'WorkingDir', 'Labels', 'ExposedPorts', 'Volumes', 'StopSignal', 'ArgsEscaped', 'Healthcheck', 'OnBuild', 'Shell'];

export function summarizeConfig(image: { config?: Record<string, unknown> | null; history?: { created_by?: string; empty_layer?: boolean }[] | null }, baseHistoryLength: number): ConfigSummary {
  const config: Record<string, unknown> = {};
  for (const key of CONFIG_KEYS) {
    const value = image.config?.[key];
    if (value === undefined || value === null || value === '' || value === false) continue;
    if (Array.isArray(value) && value.length === 0) continue;
    if (typeof value === 'object' && !Array.isArray(value) && Object.keys(value).length === 0) continue;
    config[key] = value;
  }
  const history = (image.history ?? []).slice(baseHistoryLength).map((h) => `${h.created_by ?? ''}${h.empty_layer === true ? ' (empty)' : ''}`);
  return { config, history };
}

export interface Expectation extends ConfigSummary, TreeDelta {}

export interface ImageJson {
  readonly config?: Record<string, unknown> | null;
  readonly history?: { created_by?: string; empty_layer?: boolean; comment?: string }[] | null;
}

/** The image with only the history entries the Dockerfile made (BuildKit marks them with a comment). */
export function dockerfileOnly(image: ImageJson): ImageJson {
  return { ...image, history: (image.history ?? []).filter((h) => h.comment === 'buildkit.dockerfile.v0') };
}

/**
 * Where the recording (dockerd 20.10's BuildKit v0.8) and current BuildKit, which stagecraft follows,
 * differ: a history line (by index) or a tree entry (by path). `buildkit` must be what the recording
 * holds (so a re-recording that changes it is noticed); `stagecraft` replaces it for the comparison;
 * `why` names the BuildKit change.
 */
export interface Divergence {
  readonly history?: number;
  readonly path?: string;
  readonly buildkit: unknown;
  readonly stagecraft: unknown;
  readonly why: string;
}

/** A case's optional `case.json`: build arguments, a target stage, secrets (files in the case folder), divergences. */
export interface CaseOptions {
  readonly buildArgs?: Record<string, string>;
  readonly target?: string;
  readonly secrets?: Record<string, string>;
  /** Forward an ssh agent (`--ssh default=SOCKET`): the socket of `startSshAgent`. */
  readonly ssh?: boolean;
  /**
   * Entitlements stagecraft needs for the case (`--allow`), which docker build grants implicitly:
   * an `ADD <url>` served on the host's loopback needs `network.host`.
   */
  readonly allow?: readonly string[];
  readonly divergences?: readonly Divergence[];
}

export function readCaseOptions(caseDir: string): CaseOptions {
  try {
    return JSON.parse(readFileSync(join(caseDir, 'case.json'), 'utf8')) as CaseOptions;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw err;
  }
}

/**
 * The expectation with the case's divergences applied. Throws if a divergence's `buildkit` value is
 * not what the recording holds.
 */
export function applyDivergences(expected: Expectation, divergences: readonly Divergence[]): Expectation {
  const history = [...expected.history];
  const added: Record<string, TreeEntry> = { ...expected.added };
  for (const d of divergences) {
    if (d.history !== undefined) {
      if (history[d.history] !== d.buildkit) throw new Error(`divergence: history[${d.history}] is ${JSON.stringify(history[d.history])}, not ${JSON.stringify(d.buildkit)}`);
      history[d.history] = d.stagecraft as string;
    } else if (d.path !== undefined) {
      if (JSON.stringify(added[d.path]) !== JSON.stringify(d.buildkit)) throw new Error(`divergence: ${d.path} is ${JSON.stringify(added[d.path])}, not ${JSON.stringify(d.buildkit)}`);
      added[d.path] = d.stagecraft as TreeEntry;
    } else {
      throw new Error('divergence: names neither a history index nor a path');
    }
  }
  return { ...expected, history, added };
}

/** The entitlement flags (`--allow`, stagecraft only) a case's case.json asks for. */
export function caseAllowFlags(caseDir: string): string[] {
  return (readCaseOptions(caseDir).allow ?? []).flatMap((entitlement) => ['--allow', entitlement]);
}

/** The build flags (the same for `docker build` and `stagecraft build`) a case's case.json asks for. */
export function caseFlags(caseDir: string, sshSocket?: string): string[] {
  const options = readCaseOptions(caseDir);
  const flags: string[] = [];
  for (const [k, v] of Object.entries(options.buildArgs ?? {})) flags.push('--build-arg', `${k}=${v}`);
  if (options.target !== undefined) flags.push('--target', options.target);
  for (const [id, file] of Object.entries(options.secrets ?? {})) flags.push('--secret', `id=${id},src=${join(caseDir, file)}`);
  if (options.ssh === true) {
    if (sshSocket === undefined) throw new Error(`${caseDir} needs an ssh agent`);
    flags.push('--ssh', `default=${sshSocket}`);
  }
  return flags;
}

/** The fixed address cases' `ADD http://…` sources use (the URL is part of the history line). */
export const CASES_HTTP_PORT = 5080;

/**
 * Serves the cases folder over HTTP on 127.0.0.1:CASES_HTTP_PORT for `ADD <url>` cases, from a child
 * process: the builds run synchronously (spawnSync), which would block a server in this process.
 */
export async function serveCases(casesDir: string): Promise<{ close(): Promise<void> }> {
  const code = `
    const { createServer } = require('node:http');
    const { readFileSync } = require('node:fs');
    const { join, normalize } = require('node:path');
    const root = process.argv[1];
    createServer((request, response) => {
      const path = normalize(join(root, decodeURIComponent(new URL(request.url, 'http://x').pathname)));
      if (!path.startsWith(root)) { response.writeHead(403).end(); return; }
      try {
        const body = readFileSync(path);
        response.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': body.length }).end(body);
      } catch { response.writeHead(404).end(); }
    }).listen(${CASES_HTTP_PORT}, '127.0.0.1', () => process.stdout.write('listening\\n'));`;
  const child = spawn(process.execPath, ['-e', code, casesDir], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve, reject) => {
    child.once('exit', (status) => reject(new Error(`the cases' HTTP server exited (${status ?? 'signal'}); is port ${CASES_HTTP_PORT} free?`)));
    child.stdout.once('data', () => resolve());
  });
  child.removeAllListeners('exit');
  return {
    close: () => new Promise<void>((resolve) => {
      child.once('exit', () => resolve());
      child.kill();
    }),
  };
}

/** An ssh-agent for `ssh` cases, listening on a socket in `dir`. */
export function startSshAgent(dir: string): { readonly socket: string; stop(): void } {
  const socket = join(dir, 'agent.sock');
  const out = execFileSync('ssh-agent', ['-a', socket, '-s'], { encoding: 'utf8' });
  const pid = /SSH_AGENT_PID=(\d+)/.exec(out)?.[1];
  return {
    socket,
    stop: () => {
      if (pid !== undefined) process.kill(Number(pid));
    },
  };
}
