# stagecraft's own image, built by stagecraft (scripts/build-image.sh): stagecraft with its production
# dependencies, Node, runc and the tools RUN steps need (slirp4netns, iproute2; util-linux and mount come
# with Debian), and git for git contexts. Used by the Kubernetes Jobs of `stagecraft k8s job`
# (docs/kubernetes.md). Named contexts from the script: `node` (the Node 20 binary that runs stagecraft)
# and `modules` (node_modules pruned to production dependencies).
ARG BASE=debian:bookworm-slim
FROM ${BASE}
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends runc slirp4netns iproute2 git ca-certificates \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/archives/*.deb
COPY --from=node node /usr/local/bin/node
COPY --from=modules . /opt/stagecraft/node_modules/
COPY package.json /opt/stagecraft/
COPY dist/ /opt/stagecraft/dist/
RUN printf '#!/bin/sh\nexec /usr/local/bin/node /opt/stagecraft/dist/cli.js "$@"\n' > /usr/local/bin/stagecraft \
 && chmod 755 /usr/local/bin/stagecraft \
 && stagecraft version
ENV STAGECRAFT_ROOT=/var/lib/stagecraft
ENTRYPOINT ["stagecraft"]
