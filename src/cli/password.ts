/**
 * The password of a cosign key: `STAGECRAFT_PASSWORD`, else `COSIGN_PASSWORD` (as cosign reads it),
 * else asked on the terminal without echo; with neither a variable nor a terminal, a USAGE error.
 */
import { StagecraftError } from '../core/index.js';

/** Typed characters after the line a prompt consumed (both passwords can arrive in one chunk). */
let pending = '';

/** Reads a line from the TTY on stdin without echoing it. */
async function promptHidden(prompt: string): Promise<string> {
  const stdin = process.stdin;
  // Echo off first, then the prompt: what is typed once the prompt shows is never echoed (getpass order).
  stdin.setRawMode(true);
  process.stderr.write(prompt);
  try {
    return await new Promise<string>((resolve, reject) => {
      let text = '';
      const take = (chars: string): boolean => {
        for (const [i, char] of [...chars].entries()) {
          if (char === '\r' || char === '\n' || char === '\u0004') {
            pending = [...chars].slice(i + 1).join('').replace(/^\n/, '');
            resolve(text);
            return true;
          }
          if (char === '\u0003') {
            reject(new StagecraftError('ABORTED', 'password entry interrupted'));
            return true;
          }
          text = char === '\u007f' || char === '\b' ? text.slice(0, -1) : text + char;
        }
        return false;
      };
      const earlier = pending;
      pending = '';
      if (take(earlier)) return;
      const onData = (chunk: Buffer): void => {
        if (!take(chunk.toString('utf8'))) return;
        stdin.off('data', onData);
        stdin.off('end', onEnd);
        stdin.pause();
      };
      const onEnd = (): void => {
        stdin.off('data', onData);
        resolve(text);
      };
      stdin.on('data', onData);
      stdin.once('end', onEnd);
      stdin.resume();
    });
  } finally {
    stdin.setRawMode(false);
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
