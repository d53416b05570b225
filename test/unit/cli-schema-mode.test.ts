import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { z } from 'zod';
import { buildProgram, type CliIo } from '../../src/cli/main.js';

const io: CliIo = { stdout: () => undefined, stderr: () => undefined };

// One process per test file: zod's configuration is process-wide, so the order below matters.
describe('zod parses without generated code in a short-lived command', () => {
  it('version and serve leave zod compiling its parsers; build and the others turn it off', async () => {
    await buildProgram(io, ['version']);
    assert.notEqual(z.config().jitless, true, 'version loads no schema module');
    await buildProgram(io, ['serve', '--listen', '127.0.0.1:0']);
    assert.notEqual(z.config().jitless, true, 'the server keeps the compiled parsers');
    await buildProgram(io, ['--root', '/r', 'build', '.']);
    assert.equal(z.config().jitless, true);
  });

  it('an object schema made after it parses as before, and rejects the same input', () => {
    const schema = z.object({ a: z.string(), b: z.number().int().optional() });
    assert.deepEqual(schema.parse({ a: 'x', b: 1, c: true }), { a: 'x', b: 1 });
    assert.equal(schema.safeParse({ a: 1 }).success, false);
  });
});
