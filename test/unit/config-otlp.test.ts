/** The OTLP traces endpoint from the environment (OpenTelemetry's exporter variables), checked in config/. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { loadConfig } from '../../src/config/index.js';

const load = (env: Record<string, string>) => loadConfig({ env: { STAGECRAFT_ROOT: '/tmp/stagecraft-config-otlp', ...env }, flags: {} });

describe('config: OTLP traces endpoint', () => {
  it('takes the traces endpoint as given, else the base endpoint + /v1/traces; none without one or when disabled', () => {
    assert.equal(load({}).otlpTracesEndpoint, undefined);
    assert.equal(load({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318/' }).otlpTracesEndpoint, 'http://collector:4318/v1/traces');
    assert.equal(load({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318', OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'https://traces.example/otlp' }).otlpTracesEndpoint, 'https://traces.example/otlp');
    assert.equal(load({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318', OTEL_TRACES_EXPORTER: 'none' }).otlpTracesEndpoint, undefined);
    assert.equal(load({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318', OTEL_SDK_DISABLED: 'true' }).otlpTracesEndpoint, undefined);
  });

  it('a malformed endpoint or a non-HTTP one is a CONFIG error naming the variable', () => {
    assert.throws(() => load({ OTEL_EXPORTER_OTLP_ENDPOINT: 'not a url' }), (e: unknown) => e instanceof Error && 'code' in e && e.code === 'CONFIG' && /OTEL_EXPORTER_OTLP_ENDPOINT="not a url" is not a URL/.test(e.message));
    assert.throws(() => load({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'grpc://collector:4317' }), /OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: traces are exported over OTLP\/HTTP, not grpc/);
  });
});
