import type { Command } from 'commander';
import { loadVerifyingKey } from '../../attest/index.js';
import { StagecraftError } from '../../core/index.js';
import type { VerifySignatureResult } from '../../engine/index.js';
import type { CliIo } from '../main.js';
import { collect } from '../options.js';
import { addRootOption, withEngine } from './store-context.js';
import { verifyReproCommand, type VerifyReproFlags } from './verify-repro.js';

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

/** Flags of the reproducibility path that make no sense with --key. */
const REBUILD_FLAGS: readonly (keyof VerifyReproFlags)[] = ['file', 'buildArg', 'target', 'platform', 'keepDir', 'locked'];

/**
 * `stagecraft verify`: with `--key PUB IMAGE`, the image's cosign signatures (issue 16); without a key,
 * `IMAGE [CONTEXT] | CONTEXT` is rebuilt in fresh state roots and compared (issue 19).
 */
export function registerVerify(program: Command, io: CliIo): void {
  addRootOption(program);
  program
    .command('verify')
    .description('with --key: verify an image\'s cosign signatures (and with --attestations its attestations); without: rebuild an image (from its provenance) or a context in fresh state roots and check that the result is identical, exit 1 with a semantic diff when it is not')
    .argument('<image|context>', 'an image (store or registry name); without --key also a build context directory (built twice)')
    .argument('[context]', 'without --key, for an image: the context directory it was built from')
    .option('--key <file>', 'verify signatures with this cosign public key (cosign.pub)')
    .option('--attestations', 'with --key: also require every attestation statement of the image to be signed by the key')
    .option('--json', 'with --key: print the result as JSON (same as --format json)')
    .option('-f, --file <path>', 'for a context: the Dockerfile (default: CONTEXT/Dockerfile)')
    .option('--build-arg <KEY[=VALUE]>', 'for a context: a build argument (repeatable)', collect)
    .option('--target <stage>', 'for a context: the stage to build')
    .option('--platform <os/arch[/variant]>', 'for a context: the target platform')
    .option('--locked', 'for a context: build with the digests of stagecraft.lock')
    .option('--keep-dir <dir>', 'keep the rebuild state roots under this directory (default: temporary)')
    .option('--format <format>', 'text or json', 'text')
    .option('--progress <mode>', 'rebuild progress on stderr: auto, tty, plain, rawjson or quiet', 'quiet')
    .addHelpText('after', [
      '',
      'Exit status: 0 verified / reproduced; 1 differs (rebuild); 12 a signature does not verify (--key).',
      '',
      'Examples:',
      '  stagecraft verify --key cosign.pub registry.example/app:1',
      '  stagecraft verify --key cosign.pub --attestations --json app:1',
      '  stagecraft verify .',
      '  stagecraft verify app:1.0 .',
      '  stagecraft verify --format json --keep-dir /tmp/verify app:1.0 ./src',
    ].join('\n'))
    .action(async (target: string, context: string | undefined, flags: VerifyReproFlags & { key?: string; attestations?: boolean; json?: boolean }, command: Command) => {
      if (flags.key !== undefined) {
        const extra = REBUILD_FLAGS.find((name) => flags[name] !== undefined);
        if (context !== undefined || extra !== undefined) {
          throw new StagecraftError('USAGE', `verify --key checks signatures and takes one image${extra === undefined ? '' : `, not --${extra.replace(/[A-Z]/gu, (c) => `-${c.toLowerCase()}`)}`}`, {
            hint: 'run `stagecraft verify IMAGE CONTEXT` without --key to rebuild and compare',
          });
        }
        await verifySignatureCommand(io, command, target, { key: flags.key, attestations: flags.attestations, json: flags.json === true || flags.format === 'json' });
        return;
      }
      if (flags.attestations === true || flags.json === true) {
        throw new StagecraftError('USAGE', `${flags.attestations === true ? '--attestations' : '--json'} needs --key`, { hint: 'give --key PUB to verify signatures; a rebuild prints JSON with --format json' });
      }
      await verifyReproCommand(io, command, { target, context }, flags);
    });
}
