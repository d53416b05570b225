export { DEFAULT_MAX_BODY, createHandler, startServer, type RunningServer, type ServerOptions } from './server.js';
export { checkToken, MIN_TOKEN_LENGTH } from './auth.js';
export { dashboardDir, loadAssets, type Asset } from './assets.js';
export { parseWindow, traceLink } from './api.js';
