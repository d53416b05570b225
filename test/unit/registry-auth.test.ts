import assert from 'node:assert/strict';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { isStagecraftError } from '../../src/core/index.js';
import { CredentialStore, credentialHost, parseChallenges, pickChallenge, redactText, redactUrl } from '../../src/registry/index.js';

describe('WWW-Authenticate parsing', () => {
  it('a Docker Hub bearer challenge', () => {
    const [c] = parseChallenges('Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull"');
    assert.deepEqual(c, { scheme: 'bearer', params: { realm: 'https://auth.docker.io/token', service: 'registry.docker.io', scope: 'repository:library/busybox:pull' } });
  });
  it('several challenges, quoted commas, escapes, spaces and case', () => {
    const challenges = parseChallenges('Basic realm="x, y", BEARER Realm = "r\\"q" ,  scope="repository:a:pull,push",error=insufficient_scope');
    assert.deepEqual(challenges, [
      { scheme: 'basic', params: { realm: 'x, y' } },
      { scheme: 'bearer', params: { realm: 'r"q', scope: 'repository:a:pull,push', error: 'insufficient_scope' } },
    ]);
    assert.equal(pickChallenge(challenges)?.scheme, 'bearer');
  });
  it('token68 and bare schemes', () => {
    assert.deepEqual(parseChallenges('Negotiate abc==, Basic'), [{ scheme: 'negotiate', params: {} }, { scheme: 'basic', params: {} }]);
    assert.deepEqual(parseChallenges(''), []);
    assert.equal(pickChallenge(parseChallenges('Bearer service="x"'))?.scheme, undefined, 'a bearer challenge without realm is unusable');
  });
});

describe('redaction', () => {
  it('URLs lose userinfo and query', () => {
    assert.equal(redactUrl('https://user:pw@example.com/v2/x/blobs/sha256:ab?X-Amz-Signature=abc'), 'https://example.com/v2/x/blobs/sha256:ab?…');
    assert.equal(redactUrl('http://127.0.0.1:5000/v2/'), 'http://127.0.0.1:5000/v2/');
  });
  it('free text loses credentials', () => {
    const text = redactText('GET https://bob:hunter2@r.io/v2/ failed; Authorization: Bearer eyJhbGciOiJSUzI1NiJ9.payload.sig; token=abcdef&x=1 password=hunter2');
    assert.doesNotMatch(text, /hunter2|eyJhbGci|abcdef/);
    assert.match(text, /https:\/\/r\.io\/v2\//);
  });
});

describe('CredentialStore', () => {
  let dir: string;
  let helpers: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'stagecraft-creds-'));
    helpers = join(dir, 'bin');
    await writeFile(join(dir, 'placeholder'), '');
    const { mkdir } = await import('node:fs/promises');
    await mkdir(helpers);
    // A fake credential helper speaking the docker-credential-helpers protocol.
    const script = join(helpers, 'docker-credential-test');
    await writeFile(script, `#!/bin/sh
[ "$1" = get ] || exit 2
read -r server
case "$server" in
  registry.example.com) printf '{"ServerURL":"%s","Username":"helper-user","Secret":"helper-secret"}' "$server" ;;
  https://index.docker.io/v1/) printf '{"ServerURL":"%s","Username":"hub-user","Secret":"hub-secret"}' "$server" ;;
  token.example.com) printf '{"ServerURL":"%s","Username":"<token>","Secret":"refresh"}' "$server" ;;
  broken.example.com) echo 'helper exploded' >&2; exit 3 ;;
  garbage.example.com) echo 'not json' ;;
  *) echo 'credentials not found in native keychain'; exit 1 ;;
esac
`);
    await chmod(script, 0o755);
  });
  after(async () => rm(dir, { recursive: true, force: true }));

  async function config(content: unknown): Promise<string> {
    const path = join(dir, `config-${Math.random().toString(36).slice(2)}.json`);
    await writeFile(path, typeof content === 'string' ? content : JSON.stringify(content));
    return path;
  }

  it('reads auths entries (base64 auth or username/password) under any key spelling', async () => {
    const store = new CredentialStore({
      dockerConfigPath: await config({
        auths: {
          'https://index.docker.io/v1/': { auth: Buffer.from('hub:pa:ss').toString('base64') },
          'http://localhost:5000': { username: 'u', password: 'p' },
          'quay.io': { auth: '' },
        },
      }),
    });
    assert.deepEqual(await store.get('docker.io'), { username: 'hub', password: 'pa:ss' });
    assert.deepEqual(await store.get('registry-1.docker.io'), { username: 'hub', password: 'pa:ss' });
    assert.deepEqual(await store.get('localhost:5000'), { username: 'u', password: 'p' });
    assert.equal(await store.get('quay.io'), undefined);
    assert.equal(await store.get('other.io'), undefined);
  });

  it('explicit credentials win over the file', async () => {
    const store = new CredentialStore({
      dockerConfigPath: await config({ auths: { 'r.io': { username: 'file', password: 'x' } } }),
      explicit: { 'r.io': { username: 'explicit', password: 'y' } },
    });
    assert.equal((await store.get('r.io'))?.username, 'explicit');
  });

  it('uses credHelpers per registry, then credsStore, then auths', async () => {
    const store = new CredentialStore({
      dockerConfigPath: await config({
        credsStore: 'test',
        credHelpers: { 'registry.example.com': 'test', 'missing-helper.io': 'absent' },
        auths: { 'fallback.io': { username: 'f', password: 'g' } },
      }),
      helperDirs: [join(dir, 'nowhere'), helpers],
    });
    assert.deepEqual(await store.get('registry.example.com'), { username: 'helper-user', password: 'helper-secret' });
    assert.deepEqual(await store.get('docker.io'), { username: 'hub-user', password: 'hub-secret' });
    assert.deepEqual(await store.get('fallback.io'), { username: 'f', password: 'g' }, 'not in the store: auths');
    assert.equal(await store.get('token.example.com'), undefined, 'identity tokens are not used as passwords');
    await assert.rejects(store.get('missing-helper.io'), (e: unknown) => isStagecraftError(e) && e.code === 'EXTERNAL_TOOL' && /docker-credential-absent/.test(e.message));
    await assert.rejects(store.get('broken.example.com'), (e: unknown) => isStagecraftError(e) && e.code === 'EXTERNAL_TOOL' && /exit 3.*helper exploded/.test(e.message));
    await assert.rejects(store.get('garbage.example.com'), (e: unknown) => isStagecraftError(e) && e.code === 'EXTERNAL_TOOL' && /invalid answer/.test(e.message));
  });

  it('a missing config file means no credentials; a broken one is a CONFIG error naming it', async () => {
    assert.equal(await new CredentialStore({ dockerConfigPath: join(dir, 'absent.json') }).get('r.io'), undefined);
    const bad = await config('{ not json');
    await assert.rejects(new CredentialStore({ dockerConfigPath: bad }).get('r.io'), (e: unknown) => isStagecraftError(e) && e.code === 'CONFIG' && e.message.includes(bad));
    const wrongType = await config({ auths: { 'r.io': { auth: 5 } } });
    await assert.rejects(new CredentialStore({ dockerConfigPath: wrongType }).get('r.io'), (e: unknown) => isStagecraftError(e) && e.code === 'CONFIG' && /auths\.r\.io\.auth/.test(e.message));
    const badAuth = await config({ auths: { 'r.io': { auth: Buffer.from('no-colon').toString('base64') } } });
    await assert.rejects(new CredentialStore({ dockerConfigPath: badAuth }).get('r.io'), (e: unknown) => isStagecraftError(e) && e.code === 'CONFIG' && !e.message.includes('no-colon'));
    // A syntax error quotes the text around it: neither the error nor its causes may carry the login.
    const login = Buffer.from('alice:open-sesame-42').toString('base64');
    const broken = await config(`auth:${login}`);
    await assert.rejects(new CredentialStore({ dockerConfigPath: broken }).get('r.io'), (e: unknown) => {
      for (let c: unknown = e; c instanceof Error; c = c.cause) assert.ok(!`${c.message} ${c.stack ?? ''}`.includes(login.slice(0, 5)), c.message);
      return isStagecraftError(e) && e.code === 'CONFIG';
    });
  });

  it('credentialHost normalizes config keys', () => {
    assert.equal(credentialHost('https://index.docker.io/v1/'), 'docker.io');
    assert.equal(credentialHost('http://localhost:5000/v2/'), 'localhost:5000');
    assert.equal(credentialHost('ghcr.io'), 'ghcr.io');
  });
});
