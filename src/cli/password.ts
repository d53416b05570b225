/**
 * The password of a cosign key: `STAGECRAFT_PASSWORD`, else `COSIGN_PASSWORD` (as cosign reads it),
 * else asked on the terminal without echo; with neither a variable nor a terminal, a USAGE error.
 */
import { StagecraftError } from '../core/index.js';

/** Reads a line from the TTY on stdin without echoing it. */
async function promptHidden(prompt: string): Promise<string> {
  const stdin = process.stdin;
  process.stderr.write(prompt);
  stdin.setRawMode(true);
  stdin.resume();
  try {
    return await new Promise<string>((resolve, reject) => {
      let text = '';
      const onData = (chunk: Buffer): void => {
        for (const char of chunk.toString('utf8')) {
          if (char === '\r' || char === '\n' || char === '\u0004') {
            stdin.off('data', onData);
            resolve(text);
            return;
          }
          if (char === '\u0003') {
            stdin.off('data', onData);
            reject(new StagecraftError('ABORTED', 'password entry interrupted'));
            return;
          }
          text = char === '\u007f' || char === '\b' ? text.slice(0, -1) : text + char;
        }
      };
      stdin.on('data', onData);
    });
  } finally {
    stdin.setRawMode(false);
    stdin.pause();
    process.stderr.write('\n');
  }
}

const VARIABLES = ['STAGECRAFT_PASSWORD', 'COSIGN_PASSWORD'] as const;

/** The password for `keyFile`; with `confirm`, asked twice on a terminal (for a new key). */
export function keyPassword(keyFile: string, options: { readonly confirm?: boolean } = {}): () => Promise<string> {
  return async () => {
    for (const name of VARIABLES) {
      const value = process.env[name];
      if (value !== undefined) return value;
    }
    if (process.stdin.isTTY !== true) {
      throw new StagecraftError('USAGE', `no password for ${keyFile}: STAGECRAFT_PASSWORD is not set and stdin is not a terminal`, {
        hint: 'set STAGECRAFT_PASSWORD (or COSIGN_PASSWORD) in the environment; an empty value means no password',
      });
    }
    const first = await promptHidden(`Enter password for ${keyFile}: `);
    if (options.confirm === true) {
      const second = await promptHidden('Enter password again: ');
      if (first !== second) throw new StagecraftError('USAGE', 'the two passwords differ', { hint: 'run keygen again' });
    }
    return first;
  };
}
