/**
 * `stagecraft policy check IMAGE --policy FILE`: the build's policy gate over an existing image (local,
 * else pulled from its registry). Prints every rule with pass/fail and its evidence; exits with
 * POLICY_DENIED's status (11) when a rule fails.
 */
import type { Command } from 'commander';
import { loadVerifyingKey } from '../../attest/index.js';
import { StagecraftError, exitCode } from '../../core/index.js';
import { formatVerdict, loadPolicy } from '../../policy/index.js';
import { ExitStatus } from '../exit-status.js';
import type { CliIo } from '../main.js';
import { vulnDbDir } from './build.js';
import { withEngine } from './store-context.js';

interface PolicyCheckFlags {
  readonly policy: string;
  readonly vulnDb?: string | undefined;
  readonly key?: string | undefined;
  readonly format: string;
}

export function registerPolicy(program: Command, io: CliIo): void {
  const policy = program.command('policy').description('policy gates over images (docs/policy.md)');
  policy
    .command('check')
    .description('evaluate a policy over an existing image: every rule with pass/fail and its evidence; exit 11 when a rule fails')
    .argument('<image>', 'a local image, or a registry reference (pulled)')
    .requiredOption('--policy <file>', 'the policy file (YAML or JSON)')
    .option('--vuln-db <dir>', 'a directory of OSV JSON files for the vulnerability scan')
    .option('--key <file>', 'verify the image\'s signatures with this cosign public key (requireSignature; without it a signature found counts)')
    .option('--format <text|json>', 'output format', 'text')
    .action(async (image: string, flags: PolicyCheckFlags, command: Command) => {
      if (flags.format !== 'text' && flags.format !== 'json') throw new StagecraftError('USAGE', `unknown --format "${flags.format}"`, { hint: 'use --format text or --format json' });
      // Bad input fails before the image is read.
      const loaded = await loadPolicy(flags.policy);
      const osvDir = flags.vulnDb === undefined ? undefined : await vulnDbDir(flags.vulnDb);
      const key = flags.key === undefined ? undefined : await loadVerifyingKey(flags.key);
      const warnings: string[] = [];
      const result = await withEngine(command, (engine, signal) => engine.policyCheck(image, { policy: loaded, vulnData: { osvDir }, key, warn: (m) => warnings.push(m), signal }));
      for (const w of warnings) io.stderr(`WARNING: ${w}\n`);
      if (flags.format === 'json') {
        io.stdout(`${JSON.stringify({ image: result.image, digest: result.digest, policy: result.verdict.policy, passed: result.verdict.passed, results: result.verdict.results, input: result.input }, null, 2)}\n`);
      } else {
        io.stdout(`${result.image} (${result.digest})\n${formatVerdict(result.verdict)}`);
      }
      if (!result.verdict.passed) throw new ExitStatus(exitCode('POLICY_DENIED'));
    });
}
