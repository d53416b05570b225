import type { Command } from 'commander';
import { loadVerifyingKey } from '../../attest/index.js';
import type { VerifySignatureResult } from '../../engine/index.js';
import type { CliIo } from '../main.js';
import { withEngine } from './store-context.js';

export interface VerifySignatureFlags {
  readonly key: string;
  readonly attestations?: boolean | undefined;
  readonly json?: boolean | undefined;
}

/**
 * `verify --key PUB IMAGE`: the image's signature (and with --attestations each attestation statement)
 * verifies with the public key. Exit 0 when verified; SIGNATURE_INVALID (exit 12) names what failed.
 */
export async function verifySignatureCommand(io: CliIo, command: Command, image: string, flags: VerifySignatureFlags): Promise<VerifySignatureResult> {
  const key = await loadVerifyingKey(flags.key);
  const result = await withEngine(command, (engine, signal) => engine.verifySignature(image, key, { attestations: flags.attestations === true, signal }));
  if (flags.json === true) {
    io.stdout(`${JSON.stringify(result, null, 2)}\n`);
  } else {
    const kinds = result.signatures.map((s) => (s.kind === 'bundle' ? 'sigstore bundle' : 'legacy .sig')).join(', ');
    io.stdout(`Verified ${result.image} (${result.subject}) with ${flags.key}: ${result.signatures.length} signature(s) (${kinds})\n`);
    for (const a of result.attestations) io.stdout(`  attestation ${a.predicateType} ${a.digest}: signed\n`);
  }
  return result;
}

export function registerVerify(program: Command, io: CliIo): void {
  program
    .command('verify')
    .description('verify an image\'s cosign signatures (and with --attestations its attestations) with a public key')
    .argument('<image>', 'a local image, or a registry reference')
    .requiredOption('--key <file>', 'the cosign public key (cosign.pub)')
    .option('--attestations', 'also require every attestation statement of the image to be signed by the key')
    .option('--json', 'print the result as JSON')
    .addHelpText('after', '\nExamples:\n  stagecraft verify --key cosign.pub registry.example/app:1\n  stagecraft verify --key cosign.pub --attestations --json app:1')
    .action(async (image: string, flags: VerifySignatureFlags, command: Command) => {
      await verifySignatureCommand(io, command, image, flags);
    });
}
