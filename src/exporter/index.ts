export { parseOutputSpec, type Compression, type LayerCompression, type OutputSpec } from './options.js';
export { DEFAULT_DOCKER_SOCKET, dockerDaemonSocket, loadIntoDockerDaemon, pingDockerDaemon, type DockerDaemonOptions, type DockerLoadResult } from './daemon.js';
