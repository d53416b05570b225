import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { StagecraftError } from '../../../src/core/index.js';
import { baseImage, chain, convert, execs, files } from './convert-helpers.js';

const historyOf = async (text: string): Promise<string[]> => {
  const result = await convert(text);
  return (result.target.image.history.slice(1)).map((h) => `${h.created_by ?? ''}${h.empty_layer === true ? ' (empty)' : ''}`);
};

describe('image config and history, per instruction', () => {
  it('ENV, LABEL, USER, EXPOSE, VOLUME, STOPSIGNAL, SHELL, MAINTAINER, HEALTHCHECK', async () => {
    const result = await convert([
      'FROM busybox',
      'ENV A=1 B="two words"',
      'ENV LEGACY value here',
      'LABEL org.example.x=y "quoted key"=z',
      'USER app:app',
      'EXPOSE 80 443/udp 8000-8001',
      'VOLUME ["/data", "/logs"]',
      'STOPSIGNAL SIGINT',
      'SHELL ["/bin/bash", "-ec"]',
      'MAINTAINER someone',
      'HEALTHCHECK --interval=30s --timeout=5s --retries=3 CMD wget -q localhost',
    ].join('\n'));
    const { config, author } = result.target.image;
    assert.deepEqual(config.Env, ['PATH=/usr/local/bin:/usr/bin:/bin', 'BASEVAR=base', 'A=1', 'B=two words', 'LEGACY=value here']);
    assert.deepEqual(config.Labels, { 'org.example.x': 'y', 'quoted key': 'z' });
    assert.equal(config.User, 'app:app');
    assert.deepEqual(Object.keys(config.ExposedPorts ?? {}), ['443/udp', '80/tcp', '8000/tcp', '8001/tcp']);
    assert.deepEqual(Object.keys(config.Volumes ?? {}), ['/data', '/logs']);
    assert.equal(config.StopSignal, 'SIGINT');
    assert.deepEqual(config.Shell, ['/bin/bash', '-ec']);
    assert.equal(author, 'someone');
    assert.deepEqual(config.Healthcheck, { Test: ['CMD-SHELL', 'wget -q localhost'], Interval: 30e9, Timeout: 5e9, Retries: 3 });
    assert.deepEqual(result.target.image.history.slice(1).map((h) => h.created_by), [
      'ENV A=1 B=two words',
      'ENV LEGACY=value here',
      'LABEL org.example.x=y quoted key=z',
      'USER app:app',
      'EXPOSE [443/udp 80/tcp 8000/tcp 8001/tcp]',
      'VOLUME [/data /logs]',
      'STOPSIGNAL SIGINT',
      'SHELL [/bin/bash -ec]',
      'MAINTAINER someone',
      'HEALTHCHECK {Test:[CMD-SHELL wget -q localhost] Interval:30s Timeout:5s StartPeriod:0s StartInterval:0s Retries:3}',
    ]);
    assert.ok(result.target.image.history.slice(1).every((h) => h.empty_layer === true && h.comment === 'buildkit.dockerfile.v0'));
  });

  it('CMD and ENTRYPOINT follow Docker\'s reset rules and SHELL', async () => {
    const a = await convert('FROM busybox\nCMD ["run"]\nENTRYPOINT ["/entry"]');
    assert.deepEqual(a.target.image.config.Cmd, ['run'], 'CMD set in this stage survives ENTRYPOINT');
    const b = await convert('FROM busybox\nENTRYPOINT ["/entry"]', { images: { busybox: baseImage({ Cmd: ['sh'] }) } });
    assert.equal(b.target.image.config.Cmd, undefined, 'ENTRYPOINT resets an inherited CMD');
    const c = await convert('FROM busybox\nSHELL ["/bin/bash", "-c"]\nCMD echo hi');
    assert.deepEqual(c.target.image.config.Cmd, ['/bin/bash', '-c', 'echo hi']);
    assert.equal(c.target.image.config.ArgsEscaped, true);
    assert.deepEqual(await historyOf('FROM busybox\nCMD ["a", "b c"]'), ['CMD ["a" "b c"] (empty)']);
  });

  it('HEALTHCHECK NONE and exec form', async () => {
    const none = await convert('FROM busybox\nHEALTHCHECK NONE');
    assert.deepEqual(none.target.image.config.Healthcheck, { Test: ['NONE'] });
    const exec = await convert('FROM busybox\nHEALTHCHECK CMD ["curl", "-f", "x"]');
    assert.deepEqual(exec.target.image.config.Healthcheck?.Test, ['CMD', 'curl', '-f', 'x']);
  });

  it('WORKDIR makes the directory (a layer) relative to the previous one, owned by USER', async () => {
    const result = await convert('FROM busybox\nUSER 1000\nWORKDIR /app\nWORKDIR sub/../src');
    assert.equal(result.target.image.config.WorkingDir, '/app/src');
    const mkdirs = files(result, 0).flatMap((f) => f.actions);
    assert.deepEqual(mkdirs, [
      { action: 'mkdir', path: '/app', mode: 0o755, parents: true, chown: { user: '1000' } },
      { action: 'mkdir', path: '/app/src', mode: 0o755, parents: true, chown: { user: '1000' } },
    ]);
    assert.deepEqual(await historyOf('FROM busybox\nWORKDIR /w'), ['WORKDIR /w']);
  });

  it('WORKDIR keeps an absolute path as written in the config, history and cwd (BuildKit), cleaning only the mkdir', async () => {
    const cases: [string, string, string | undefined][] = [
      ['WORKDIR /tmp/', '/tmp/', '/tmp'],
      ['WORKDIR /a/../b/', '/a/../b/', '/b'],
      ['WORKDIR //x//y', '//x//y', '/x/y'],
      ['WORKDIR tmp/', '/tmp', '/tmp'],
      ['WORKDIR /tmp/\nWORKDIR x/./y/', '/tmp/x/y', '/tmp/x/y'],
      ['WORKDIR /tmp/\nWORKDIR ..', '/', undefined],
      ['WORKDIR /w/\nWORKDIR $UNSET', '/w/', '/w'],
    ];
    for (const [lines, config, mkdir] of cases) {
      const result = await convert(`FROM busybox\n${lines}\nRUN pwd`);
      assert.equal(result.target.image.config.WorkingDir, config, lines);
      assert.equal(result.target.image.history.filter((h) => h.created_by?.startsWith('WORKDIR')).at(-1)?.created_by, `WORKDIR ${config}`, lines);
      assert.equal(execs(result, 0)[0]?.cwd, config, lines);
      const last = files(result, 0).flatMap((f) => f.actions).at(-1);
      if (mkdir === undefined) assert.equal(result.target.image.history.at(-2)?.empty_layer, true, lines);
      else assert.deepEqual(last, { action: 'mkdir', path: mkdir, mode: 0o755, parents: true }, lines);
    }
    // COPY destinations and mount targets relative to such a WORKDIR are clean paths.
    const copy = await convert('FROM busybox\nWORKDIR /app/\nCOPY a b/\nCOPY c d');
    assert.deepEqual(files(copy, 0).flatMap((f) => f.actions).filter((a) => a.action === 'copy').map((a) => a.action === 'copy' && a.dest), ['/app/b/', '/app/d']);
  });

  it('ONBUILD is stored, and a base image\'s triggers run first in the child', async () => {
    const stored = await convert('FROM busybox\nONBUILD RUN echo later');
    assert.deepEqual(stored.target.image.config.OnBuild, ['RUN echo later']);
    const child = await convert('FROM parent\nRUN echo mine', { images: { parent: baseImage({}, ['RUN echo trigger']) } });
    assert.deepEqual(execs(child, 0).map((e) => e.args.at(-1)), ['echo trigger', 'echo mine']);
    assert.equal(child.target.image.config.OnBuild, undefined, 'triggers are consumed, not inherited');
    const fromStage = await convert('FROM busybox AS parent\nONBUILD RUN echo trigger\nFROM parent\nRUN echo mine');
    assert.deepEqual(execs(fromStage, 1).map((e) => e.args.at(-1)), ['echo trigger', 'echo mine'], 'a stage base triggers too');
    assert.equal(fromStage.target.image.config.OnBuild, undefined);
  });

  it('an ssh mount sets SSH_AUTH_SOCK to the first ssh socket unless the environment has it', async () => {
    const result = await convert('FROM busybox\nRUN --mount=type=ssh --mount=type=ssh,id=b,target=/b.sock true');
    assert.ok(execs(result, 0)[0]?.env.includes('SSH_AUTH_SOCK=/run/buildkit/ssh_agent.0'));
    const preset = await convert('FROM busybox\nENV SSH_AUTH_SOCK=/mine\nRUN --mount=type=ssh true');
    assert.deepEqual(execs(preset, 0)[0]?.env.filter((e) => e.startsWith('SSH_AUTH_SOCK=')), ['SSH_AUTH_SOCK=/mine']);
    const none = await convert('FROM busybox\nRUN true');
    assert.ok(!(execs(none, 0)[0]?.env.some((e) => e.startsWith('SSH_AUTH_SOCK=')) ?? true));
  });

  it('ENV expands every pair against the environment from before the instruction', async () => {
    const result = await convert('FROM busybox\nENV A=x B=${A}y\nENV A=z C=$A');
    assert.deepEqual(result.target.image.config.Env?.slice(2), ['A=z', 'B=y', 'C=x']);
  });

  it('validates values only known after expansion', async () => {
    const bad = (text: string, pattern: RegExp): Promise<void> => assert.rejects(convert(text), (e: unknown) => e instanceof StagecraftError && pattern.test(e.message) && e.location !== undefined);
    await bad('FROM busybox\nARG P=99999\nEXPOSE $P', /invalid containerPort: 99999/);
    await bad('FROM busybox\nEXPOSE 80/icmp', /invalid proto: icmp/);
    await bad('FROM busybox\nARG S=SIGNOPE\nSTOPSIGNAL $S', /Invalid signal: SIGNOPE/);
    await bad('FROM busybox\nARG M=888\nCOPY --chmod=$M a /b', /invalid chmod parameter: '888'/);
    await bad('FROM busybox\nCOPY http://example.com/x /x', /source can't be a URL for COPY/);
    await bad('FROM busybox\nADD --checksum=sha256:' + 'a'.repeat(64) + ' a b /c/', /checksum can't be specified for multiple sources/);
  });
});

describe('RUN conversion', () => {
  it('shell form goes through the stage\'s SHELL; exec form does not', async () => {
    const result = await convert('FROM busybox\nRUN echo $HOME\nRUN ["/bin/echo", "x"]\nSHELL ["/bin/bash", "-o", "pipefail", "-c"]\nRUN a | b');
    assert.deepEqual(execs(result, 0).map((e) => e.args), [['/bin/sh', '-c', 'echo $HOME'], ['/bin/echo', 'x'], ['/bin/bash', '-o', 'pipefail', '-c', 'a | b']]);
  });

  it('runs with the image env, WORKDIR and USER', async () => {
    const result = await convert('FROM busybox\nWORKDIR /w\nUSER nobody\nENV X=1\nRUN id');
    const [run] = execs(result, 0);
    assert.equal(run?.cwd, '/w');
    assert.equal(run?.user, 'nobody');
    assert.ok(run?.env.includes('X=1'));
    assert.ok(run?.env.includes('BASEVAR=base'));
  });

  it('converts every --mount type with BuildKit\'s defaults', async () => {
    const result = await convert([
      'FROM busybox AS src',
      'FROM busybox',
      'WORKDIR /w',
      'ARG CACHE=/root/.cache',
      'RUN --mount=type=cache,target=$CACHE --mount=type=cache,id=npm,target=rel,sharing=locked,uid=1000,mode=0700 \\',
      '    --mount=type=secret,id=tok --mount=type=secret,id=env,env=TOKEN --mount=type=secret,target=/run/s/key.pem \\',
      '    --mount=type=ssh --mount=type=tmpfs,target=/tmp,size=1m --mount=type=bind,from=src,source=/etc,target=/e \\',
      '    --mount=target=/ctx,rw true',
    ].join('\n'));
    const [run] = execs(result, 1);
    assert.deepEqual(run?.mounts, [
      { type: 'cache', target: '/root/.cache', id: '/root/.cache', sharing: 'shared', input: undefined, source: '/', readonly: false, uid: 0, gid: 0, mode: 0o755 },
      { type: 'cache', target: '/w/rel', id: 'npm', sharing: 'locked', input: undefined, source: '/', readonly: false, uid: 1000, gid: 0, mode: 0o700 },
      { type: 'secret', id: 'tok', target: '/run/secrets/tok', required: false, uid: 0, gid: 0, mode: 0o400 },
      { type: 'secret', id: 'env', env: 'TOKEN', required: false, uid: 0, gid: 0, mode: 0o400 },
      { type: 'secret', id: 'key.pem', target: '/run/s/key.pem', required: false, uid: 0, gid: 0, mode: 0o400 },
      { type: 'ssh', id: 'default', target: '/run/buildkit/ssh_agent.0', required: false, uid: 0, gid: 0, mode: 0o600 },
      { type: 'tmpfs', target: '/tmp', size: 1024 * 1024 },
      { type: 'bind', target: '/e', input: 1, source: '/etc', readonly: true },
      { type: 'bind', target: '/ctx', input: 2, source: '/', readonly: false },
    ]);
    assert.deepEqual([...(result.target.secrets.keys())], ['tok', 'env', 'key.pem']);
  });

  it('keeps secrets out of the plan: only ids appear', async () => {
    const result = await convert('FROM busybox\nRUN --mount=type=secret,id=aws cat /run/secrets/aws');
    assert.ok(!JSON.stringify(result.plan).includes('value'));
  });

  it('runs a heredoc script, with a shebang as a file', async () => {
    const plain = await convert('FROM busybox\nRUN <<EOF\necho one\necho two\nEOF');
    assert.deepEqual(execs(plain, 0)[0]?.args, ['/bin/sh', '-c', 'echo one\necho two\n']);
    const shebang = await convert('FROM busybox\nRUN <<EOF\n#!/usr/bin/env python3\nprint(1)\nEOF');
    const [run] = execs(shebang, 0);
    assert.deepEqual(run?.args, ['/bin/sh', '-c', '/dev/pipes/EOF']);
    assert.deepEqual(run?.inlineFiles, [{ path: '/dev/pipes/EOF', data: '#!/usr/bin/env python3\nprint(1)\n', mode: 0o755 }]);
  });

  it('honours --network and --security', async () => {
    const result = await convert('FROM busybox\nRUN --network=none --security=insecure true');
    assert.deepEqual([execs(result, 0)[0]?.network, execs(result, 0)[0]?.security], ['none', 'insecure']);
  });
});

describe('COPY and ADD conversion', () => {
  it('makes one copy action per source, destination relative to WORKDIR', async () => {
    const result = await convert('FROM busybox\nWORKDIR /app\nCOPY --chown=app:grp --chmod=0640 --exclude=*.md a.txt dir/ ./\nCOPY b.txt c');
    const [, copy1, copy2] = files(result, 0);
    assert.equal(copy1?.actions.length, 2);
    assert.deepEqual(copy1?.actions[0], {
      action: 'copy', input: 1, sources: ['a.txt'], dest: '/app/', chown: { user: 'app', group: 'grp' }, chmod: '0640', excludes: ['*.md'],
      destIsDir: true, link: false, parents: false, unpack: false,
    });
    assert.equal(copy2?.actions[0]?.action === 'copy' ? copy2.actions[0].dest : '', '/app/c');
    assert.deepEqual(result.target.image.history.slice(-2).map((h) => h.created_by), [
      'COPY --chown=app:grp --chmod=0640 a.txt dir/ ./ # buildkit',
      'COPY b.txt c # buildkit',
    ]);
  });

  it('reads only the context files a COPY selects (one context vertex per selection)', async () => {
    const result = await convert('FROM busybox\nCOPY a.txt /a\nCOPY b/ /b/');
    const contexts = result.plan.vertices.filter((v) => v.op.type === 'context').map((v) => (v.op.type === 'context' ? v.op.include : []));
    assert.deepEqual(contexts, [['a.txt'], ['b/']]);
  });

  it('ADD unpacks local archives by default; --unpack=false turns it off; URLs become http sources', async () => {
    const result = await convert('FROM busybox\nADD app.tar.gz /opt/\nADD --checksum=sha256:' + 'b'.repeat(64) + ' https://example.com/f.bin /f\nADD --unpack=false x.tar /x/');
    const actions = files(result, 0).flatMap((f) => f.actions);
    assert.deepEqual(actions.map((a) => (a.action === 'copy' ? [a.sources[0], a.unpack] : [])), [['app.tar.gz', true], ['/f.bin', false], ['x.tar', false]]);
    const http = result.plan.vertices.find((v) => v.op.type === 'http');
    assert.deepEqual(http?.op, { type: 'http', url: 'https://example.com/f.bin', checksum: 'sha256:' + 'b'.repeat(64), filename: 'f.bin' });
  });

  it('COPY --from a stage reads that stage\'s result; --link copies onto scratch and merges', async () => {
    const result = await convert('FROM busybox AS build\nRUN make\nFROM busybox\nCOPY --link --from=build /out /app/');
    const steps = chain(result, 1);
    const merge = steps.at(-1);
    assert.equal(merge?.op.type, 'merge');
    assert.match(merge?.meta.name ?? '', /LINK COPY --link --from=build \/out \/app\//);
    const build = result.stages.get(0);
    const layer = result.plan.vertices.find((v) => v.id === merge?.inputs[1]);
    assert.equal(layer?.op.type, 'file');
    assert.equal(layer?.inputs[1], build?.root);
  });

  it('COPY of a heredoc writes an inline file', async () => {
    const result = await convert('FROM busybox\nARG NAME=world\nCOPY <<EOF /hello.txt\nhello $NAME\nEOF');
    const inline = result.plan.vertices.find((v) => v.op.type === 'file' && v.op.actions[0]?.action === 'mkfile');
    assert.deepEqual(inline?.op.type === 'file' ? inline.op.actions[0] : undefined, { action: 'mkfile', path: '/EOF', data: 'hello world\n', mode: 0o644 });
  });

  it('identical steps in different stages are one vertex', async () => {
    const result = await convert('FROM busybox AS a\nRUN echo same\nFROM busybox AS b\nRUN echo same\nFROM scratch\nCOPY --from=a /x /a\nCOPY --from=b /x /b');
    assert.equal(result.stages.get(0)?.root, result.stages.get(1)?.root);
  });
});
