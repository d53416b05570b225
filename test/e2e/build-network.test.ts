/**
 * `stagecraft build` and the network of RUN steps, as a user runs it: by default a step reaches the
 * host's other addresses but never a service bound to the host's loopback; host networking
 * (`--network=host`, `RUN --network=host`) and `RUN --security=insecure` need `--allow` and fail
 * before any step runs without it; no slirp4netns process survives a build, even one interrupted by
 * SIGINT, SIGTERM or SIGKILL.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { networkInterfaces } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startBuildEnv, type BuildEnv } from '../helpers/build-env.js';
import { CLI_PATH } from '../helpers/cli.js';

function hostAddress(): string | undefined {
  for (const addresses of Object.values(networkInterfaces())) {
    for (const address of addresses ?? []) if (address.family === 'IPv4' && !address.internal) return address.address;
  }
  return undefined;
}

/**
 * Two TCP services in a process of their own (the CLI runs synchronously): one on 127.0.0.1, one on
 * the host's non-loopback address. Each answers its name and reports every connection on stdout.
 */
interface Services {
  readonly loopbackPort: number;
  readonly outsidePort: number;
  readonly log: () => string;
  stop(): Promise<void>;
}

const SERVICES = `
const net = require('node:net');
const start = (host, name) => new Promise((resolve) => {
  const server = net.createServer((socket) => { process.stdout.write('connection ' + name + '\\n'); socket.on('error', () => {}); socket.end(name + '-SERVICE\\n'); });
  server.listen(0, host, () => resolve(server.address().port));
});
Promise.all([start('127.0.0.1', 'LOOPBACK'), start(process.argv[1], 'OUTSIDE')]).then(([lo, out]) => process.stdout.write('ports ' + lo + ' ' + out + '\\n'));
`;

async function startServices(address: string): Promise<Services> {
  const child = spawn(process.execPath, ['-e', SERVICES, address], { stdio: ['ignore', 'pipe', 'inherit'] });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => {
    output += chunk.toString('utf8');
  });
  const deadline = Date.now() + 10_000;
  let ports: RegExpExecArray | null = null;
  while ((ports = /ports (\d+) (\d+)\n/.exec(output)) === null) {
    assert.ok(Date.now() < deadline, 'the test services did not start');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return {
    loopbackPort: Number(ports[1]),
    outsidePort: Number(ports[2]),
    log: () => output,
    stop: async () => {
      child.kill();
      await new Promise((resolve) => child.once('exit', resolve));
    },
  };
}

/** slirp4netns processes serving the namespaces of process `pid` (their target is one of its fds). */
function slirpsOf(pid: number): string[] {
  const found: string[] = [];
  for (const p of spawnSync('pgrep', ['-x', 'slirp4netns'], { encoding: 'utf8' }).stdout.split('\n').filter((l) => l !== '')) {
    const cmdline = spawnSync('cat', [`/proc/${p}/cmdline`], { encoding: 'utf8' }).stdout.replaceAll('\0', ' ');
    if (cmdline.includes(`/proc/${pid}/fd/`)) found.push(`${p}: ${cmdline}`);
  }
  return found;
}

function netnsEntries(): string[] {
  return existsSync('/run/netns') ? readdirSync('/run/netns').sort() : [];
}

async function waitFor(condition: () => boolean, what: string, ms = 60_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    assert.ok(Date.now() < deadline, `timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

const address = hostAddress();

describe('build: RUN step networks and entitlements', { skip: address === undefined && 'no non-loopback IPv4 address' }, () => {
  let env: BuildEnv;
  let services: Services;
  let netnsBefore: string[];
  let count = 0;
  before(async () => {
    env = await startBuildEnv();
    services = await startServices(address ?? '');
    netnsBefore = netnsEntries();
  });
  after(async () => {
    await services.stop();
    await env.close();
  });
  const root = (): string => join(env.work, 'net-root');

  /** A context whose Dockerfile is `lines` after FROM busybox. */
  function context(lines: readonly string[]): string {
    const dir = join(env.work, `net-${++count}`);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'Dockerfile'), [`FROM ${env.busybox}`, ...lines, ''].join('\n'));
    return dir;
  }

  /** A RUN that writes what `nc HOST PORT` got (or "failed") to /probe/NAME. */
  const probe = (name: string, host: string, port: number, flags = ''): string =>
    `RUN ${flags}mkdir -p /probe && (nc -w 3 ${host} ${port} </dev/null || echo failed) > /probe/${name}`;

  const loopbackConnections = (): number => services.log().split('\n').filter((l) => l === 'connection LOOPBACK').length;

  it('default: the host loopback service is unreachable (127.0.0.1, 10.0.2.2), the host address is reachable', { timeout: 180_000 }, () => {
    const dir = context([
      probe('direct', '127.0.0.1', services.loopbackPort),
      probe('gateway', '10.0.2.2', services.loopbackPort),
      probe('outside', address ?? '', services.outsidePort),
    ]);
    const out = join(env.work, `out-${count}`);
    const before = loopbackConnections();
    const run = env.build(['--no-cache', '-o', `type=local,dest=${out}`, dir], { root: root() });
    assert.equal(run.status, 0, run.stderr);
    assert.equal(readFileSync(join(out, 'probe/direct'), 'utf8'), 'failed\n');
    assert.equal(readFileSync(join(out, 'probe/gateway'), 'utf8'), 'failed\n');
    assert.equal(readFileSync(join(out, 'probe/outside'), 'utf8'), 'OUTSIDE-SERVICE\n');
    assert.equal(loopbackConnections(), before, 'the loopback service saw no connection');
  });

  it('--network=none: no way out', { timeout: 180_000 }, () => {
    const dir = context([probe('outside', address ?? '', services.outsidePort)]);
    const out = join(env.work, `out-${count}`);
    const run = env.build(['--no-cache', '--network=none', '-o', `type=local,dest=${out}`, dir], { root: root() });
    assert.equal(run.status, 0, run.stderr);
    assert.equal(readFileSync(join(out, 'probe/outside'), 'utf8'), 'failed\n');
  });

  it('--network=host fails before any step without --allow network.host, and reaches the loopback service with it', { timeout: 180_000 }, () => {
    const dir = context(['RUN echo FIRST-STEP-RAN-$((1+1))', probe('direct', '127.0.0.1', services.loopbackPort)]);
    const refused = env.build(['--no-cache', '--network=host', dir], { root: root() });
    assert.equal(refused.status, 2, refused.stderr);
    assert.match(refused.stderr, /network\.host is not allowed/);
    assert.match(refused.stderr, /--allow network\.host/);
    assert.doesNotMatch(refused.stderr, /FIRST-STEP-RAN-2/);
    assert.ok(!refused.events.some((event) => event.type === 'vertex.started'), 'no step started');

    const out = join(env.work, `out-${count}`);
    const allowed = env.build(['--no-cache', '--network=host', '--allow', 'network.host', '-o', `type=local,dest=${out}`, dir], { root: root() });
    assert.equal(allowed.status, 0, allowed.stderr);
    assert.equal(readFileSync(join(out, 'probe/direct'), 'utf8'), 'LOOPBACK-SERVICE\n');
  });

  it('RUN --network=host fails before any step without --allow network.host, naming the line; with it the step reaches the loopback service', { timeout: 180_000 }, () => {
    const dir = context(['RUN echo FIRST-STEP-RAN-$((1+1))', probe('direct', '127.0.0.1', services.loopbackPort, '--network=host ')]);
    const refused = env.build(['--no-cache', dir], { root: root() });
    assert.equal(refused.status, 2, refused.stderr);
    assert.match(refused.stderr, /RUN --network=host: network\.host is not allowed/);
    assert.match(refused.stderr, /Dockerfile:3/);
    assert.doesNotMatch(refused.stderr, /FIRST-STEP-RAN-2/);
    assert.ok(!refused.events.some((event) => event.type === 'vertex.started'), 'no step started');

    const out = join(env.work, `out-${count}`);
    const allowed = env.build(['--no-cache', '--allow=network.host', '-o', `type=local,dest=${out}`, dir], { root: root() });
    assert.equal(allowed.status, 0, allowed.stderr);
    assert.equal(readFileSync(join(out, 'probe/direct'), 'utf8'), 'LOOPBACK-SERVICE\n');
  });

  it('RUN --security=insecure fails before any step without --allow security.insecure, and runs with it', { timeout: 180_000 }, () => {
    const dir = context(['RUN echo FIRST-STEP-RAN-$((1+1))', 'RUN --security=insecure grep CapEff /proc/self/status > /capeff']);
    const refused = env.build(['--no-cache', dir], { root: root() });
    assert.equal(refused.status, 2, refused.stderr);
    assert.match(refused.stderr, /RUN --security=insecure: security\.insecure is not allowed/);
    assert.match(refused.stderr, /--allow security\.insecure/);
    assert.doesNotMatch(refused.stderr, /FIRST-STEP-RAN-2/);

    const out = join(env.work, `out-${count}`);
    const allowed = env.build(['--no-cache', '--allow', 'security.insecure', '-o', `type=local,dest=${out}`, dir], { root: root() });
    assert.doesNotMatch(allowed.stderr, /is not allowed/);
    assert.ok(allowed.events.some((event) => event.type === 'vertex.started' && event.name.includes('RUN --security=insecure')), 'the insecure step was started');
    // Where this process itself lacks capabilities (a confined CI container), runc cannot grant them all.
    if (!/unable to apply caps/.test(allowed.stderr)) {
      assert.equal(allowed.status, 0, allowed.stderr);
      assert.match(readFileSync(join(out, 'capeff'), 'utf8'), /^CapEff:\s+[0-9a-f]+\n$/);
    }
  });

  it('an unknown --allow value is a usage error with a suggestion', () => {
    const run = env.build(['--allow', 'network.hots', context(['RUN true'])], { root: root() });
    assert.equal(run.status, 2, run.stderr);
    assert.match(run.stderr, /unknown entitlement "network\.hots"/);
    assert.match(run.stderr, /did you mean network\.host/);
  });

  it('no slirp4netns process or namespace is left after builds, including ones interrupted during a RUN (SIGINT, SIGTERM, SIGKILL)', { timeout: 300_000 }, async () => {
    for (const signal of ['SIGINT', 'SIGTERM', 'SIGKILL'] as const) {
      // The marker is computed by the shell, so the step's name (printed before it runs) does not match.
      const dir = context([`RUN echo STEP-STARTED-${signal}-$((40+2)) && sleep 120`]);
      const child: ChildProcess = spawn(process.execPath, [CLI_PATH, '--root', root(), 'build', '--no-cache', '--progress=plain', dir], { stdio: ['ignore', 'ignore', 'pipe'] });
      let stderr = '';
      child.stderr?.on('data', (chunk: Buffer) => {
        stderr += chunk.toString('utf8');
      });
      const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
      const pid = child.pid ?? 0;
      try {
        await waitFor(() => stderr.includes(`STEP-STARTED-${signal}-42`), `the RUN step to start (${signal})`);
        assert.equal(slirpsOf(pid).length, 1, 'the running step has its slirp4netns');
      } finally {
        child.kill(signal);
      }
      const code = await exited;
      if (signal !== 'SIGKILL') assert.equal(code, 130, stderr);
      // SIGKILL skips every cleanup: slirp4netns exits by itself when its exit fd closes.
      await waitFor(() => slirpsOf(pid).length === 0, `slirp4netns to exit after ${signal}`, 10_000);
      assert.deepEqual(netnsEntries(), netnsBefore, 'no /run/netns entry');
    }
    // The next build sweeps the container the SIGKILLed build left; it leaves nothing either.
    const last = env.build(['--no-cache', context(['RUN true'])], { root: root() });
    assert.equal(last.status, 0, last.stderr);
    assert.deepEqual(netnsEntries(), netnsBefore);
  });
});
