/** `stagecraft serve`: the dashboard, its JSON API, /metrics and the records endpoint over this state root's history. */
import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { StagecraftError } from '../../core/index.js';
import { historyStats } from '../../history/index.js';
import { renderMetrics } from '../../metrics/index.js';
import { DEFAULT_MAX_BODY, checkToken, loadAssets, startServer } from '../../server/index.js';
import type { CliIo } from '../main.js';
import { withEngine } from './store-context.js';

/** "127.0.0.1:8080", "[::1]:8080", "0.0.0.0:0". */
export function parseListen(text: string): { host: string; port: number } {
  const match = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(text);
  const port = Number(match?.[3]);
  const host = match?.[1] ?? match?.[2];
  if (match === null || host === undefined || !(port >= 0 && port <= 65535)) {
    throw new StagecraftError('USAGE', `invalid --listen "${text}"`, { hint: 'give HOST:PORT, e.g. 127.0.0.1:8080, 0.0.0.0:8080 or [::1]:8080' });
  }
  return { host, port };
}

function parseSize(text: string): number {
  const match = /^(\d+)(k|m|g)?i?b?$/i.exec(text);
  const scale = { k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[(match?.[2] ?? '').toLowerCase()] ?? 1;
  const size = Number(match?.[1]) * scale;
  if (match === null || !(size >= 1024) || size > 1024 ** 3) throw new StagecraftError('USAGE', `invalid --max-body "${text}"`, { hint: 'give a size between 1KiB and 1GiB, e.g. 64MiB' });
  return size;
}

/** `--trace-url`: an http(s) URL of a trace viewer with `{traceId}` where the id goes. */
export function parseTraceUrl(text: string): string {
  let url: URL | undefined;
  try {
    url = new URL(text.replaceAll('{traceId}', '0'));
  } catch {
    url = undefined;
  }
  if (url === undefined || (url.protocol !== 'http:' && url.protocol !== 'https:') || !text.includes('{traceId}')) {
    throw new StagecraftError('USAGE', `invalid --trace-url "${text}"`, { hint: 'give an http(s) URL with {traceId} where the trace id goes, e.g. http://jaeger:16686/trace/{traceId}' });
  }
  return text;
}

async function readToken(file: string | undefined): Promise<string | undefined> {
  if (file !== undefined) {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (error) {
      throw new StagecraftError('FILE_NOT_FOUND', `cannot read --token-file ${file}: ${(error as Error).message}`, { hint: 'give a file holding the token (one line)', cause: error });
    }
    return checkToken(text, `--token-file ${file}`);
  }
  const env = process.env.STAGECRAFT_SERVE_TOKEN;
  return env === undefined || env === '' ? undefined : checkToken(env, '$STAGECRAFT_SERVE_TOKEN');
}

export function registerServe(program: Command, io: CliIo): void {
  program
    .command('serve')
    .description('serve the build dashboard, its JSON API and /metrics over this state root\'s history, and take records from other builders (build --report-to)')
    .option('--listen <host:port>', 'address to listen on', '127.0.0.1:8080')
    .option('--token-file <file>', 'the token builders send to post records (default: $STAGECRAFT_SERVE_TOKEN; without one, posts are refused)')
    .option('--max-body <size>', 'largest record a builder may post', '64MiB')
    .option('--trace-url <url>', 'link each build\'s trace id to this trace viewer URL ({traceId} is replaced), e.g. http://jaeger:16686/trace/{traceId}')
    .addHelpText('after', '\nExamples:\n  stagecraft serve\n  STAGECRAFT_SERVE_TOKEN=$(cat token) stagecraft serve --listen 0.0.0.0:8080\n  stagecraft build --report-to http://builds.internal:8080 .   # on another machine, with $STAGECRAFT_REPORT_TOKEN')
    .action(async (flags: { listen: string; tokenFile?: string; maxBody: string; traceUrl?: string }, command: Command) => {
      // Every flag is checked before the state root is opened.
      const listen = parseListen(flags.listen);
      const maxBodyBytes = flags.maxBody === '64MiB' ? DEFAULT_MAX_BODY : parseSize(flags.maxBody);
      const traceUrl = flags.traceUrl === undefined ? undefined : parseTraceUrl(flags.traceUrl);
      const token = await readToken(flags.tokenFile);
      await withEngine(command, async (engine, signal) => {
        const { store, query } = await engine.historyAccess();
        const assets = loadAssets();
        const running = await startServer({
          store, query, token, maxBodyBytes, assets,
          sli: historyStats, traceUrl,
          metrics: () => renderMetrics(store),
          log: (line) => io.stderr(`stagecraft serve: ${line}\n`),
        }, listen);
        io.stderr(`stagecraft serve: listening on ${running.url}/ (history of ${engine.config.stateRoot}${token === undefined ? '; no token: posted records are refused' : ''})\n`);
        if (assets.size < 5) io.stderr('stagecraft serve: the dashboard files are missing (run `npm run build`); the API works\n');
        // Until SIGINT or SIGTERM: then stop taking requests and close.
        await new Promise<void>((resolve) => {
          if (signal.aborted) resolve();
          else signal.addEventListener('abort', () => resolve(), { once: true });
        });
        await running.close();
      });
    });
}
