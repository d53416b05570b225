export { parseOutputSpec, parseSecretSpec, parseSshSpec, splitKeyValues, type Compression, type LayerCompression, type OutputSpec, type SecretSpec, type SshSpec } from './options.js';
export { DEFAULT_DOCKER_SOCKET, dockerDaemonSocket, loadIntoDockerDaemon, pingDockerDaemon, type DockerDaemonOptions, type DockerLoadResult } from './daemon.js';
