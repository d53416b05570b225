/**
 * Conformance with BuildKit: each case in test/conformance/cases was built by BuildKit
 * (scripts/record-conformance.ts, dockerd 20.10's BuildKit) and its file tree delta, config and
 * history recorded in expected.json; stagecraft must produce the same, apart from the documented
 * divergences between that BuildKit and current BuildKit (case.json; test/conformance/README.md).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, readFileSync, readdirSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { applyDivergences, caseAllowFlags, caseFlags, dockerfileOnly, readCaseOptions, serveCases, startSshAgent, summarizeConfig, treeDelta, walkTree, type Expectation, type ImageJson, type TreeEntry } from '../conformance/tree.js';
import { startBuildEnv, type BuildEnv } from '../helpers/build-env.js';
import { CLI_PATH, runCli } from '../helpers/cli.js';
import { RawJsonLine } from '../../src/events/index.js';

const casesDir = new URL('../conformance/cases/', import.meta.url).pathname;
const cases = readdirSync(casesDir).sort();

/** The image manifest digest a rawjson build reports. */
function builtDigest(stderr: string): string | undefined {
  for (const line of stderr.split('\n')) {
    if (!line.startsWith('{')) continue;
    const event = RawJsonLine.parse(JSON.parse(line));
    if (event.type === 'build.completed') return event.image?.digest;
  }
  return undefined;
}

describe('conformance with BuildKit', () => {
  let env: BuildEnv;
  let root: string;
  /** A second, empty state root: each case is built again there (reproducible by default, issue 19). */
  let otherRoot: string;
  let baseTree: Map<string, TreeEntry>;
  let http: { close(): Promise<void> };
  let agent: ReturnType<typeof startSshAgent>;
  before(async () => {
    http = await serveCases(casesDir);
    env = await startBuildEnv();
    agent = startSshAgent(env.work);
    root = await env.newRoot();
    otherRoot = await env.newRoot();
    const dir = join(env.work, 'base-only');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'Dockerfile'), `FROM ${env.busybox}\n`);
    const out = join(env.work, 'base-tree');
    const run = env.build(['-o', `type=local,dest=${out}`, dir], { root });
    assert.equal(run.status, 0, run.stderr);
    baseTree = await walkTree(out);
  });
  after(async () => {
    agent.stop();
    await http.close();
    await env.close();
  });

  it('has cases', () => {
    assert.ok(cases.length >= 60);
  });

  for (const name of cases) {
    it(name, async () => {
      const recorded = JSON.parse(readFileSync(join(casesDir, name, 'expected.json'), 'utf8')) as Expectation;
      // Built from copies outside this repository: in its git work tree the epoch would be the commit's
      // time (reproducible by default); outside, both builds take the base image's.
      const here = join(env.work, 'cases', name);
      cpSync(join(casesDir, name), here, { recursive: true, verbatimSymlinks: true });
      const expected = applyDivergences(recorded, readCaseOptions(join(casesDir, name)).divergences ?? []);
      const out = join(env.work, `${name}-out`);
      const run = env.build(['--build-arg', `BASE=${env.busybox}`, ...caseFlags(here, agent.socket), ...caseAllowFlags(here), '-t', `conformance:${name}`, '-o', `type=local,dest=${out}`, here], { root });
      assert.equal(run.status, 0, run.stderr);
      const delta = treeDelta(baseTree, await walkTree(out));
      assert.deepEqual(delta.added, expected.added, 'files added or changed');
      assert.deepEqual(delta.removed, expected.removed, 'files removed');
      const inspected = JSON.parse(runCli(['--root', root, 'inspect', '--json', `conformance:${name}`]).stdout) as { config: { value: ImageJson } };
      const summary = summarizeConfig(dockerfileOnly(inspected.config.value), 0);
      assert.deepEqual(summary.config, expected.config, 'image config');
      assert.deepEqual(summary.history, expected.history, 'history');

      // Reproducible by default: the same case, copied to another path (new file times), built by a
      // builder under another umask on an empty state root, gives the same image manifest.
      const copy = join(env.work, 'elsewhere', name);
      cpSync(join(casesDir, name), copy, { recursive: true, verbatimSymlinks: true });
      const flags = ['--build-arg', `BASE=${env.busybox}`, ...caseFlags(copy, agent.socket), ...caseAllowFlags(copy), '--progress=rawjson', copy];
      const again = spawnSync('sh', ['-c', 'umask 077; exec "$@"', 'sh', process.execPath, CLI_PATH, '--root', otherRoot, 'build', ...flags], { encoding: 'utf8', maxBuffer: 64 << 20 });
      assert.equal(again.status, 0, again.stderr.slice(-3000));
      const first = builtDigest(run.stderr);
      assert.ok(first !== undefined);
      assert.equal(builtDigest(again.stderr), first, 'the same image manifest from another path, umask and state root');
    });
  }
});
