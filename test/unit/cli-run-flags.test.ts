/** `--add-host`, `--shm-size`, `--ulimit`, `--annotation`, the legacy boolean flags: parsed as buildx parses them. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { StagecraftError } from '../../src/core/index.js';
import { parseAddHosts, parseAnnotations, parseCgroupParent, parseResourceFlags, parseShmSize, parseUlimits } from '../../src/cli/run-flags.js';
import { normalizeLegacyBoolFlags } from '../../src/cli/commands/build.js';

const usageError = (pattern: RegExp) => (e: unknown): boolean => e instanceof StagecraftError && e.code === 'USAGE' && pattern.test(e.message);
const AMD64 = { os: 'linux', architecture: 'amd64' };

describe('--add-host', () => {
  it('takes host:ip and host=ip, several per value (CSV), several addresses per host, IPv6 in brackets', () => {
    assert.deepEqual(parseAddHosts(['db:10.0.0.5', 'Cache=10.0.0.6']), [{ host: 'db', ip: '10.0.0.5' }, { host: 'cache', ip: '10.0.0.6' }]);
    assert.deepEqual(parseAddHosts(['a:1.2.3.4,b=5.6.7.8']), [{ host: 'a', ip: '1.2.3.4' }, { host: 'b', ip: '5.6.7.8' }]);
    assert.deepEqual(parseAddHosts(['v6:::1']), [{ host: 'v6', ip: '::1' }]);
    assert.deepEqual(parseAddHosts(['"both=10.0.0.1,[fd00::1]"']), [{ host: 'both', ip: '10.0.0.1' }, { host: 'both', ip: 'fd00::1' }]);
  });

  it('refuses a missing host or ip, a name for an ip, host-gateway and bad quoting', () => {
    assert.throws(() => parseAddHosts(['db']), usageError(/invalid --add-host "db"/));
    assert.throws(() => parseAddHosts([':1.2.3.4']), usageError(/invalid --add-host/));
    assert.throws(() => parseAddHosts(['db:example.com']), usageError(/"example.com" is not an IP address/));
    assert.throws(() => parseAddHosts(['gw:host-gateway']), usageError(/host-gateway is not supported/));
    assert.throws(() => parseAddHosts(['db="1.2.3.4"']), usageError(/^--add-host .*a quote inside an unquoted field/));
  });
});

describe('--shm-size', () => {
  it('reads bytes with binary units as docker (units.RAMInBytes)', () => {
    assert.equal(parseShmSize(undefined), undefined);
    assert.equal(parseShmSize('0'), undefined);
    assert.equal(parseShmSize('128m'), 128 * 1024 * 1024);
    assert.equal(parseShmSize('1g'), 1024 ** 3);
    assert.equal(parseShmSize('64MiB'), 64 * 1024 * 1024);
    assert.equal(parseShmSize('6.5k'), 6656);
    assert.equal(parseShmSize('67108864'), 67108864);
  });

  it('refuses nonsense and sizes below a page', () => {
    assert.throws(() => parseShmSize('lots'), usageError(/invalid --shm-size "lots"/));
    assert.throws(() => parseShmSize('-1m'), usageError(/invalid --shm-size/));
    assert.throws(() => parseShmSize('100'), usageError(/smaller than a page/));
  });
});

describe('--ulimit', () => {
  it('reads name=soft[:hard]; hard defaults to soft; a later one for a name wins', () => {
    assert.deepEqual(parseUlimits(['nofile=1024:2048', 'nproc=512']), [{ name: 'nofile', soft: 1024, hard: 2048 }, { name: 'nproc', soft: 512, hard: 512 }]);
    assert.deepEqual(parseUlimits(['nofile=1:2', 'nofile=3:4']), [{ name: 'nofile', soft: 3, hard: 4 }]);
  });

  it('refuses unknown names, soft above hard, and malformed values', () => {
    assert.throws(() => parseUlimits(['files=10']), usageError(/unknown limit "files"/));
    assert.throws(() => parseUlimits(['nofile=2048:1024']), usageError(/soft limit 2048 is above the hard limit 1024/));
    assert.throws(() => parseUlimits(['nofile']), usageError(/invalid --ulimit "nofile"/));
    assert.throws(() => parseUlimits(['nofile=1:2:3']), usageError(/too many values/));
    assert.throws(() => parseUlimits(['nofile=ten']), usageError(/"ten" is not a number/));
    assert.throws(() => parseUlimits(['memlock=-1']), usageError(/unlimited \(-1\) is not supported/));
  });
});

describe('--annotation', () => {
  it('no type is manifest; manifest-descriptor and a platform matching the build are accepted; types combine', () => {
    assert.deepEqual(parseAnnotations(['org.opencontainers.image.title=app', 'manifest:a=1', 'manifest-descriptor:b=2', 'manifest,manifest-descriptor:c=x=y', 'manifest[linux/amd64]:d='], AMD64), {
      manifest: { 'org.opencontainers.image.title': 'app', a: '1', c: 'x=y', d: '' },
      manifestDescriptor: { b: '2', c: 'x=y' },
    });
  });

  it('refuses index annotations (single-platform build), other platforms, unknown types and a missing =', () => {
    assert.throws(() => parseAnnotations(['index:a=1'], AMD64), usageError(/index annotations need an image index/));
    assert.throws(() => parseAnnotations(['index-descriptor:a=1'], AMD64), usageError(/index-descriptor annotations/));
    assert.throws(() => parseAnnotations(['manifest[linux/arm64]:a=1'], AMD64), usageError(/not built for linux\/arm64/));
    assert.throws(() => parseAnnotations(['layer:a=1'], AMD64), usageError(/unknown annotation type "layer"/));
    assert.throws(() => parseAnnotations(['Manifest:a=1'], AMD64), usageError(/invalid --annotation type "Manifest"/));
    assert.throws(() => parseAnnotations(['a'], AMD64), usageError(/invalid --annotation "a"/));
  });
});

describe('--memory, --cpu-*, --cpuset-*, --cgroup-parent (buildx passes them to BuildKit)', () => {
  it('reads sizes with units and whole numbers; nothing given is undefined', () => {
    assert.equal(parseResourceFlags({}), undefined);
    assert.deepEqual(parseResourceFlags({ memory: '512m', memorySwap: '1g', cpuShares: '512', cpuPeriod: '100000', cpuQuota: '50000', cpusetCpus: '0-3,5', cpusetMems: '0' }), {
      memory: 512 * 1024 ** 2, memorySwap: 1024 ** 3, cpuShares: 512, cpuPeriod: 100000, cpuQuota: 50000, cpusetCpus: '0-3,5', cpusetMems: '0',
    });
    assert.deepEqual(parseResourceFlags({ memory: '64m', memorySwap: '-1' }), { memory: 64 * 1024 ** 2, memorySwap: -1 });
  });

  it('refuses what docker and BuildKit refuse', () => {
    assert.throws(() => parseResourceFlags({ memory: '0' }), usageError(/invalid --memory "0"/));
    assert.throws(() => parseResourceFlags({ memory: 'lots' }), usageError(/invalid --memory "lots"/));
    assert.throws(() => parseResourceFlags({ memorySwap: '1g' }), usageError(/--memory-swap needs --memory/));
    assert.throws(() => parseResourceFlags({ memory: '1g', memorySwap: '512m' }), usageError(/is below --memory/));
    assert.throws(() => parseResourceFlags({ memory: '1g', memorySwap: '-2' }), usageError(/invalid --memory-swap/));
    assert.throws(() => parseResourceFlags({ cpuShares: '0' }), usageError(/invalid --cpu-shares "0"/));
    assert.throws(() => parseResourceFlags({ cpuQuota: '-5' }), usageError(/invalid --cpu-quota/));
    assert.throws(() => parseResourceFlags({ cpusetCpus: '0-' }), usageError(/invalid --cpuset-cpus "0-"/));
    assert.throws(() => parseResourceFlags({ cpusetMems: 'all' }), usageError(/invalid --cpuset-mems/));
  });

  it('--cgroup-parent: a path or a systemd slice; .. is refused', () => {
    assert.equal(parseCgroupParent(undefined), undefined);
    assert.equal(parseCgroupParent('ci/builds'), 'ci/builds');
    assert.equal(parseCgroupParent('system.slice:ci:'), 'system.slice:ci:');
    assert.throws(() => parseCgroupParent('../../x'), usageError(/invalid --cgroup-parent/));
  });
});

describe('legacy boolean flags', () => {
  it('accepts pflag\'s --rm=false / --compress=true spellings, and nothing else changes', () => {
    assert.deepEqual(normalizeLegacyBoolFlags(['build', '--rm=false', '--force-rm=1', '--compress=TRUE', '--squash=f', '-t', 'a', '.']), ['build', '--force-rm', '--compress', '-t', 'a', '.']);
    assert.deepEqual(normalizeLegacyBoolFlags(['build', '--', '--rm=false']), ['build', '--', '--rm=false']);
    assert.deepEqual(normalizeLegacyBoolFlags(['build', '--label=--rm=x', '.']), ['build', '--label=--rm=x', '.']);
    assert.throws(() => normalizeLegacyBoolFlags(['build', '--rm=maybe']), usageError(/invalid argument "maybe" for "--rm" flag/));
  });
});
