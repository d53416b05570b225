import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { isInsecureRegistry, loadConfig } from '../../src/config/index.js';
import { isStagecraftError } from '../../src/core/index.js';

describe('config: state root, docker config and config file', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'stagecraft-config-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('defaults the state root to /var/lib/stagecraft for root and XDG_DATA_HOME or ~/.local/share otherwise', () => {
    assert.equal(loadConfig({ env: { HOME: dir }, uid: 0 }).stateRoot, '/var/lib/stagecraft');
    assert.equal(loadConfig({ env: { HOME: '/home/u', XDG_DATA_HOME: join(dir, 'xdg') }, uid: 1000 }).stateRoot, join(dir, 'xdg', 'stagecraft'));
    assert.equal(loadConfig({ env: { HOME: join(dir, 'home') }, uid: 1000 }).stateRoot, join(dir, 'home', '.local/share/stagecraft'));
    assert.equal(loadConfig({ env: { XDG_DATA_HOME: 'relative' }, uid: 1000, homedir: join(dir, 'h') }).stateRoot, join(dir, 'h', '.local/share/stagecraft'), 'a relative XDG_DATA_HOME is ignored, as the spec says');
  });

  it('takes --root over $STAGECRAFT_ROOT over the default, resolved to an absolute path', () => {
    const env = { HOME: dir, STAGECRAFT_ROOT: join(dir, 'from-env') };
    assert.equal(loadConfig({ env, uid: 0 }).stateRoot, join(dir, 'from-env'));
    assert.equal(loadConfig({ env, flags: { root: join(dir, 'from-flag') }, uid: 0 }).stateRoot, join(dir, 'from-flag'));
    assert.equal(loadConfig({ env: { HOME: dir }, flags: { root: 'rel/root' }, uid: 0 }).stateRoot, join(process.cwd(), 'rel/root'));
  });

  it('finds the docker config in $DOCKER_CONFIG or ~/.docker', () => {
    assert.equal(loadConfig({ env: { HOME: '/home/u', STAGECRAFT_ROOT: dir } }).dockerConfigPath, '/home/u/.docker/config.json');
    assert.equal(loadConfig({ env: { HOME: '/home/u', DOCKER_CONFIG: '/etc/dc', STAGECRAFT_ROOT: dir } }).dockerConfigPath, '/etc/dc/config.json');
  });

  it('treats loopback registries as insecure by default, and adds those of the config file', async () => {
    const root = join(dir, 'with-file');
    await mkdir(root, { recursive: true });
    await writeFile(join(root, 'config.json'), JSON.stringify({ insecureRegistries: ['registry.lan:5000', 'plain.example'], registryMirrors: ['https://mirror.example/'] }));
    const config = loadConfig({ env: { HOME: dir, STAGECRAFT_ROOT: root } });
    assert.equal(config.configFile, join(root, 'config.json'));
    assert.deepEqual(config.registryMirrors, ['https://mirror.example']);
    assert.equal(isInsecureRegistry(config, 'localhost:5000'), true);
    assert.equal(isInsecureRegistry(config, '127.0.0.1:41234'), true);
    assert.equal(isInsecureRegistry(config, 'registry.lan:5000'), true);
    assert.equal(isInsecureRegistry(config, 'registry.lan:6000'), false, 'a listed port is exact');
    assert.equal(isInsecureRegistry(config, 'plain.example:8080'), true, 'a host without port covers every port');
    assert.equal(isInsecureRegistry(config, 'docker.io'), false);
    assert.ok(Object.isFrozen(config));
    const none = loadConfig({ env: { HOME: dir, STAGECRAFT_ROOT: join(dir, 'empty') } });
    assert.equal(none.configFile, undefined);
    assert.equal(isInsecureRegistry(none, 'registry.lan:5000'), false);
  });

  it('reads $STAGECRAFT_CONFIG and reports a bad file by name with the offending key', async () => {
    const file = join(dir, 'bad.json');
    await writeFile(file, JSON.stringify({ insecureRegistries: ['http://nope/'], colour: 'blue' }));
    assert.throws(
      () => loadConfig({ env: { HOME: dir, STAGECRAFT_ROOT: dir, STAGECRAFT_CONFIG: file } }),
      (error) => isStagecraftError(error) && error.code === 'CONFIG' && error.message.includes(file) && /insecureRegistries\.0/.test(error.message) && /colour/.test(error.message),
    );
    const broken = join(dir, 'broken.json');
    await writeFile(broken, '{ "insecureRegistries": [');
    assert.throws(() => loadConfig({ env: { HOME: dir, STAGECRAFT_ROOT: dir }, flags: { config: broken } }), (error) => isStagecraftError(error) && error.code === 'CONFIG' && error.message.includes(broken) && /not valid JSON/.test(error.message));
    assert.throws(() => loadConfig({ env: { HOME: dir, STAGECRAFT_ROOT: dir, STAGECRAFT_CONFIG: join(dir, 'absent.json') } }), (error) => isStagecraftError(error) && error.code === 'CONFIG' && /absent\.json/.test(error.message));
  });

  it('debugKeep: 5 by default, from the config file, STAGECRAFT_DEBUG_KEEP over it; a bad value names itself', async () => {
    const root = join(dir, 'debug-keep');
    await mkdir(root, { recursive: true });
    assert.equal(loadConfig({ env: { HOME: dir, STAGECRAFT_ROOT: root } }).debugKeep, 5);
    await writeFile(join(root, 'config.json'), JSON.stringify({ debugKeep: 2 }));
    assert.equal(loadConfig({ env: { HOME: dir, STAGECRAFT_ROOT: root } }).debugKeep, 2);
    assert.equal(loadConfig({ env: { HOME: dir, STAGECRAFT_ROOT: root, STAGECRAFT_DEBUG_KEEP: '0' } }).debugKeep, 0);
    assert.throws(() => loadConfig({ env: { HOME: dir, STAGECRAFT_ROOT: root, STAGECRAFT_DEBUG_KEEP: 'all' } }), (error: unknown) => isStagecraftError(error) && error.code === 'CONFIG' && /STAGECRAFT_DEBUG_KEEP="all"/.test(error.message));
    await writeFile(join(root, 'config.json'), JSON.stringify({ debugKeep: -1 }));
    assert.throws(() => loadConfig({ env: { HOME: dir, STAGECRAFT_ROOT: root } }), (error: unknown) => isStagecraftError(error) && /debugKeep/.test(error.message));
  });
});

describe('config: build settings from the config file', () => {
  it('reads maxParallelism and keepStorage, and rejects bad values naming the file', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'stagecraft-config-build-'));
    try {
      const file = join(dir, 'config.json');
      await writeFile(file, JSON.stringify({ maxParallelism: 6, keepStorage: 1_000_000 }));
      const config = loadConfig({ env: { STAGECRAFT_ROOT: dir, STAGECRAFT_CONFIG: file }, uid: 1000, homedir: dir });
      assert.equal(config.maxParallelism, 6);
      assert.equal(config.keepStorage, 1_000_000);
      await writeFile(file, JSON.stringify({ maxParallelism: 0 }));
      assert.throws(() => loadConfig({ env: { STAGECRAFT_ROOT: dir, STAGECRAFT_CONFIG: file }, uid: 1000, homedir: dir }), (e: unknown) => isStagecraftError(e) && e.code === 'CONFIG' && e.message.includes(file));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('reads registryResponseTimeout in seconds (undefined: the client default), and rejects zero', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'stagecraft-config-timeout-'));
    try {
      const file = join(dir, 'config.json');
      assert.equal(loadConfig({ env: { STAGECRAFT_ROOT: dir }, uid: 1000, homedir: dir }).registryResponseTimeoutMs, undefined);
      await writeFile(file, JSON.stringify({ registryResponseTimeout: 2.5 }));
      assert.equal(loadConfig({ env: { STAGECRAFT_ROOT: dir, STAGECRAFT_CONFIG: file }, uid: 1000, homedir: dir }).registryResponseTimeoutMs, 2500);
      await writeFile(file, JSON.stringify({ registryResponseTimeout: 0 }));
      assert.throws(
        () => loadConfig({ env: { STAGECRAFT_ROOT: dir, STAGECRAFT_CONFIG: file }, uid: 1000, homedir: dir }),
        (e: unknown) => isStagecraftError(e) && e.code === 'CONFIG' && e.message.includes('registryResponseTimeout'),
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
