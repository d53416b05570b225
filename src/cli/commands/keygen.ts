import { access, writeFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { generateKeyFiles, type KeyAlgorithm } from '../../attest/index.js';
import { StagecraftError } from '../../core/index.js';
import type { CliIo } from '../main.js';
import { keyPassword } from '../password.js';

interface KeygenFlags {
  outputKeyPrefix: string;
  algorithm: string;
  force?: boolean;
}

const ALGORITHMS: Readonly<Record<string, KeyAlgorithm>> = { 'ecdsa-p256': 'ecdsa-p256', 'ecdsa-p384': 'ecdsa-p384', 'ecdsa-p521': 'ecdsa-p521', ed25519: 'ed25519', rsa: 'rsa' };

/** Writes `path` only if it does not exist (unless forced): an existing key is never replaced by accident. */
async function writeKeyFile(path: string, text: string, mode: number, force: boolean): Promise<void> {
  try {
    await writeFile(path, text, { mode, flag: force ? 'w' : 'wx' });
  } catch (cause) {
    if ((cause as NodeJS.ErrnoException).code === 'EEXIST') {
      throw new StagecraftError('USAGE', `${path} already exists`, { hint: 'pass --force to replace it, or --output-key-prefix to write another pair', cause });
    }
    throw cause;
  }
}

export function registerKeygen(program: Command, io: CliIo): void {
  program
    .command('keygen')
    .description('make a cosign key pair: <prefix>.key (encrypted, password from STAGECRAFT_PASSWORD or a prompt) and <prefix>.pub')
    .option('--output-key-prefix <prefix>', 'file name prefix of the pair', 'cosign')
    .option('--algorithm <name>', 'ecdsa-p256 (cosign\'s default), ecdsa-p384, ecdsa-p521, ed25519 or rsa', 'ecdsa-p256')
    .option('--force', 'replace existing key files')
    .addHelpText('after', '\nExamples:\n  STAGECRAFT_PASSWORD=… stagecraft keygen\n  stagecraft keygen --output-key-prefix release --algorithm ed25519')
    .action(async (flags: KeygenFlags) => {
      const algorithm = ALGORITHMS[flags.algorithm];
      if (algorithm === undefined) throw new StagecraftError('USAGE', `unknown key algorithm "${flags.algorithm}"`, { hint: `use one of ${Object.keys(ALGORITHMS).join(', ')}` });
      const keyPath = `${flags.outputKeyPrefix}.key`;
      const pubPath = `${flags.outputKeyPrefix}.pub`;
      const force = flags.force === true;
      if (!force) {
        for (const path of [keyPath, pubPath]) {
          if (await access(path).then(() => true, () => false)) throw new StagecraftError('USAGE', `${path} already exists`, { hint: 'pass --force to replace it, or --output-key-prefix to write another pair' });
        }
      }
      const files = await generateKeyFiles(await keyPassword(keyPath, { confirm: true })(), algorithm);
      await writeKeyFile(keyPath, files.privatePem, 0o600, force);
      await writeKeyFile(pubPath, files.publicPem, 0o644, force);
      io.stderr(`Private key written to ${keyPath}\nPublic key written to ${pubPath}\n`);
    });
}
