/**
 * Small, faithful variants of the six shared/bench workload shapes on the busybox fixture, and the
 * conformance cases whose RUN steps are deterministic (shared by the reproducibility and layer-digest tests).
 */

/** Deterministic RUN steps, no ssh/secret/URL server; each a different feature (copy modes, symlinks, whiteouts, long names, metadata-only changes, hardlinks/fifos, ownership under a user, cache mounts). COPY --from, multi-stage and scratch-like finals are covered by the w1..w6 shapes. */
export const CONFORMANCE = [
  'copy-chmod', 'copy-symlinks-context', 'run-whiteouts', 'run-many-files', 'run-metadata-changes',
  'run-links-and-special', 'workdir-user-owner', 'run-mount-cache',
];


export type Files = Readonly<Record<string, string>>;

export const W1: Files = {
  Dockerfile: `ARG BASE
FROM \${BASE} AS build
WORKDIR /src
COPY Makefile ./
COPY include/ include/
COPY src/ src/
RUN cat include/*.h src/*.c > app && chmod 0755 app
FROM build AS test
RUN wc -l ./app | tee /test-report.txt
FROM \${BASE} AS runtime
COPY --from=build /src/app /usr/local/bin/app
COPY --from=test /test-report.txt /usr/share/app/test-report.txt
ENTRYPOINT ["/usr/local/bin/app"]
`,
  Makefile: 'app:\n\tcc -o app src/*.c\n',
  'include/app.h': '#define N 3\n',
  'src/main.c': 'int main(void) { return 0; }\n',
  'src/util.c': 'int util(void) { return 1; }\n',
};

export const W2: Files = {
  Dockerfile: `ARG BASE
${['a', 'b', 'c', 'd'].map((p) => `FROM \${BASE} AS part-${p}
COPY part-${p}/ /src/
RUN sort /src/in.txt > /src/part-${p} && chmod 0755 /src/part-${p}
`).join('')}FROM \${BASE}
${['a', 'b', 'c', 'd'].map((p) => `COPY --from=part-${p} /src/part-${p} /usr/local/bin/\n`).join('')}CMD ["/usr/local/bin/part-a"]
`,
  ...Object.fromEntries(['a', 'b', 'c', 'd'].map((p) => [`part-${p}/in.txt`, `${p}3\n${p}1\n${p}2\n`])),
};

export const W3: Files = {
  Dockerfile: `ARG BASE
FROM \${BASE} AS everything
WORKDIR /work
COPY . .
RUN find /work -type f > /tmp/files && wc -l < /tmp/files > /work/.filecount
FROM \${BASE}
COPY --from=everything /work/assets/asset-0000.dat /data/asset.dat
COPY --from=everything /work/app /app
COPY --from=everything /work/.filecount /app/.filecount
`,
  'assets/asset-0000.dat': 'x'.repeat(200_000),
  ...Object.fromEntries(Array.from({ length: 300 }, (_, i) => [`app/d${i % 10}/f${i}.txt`, `file ${i}\n`])),
};

export const W4: Files = {
  Dockerfile: `ARG BASE
FROM \${BASE} AS gen
WORKDIR /gen
COPY params.txt ./
RUN mkdir /data && dd if=/dev/zero bs=1024 count=$(cat params.txt) 2>/dev/null | tr '\\0' 'a' > /data/part-0 && du -s /data
FROM \${BASE}
COPY --from=gen /data /data
`,
  'params.txt': '4096\n',
};

export const W6: Files = {
  Dockerfile: `ARG BASE
FROM \${BASE} AS build
WORKDIR /src
COPY src/ src/
RUN --mount=type=secret,id=api_token,required=true test "$(wc -c < /run/secrets/api_token)" -ge 32 && echo "private source: authenticated" > /src/auth.log
RUN --mount=type=cache,target=/var/cache/objs,id=repro-w6-objs cp src/svc.sh /var/cache/objs/svc && mkdir -p /out && cp /var/cache/objs/svc /out/svc
FROM \${BASE}
COPY --from=build /out/svc /usr/local/bin/svc
COPY --from=build /src/auth.log /usr/share/svc/auth.log
CMD ["/usr/local/bin/svc"]
`,
  'src/svc.sh': '#!/bin/sh\necho svc\n',
};

/** w5-many-steps' instruction mix (ARG, LABEL, ENV, WORKDIR, RUN, COPY, USER, EXPOSE; two stages, ownership change), 24 steps instead of 64. */
export const W5: Files = {
  Dockerfile: `ARG BASE
FROM \${BASE} AS base
ARG APP_VERSION=1.0.0
LABEL org.opencontainers.image.title="w5-many-steps"
ENV APP_HOME=/opt/app APP_VERSION=\${APP_VERSION}
WORKDIR /opt/app
RUN mkdir -p /opt/app/d01 && echo step 1 > /opt/app/d01/marker
ENV STEP_01=done
COPY conf/c01.conf /opt/app/conf/
COPY conf/c02.conf /opt/app/conf/
WORKDIR /opt/app/conf
RUN cat *.conf | wc -l > /opt/app/conf.lines
RUN sha256sum /opt/app/conf/c02.conf >> /opt/app/conf.sums
COPY scripts/ /opt/app/scripts/
RUN chmod +x /opt/app/scripts/*.sh && /opt/app/scripts/setup.sh
FROM \${BASE}
ENV APP_HOME=/opt/app PATH=/opt/app/bin:/usr/local/bin:/usr/bin:/bin
RUN echo 'app:x:10001:10001:app:/opt/app:/bin/sh' >> /etc/passwd && echo 'app:x:10001:' >> /etc/group
WORKDIR /opt/app
COPY --from=base /opt/app /opt/app
RUN echo runtime step 1 >> /opt/app/runtime.log
LABEL runtime.step1="ok"
RUN mkdir -p /opt/app/bin && ln -s /opt/app/scripts/setup.sh /opt/app/bin/setup
RUN chown -R app:app /opt/app
USER app
RUN test -s /opt/app/conf.sums && wc -l < /opt/app/runtime.log
EXPOSE 8080
CMD ["/bin/sh", "-c", "cat /opt/app/conf.lines"]
`,
  'conf/c01.conf': Array.from({ length: 20 }, (_, k) => `key_01_${k} = value ${1000 + k}\n`).join(''),
  'conf/c02.conf': Array.from({ length: 20 }, (_, k) => `key_02_${k} = value ${2000 + k}\n`).join(''),
  'scripts/setup.sh': '#!/bin/sh\nset -e\nmkdir -p /opt/app/state\necho "setup ok" > /opt/app/state/setup\n',
  'scripts/hello.sh': '#!/bin/sh\necho hello from w5\n',
};
