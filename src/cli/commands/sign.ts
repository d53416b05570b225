import type { Command } from 'commander';
import { loadSigningKey } from '../../attest/index.js';
import type { CliIo } from '../main.js';
import { keyPassword } from '../password.js';
import { withEngine } from './store-context.js';

interface SignFlags {
  key: string;
  legacySig?: boolean;
  json?: boolean;
}

export function registerSign(program: Command, io: CliIo): void {
  program
    .command('sign')
    .description('sign an image with a cosign key: a sigstore bundle per manifest and attestation, stored as OCI referrers (local store, or pushed to the registry when the store does not hold IMAGE)')
    .argument('<image>', 'a local image, or a registry reference')
    .requiredOption('--key <file>', 'the cosign private key (cosign.key)')
    .option('--legacy-sig', 'also write a legacy cosign sha256-<hex>.sig signature')
    .option('--json', 'print the result as JSON')
    .addHelpText('after', '\nExamples:\n  stagecraft sign --key cosign.key app:1\n  stagecraft sign --key cosign.key --legacy-sig registry.example/app:1')
    .action(async (image: string, flags: SignFlags, command: Command) => {
      // The key and its password are checked before the store or the registry is touched.
      const key = await loadSigningKey(flags.key, keyPassword(flags.key));
      const result = await withEngine(command, (engine, signal) => engine.sign(image, key, { legacy: flags.legacySig === true, signal }));
      if (flags.json === true) {
        io.stdout(`${JSON.stringify(result, null, 2)}\n`);
        return;
      }
      const where = result.location === 'local' ? 'in the local store (pushed with the image)' : 'and pushed to the registry';
      io.stdout(`signed ${result.image} (${result.subjects.join(', ')}), ${result.attestations} attestation(s) ${where}\n`);
    });
}
