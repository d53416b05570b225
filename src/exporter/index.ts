export { parseOutputSpec, type Compression, type LayerCompression, type OutputSpec } from './options.js';
