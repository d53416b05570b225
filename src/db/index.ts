export { Database, type DatabaseOptions, type Migration, type SqlParams, type TypedStatement } from './database.js';
