/**
 * What a RUN step cannot do, checked from inside real runc containers (root, busybox rootfs):
 * the default seccomp filter (and none for --security=insecure), Docker's capability set, masked
 * and read-only /proc and /sys paths; no host fd inside a step, under every mount type and stdio;
 * working directories through /proc magic links (runc CVE-2024-21626 class) never reach the host;
 * mount-stub cleanup never touches the host when the step swaps a directory for a symlink.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { chmod, copyFile, mkdir, mkdtemp, readFile, readdir, rm, stat, symlink, utimes, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { after, afterEach, before, describe, it } from 'node:test';
import { isStagecraftError } from '../../src/core/index.js';
import { MASKED_PATHS, createRuncExecutor, generateRuntimeSpec, type ExecMount, type ExecResult, type ExecSpec, type Executor } from '../../src/executor/index.js';
import { makeBusyboxRootfs } from '../helpers/base-image.js';

let base: string;
let stateDir: string;
let runDir: string;
let executor: Executor;
let rootfs: string;
let rootfsCount = 0;

interface Outcome {
  readonly result: ExecResult;
  readonly stdout: string;
  readonly stderr: string;
}

async function newRootfs(): Promise<string> {
  const dir = join(base, `rootfs-${rootfsCount++}`);
  await makeBusyboxRootfs(dir);
  await copyFile(join(base, 'probe'), join(dir, 'bin/probe'));
  await chmod(join(dir, 'bin/probe'), 0o755);
  return dir;
}

function spec(root: string, script: string, extra: Partial<ExecSpec> = {}): ExecSpec {
  return { rootfs: root, args: ['/bin/sh', '-c', script], env: [], cwd: '/', user: '', network: 'none', mounts: [], ...extra };
}

async function run(execSpec: ExecSpec, stdin?: PassThrough): Promise<Outcome> {
  const stdout: Buffer[] = [];
  const stderr: Buffer[] = [];
  const result = await executor.run(
    execSpec,
    { stdout: (chunk) => stdout.push(chunk), stderr: (chunk) => stderr.push(chunk), ...(stdin !== undefined ? { stdin } : {}) },
    new AbortController().signal,
  );
  return { result, stdout: Buffer.concat(stdout).toString('utf8'), stderr: Buffer.concat(stderr).toString('utf8') };
}

function statusField(status: string, name: string): string | undefined {
  return new RegExp(`^${name}:\\s*(\\S+)`, 'mu').exec(status)?.[1];
}

/**
 * A static probe: each line is `<call> <errno name|ok>`. keyctl, personality(ADDR_NO_RANDOMIZE),
 * clone(CLONE_NEWUSER) and socket(AF_VSOCK) are calls the kernel allows an unprivileged process
 * (only seccomp stops them); clone3 answers ENOSYS under the filter and EINVAL (size 0) without;
 * a thread proves libc's clone3 → clone fallback works.
 */
const PROBE_C = String.raw`
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/personality.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
static void report(const char *name, long r) { printf("%s %s\n", name, r == -1 ? strerrorname_np(errno) : "ok"); }
static void *thread(void *arg) { return arg; }
int main(void) {
  report("keyctl", syscall(SYS_keyctl, 0 /* KEYCTL_GET_KEYRING_ID */, -4 /* user keyring */, 1));
  long p = personality(0xffffffff);
  report("personality", personality(ADDR_NO_RANDOMIZE));
  personality(p);
  report("clone3", syscall(SYS_clone3, NULL, 0));
  long pid = syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, 0, 0, 0, 0);
  if (pid == 0) _exit(0);
  if (pid > 0) waitpid(pid, NULL, 0);
  report("clone-newuser", pid);
  int s = socket(40 /* AF_VSOCK */, SOCK_STREAM, 0);
  report("socket-vsock", s == -1 && errno != EPERM ? 0 : s);
  pthread_t t;
  report("thread", pthread_create(&t, NULL, thread, NULL) == 0 && pthread_join(t, NULL) == 0 ? 0 : -1);
  return 0;
}
`;

before(async () => {
  base = await mkdtemp(join(tmpdir(), 'executor-confinement-'));
  stateDir = join(base, 'state');
  runDir = join(base, 'run');
  executor = createRuncExecutor({ stateDir, runDir, killGraceMs: 60_000 });
  await writeFile(join(base, 'probe.c'), PROBE_C);
  execFileSync('gcc', ['-static', '-O1', '-pthread', '-o', join(base, 'probe'), join(base, 'probe.c')], { stdio: ['ignore', 'ignore', 'inherit'] });
  rootfs = await newRootfs();
});

afterEach(async () => {
  assert.deepEqual(execFileSync('runc', ['--root', stateDir, 'list', '-q'], { encoding: 'utf8' }).trim(), '', 'no runc container is left');
  assert.deepEqual(await readdir(runDir).catch(() => []), [], 'no run directory is left');
});

after(async () => {
  await rm(base, { recursive: true, force: true });
});

describe('RUN confinement: seccomp, capabilities, /proc and /sys', { timeout: 120_000 }, () => {
  it('a step runs under the default seccomp filter with Docker\'s capability set', async () => {
    const { result, stdout } = await run(spec(rootfs, 'cat /proc/self/status'));
    assert.equal(result.exitCode, 0);
    assert.equal(statusField(stdout, 'Seccomp'), '2', 'filter mode');
    assert.equal(statusField(stdout, 'Seccomp_filters'), '1');
    for (const set of ['CapEff', 'CapPrm', 'CapBnd']) assert.equal(statusField(stdout, set), '00000000a80425fb', set);
  });

  it('calls outside the profile fail with EPERM, clone3 with ENOSYS; normal work (threads) goes on', async () => {
    const { result, stdout } = await run(spec(rootfs, '/bin/probe'));
    assert.equal(result.exitCode, 0);
    assert.equal(stdout, 'keyctl EPERM\npersonality EPERM\nclone3 ENOSYS\nclone-newuser EPERM\nsocket-vsock EPERM\nthread ok\n');
  });

  it('RUN --security=insecure has no seccomp filter and every capability', async () => {
    const status = await run(spec(rootfs, 'cat /proc/self/status', { securityInsecure: true }));
    assert.equal(statusField(status.stdout, 'Seccomp'), '0');
    assert.notEqual(statusField(status.stdout, 'CapEff'), '00000000a80425fb');
    const probe = await run(spec(rootfs, '/bin/probe', { securityInsecure: true }));
    assert.match(probe.stdout, /^keyctl ok\npersonality ok\nclone3 EINVAL\nclone-newuser ok\n/u);
  });

  it('mount, reboot and module loading are refused; the shell, files and processes work', async () => {
    const { result, stdout } = await run(spec(rootfs, [
      'mkdir -p /m; mount -t tmpfs none /m 2>/dev/null && echo mounted || echo no-mount',
      'reboot -f 2>/dev/null; echo still-here',
      'echo data > /tmp/f && cat /tmp/f && (sleep 0 & wait) && echo children-ok',
    ].join('; ')));
    assert.equal(result.exitCode, 0);
    assert.equal(stdout, 'no-mount\nstill-here\ndata\nchildren-ok\n');
  });

  it('/proc/sys, /sys and the cgroup mounts are read-only', async () => {
    const cgroupFile = (await readdir('/sys/fs/cgroup')).includes('cgroup.procs') ? '/sys/fs/cgroup/cgroup.procs' : '/sys/fs/cgroup/pids/cgroup.procs';
    const writes = ['/proc/sys/kernel/domainname', '/sys/kernel/uevent_helper', cgroupFile, '/sys/fs/cgroup/new-file'];
    const script = writes.map((path) => `echo 1 > ${path} 2>/dev/null && echo "${path} written" || echo "${path} $(echo 1 2>&1 > ${path})"`).join('; ');
    const { result, stdout } = await run(spec(rootfs, script));
    assert.equal(result.exitCode, 0);
    const lines = stdout.trim().split('\n');
    assert.equal(lines.length, writes.length, stdout);
    for (const line of lines) assert.match(line, /Read-only file system$/u);
  });

  it("runc's masked paths read as empty (those this host has: kcore, keys, timer_list, acpi, …)", async () => {
    const present: string[] = [];
    for (const path of MASKED_PATHS) {
      if (await stat(path).then(() => true, () => false)) present.push(path);
    }
    assert.ok(present.includes('/proc/keys') && present.includes('/proc/timer_list'), `host has ${present.join(' ')}`);
    const script = present.map((path) => `if [ -d ${path} ]; then echo "${path} $(ls -A ${path} | wc -l)"; else echo "${path} $(cat ${path} | wc -c)"; fi`).join('; ');
    const { result, stdout } = await run(spec(rootfs, script));
    assert.equal(result.exitCode, 0);
    assert.equal(stdout, present.map((path) => `${path} 0\n`).join(''));
    // ...where the host's are not empty
    assert.ok((await readFile('/proc/timer_list', 'utf8')).length > 0);
  });
});

/** `ls -l` lines `name -> target` of an fd directory, as a map (target '' when it was gone by then). */
function fdLinks(listing: string): Map<string, string> {
  const links = new Map<string, string>();
  for (const line of listing.split('\n')) {
    const match = /^l.*\s(\d+)(?: -> (.*))?$/u.exec(line);
    if (match?.[1] !== undefined) links.set(match[1], match[2] ?? '');
  }
  return links;
}

describe('RUN confinement: no host fd reaches a step', { timeout: 180_000 }, () => {
  let agent: string;
  let server: ReturnType<typeof createServer>;
  before(async () => {
    agent = join(base, 'agent.sock');
    server = createServer((socket) => socket.end());
    await new Promise<void>((resolve) => server.listen(agent, resolve));
    await mkdir(join(base, 'bind-src'), { recursive: true });
    await writeFile(join(base, 'bind-src/f'), 'x');
  });
  after(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  const cases: { readonly name: string; readonly mounts: () => ExecMount[]; readonly stdin?: boolean }[] = [
    { name: 'no mounts', mounts: () => [] },
    { name: 'read-only and read-write bind mounts', mounts: () => [{ type: 'bind', source: join(base, 'bind-src'), target: '/b/ro', readonly: true }, { type: 'bind', source: join(base, 'bind-src'), target: '/b/rw', readonly: false }] },
    { name: 'a tmpfs (and a cache-style rw bind of a directory)', mounts: () => [{ type: 'tmpfs', target: '/t' }, { type: 'bind', source: join(base, 'bind-src'), target: '/root/.cache', readonly: false }] },
    { name: 'a secret', mounts: () => [{ type: 'secret', target: '/run/secrets/s', data: Buffer.from('v'), uid: 0, gid: 0, mode: 0o400 }] },
    { name: 'an ssh agent socket', mounts: () => [{ type: 'ssh', source: agent, target: '/run/ssh.sock', uid: 0, gid: 0, mode: 0o600 }] },
    { name: 'all of them with stdin piped', mounts: () => [{ type: 'bind', source: join(base, 'bind-src'), target: '/b', readonly: true }, { type: 'tmpfs', target: '/t' }, { type: 'secret', target: '/s', data: Buffer.from('v'), uid: 0, gid: 0, mode: 0o400 }, { type: 'ssh', source: agent, target: '/a.sock', uid: 0, gid: 0, mode: 0o600 }], stdin: true },
  ];
  for (const testCase of cases) {
    it(`only fds 0-2 with ${testCase.name}, in the process and in what it runs (also with its output redirected)`, async () => {
      // $$ is the shell (pid 1); /proc/self in ls is ls itself, whose fd 3 is the directory it lists.
      const script = 'ls -l /proc/$$/fd; echo ---; ls -l /proc/self/fd; echo ---; ls -l /proc/self/fd > /tmp/fds 2>&1 </dev/null; cat /tmp/fds; echo ---; ls -l /proc/self/fd | cat';
      const stdin = testCase.stdin === true ? new PassThrough() : undefined;
      stdin?.end('');
      const { result, stdout, stderr } = await run(spec(rootfs, script, { mounts: testCase.mounts() }), stdin);
      assert.equal(result.exitCode, 0, stderr);
      const [shell = '', ls = '', redirected = '', piped = ''] = stdout.split('---\n');
      assert.deepEqual([...fdLinks(shell).keys()].sort(), ['0', '1', '2'], `the step's own fds:\n${shell}`);
      for (const listing of [ls, redirected, piped]) {
        const links = fdLinks(listing);
        assert.deepEqual([...links.keys()].sort(), ['0', '1', '2', '3'], listing);
        // busybox ls reads the directory (its fd 3), closes it, then reads the links: 3 has no target by then
        assert.match(links.get('3') ?? '', /^(?:\/proc\/\d+\/fd)?$/u, `fd 3 is ls's own directory:\n${listing}`);
      }
      assert.match(fdLinks(redirected).get('1') ?? '', /^\/tmp\/fds$/u);
      assert.match(fdLinks(piped).get('1') ?? '', /^pipe:/u);
    });
  }
});

describe('RUN confinement: working directories through /proc never reach the host', { timeout: 300_000 }, () => {
  const cwds = [...Array.from({ length: 18 }, (_, index) => `/proc/self/fd/${index + 3}`), '/proc/1/cwd', '/proc/self/cwd', '/proc/1/root', '/x/../proc/self/fd/7'];

  it('the executor refuses every working directory below /proc (also through a symlink in the image), creating nothing', async () => {
    const fresh = await newRootfs();
    await symlink('/proc/self/fd/8', join(fresh, 'work'));
    for (const cwd of [...cwds, '/work', '/work/sub']) {
      await assert.rejects(run(spec(fresh, 'pwd', { cwd })), (error: unknown) => {
        assert.ok(isStagecraftError(error), String(error));
        assert.equal(error.code, 'FILE_OPERATION');
        assert.equal(error.message, `working directory ${cwd} is inside /proc`);
        return true;
      });
    }
    await assert.rejects(stat(join(fresh, 'proc')), 'no directory was made for them');
    assert.equal((await run(spec(fresh, 'pwd', { cwd: '/proc' }))).stdout, '/proc\n', '/proc itself is fine');
  });

  it(`the installed runc is not vulnerable to CVE-2024-21626 either: cwd ${cwds.join(', ')}`, async () => {
    // runc directly, with the spec the executor writes: it must refuse or stay in the container.
    const bundle = join(base, 'cve-bundle');
    const fresh = await newRootfs();
    await mkdir(bundle);
    await writeFile(join(bundle, 'hosts'), '127.0.0.1 localhost\n');
    await writeFile(join(bundle, 'resolv.conf'), '');
    for (const cwd of cwds) {
      const config = generateRuntimeSpec({
        rootfs: fresh, readonlyRootfs: false, args: ['/bin/sh', '-c', 'readlink /proc/self/cwd; ls -a'], env: ['PATH=/bin'], cwd, uid: 0, gid: 0, additionalGids: [],
        hostname: 'cve', network: 'none', securityInsecure: false, hostsFile: join(bundle, 'hosts'), resolvConfFile: join(bundle, 'resolv.conf'), mounts: [], nofile: 1024,
      });
      await writeFile(join(bundle, 'config.json'), JSON.stringify(config));
      const result = spawnSync('runc', ['--root', stateDir, 'run', '--bundle', bundle, 'cve-probe'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
      spawnSync('runc', ['--root', stateDir, 'delete', '--force', 'cve-probe']);
      if (result.status !== 0) {
        // refused during container init (not a directory, file exists, outside the root …): the process never ran
        assert.match(result.stderr, /error during container init/u, `${cwd}: ${result.stderr}`);
        assert.equal(result.stdout, '');
        continue;
      }
      const [where = ''] = result.stdout.split('\n');
      assert.ok(where.startsWith('/') && !where.includes('unreachable'), `${cwd}: the process's cwd is ${where}`);
      assert.doesNotMatch(result.stdout, /cgroup\.procs|executor-confinement-/u, `${cwd}: ${result.stdout}`);
    }
  });
});

describe('RUN confinement: mount stubs', { timeout: 120_000 }, () => {
  it('a step that swaps a stub parent for a symlink to a host directory leaves that directory and its times alone', async () => {
    const canary = join(base, 'canary');
    const old = new Date('2003-04-05T06:07:08Z');
    await mkdir(join(canary, 'b/c'), { recursive: true });
    await writeFile(join(canary, 'keep'), 'host file');
    for (const dir of ['b/c', 'b', '.']) await utimes(join(canary, dir), old, old);
    const fresh = await newRootfs();
    await mkdir(join(fresh, 'srv'));
    // /srv/a/b/c is a mount target: runc creates the stubs /srv/a, /srv/a/b, /srv/a/b/c; the step
    // then moves /srv and /data/a away and puts symlinks to the host canary in their place.
    const script = `mv /srv /srv.old && ln -s ${canary} /srv && mv /data/a /data/a.old && ln -s ${canary} /data/a && echo swapped`;
    const { result, stdout } = await run(spec(fresh, script, {
      mounts: [{ type: 'tmpfs', target: '/srv/a/b/c' }, { type: 'secret', target: '/data/a/b/c', data: Buffer.from('s'), uid: 0, gid: 0, mode: 0o400 }],
    }));
    assert.equal(result.exitCode, 0);
    assert.equal(stdout, 'swapped\n');
    for (const dir of ['b/c', 'b', '.']) {
      const info = await stat(join(canary, dir));
      assert.ok(info.isDirectory(), `canary/${dir} is still there`);
      assert.equal(info.mtime.getTime(), old.getTime(), `mtime of canary/${dir}`);
      assert.equal(info.atime.getTime(), old.getTime(), `atime of canary/${dir}`);
    }
    assert.deepEqual((await readdir(canary)).sort(), ['b', 'keep']);
  });
});

describe('RUN confinement: user lookup stays in the image', { timeout: 60_000 }, () => {
  it('an /etc/passwd symlinked to a host path reads nothing from the host', async () => {
    const hostPasswd = join(base, 'host-passwd');
    await writeFile(hostPasswd, 'hostonly:x:4242:4242::/:/bin/sh\n');
    const fresh = await newRootfs();
    await rm(join(fresh, 'etc/passwd'));
    await symlink(hostPasswd, join(fresh, 'etc/passwd'));
    await assert.rejects(run(spec(fresh, 'id -u', { user: 'hostonly' })), (error: unknown) => isStagecraftError(error) && error.code === 'USER_NOT_FOUND');
  });
});
