export { POD_PATHS, buildJob, validateJob, type JobContext, type JobRequest } from './job.js';
