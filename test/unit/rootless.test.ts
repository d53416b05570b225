/**
 * Rootless builds, the pure parts: /etc/subuid and /etc/subgid parsing, the id maps asked of
 * newuidmap/newgidmap (or the single-id map), /proc/self/uid_map parsing, the errors for a host whose
 * sysctls forbid user namespaces, which commands re-run in a namespace, and what the runtime spec
 * and the config do differently as root of a user namespace.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { needsUserNamespace } from '../../src/cli/rootless.js';
import { loadConfig } from '../../src/config/index.js';
import { isStagecraftError } from '../../src/core/index.js';
import { checkUserNamespaceSysctls, generateRuntimeSpec, nofileLimit, planRootless, rootlessLimitsError, type RuntimeSpecInput } from '../../src/executor/index.js';
import { describeIdMap, idMapArgs, isInitialMap, mapsId, parseIdMap, parseSubIds, rootlessIdMap } from '../../src/util/userns.js';

describe('parseSubIds (subuid(5))', () => {
  const alice = { name: 'alice', id: 1000 };

  it('takes the lines of the user by name or by numeric uid, in file order', () => {
    const text = 'bob:100000:65536\nalice:165536:65536\n1000:300000:1000\nalice:400000:10\n';
    assert.deepEqual(parseSubIds(text, alice), [
      { start: 165536, count: 65536 },
      { start: 300000, count: 1000 },
      { start: 400000, count: 10 },
    ]);
    assert.deepEqual(parseSubIds(text, { name: 'bob', id: 1001 }), [{ start: 100000, count: 65536 }]);
    assert.deepEqual(parseSubIds(text, { name: undefined, id: 1000 }), [{ start: 300000, count: 1000 }]);
  });

  it('skips blank lines, comments, malformed lines, empty and overflowing ranges; no match is no range', () => {
    const text = [
      '',
      '# alice:1:2',
      '  alice:100000:65536  ',
      'alice:100000',
      'alice:x:65536',
      'alice:-5:10',
      'alice:200000:0',
      'alice:4294967290:10',
      'alice:100000:65536:extra',
      'alicex:500000:65536',
      'alice:600000:65536\r',
    ].join('\n');
    assert.deepEqual(parseSubIds(text, alice), [{ start: 100000, count: 65536 }, { start: 600000, count: 65536 }]);
    assert.deepEqual(parseSubIds('', alice), []);
    assert.deepEqual(parseSubIds('carol:100000:65536\n', alice), []);
  });
});

describe('rootlessIdMap', () => {
  it('maps the user to 0, then each range from 1 on, as newuidmap arguments', () => {
    const map = rootlessIdMap(1000, [{ start: 100000, count: 65536 }, { start: 300000, count: 10 }]);
    assert.deepEqual(map, [
      { inner: 0, outer: 1000, count: 1 },
      { inner: 1, outer: 100000, count: 65536 },
      { inner: 65537, outer: 300000, count: 10 },
    ]);
    assert.deepEqual(idMapArgs(map), ['0', '1000', '1', '1', '100000', '65536', '65537', '300000', '10']);
    assert.equal(describeIdMap(map), '0,1-65536,65537-65546');
  });

  it('is the single-id map without ranges, and skips a range holding the user itself', () => {
    assert.deepEqual(rootlessIdMap(1000, []), [{ inner: 0, outer: 1000, count: 1 }]);
    assert.deepEqual(rootlessIdMap(1000, [{ start: 900, count: 200 }, { start: 5000, count: 5 }]), [
      { inner: 0, outer: 1000, count: 1 },
      { inner: 1, outer: 5000, count: 5 },
    ]);
  });
});

describe('/proc/self/uid_map', () => {
  it('parses the kernel\'s columns; the initial namespace is the identity map', () => {
    const initial = parseIdMap('         0          0 4294967295\n');
    assert.deepEqual(initial, [{ inner: 0, outer: 0, count: 4_294_967_295 }]);
    assert.equal(isInitialMap(initial), true);
    const rootless = parseIdMap('         0       1001          1\n         1     100000      65536\n');
    assert.equal(isInitialMap(rootless), false);
    assert.equal(mapsId(rootless, 0), true);
    assert.equal(mapsId(rootless, 1000), true);
    assert.equal(mapsId(rootless, 65536), true);
    assert.equal(mapsId(rootless, 65537), false);
    assert.equal(mapsId(parseIdMap('0 1001 1\n'), 5), false);
    assert.deepEqual(parseIdMap('garbage\n1 2\n'), []);
  });
});

describe('checkUserNamespaceSysctls', () => {
  const rootlessError = (sysctl: string, fix: RegExp) => (error: unknown): boolean => {
    assert.ok(isStagecraftError(error));
    assert.equal(error.code, 'ROOTLESS');
    assert.match(error.message, new RegExp(sysctl.replaceAll('.', '\\.')));
    assert.match(error.hint ?? '', fix);
    return true;
  };

  it('names kernel.unprivileged_userns_clone when it is 0', () => {
    assert.throws(() => checkUserNamespaceSysctls({ maxUserNamespaces: '96367\n', unprivilegedUsernsClone: '0\n' }), rootlessError('kernel.unprivileged_userns_clone', /sysctl -w kernel\.unprivileged_userns_clone=1/));
  });

  it('names user.max_user_namespaces when it is 0', () => {
    assert.throws(() => checkUserNamespaceSysctls({ maxUserNamespaces: '0\n', unprivilegedUsernsClone: undefined }), rootlessError('user.max_user_namespaces', /sysctl -w user\.max_user_namespaces=\d+/));
  });

  it('lets a host that allows them pass (the knob may not exist)', () => {
    checkUserNamespaceSysctls({ maxUserNamespaces: '96367\n', unprivilegedUsernsClone: undefined });
    checkUserNamespaceSysctls({ maxUserNamespaces: '15000\n', unprivilegedUsernsClone: '1\n' });
  });
});

describe('planRootless', () => {
  it('uses newuidmap/newgidmap with ranges in both files', () => {
    const warnings: string[] = [];
    const plan = planRootless({ uid: 1001, gid: 1002, userName: 'alice', subuid: 'alice:100000:65536\n', subgid: 'alice:200000:65536\n', warn: (m) => warnings.push(m) });
    assert.equal(plan.helpers, true);
    assert.deepEqual(plan.uidMap, [{ inner: 0, outer: 1001, count: 1 }, { inner: 1, outer: 100000, count: 65536 }]);
    assert.deepEqual(plan.gidMap, [{ inner: 0, outer: 1002, count: 1 }, { inner: 1, outer: 200000, count: 65536 }]);
    assert.deepEqual(warnings, []);
  });

  it('falls back to the single-id map, warning which file lacks the user and how to add a range', () => {
    const warnings: string[] = [];
    const plan = planRootless({ uid: 1001, gid: 1002, userName: 'alice', subuid: 'alice:100000:65536\n', subgid: undefined, warn: (m) => warnings.push(m) });
    assert.equal(plan.helpers, false);
    assert.deepEqual(plan.uidMap, [{ inner: 0, outer: 1001, count: 1 }]);
    assert.deepEqual(plan.gidMap, [{ inner: 0, outer: 1002, count: 1 }]);
    assert.equal(warnings.length, 1);
    assert.match(warnings[0] ?? '', /in \/etc\/subgid:/);
    assert.doesNotMatch(warnings[0] ?? '', /\/etc\/subuid/);
    assert.match(warnings[0] ?? '', /usermod --add-subuids 100000-165535 --add-subgids 100000-165535 alice/);
  });
});

describe('needsUserNamespace', () => {
  it('re-runs commands that use the state root, mounts or runc', () => {
    for (const argv of [['build', '.'], ['--root', '/x', 'build', '.'], ['--debug', 'images'], ['prune', '--all'], ['debug', 'ls'], ['plan', '.'], ['push', 'a']]) {
      assert.equal(needsUserNamespace(argv), true, argv.join(' '));
    }
  });

  it('runs help, version and the commands that need no state root as they are', () => {
    for (const argv of [[], ['--help'], ['-v'], ['version'], ['lint', '.'], ['build', '--help'], ['debug', 'ast', 'Dockerfile'], ['--root', 'build', 'version'], ['completion', 'bash'], ['k8s', 'job']]) {
      assert.equal(needsUserNamespace(argv), false, argv.join(' '));
    }
  });
});

describe('runtime spec as root of a user namespace', () => {
  const input: RuntimeSpecInput = {
    rootfs: '/r', readonlyRootfs: false, args: ['sh'], env: [], cwd: '/', uid: 0, gid: 0, additionalGids: [], hostname: 'h',
    network: 'host', securityInsecure: false, hostsFile: '/h', resolvConfFile: '/c', mounts: [], nofile: 1024,
  };
  const mount = (spec: ReturnType<typeof generateRuntimeSpec>, destination: string) => spec.mounts.find((m) => m.destination === destination);

  it('binds the host /sys read-only for a host-network step, and leaves out gid=5 where gid 5 is unmapped', () => {
    const spec = generateRuntimeSpec({ ...input, rootless: { ttyGroupMapped: false } });
    assert.deepEqual(mount(spec, '/sys'), { destination: '/sys', type: 'bind', source: '/sys', options: ['rbind', 'nosuid', 'noexec', 'nodev', 'ro'] });
    assert.ok(!(mount(spec, '/dev/pts')?.options ?? []).includes('gid=5'));
    // The confinement stays: seccomp, masked and read-only paths, Docker's capabilities.
    assert.ok(spec.linux.seccomp !== undefined);
    assert.ok(spec.linux.maskedPaths.includes('/proc/kcore'));
    assert.ok(spec.linux.readonlyPaths.includes('/proc/sys'));
    assert.ok(!spec.process.capabilities.bounding.includes('CAP_SYS_ADMIN'));
  });

  it('keeps sysfs in a network namespace of its own and gid=5 where mapped; root builds are unchanged', () => {
    const own = generateRuntimeSpec({ ...input, network: 'none', rootless: { ttyGroupMapped: true } });
    assert.equal(mount(own, '/sys')?.type, 'sysfs');
    assert.ok((mount(own, '/dev/pts')?.options ?? []).includes('gid=5'));
    const root = generateRuntimeSpec(input);
    assert.equal(mount(root, '/sys')?.type, 'sysfs');
    assert.ok((mount(root, '/dev/pts')?.options ?? []).includes('gid=5'));
  });

  it('gives the process its own hard NOFILE limit: CAP_SYS_RESOURCE of a user namespace cannot raise it', () => {
    const limits = 'Max open files            1024                 20000                files     \n';
    assert.equal(nofileLimit('CapEff:\t000001ffffffffff\n', limits, true), 20_000);
    assert.equal(nofileLimit('CapEff:\t000001ffffffffff\n', limits, false), 1_048_576);
  });
});

describe('rootlessLimitsError', () => {
  it('refuses cgroup limits of a rootless step on cgroup v1, naming the flags; v2 is left to runc', () => {
    const error = rootlessLimitsError({ resources: { memory: 64 << 20 } }, false);
    assert.ok(isStagecraftError(error));
    assert.equal(error.code, 'ROOTLESS');
    assert.match(error.message, /cgroup v1/);
    assert.match(error.hint ?? '', /--memory/);
    assert.ok(rootlessLimitsError({ cgroupParent: 'builds' }, false) !== undefined);
    assert.equal(rootlessLimitsError({ resources: { memory: 64 << 20 } }, true), undefined);
    assert.equal(rootlessLimitsError({ resources: {} }, false), undefined);
    assert.equal(rootlessLimitsError({ cgroupParent: undefined, resources: { memory: undefined } }, false), undefined);
  });
});

describe('config as root of a user namespace', () => {
  it('takes the user\'s state root, not /var/lib/stagecraft', () => {
    assert.equal(loadConfig({ env: { HOME: '/home/u', XDG_DATA_HOME: '/data/u' }, uid: 0, rootless: true }).stateRoot, join('/data/u', 'stagecraft'));
    assert.equal(loadConfig({ env: { HOME: '/home/u' }, uid: 0, rootless: true }).stateRoot, '/home/u/.local/share/stagecraft');
    assert.equal(loadConfig({ env: { HOME: '/home/u' }, uid: 0, rootless: true }).rootless, true);
    assert.equal(loadConfig({ env: { HOME: '/home/u' }, uid: 0 }).stateRoot, '/var/lib/stagecraft');
  });
});
