/** Which addresses `ADD <url>` treats as the build host itself (refused without --allow network.host). */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { assertRemoteHost, isHostLocalAddress } from '../../src/ops/http-address.js';
import { StagecraftError } from '../../src/core/index.js';

describe('isHostLocalAddress', () => {
  it('loopback and unspecified addresses, in every spelling, are the host', () => {
    for (const address of ['127.0.0.1', '127.1.2.3', '0.0.0.0', '0.1.2.3', '::1', '0:0:0:0:0:0:0:1', '::', '[::1]', '::ffff:127.0.0.1', '::ffff:0.0.0.0', '::ffff:7f00:1', '::ffff:0:0', '0000:0000:0000:0000:0000:0000:0000:0001']) {
      assert.equal(isHostLocalAddress(address), true, address);
    }
  });
  it('other addresses are not', () => {
    for (const address of ['10.0.2.2', '192.168.1.1', '128.0.0.1', '169.254.169.254', '::2', 'fe80::1', '::ffff:10.0.0.1', '::ffff:a00:1', '2001:db8::1', 'localhost', '']) {
      assert.equal(isHostLocalAddress(address), false, address);
    }
  });
});

describe('assertRemoteHost', () => {
  it('refuses loopback literals and names that resolve to loopback, naming the URL and the fix', async () => {
    // The WHATWG URL parser normalizes 2130706433 and 0x7f.1 to 127.0.0.1 before the check sees them.
    for (const url of ['http://127.0.0.1:9/x', 'http://localhost:9/x', 'http://2130706433:9/x', 'http://0x7f.1:9/x', 'http://[::1]:9/x', 'http://[::ffff:127.0.0.1]:9/x', 'http://0.0.0.0:9/x']) {
      await assert.rejects(assertRemoteHost(new URL(url), url), (error: unknown) => error instanceof StagecraftError && error.code === 'USAGE' && error.message.includes(url) && /--allow network.host/u.test(error.hint ?? ''), url);
    }
  });
  it('lets other addresses through (resolution failures are left to fetch)', async () => {
    await assertRemoteHost(new URL('http://192.0.2.1/x'), 'x');
    await assertRemoteHost(new URL('http://no-such-host.invalid/x'), 'x');
  });
});
