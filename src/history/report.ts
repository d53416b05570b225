/**
 * Posts queued build records to a `stagecraft serve` (`build --report-to URL`, `history push`).
 * Delivery is at least once (a record leaves the outbox only after the server answered 2xx) and the
 * server stores by build id, so nothing is lost and nothing is counted twice. A build never waits
 * long for it: each request has a short timeout and the first failure that says "the server is not
 * there" ends the round; what is left stays queued for the next build or `history push`.
 */
import { toRecordBundle } from './bundle.js';
import type { Outbox } from './outbox.js';
import type { HistoryStore } from './store.js';

export interface PushRecordsOptions {
  /** The server's base URL (`http://host:port`); records go to `<url>/api/records`. */
  readonly url: string;
  readonly token?: string | undefined;
  /** Per request (default 2000 ms). */
  readonly timeoutMs?: number | undefined;
  /** Extra attempts of a request that failed transiently, with backoff 250 ms, 1 s, 4 s, … (default 0). */
  readonly retries?: number | undefined;
  /** Try entries still in their backoff too (`history push`); a build tries them once the server answered. */
  readonly all?: boolean | undefined;
  /** At most this many records in this round (default all). */
  readonly limit?: number | undefined;
  readonly signal?: AbortSignal | undefined;
  /** For tests. */
  readonly sleep?: ((ms: number) => Promise<void>) | undefined;
}

export interface PushRecordsResult {
  readonly delivered: readonly string[];
  readonly failed: readonly { readonly buildId: string; readonly error: string }[];
  /** Entries for this URL still queued afterwards. */
  readonly pending: number;
}

type Attempt = { readonly ok: true } | { readonly ok: false; readonly error: string; readonly transient: boolean; readonly stop: boolean };

/** The URL records are posted to; `url` without userinfo (checked by the caller) and without a trailing slash. */
export function recordsEndpoint(url: string): string {
  return `${url.replace(/\/+$/, '')}/api/records`;
}

export async function pushRecords(store: HistoryStore, outbox: Outbox, options: PushRecordsOptions): Promise<PushRecordsResult> {
  const delivered: string[] = [];
  const failed: { buildId: string; error: string }[] = [];
  const limit = options.limit ?? Number.POSITIVE_INFINITY;
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  let all = options.all === true;
  const tried = new Set<string>();
  round: for (;;) {
    const entries = outbox.entries(options.url, all ? { dueBy: Number.POSITIVE_INFINITY } : {}).filter((e) => !tried.has(e.buildId));
    if (entries.length === 0) break;
    for (const entry of entries) {
      if (tried.size >= limit || options.signal?.aborted === true) break round;
      tried.add(entry.buildId);
      const bundle = store.bundle(entry.buildId);
      if (bundle === undefined) {
        // Removed from the history since (`history rm`): nothing to send.
        outbox.delivered(entry.buildId, options.url);
        continue;
      }
      const body = JSON.stringify(toRecordBundle(bundle));
      let attempt = await post(body, options);
      for (let retry = 0; !attempt.ok && attempt.transient && retry < (options.retries ?? 0); retry++) {
        await sleep(250 * 4 ** retry);
        attempt = await post(body, options);
      }
      if (attempt.ok) {
        outbox.delivered(entry.buildId, options.url);
        delivered.push(entry.buildId);
        continue;
      }
      outbox.failed(entry.buildId, options.url, attempt.error);
      failed.push({ buildId: entry.buildId, error: attempt.error });
      if (attempt.stop) break round;
    }
    // The server answered: the entries waiting out their backoff can go now too.
    if (all || delivered.length === 0) break;
    all = true;
  }
  return { delivered, failed, pending: outbox.entries(options.url, { dueBy: Number.POSITIVE_INFINITY }).length };
}

async function post(body: string, options: PushRecordsOptions): Promise<Attempt> {
  const timeout = AbortSignal.timeout(options.timeoutMs ?? 2000);
  const signal = options.signal === undefined ? timeout : AbortSignal.any([options.signal, timeout]);
  let response: Response;
  try {
    response = await fetch(recordsEndpoint(options.url), {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(options.token === undefined ? {} : { authorization: `Bearer ${options.token}` }) },
      body,
      signal,
      redirect: 'error',
    });
  } catch (error) {
    const reason = timeout.aborted ? `no answer within ${options.timeoutMs ?? 2000} ms` : causeOf(error);
    return { ok: false, error: reason, transient: true, stop: true };
  }
  // The reply's text is the server's own message (bounded); never echo the request.
  const text = (await response.text().catch(() => '')).slice(0, 300);
  if (response.ok) return { ok: true };
  const error = `HTTP ${response.status}${text === '' ? '' : `: ${text}`}`;
  const transient = response.status >= 500 || response.status === 429 || response.status === 408;
  // Without the right token no record can go; a server error likely affects the next one too.
  const stop = transient || response.status === 401 || response.status === 403 || response.status === 404;
  return { ok: false, error, transient, stop };
}

function causeOf(error: unknown): string {
  if (error instanceof Error) {
    const cause = error.cause;
    if (cause instanceof Error && cause.message !== '') return cause.message;
    return error.message;
  }
  return String(error);
}


