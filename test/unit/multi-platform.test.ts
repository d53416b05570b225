import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { formatPlatform, hostPlatform, isStagecraftError, parsePlatform, parsePlatformList } from '../../src/core/index.js';
import { checkEmulation } from '../../src/executor/index.js';
import { resolveExporters, parseOutputSpec } from '../../src/exporter/index.js';

describe('--platform lists', () => {
  it('reads a comma list and the repeated flag, in order, normalised as containerd, each platform once', () => {
    const list = (...values: string[]): string[] => parsePlatformList(values, '--platform').map(formatPlatform);
    assert.deepEqual(list('linux/amd64,linux/arm64'), ['linux/amd64', 'linux/arm64']);
    assert.deepEqual(list('linux/arm64', 'linux/amd64'), ['linux/arm64', 'linux/amd64']);
    assert.deepEqual(list('linux/amd64,linux/arm64', 'linux/riscv64'), ['linux/amd64', 'linux/arm64', 'linux/riscv64']);
    // arm64's v8 is its baseline: linux/arm64/v8, linux/aarch64 and linux/arm64 are one platform.
    assert.deepEqual(list('linux/arm64/v8,linux/aarch64', 'linux/arm64'), ['linux/arm64']);
    assert.deepEqual(list('linux/x86_64,linux/amd64/v1'), ['linux/amd64']);
    assert.deepEqual(list('linux/arm64/v9'), ['linux/arm64/v9']);
    assert.deepEqual(list('linux/arm,linux/armhf'), ['linux/arm/v7'], 'bare arm is arm/v7, armhf too');
    assert.deepEqual(list('linux/armel,linux/arm/6'), ['linux/arm/v6']);
    assert.deepEqual(list(' linux/amd64 , linux/arm64 '), ['linux/amd64', 'linux/arm64']);
    assert.deepEqual(list(), []);
  });

  it('refuses an empty item or a malformed platform, naming the flag', () => {
    for (const bad of ['linux/amd64,', ',linux/amd64', 'linux/amd64,,linux/arm64']) {
      assert.throws(() => parsePlatformList([bad], '--platform'), (e: unknown) => isStagecraftError(e) && e.code === 'USAGE' && e.message.includes('an empty platform in the list') && e.hint !== undefined);
    }
    assert.throws(() => parsePlatformList(['linux/amd64,linux'], '--platform'), (e: unknown) => isStagecraftError(e) && e.message === 'invalid --platform "linux"');
  });

  it('outputs that hold one platform, and --cache-to, are refused for several platforms before the build', () => {
    const resolve = (output: string, platforms: number): unknown => resolveExporters({ outputs: [parseOutputSpec(output)], tags: [], push: false, platforms });
    for (const output of ['type=local,dest=out', 'type=tar,dest=x.tar', 'type=docker,dest=x.tar', 'type=docker']) {
      assert.throws(() => resolve(output, 2), (e: unknown) => isStagecraftError(e) && e.code === 'USAGE' && e.hint !== undefined, output);
      assert.doesNotThrow(() => resolve(output, 1), output);
    }
    assert.doesNotThrow(() => resolve('type=oci,dest=x.tar', 2));
    assert.doesNotThrow(() => resolve('type=image,name=example.com/a:b,push=true', 2));
    assert.throws(() => resolveExporters({ outputs: [], tags: [], push: false, platforms: 2, cacheTo: [{ location: { type: 'inline' }, mode: 'min', ignoreError: false }] }), (e: unknown) => isStagecraftError(e) && /--cache-to/.test(e.message));
  });
});

describe('QEMU emulation check (binfmt_misc)', () => {
  let dir: string;
  const amd64 = hostPlatform('x64');
  const arm64 = parsePlatform('linux/arm64');
  // Debian qemu-user-static's aarch64 handler, as the kernel shows it.
  const aarch64Handler = (flags: string, state = 'enabled'): string => [
    state,
    'interpreter /usr/libexec/qemu-binfmt/aarch64-binfmt-P',
    `flags: ${flags}`,
    'offset 0',
    'magic 7f454c460201010000000000000000000200b700',
    'mask ffffffffffffff00fffffffffffffffffeffffff',
    '',
  ].join('\n');
  const riscvHandler = ['enabled', 'interpreter /usr/libexec/qemu-binfmt/riscv64-binfmt-P', 'flags: PF', 'offset 0', 'magic 7f454c460201010000000000000000000200f300', 'mask ffffffffffffff00fffffffffffffffffeffffff', ''].join('\n');
  let n = 0;
  const binfmt = async (files: Record<string, string>): Promise<string> => {
    const d = join(dir, `binfmt-${++n}`);
    await mkdir(d);
    for (const [name, text] of Object.entries(files)) await writeFile(join(d, name), text);
    return d;
  };
  const fails = async (platforms: readonly ReturnType<typeof parsePlatform>[], binfmtDir: string, message: RegExp, hint: RegExp): Promise<void> => {
    await assert.rejects(checkEmulation(platforms, { host: amd64, binfmtDir }), (e: unknown) => {
      assert.ok(isStagecraftError(e), String(e));
      assert.equal(e.code, 'EXTERNAL_TOOL');
      assert.match(e.message, message);
      assert.match(e.hint ?? '', hint);
      return true;
    });
  };

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'stagecraft-binfmt-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('needs nothing for this machine\'s platforms (386 runs natively on amd64)', async () => {
    await checkEmulation([amd64, parsePlatform('linux/386'), parsePlatform('linux/amd64/v3')], { host: amd64, binfmtDir: join(dir, 'absent') });
  });

  it('passes with Debian\'s aarch64 handler (flags PF)', async () => {
    await checkEmulation([amd64, arm64], { host: amd64, binfmtDir: await binfmt({ status: 'enabled\n', register: '', 'qemu-aarch64': aarch64Handler('PF') }) });
    await checkEmulation([parsePlatform('linux/arm64/v8')], { host: amd64, binfmtDir: await binfmt({ status: 'enabled\n', register: '', 'qemu-aarch64': aarch64Handler('F') }) });
  });

  it('binfmt_misc not mounted: names the platform and what to install, mount and enable', async () => {
    await fails([amd64, arm64], join(dir, 'absent'), /RUN steps for linux\/arm64 need QEMU emulation, but binfmt_misc is not mounted/, /apt-get install qemu-user-static binfmt-support.*mount -t binfmt_misc.*update-binfmts --enable qemu-aarch64/);
  });

  it('no handler for the architecture: names the platform and the packages', async () => {
    const d = await binfmt({ status: 'enabled\n', register: '', 'qemu-riscv64': riscvHandler });
    await fails([arm64], d, /RUN steps for linux\/arm64 need QEMU emulation, and no binfmt_misc handler runs arm64 programs/, /^as root: apt-get install qemu-user-static binfmt-support; update-binfmts --enable qemu-aarch64/);
    await checkEmulation([parsePlatform('linux/riscv64')], { host: amd64, binfmtDir: d });
    await fails([parsePlatform('linux/s390x')], d, /linux\/s390x/, /qemu-s390x/);
  });

  it('a handler without the F flag, a disabled handler, binfmt_misc disabled, an unknown architecture', async () => {
    await fails([arm64], await binfmt({ status: 'enabled\n', 'qemu-aarch64': aarch64Handler('P') }), /qemu-aarch64 .* lacks the F \(fix-binary\) flag/, /qemu-user-static/);
    await fails([arm64], await binfmt({ status: 'enabled\n', 'qemu-aarch64': aarch64Handler('PF', 'disabled') }), /handler qemu-aarch64 is registered but disabled/, /update-binfmts --enable qemu-aarch64/);
    await fails([arm64], await binfmt({ status: 'disabled\n', 'qemu-aarch64': aarch64Handler('PF') }), /binfmt_misc is disabled/, /echo 1 >/);
    await fails([parsePlatform('linux/sparc64')], await binfmt({ status: 'enabled\n' }), /knows no QEMU emulator for the architecture sparc64/, /known architectures/);
  });
});
