/**
 * The one place outside executor/ that starts programs: argv arrays (no shell), optional stdin,
 * captured stdout/stderr, killed on abort. A missing program is an EXTERNAL_TOOL error.
 */
import { spawn } from 'node:child_process';
import { StagecraftError } from '../core/index.js';

export interface RunProcessOptions {
  /** Written to the program's stdin, which is then closed. */
  readonly input?: string | Uint8Array | undefined;
  readonly cwd?: string | undefined;
  readonly signal?: AbortSignal | undefined;
}

export interface RunProcessResult {
  readonly stdout: string;
  readonly stderr: string;
  /** Exit status; a program killed by a signal reports 128 + the signal number. */
  readonly code: number;
}

const SIGNAL_NUMBERS: Record<string, number> = { SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGKILL: 9, SIGSEGV: 11, SIGPIPE: 13, SIGTERM: 15 };

/** Runs `cmd args…` to completion. Does not throw on a non-zero exit: check `code`. */
export async function runProcess(cmd: string, args: readonly string[], options: RunProcessOptions = {}): Promise<RunProcessResult> {
  options.signal?.throwIfAborted();
  return new Promise<RunProcessResult>((resolve, reject) => {
    const child = spawn(cmd, [...args], {
      cwd: options.cwd,
      stdio: [options.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
      signal: options.signal,
      killSignal: 'SIGKILL',
    });
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    child.stdout?.on('data', (chunk: Buffer) => stdout.push(chunk));
    child.stderr?.on('data', (chunk: Buffer) => stderr.push(chunk));
    child.on('error', (error: NodeJS.ErrnoException) => {
      if (error.name === 'AbortError') {
        reject(options.signal?.reason ?? error);
      } else if (error.code === 'ENOENT') {
        reject(new StagecraftError('EXTERNAL_TOOL', `cannot run ${cmd}: program not found`, { hint: `install ${cmd} and make sure it is on PATH`, cause: error }));
      } else {
        reject(error);
      }
    });
    child.on('close', (code, signal) => {
      if (options.signal?.aborted === true) return; // 'error' rejected already
      resolve({
        stdout: Buffer.concat(stdout).toString('utf8'),
        stderr: Buffer.concat(stderr).toString('utf8'),
        code: code ?? 128 + (signal === null ? 0 : (SIGNAL_NUMBERS[signal] ?? 0)),
      });
    });
    if (options.input !== undefined && child.stdin !== null) {
      child.stdin.on('error', () => {
        // the program may exit without reading its input (EPIPE); its exit status tells
      });
      child.stdin.end(options.input);
    }
  });
}
