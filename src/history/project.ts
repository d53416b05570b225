/**
 * What a build's record names as its project: the git remote of the context (origin, else the first
 * remote) with any credentials removed, else the context directory. The remote is read from `.git`
 * by attest/git.ts (no git binary; never following a symlink out of the git directory).
 */
import { resolve } from 'node:path';
import { gitRemote } from '../attest/index.js';

export async function projectOf(contextDir: string): Promise<string> {
  return (await gitRemote(contextDir)) ?? resolve(contextDir);
}
