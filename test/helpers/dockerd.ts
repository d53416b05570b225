/**
 * A private Docker daemon for tests: dockerd (Debian's docker.io) on its own socket, data root and
 * exec root under a temp dir, with no bridge and no iptables rules, so it touches nothing of the
 * host's networking and never collides with a system daemon. `startDockerd` resolves with a reason
 * instead of a daemon when dockerd is not installed or cannot start here (the test then skips).
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, openSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface TestDockerd {
  readonly socket: string;
  /** `DOCKER_HOST` for the docker CLI and stagecraft. */
  readonly host: string;
  /** Runs the docker CLI against this daemon; returns stdout. */
  readonly docker: (args: readonly string[]) => string;
  readonly stop: () => Promise<void>;
}

const DOCKERD_CANDIDATES = ['/usr/sbin/dockerd', '/usr/bin/dockerd'];
const DOCKER_CANDIDATES = ['/usr/bin/docker', '/usr/local/bin/docker'];

function ping(socket: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request({ socketPath: socket, path: '/_ping', method: 'GET', timeout: 1000 }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('error', () => resolve(false));
    req.on('timeout', () => req.destroy());
    req.end();
  });
}

/**
 * A reason to skip, or, where the machine must have a daemon (CI sets STAGECRAFT_REQUIRE_DOCKERD=1
 * after installing docker.io), a failure: the `--load` tests must not pass by skipping there.
 */
function skipOrFail(reason: string): { readonly skip: string } {
  if (process.env.STAGECRAFT_REQUIRE_DOCKERD === '1') throw new Error(`STAGECRAFT_REQUIRE_DOCKERD=1 but ${reason}`);
  return { skip: reason };
}

export async function startDockerd(): Promise<TestDockerd | { readonly skip: string }> {
  const dockerd = DOCKERD_CANDIDATES.find((p) => existsSync(p));
  const dockerCli = DOCKER_CANDIDATES.find((p) => existsSync(p));
  if (dockerd === undefined || dockerCli === undefined) return skipOrFail('dockerd or the docker CLI is not installed (apt-get install docker.io)');
  if (process.getuid?.() !== 0) return skipOrFail('dockerd needs root');
  const dir = await mkdtemp(join(tmpdir(), 'stagecraft-dockerd-'));
  const socket = join(dir, 'docker.sock');
  const logFile = join(dir, 'dockerd.log');
  const log = openSync(logFile, 'w');
  const child: ChildProcess = spawn(dockerd, [
    '--host', `unix://${socket}`,
    '--data-root', join(dir, 'data'),
    '--exec-root', join(dir, 'exec'),
    '--pidfile', join(dir, 'dockerd.pid'),
    '--bridge', 'none',
    '--iptables=false',
    '--ip6tables=false',
    '--storage-driver', 'vfs',
  ], { stdio: ['ignore', log, log] });
  closeSync(log);
  let exited = false;
  child.once('exit', () => (exited = true));
  const stop = async (): Promise<void> => {
    if (!exited) {
      const done = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
      await done;
      clearTimeout(timer);
    }
    await rm(dir, { recursive: true, force: true });
  };
  const deadline = Date.now() + 60_000;
  while (!(await ping(socket))) {
    if (exited || Date.now() > deadline) {
      const tail = (await readFile(logFile, 'utf8').catch(() => '')).split('\n').filter((l) => l !== '').slice(-5).join('\n');
      await stop();
      return skipOrFail(`dockerd did not start here: ${tail}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  const host = `unix://${socket}`;
  return {
    socket,
    host,
    docker: (args) => execFileSync(dockerCli, ['--host', host, ...args], { encoding: 'utf8', env: { ...process.env, DOCKER_HOST: host } }),
    stop,
  };
}
