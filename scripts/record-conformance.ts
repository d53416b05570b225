// Records the conformance suite's expectations with BuildKit (dockerd from Debian's docker.io, run as
// `DOCKER_BUILDKIT=1 /usr/bin/docker build`). Needs a running dockerd and the busybox base image in a
// local registry (started by scripts/example-bases.sh); pushes the tests' busybox fixture there itself. Writes test/conformance/cases/<case>/expected.json.
//   node --import tsx scripts/record-conformance.ts [REGISTRY] [CASE...]
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeBusyboxImage, pushLayout } from '../test/helpers/base-image.js';
import { caseFlags, serveCases, startSshAgent, dockerfileOnly, summarizeConfig, treeDelta, walkTree, type Expectation, type ImageJson } from '../test/conformance/tree.js';

const [registryArg, ...only] = process.argv.slice(2);
const registry = registryArg ?? '127.0.0.1:5000';
// The same busybox fixture the tests build from, under its own name.
const base = `${registry}/conformance/busybox:latest`;
const casesDir = new URL('../test/conformance/cases/', import.meta.url).pathname;
const docker = (args: string[]): string => execFileSync('/usr/bin/docker', args, { encoding: 'utf8', env: { ...process.env, DOCKER_BUILDKIT: '1' }, maxBuffer: 64 << 20 });

const failed: string[] = [];
const work = mkdtempSync(join(tmpdir(), 'record-conformance-'));
const http = await serveCases(casesDir);
const agent = startSshAgent(work);
try {
  pushLayout(await makeBusyboxImage(join(work, 'fixture')), base);
  docker(['pull', '-q', base]);
  // Trees come from `docker export` of a created container: unlike an `-o type=local` export, it
  // keeps file ownership.
  const exportTree = async (image: string, into: string): Promise<ReturnType<typeof walkTree>> => {
    const id = docker(['create', image, 'true']).trim();
    try {
      execFileSync('mkdir', ['-p', into]);
      execFileSync('sh', ['-c', `/usr/bin/docker export ${id} | tar --numeric-owner -x -C ${into}`]);
    } finally {
      docker(['rm', id]);
    }
    return walkTree(into);
  };
  const baseTree = await exportTree(base, join(work, 'base'));
  for (const name of readdirSync(casesDir).sort()) {
    if (only.length > 0 && !only.includes(name)) continue;
    const context = join(casesDir, name);
    try {
      docker(['build', '-q', '--build-arg', `BASE=${base}`, ...caseFlags(context, agent.socket), '-t', `conformance:${name}`, context]);
    } catch (err) {
      failed.push(name);
      process.stderr.write(`BuildKit could not build ${name}: ${(err as { stderr?: string }).stderr ?? String(err)}\n`);
      continue;
    }
    const finalTree = await exportTree(`conformance:${name}`, join(work, `${name}-out`));
    const saved = join(work, `${name}-image`);
    execFileSync('mkdir', ['-p', saved]);
    execFileSync('sh', ['-c', `/usr/bin/docker save conformance:${name} | tar -x -C ${saved}`]);
    const manifest = JSON.parse(readFileSync(join(saved, 'manifest.json'), 'utf8')) as { Config: string }[];
    const image = JSON.parse(readFileSync(join(saved, manifest[0]?.Config ?? ''), 'utf8')) as ImageJson;
    const summary = summarizeConfig(dockerfileOnly(image), 0);
    const expectation: Expectation = { ...summary, ...treeDelta(baseTree, finalTree) };
    writeFileSync(join(context, 'expected.json'), `${JSON.stringify(expectation, null, 2)}\n`);
    process.stdout.write(`recorded ${name}\n`);
  }
} finally {
  await http.close();
  agent.stop();
  rmSync(work, { recursive: true, force: true });
}
if (failed.length > 0) {
  process.stderr.write(`not recorded (BuildKit failed): ${failed.join(' ')}\n`);
  process.exitCode = 1;
}
