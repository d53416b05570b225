import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FlagError, parseFlags, parseMount, parseRamBytes, splitCsv, parseGoDuration } from '../../../src/dockerfile/instructions/index.js';

describe('instruction flags (BuildKit BFlags rules)', () => {
  const spec = { from: 'string', link: 'bool', exclude: 'strings' } as const;

  it('parses string, bool and repeated list flags', () => {
    const v = parseFlags(['--from=build', '--link', '--exclude=*.md', '--exclude=tmp'], spec);
    assert.equal(v.from, 'build');
    assert.equal(v.link, true);
    assert.deepEqual(v.exclude, ['*.md', 'tmp']);
  });

  it('accepts --flag=true/false for booleans, case-insensitively', () => {
    assert.equal(parseFlags(['--link=FALSE'], spec).link, false);
    assert.equal(parseFlags(['--link=True'], spec).link, true);
    assert.throws(() => parseFlags(['--link=yes'], spec), /expecting boolean value for flag --link, not: yes/);
    assert.throws(() => parseFlags(['--link='], spec), /missing a value on flag: --link/);
  });

  it('stops at --', () => {
    assert.equal(parseFlags(['--', '--from=x'], spec).from, undefined);
  });

  it('rejects unknown flags with a suggestion, duplicates and values missing', () => {
    assert.throws(() => parseFlags(['--form=x'], spec), (e: unknown) => e instanceof FlagError && /unknown flag: --form/.test(e.message) && e.hint === 'did you mean --from?');
    assert.throws(() => parseFlags(['--from=a', '--from=b'], spec), /duplicate flag specified: --from/);
    assert.throws(() => parseFlags(['--from'], spec), /missing a value on flag: --from/);
    assert.throws(() => parseFlags(['-from=x'], spec), /arg should start with -- : -from=x/);
  });
});

describe('RUN --mount values', () => {
  it('defaults to a read-only bind mount', () => {
    const m = parseMount('target=/src', (w) => w);
    assert.equal(m.type, 'bind');
    assert.equal(m.readonly, true);
    assert.equal(m.target, '/src');
  });

  it('parses cache mounts with id, sharing, uid/gid and octal mode; cache is writable by default', () => {
    const m = parseMount('type=cache,id=go,target=/root/.cache,sharing=locked,uid=1000,gid=1000,mode=0700', (w) => w);
    assert.deepEqual([m.type, m.id, m.sharing, m.uid, m.gid, m.mode, m.readonly], ['cache', 'go', 'locked', 1000, 1000, 0o700, false]);
  });

  it('accepts the key aliases src/source, dst/destination, ro/readonly, rw/readwrite', () => {
    assert.equal(parseMount('type=bind,src=/a,dst=/b,rw', (w) => w).readonly, false);
    assert.equal(parseMount('type=bind,source=/a,destination=/b,readwrite=true', (w) => w).source, '/a');
    assert.equal(parseMount('type=cache,target=/c,ro', (w) => w).readonly, true);
    assert.equal(parseMount('type=cache,target=/c,readonly=false', (w) => w).readonly, false);
  });

  it('parses secret and ssh mounts with required, env and file info', () => {
    const s = parseMount('type=secret,id=tok,env=TOKEN,required', (w) => w);
    assert.deepEqual([s.type, s.id, s.env, s.required, s.readonly], ['secret', 'tok', 'TOKEN', true, true]);
    const ssh = parseMount('type=ssh,id=gh,required=true,mode=0600', (w) => w);
    assert.deepEqual([ssh.type, ssh.id, ssh.required, ssh.mode], ['ssh', 'gh', true, 0o600]);
  });

  it('parses tmpfs size with Docker units', () => {
    assert.equal(parseMount('type=tmpfs,target=/t,size=64m', (w) => w).size, 64 * 1024 * 1024);
    assert.equal(parseRamBytes('1g'), 1024 ** 3);
    assert.equal(parseRamBytes('512kb'), 512 * 1024);
    assert.equal(parseRamBytes('10'), 10);
    assert.equal(parseRamBytes('ten'), undefined);
  });

  it('rejects BuildKit\'s invalid combinations', () => {
    const e = (v: string): void => { parseMount(v, (w) => w); };
    assert.throws(() => e('type=nfs,target=/x'), /unsupported mount type "nfs"/);
    assert.throws(() => e('type=cach,target=/x'), (err: unknown) => err instanceof FlagError && err.hint === 'did you mean type=cache?');
    assert.throws(() => e('type=cache,target=/x,sharing=all'), /unsupported sharing value "all"/);
    assert.throws(() => e('type=bind,target=/x,mode=0755'), /mode not allowed for "bind" type mounts/);
    assert.throws(() => e('type=tmpfs,target=/x,uid=1'), /uid not allowed for "tmpfs" type mounts/);
    assert.throws(() => e('type=bind,target=/x,required'), /unexpected key 'required' for mount type 'bind'/);
    assert.throws(() => e('type=bind,target=/x,size=1m'), /unexpected key 'size' for mount type 'bind'/);
    assert.throws(() => e('type=secret,from=build,id=x'), /secret mount should not have a from/);
    assert.throws(() => e('type=secret,id=a,source=b'), /both source and id can't be set/);
    assert.throws(() => e('type=secret,required'), /one of source, target required/);
    assert.throws(() => e('type=bind,target=/x,sharing=shared'), /invalid cache sharing set for bind mount/);
    assert.throws(() => e('type=cache,target=/x,mode=999'), /invalid value 999 for mode/);
    assert.throws(() => e('type=cache,target=/x,uid=-1'), /invalid value -1 for uid/);
    assert.throws(() => e('type=bind,target=/x,bogus=1'), /unexpected key 'bogus'/);
    assert.throws(() => e('type=bind,target=/x,nokey'), /invalid field 'nokey' must be a key=value pair/);
    assert.throws(() => e('type=bind,from=$STAGE,target=/x'), /'from' doesn't support variable expansion/);
  });

  it('defers fields holding variables until expansion, but still checks the key', () => {
    const m = parseMount('type=cache,target=$DIR,id=${ID}');
    assert.equal(m.type, 'cache');
    assert.equal(m.target, undefined);
    assert.throws(() => parseMount('type=cache,tgt=$DIR'), /unexpected key 'tgt'/);
    const expanded = parseMount('type=cache,target=$DIR', (w) => w.replace('$DIR', '/cache'));
    assert.equal(expanded.target, '/cache');
  });

  it('splits CSV with quoted fields', () => {
    assert.deepEqual(splitCsv('type=bind,"source=a,b",target=/x'), ['type=bind', 'source=a,b', 'target=/x']);
    assert.deepEqual(splitCsv('"a""b",c'), ['a"b', 'c']);
    assert.throws(() => splitCsv('"open'), /unterminated quote/);
  });
});

describe('Go durations (HEALTHCHECK)', () => {
  it('parses Go duration strings to nanoseconds', () => {
    assert.equal(parseGoDuration('5s'), 5e9);
    assert.equal(parseGoDuration('1m30s'), 90e9);
    assert.equal(parseGoDuration('1.5h'), 5400e9);
    assert.equal(parseGoDuration('300ms'), 300e6);
    assert.equal(parseGoDuration('2us'), 2000);
    assert.equal(parseGoDuration('0'), 0);
    assert.equal(parseGoDuration('5'), undefined);
    assert.equal(parseGoDuration('abc'), undefined);
  });
});
