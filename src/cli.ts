#!/usr/bin/env node
import { main } from './cli/main.js';
import { rootlessEntry } from './cli/rootless.js';

// The builder works under umask 0022 whatever the user's, as a build daemon does (buildkitd, dockerd):
// the directories and files it makes while unpacking layers and running COPY/WORKDIR get the modes
// the layers and the Dockerfile say, so a shell under umask 077 builds the same image as one under 022.
process.umask(0o022);
const argv = process.argv.slice(2);
// Not root: a command that mounts or runs containers runs again as root of a user namespace (cli/rootless.ts).
// No top-level await: this module is also the entry of the CommonJS bundle (scripts/bundle-cli.ts).
void rootlessEntry(argv)
  .then(async (status) => status ?? (await main(argv)))
  .then((status) => {
    process.exitCode = status;
  });
