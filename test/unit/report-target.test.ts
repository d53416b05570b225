import assert from 'node:assert/strict';
import { it } from 'node:test';
import { StagecraftError } from '../../src/core/index.js';
import { reportTarget } from '../../src/cli/report.js';
import { parseListen, parseTraceUrl } from '../../src/cli/commands/serve.js';
import { checkToken } from '../../src/server/index.js';

const usage = (fn: () => unknown, pattern: RegExp): void => assert.throws(fn, (e: unknown) => e instanceof StagecraftError && e.code === 'USAGE' && pattern.test(e.message));

it('--report-to / $STAGECRAFT_REPORT_URL: an http(s) base URL without credentials, checked before the build', () => {
  assert.equal(reportTarget(undefined, {}), undefined);
  assert.deepEqual(reportTarget('http://builds.internal:8080/', { STAGECRAFT_REPORT_TOKEN: ' tok \n' }), { url: 'http://builds.internal:8080', token: 'tok' });
  assert.deepEqual(reportTarget(undefined, { STAGECRAFT_REPORT_URL: 'https://x.example/stagecraft' }), { url: 'https://x.example/stagecraft', token: undefined });
  assert.equal(reportTarget('http://flag.example', { STAGECRAFT_REPORT_URL: 'http://env.example' })?.url, 'http://flag.example', 'the flag wins');
  usage(() => reportTarget('not a url', {}), /--report-to "not a url" is not a URL/);
  usage(() => reportTarget('ftp://x.example', {}), /http or https/);
  usage(() => reportTarget('http://user:secret@x.example', {}), /must not carry credentials/);
  usage(() => reportTarget(undefined, { STAGECRAFT_REPORT_URL: 'http://x.example/?a=1' }), /\$STAGECRAFT_REPORT_URL must be the server's base URL/);
});

it('serve --listen and the token are checked before the server starts', () => {
  assert.deepEqual(parseListen('127.0.0.1:8080'), { host: '127.0.0.1', port: 8080 });
  assert.deepEqual(parseListen('[::1]:0'), { host: '::1', port: 0 });
  usage(() => parseListen('8080'), /invalid --listen/);
  usage(() => parseListen('host:99999'), /invalid --listen/);
  assert.equal(parseTraceUrl('http://jaeger:16686/trace/{traceId}'), 'http://jaeger:16686/trace/{traceId}');
  usage(() => parseTraceUrl('http://jaeger:16686/search'), /invalid --trace-url/);
  usage(() => parseTraceUrl('javascript:alert({traceId})'), /invalid --trace-url/);
  usage(() => parseTraceUrl('not a url {traceId}'), /invalid --trace-url/);
  assert.equal(checkToken('0123456789abcdef\n', 'f'), '0123456789abcdef');
  assert.throws(() => checkToken('short', 'f'), (e: unknown) => e instanceof StagecraftError && e.code === 'CONFIG');
  assert.throws(() => checkToken('has a space in it, long enough', 'f'), (e: unknown) => e instanceof StagecraftError && e.code === 'CONFIG');
});
