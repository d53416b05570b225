/**
 * `build --report-to URL` / $STAGECRAFT_REPORT_URL and `history push`: where build records are
 * sent (checked before the build starts) and the round of posting after a build.
 */
import { StagecraftError } from '../core/index.js';
import { pushRecords, type HistoryQuery, type HistoryStore, type Outbox, type PushRecordsResult } from '../history/index.js';

export interface ReportTarget {
  readonly url: string;
  readonly token?: string | undefined;
}

/** How long a build waits for the server per request: a server that is down costs at most this. */
export const BUILD_REPORT_TIMEOUT_MS = 2000;

/** The report URL from the flag, else $STAGECRAFT_REPORT_URL; the token from $STAGECRAFT_REPORT_TOKEN. */
export function reportTarget(flag: string | undefined, env: NodeJS.ProcessEnv): ReportTarget | undefined {
  const raw = flag ?? (env.STAGECRAFT_REPORT_URL === '' ? undefined : env.STAGECRAFT_REPORT_URL);
  if (raw === undefined) return undefined;
  const source = flag === undefined ? '$STAGECRAFT_REPORT_URL' : '--report-to';
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new StagecraftError('USAGE', `${source} "${raw}" is not a URL`, { hint: 'give the server\'s address, e.g. --report-to http://stagecraft.internal:8080' });
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new StagecraftError('USAGE', `${source} must be an http or https URL, not ${url.protocol}`, { hint: 'e.g. --report-to https://stagecraft.internal:8080' });
  if (url.username !== '' || url.password !== '') {
    throw new StagecraftError('USAGE', `${source} must not carry credentials in the URL`, { hint: 'put the token in $STAGECRAFT_REPORT_TOKEN' });
  }
  if (url.search !== '' || url.hash !== '') throw new StagecraftError('USAGE', `${source} must be the server's base URL, without ?query or #fragment`, { hint: `e.g. ${url.origin}${url.pathname}` });
  const token = env.STAGECRAFT_REPORT_TOKEN === undefined || env.STAGECRAFT_REPORT_TOKEN === '' ? undefined : env.STAGECRAFT_REPORT_TOKEN.trim();
  return { url: `${url.origin}${url.pathname.replace(/\/+$/, '')}`, token };
}

/**
 * After a build: queue its record and post what is queued for this server. Never throws (the
 * build's outcome is the build's); returns a line to tell the user when something stays queued.
 */
export async function reportAfterBuild(access: { readonly store: HistoryStore; readonly query: HistoryQuery; readonly outbox: Outbox }, buildId: string, target: ReportTarget): Promise<string | undefined> {
  let result: PushRecordsResult;
  try {
    // The record exists only when the history could write it (a build that never started has none).
    if (access.store.get(buildId) !== undefined) access.outbox.enqueue(buildId, target.url);
    result = await pushRecords(access.store, access.outbox, { url: target.url, token: target.token, timeoutMs: BUILD_REPORT_TIMEOUT_MS, limit: 200 });
  } catch (error) {
    return `stagecraft: could not queue build ${buildId} for ${target.url}: ${error instanceof Error ? error.message : String(error)}\n`;
  }
  const failure = result.failed[0];
  if (failure === undefined) return undefined;
  return `stagecraft: could not report to ${target.url} (${failure.error}); ${result.pending} build record(s) stay queued and are sent with the next build or \`stagecraft history push\`\n`;
}
