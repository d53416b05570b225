import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { StagecraftError } from '../../src/core/index.js';
import { keyValueFields, parseKeyValueFlag, parseKeyValueFlagLast, splitFlagFields } from '../../src/util/csv-flags.js';

const usageError = (pattern: RegExp) => (e: unknown): boolean => e instanceof StagecraftError && e.code === 'USAGE' && pattern.test(e.message);

describe('splitFlagFields: one line of CSV as Go encoding/csv reads it (buildx)', () => {
  it('splits at commas and keeps spaces', () => {
    assert.deepEqual(splitFlagFields('a=1,b=2'), ['a=1', 'b=2']);
    assert.deepEqual(splitFlagFields(' a = 1 ,b'), [' a = 1 ', 'b']);
    assert.deepEqual(splitFlagFields('a,,b,'), ['a', '', 'b', '']);
    assert.deepEqual(splitFlagFields(''), []);
  });

  it('a field that starts with a quote is quoted: commas kept, "" is a quote', () => {
    assert.deepEqual(splitFlagFields('type=local,"dest=/a,b"'), ['type=local', 'dest=/a,b']);
    assert.deepEqual(splitFlagFields('"x=say ""hi"", then go",y=2'), ['x=say "hi", then go', 'y=2']);
    assert.deepEqual(splitFlagFields('"",a'), ['', 'a']);
    assert.deepEqual(splitFlagFields('"a",'), ['a', '']);
    assert.deepEqual(splitFlagFields('"a\nb"'), ['a\nb']);
  });

  it('drops one trailing newline', () => {
    assert.deepEqual(splitFlagFields('a=1\n'), ['a=1']);
    assert.deepEqual(splitFlagFields('a=1\r\n'), ['a=1']);
  });

  it('refuses malformed quoting, naming the flag and the column', () => {
    assert.throws(() => splitFlagFields('dest="/a,b"', '--output'), usageError(/^--output "dest=\"\/a,b\"": a quote inside an unquoted field \(column 6\)/));
    assert.throws(() => splitFlagFields('a,"b', '--secret'), usageError(/^--secret .*a quoted field is not closed \(column 3\)/));
    assert.throws(() => splitFlagFields('"a"b', '--cache-to'), usageError(/^--cache-to .*text after the closing quote of a field \(column 3\)/));
    assert.throws(() => splitFlagFields('"a""', '--x'), usageError(/not closed/));
  });
});

describe('key=value fields', () => {
  it('splits at the first =, lower-cases and trims keys, keeps values', () => {
    assert.deepEqual(keyValueFields('Type=local, DEST =a=b', '-o'), [{ key: 'type', value: 'local' }, { key: 'dest', value: 'a=b' }]);
    assert.deepEqual([...parseKeyValueFlag('name=a,name=b,x=', '-o')], [['name', ['a', 'b']], ['x', ['']]]);
    assert.deepEqual([...parseKeyValueFlagLast('name=a,name=b', '-o')], [['name', 'b']]);
  });

  it('a field without = is an error naming the flag', () => {
    assert.throws(() => keyValueFields('type=local,push', '--output'), usageError(/^--output "type=local,push": "push" is not key=value/));
  });
});
