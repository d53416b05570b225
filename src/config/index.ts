export {
  DEFAULT_DEBUG_KEEP,
  DEFAULT_INSECURE_HOSTS,
  configFileSchema,
  isInsecureRegistry,
  loadConfig,
  type Config,
  type ConfigFile,
  type ConfigFlags,
  type LoadConfigOptions,
} from './config.js';
