/**
 * USER resolution against fixture /etc/passwd and /etc/group files (runc's GetExecUser rules, which
 * BuildKit and Docker use).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { isStagecraftError } from '../../src/core/index.js';
import { parseGroup, parsePasswd, resolveUser, type UserFiles } from '../../src/executor/index.js';

const files: UserFiles = {
  passwd: readFileSync(new URL('../fixtures/executor/passwd', import.meta.url), 'utf8'),
  group: readFileSync(new URL('../fixtures/executor/group', import.meta.url), 'utf8'),
};

function rejects(spec: string, pattern: RegExp, from: UserFiles = files): void {
  assert.throws(() => resolveUser(spec, from), (error: unknown) => {
    assert.ok(isStagecraftError(error));
    assert.equal(error.code, 'USER_NOT_FOUND');
    assert.match(error.message, pattern);
    assert.ok(error.hint !== undefined && error.hint.length > 0);
    return true;
  });
}

describe('parsePasswd / parseGroup', () => {
  it('skips comments, blank and malformed lines', () => {
    const users = parsePasswd(files.passwd ?? '');
    assert.deepEqual(users.map((u) => u.name), ['root', 'daemon', 'www-data', 'app', 'nohome', 'nobody']);
    assert.deepEqual(users.find((u) => u.name === 'app'), { name: 'app', uid: 1000, gid: 1000, home: '/home/app', shell: '/bin/sh' });
  });

  it('reads group members, trimming spaces', () => {
    const groups = parseGroup(files.group ?? '');
    assert.deepEqual(groups.find((g) => g.name === 'docker'), { name: 'docker', gid: 999, members: ['app', 'other'] });
    assert.deepEqual(groups.find((g) => g.name === 'root')?.members, []);
  });
});

describe('resolveUser', () => {
  it('empty USER is root with its passwd home', () => {
    assert.deepEqual(resolveUser('', files), { uid: 0, gid: 0, additionalGids: [], home: '/root' });
  });

  it('a name gives the passwd uid, gid, home and the groups listing the user (deduplicated, in file order)', () => {
    assert.deepEqual(resolveUser('app', files), { uid: 1000, gid: 1000, additionalGids: [4, 100, 999], home: '/home/app' });
    assert.deepEqual(resolveUser('www-data', files), { uid: 33, gid: 33, additionalGids: [100], home: '/var/www' });
  });

  it('a numeric uid in passwd behaves like its name', () => {
    assert.deepEqual(resolveUser('1000', files), resolveUser('app', files));
  });

  it('a numeric uid not in passwd is fine: gid 0, home /', () => {
    assert.deepEqual(resolveUser('4242', files), { uid: 4242, gid: 0, additionalGids: [], home: '/' });
  });

  it('uid:gid needs no lookup and has no supplementary groups; home still comes from passwd', () => {
    assert.deepEqual(resolveUser('1000:5', files), { uid: 1000, gid: 5, additionalGids: [], home: '/home/app' });
    assert.deepEqual(resolveUser('7:8', { passwd: undefined, group: undefined }), { uid: 7, gid: 8, additionalGids: [], home: '/' });
  });

  it('name:group uses the group, by name or gid, and drops supplementary groups', () => {
    assert.deepEqual(resolveUser('app:docker', files), { uid: 1000, gid: 999, additionalGids: [], home: '/home/app' });
    assert.deepEqual(resolveUser('app:100', files), { uid: 1000, gid: 100, additionalGids: [], home: '/home/app' });
    assert.deepEqual(resolveUser('app:4343', files), { uid: 1000, gid: 4343, additionalGids: [], home: '/home/app' });
    assert.deepEqual(resolveUser('4242:adm', files), { uid: 4242, gid: 4, additionalGids: [], home: '/' });
  });

  it('an empty home field falls back to /', () => {
    assert.equal(resolveUser('nohome', files).home, '/');
  });

  it('an unknown user name is an error naming the user, with a hint', () => {
    rejects('ghost', /unable to find user ghost/);
    rejects('ghost:app', /unable to find user ghost/);
  });

  it('an unknown group name is an error', () => {
    rejects('app:ghosts', /unable to find group ghosts/);
  });

  it('a name with no /etc/passwd at all is an error; numeric ids still work', () => {
    rejects('app', /unable to find user app/, { passwd: undefined, group: undefined });
    assert.deepEqual(resolveUser('1000', { passwd: undefined, group: undefined }), { uid: 1000, gid: 0, additionalGids: [], home: '/' });
  });

  it('ids beyond 2^31-1 are rejected', () => {
    rejects('4294967296', /out of range/);
    rejects('1:2147483648', /out of range/);
  });

  it('a malformed passwd line is not matched by its name', () => {
    rejects('broken', /unable to find user broken/);
  });
});
