/**
 * Conformance with BuildKit: each case in test/conformance/cases was built by BuildKit
 * (scripts/record-conformance.ts, dockerd 20.10's BuildKit) and its file tree delta, config and
 * history recorded in expected.json; stagecraft must produce the same, apart from the documented
 * divergences between that BuildKit and current BuildKit (case.json; test/conformance/README.md).
 */
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { applyDivergences, caseAllowFlags, caseFlags, dockerfileOnly, readCaseOptions, serveCases, startSshAgent, summarizeConfig, treeDelta, walkTree, type Expectation, type ImageJson, type TreeEntry } from '../conformance/tree.js';
import { startBuildEnv, type BuildEnv } from '../helpers/build-env.js';
import { runCli } from '../helpers/cli.js';

const casesDir = new URL('../conformance/cases/', import.meta.url).pathname;
const cases = readdirSync(casesDir).sort();

describe('conformance with BuildKit', () => {
  let env: BuildEnv;
  let root: string;
  let baseTree: Map<string, TreeEntry>;
  let http: { close(): Promise<void> };
  let agent: ReturnType<typeof startSshAgent>;
  before(async () => {
    http = await serveCases(casesDir);
    env = await startBuildEnv();
    agent = startSshAgent(env.work);
    root = await env.newRoot();
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
      const expected = applyDivergences(recorded, readCaseOptions(join(casesDir, name)).divergences ?? []);
      const out = join(env.work, `${name}-out`);
      const run = env.build(['--build-arg', `BASE=${env.busybox}`, ...caseFlags(join(casesDir, name), agent.socket), ...caseAllowFlags(join(casesDir, name)), '-t', `conformance:${name}`, '-o', `type=local,dest=${out}`, join(casesDir, name)], { root });
      assert.equal(run.status, 0, run.stderr);
      const delta = treeDelta(baseTree, await walkTree(out));
      assert.deepEqual(delta.added, expected.added, 'files added or changed');
      assert.deepEqual(delta.removed, expected.removed, 'files removed');
      const inspected = JSON.parse(runCli(['--root', root, 'inspect', '--json', `conformance:${name}`]).stdout) as { config: { value: ImageJson } };
      const summary = summarizeConfig(dockerfileOnly(inspected.config.value), 0);
      assert.deepEqual(summary.config, expected.config, 'image config');
      assert.deepEqual(summary.history, expected.history, 'history');
    });
  }
});
