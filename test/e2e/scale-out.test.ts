/**
 * Scale-out through the registry (issue 21): a docker-registry in its own network namespace and several
 * builders, each in its own network namespace with its own empty state root, build the same project with
 * `--cache-from/--cache-to type=registry`. After the first, no builder repeats a step (rawjson
 * `build.completed.executed` and no `vertex.started` of a RUN/COPY), and builders that export the cache
 * to the same ref at the same time leave a valid cache manifest behind (every blob it names is there,
 * and a further builder imports it and runs nothing).
 *
 * The namespaces hang off a bridge of their own; the host gets an address on it only to seed the
 * registry with the base image (skopeo), as an operator would. The builders reach nothing but the
 * registry: their namespaces have no default route.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { cpSync, mkdirSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { RawJsonLine } from '../../src/events/index.js';
import { makeBusyboxImage, pushLayout } from '../helpers/base-image.js';
import { CLI_PATH } from '../helpers/cli.js';

type Event = ReturnType<typeof RawJsonLine.parse>;

interface Run {
  readonly status: number | null;
  readonly stderr: string;
  readonly events: readonly Event[];
}

const ip = (...args: string[]): void => {
  execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });
};

/** Runs `command` in network namespace `ns`, as a child process (so several run at once). */
function inNamespace(ns: string, command: readonly string[], env: NodeJS.ProcessEnv): Promise<Run> {
  return new Promise((resolve, reject) => {
    // nsenter switches only the network namespace (`ip netns exec` also remounts /sys, hiding the cgroup
    // mounts runc needs).
    const child = spawn('nsenter', [`--net=/run/netns/${ns}`, '--', ...command], { env, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString('utf8');
    });
    child.once('error', reject);
    child.once('close', (status) => {
      const events = stderr.split('\n').filter((l) => l.startsWith('{')).map((l) => RawJsonLine.parse(JSON.parse(l)));
      resolve({ status, stderr, events });
    });
  });
}

const executed = (run: Run): number => {
  const done = run.events.find((e) => e.type === 'build.completed');
  return done?.type === 'build.completed' ? done.executed : -1;
};
const stepsStarted = (run: Run): string[] => run.events.flatMap((e) => (e.type === 'vertex.started' && /RUN|COPY|WORKDIR/.test(e.name) ? [e.name] : []));

describe('scale-out: builders in their own network namespaces share one registry as the cache', { timeout: 300_000 }, () => {
  const tag = randomBytes(3).toString('hex');
  const bridge = `scbr${tag}`;
  const subnet = `10.${200 + (parseInt(tag.slice(0, 2), 16) % 50)}.${parseInt(tag.slice(2, 4), 16)}`;
  const registryNs = `screg${tag}`;
  const builders = [1, 2, 3, 4].map((n) => `scb${n}${tag}`);
  const registryHost = `${subnet}.1:5000`;
  const cacheRef = `${registryHost}/team/app:buildcache`;
  let work = '';
  let context = '';
  let registry: ReturnType<typeof spawn> | undefined;
  const namespaces: string[] = [];

  const addNamespace = (ns: string, address: string): void => {
    ip('netns', 'add', ns);
    namespaces.push(ns);
    const host = `v${ns}`.slice(0, 15);
    ip('link', 'add', host, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns);
    ip('link', 'set', host, 'master', bridge, 'up');
    ip('-n', ns, 'addr', 'add', `${address}/24`, 'dev', 'eth0');
    ip('-n', ns, 'link', 'set', 'eth0', 'up');
    ip('-n', ns, 'link', 'set', 'lo', 'up');
  };

  /** A builder's environment: its own empty state root, whose config marks the registry insecure (plain HTTP). */
  const builderEnv = (name: string): NodeJS.ProcessEnv => {
    const root = join(work, `root-${name}`);
    mkdirSync(root, { recursive: true });
    writeFileSync(join(root, 'config.json'), JSON.stringify({ insecureRegistries: [registryHost] }));
    return { ...process.env, STAGECRAFT_ROOT: root };
  };
  const build = (ns: string, env: NodeJS.ProcessEnv): Promise<Run> =>
    inNamespace(ns, [process.execPath, CLI_PATH, 'build', '--progress=rawjson', '--build-arg', `REGISTRY=${registryHost}`,
      '--cache-from', `type=registry,ref=${cacheRef}`, '--cache-to', `type=registry,ref=${cacheRef},mode=max`, context], env);

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'stagecraft-scale-'));
    ip('link', 'add', bridge, 'type', 'bridge');
    ip('addr', 'add', `${subnet}.254/24`, 'dev', bridge);
    ip('link', 'set', bridge, 'up');
    addNamespace(registryNs, `${subnet}.1`);
    builders.forEach((ns, i) => addNamespace(ns, `${subnet}.${11 + i}`));

    const config = join(work, 'registry.yml');
    writeFileSync(config, ['version: 0.1', 'log:', '  level: warn', '  accesslog:', '    disabled: true', 'storage:', '  filesystem:',
      `    rootdirectory: ${join(work, 'registry-data')}`, 'http:', `  addr: ${registryHost}`, ''].join('\n'));
    registry = spawn('nsenter', [`--net=/run/netns/${registryNs}`, '--', 'docker-registry', 'serve', config], { stdio: 'ignore' });
    const deadline = Date.now() + 15_000;
    for (;;) {
      try {
        if ((await fetch(`http://${registryHost}/v2/`)).status === 200) break;
      } catch {
        // not up yet
      }
      assert.ok(Date.now() < deadline, 'the registry did not start in its namespace');
      await new Promise((r) => setTimeout(r, 100));
    }
    pushLayout(await makeBusyboxImage(work), `${registryHost}/busybox:latest`);
    context = join(work, 'project');
    cpSync(fileURLToPath(new URL('../../examples/hello', import.meta.url)), context, { recursive: true });
  });

  after(async () => {
    registry?.kill('SIGKILL');
    for (const ns of namespaces) {
      try {
        ip('netns', 'delete', ns);
      } catch {
        // already gone
      }
    }
    try {
      ip('link', 'delete', bridge);
    } catch {
      // already gone
    }
    await rm(work, { recursive: true, force: true });
  });

  it('the builders are isolated: a builder namespace reaches the registry but not the host loopback', async () => {
    const probe = `fetch(process.argv[1]).then((r) => console.error('status', r.status), (e) => console.error('error', e.cause?.code ?? e.cause?.message ?? e.message))`;
    const toRegistry = await inNamespace(builders[0] ?? '', [process.execPath, '-e', probe, `http://${registryHost}/v2/`], process.env);
    assert.match(toRegistry.stderr, /status 200/);
    const outside = await inNamespace(builders[0] ?? '', [process.execPath, '-e', probe, 'http://10.0.2.2:8080/'], process.env);
    assert.match(outside.stderr, /error (ENETUNREACH|EHOSTUNREACH|ECONNREFUSED|ETIMEDOUT)/, outside.stderr);
  });

  it('after the first builder, every builder on an empty state root repeats zero steps; concurrent cache exports converge', async () => {
    const [first, ...rest] = builders;
    const seeding = await build(first ?? '', builderEnv('first'));
    assert.equal(seeding.status, 0, seeding.stderr.slice(-3000));
    assert.ok(executed(seeding) >= 5, `the first builder ran the steps (${executed(seeding)})`);

    // Three builders at once, each importing and re-exporting the cache to the same ref.
    const concurrent = await Promise.all(rest.slice(0, 3).map((ns, i) => build(ns, builderEnv(`b${i}`))));
    for (const run of concurrent) {
      assert.equal(run.status, 0, run.stderr.slice(-3000));
      assert.equal(executed(run), 0, `no step ran: ${stepsStarted(run).join(', ')}`);
      assert.deepEqual(stepsStarted(run), []);
    }

    // The ref names a valid cache manifest: its config and every layer are in the registry.
    const manifestResponse = await fetch(`http://${registryHost}/v2/team/app/manifests/buildcache`, {
      headers: { accept: 'application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json' },
    });
    assert.equal(manifestResponse.status, 200);
    const manifest = (await manifestResponse.json()) as { manifests?: { digest: string }[]; layers?: { digest: string }[]; config?: { digest: string } };
    const blobs = [...(manifest.layers ?? []), ...(manifest.config === undefined ? [] : [manifest.config])].map((d) => d.digest);
    assert.ok(blobs.length > 0 || (manifest.manifests ?? []).length > 0, 'the cache manifest names content');
    for (const digest of blobs) {
      const head = await fetch(`http://${registryHost}/v2/team/app/blobs/${digest}`, { method: 'HEAD' });
      assert.equal(head.status, 200, `blob ${digest} of the cache manifest is in the registry`);
    }

    // And a builder that comes after the race imports it and runs nothing.
    const late = await build(first ?? '', builderEnv('late'));
    assert.equal(late.status, 0, late.stderr.slice(-3000));
    assert.equal(executed(late), 0, `no step ran: ${stepsStarted(late).join(', ')}`);
  });
});
