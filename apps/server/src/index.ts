/**
 * @psic/server: the PSIC protection service. `buildServer(opts)` gives a
 * Fastify instance (HTTP API, web page, OpenAPI at /docs); `JobsService`
 * enqueues folders on BullMQ for the worker processes (dist/worker.js).
 */
export { buildServer, stripQueryValues, type AppContext } from './app.js';
export { DEFAULT_LIMITS, defaultThreads, optionsFromEnv, resolveLimits, type ServerLimits, type ServerOptions } from './config.js';
export { documentedCodes, statusForCode, RetryableError, type ErrorBody } from './errors.js';
export { InferencePool, type PoolInfo, type PoolOptions, type PoolStats } from './pool.js';
export { decodeStream, type DecodeStreamOptions } from './decode-stream.js';
export { defaultModeOf, isConditionalDecoder, loadServedModel, loadServedModels, type Condition, type ConditionalDecoder, type ServedModel } from './served-model.js';
export { createLabeler, DEFAULT_LABEL_CANDIDATES, DEFAULT_LABEL_TEMPLATE, type Labeler } from './labels.js';
export { JobsService, JOB_QUEUE, JOB_OPTIONS, DEFAULT_QUEUE_PREFIX, outputNames, redisConnection, type BatchStatus, type EncodeJobData, type JobsServiceOptions } from './jobs.js';
export { startJobWorker, type JobWorkerOptions } from './job-worker.js';
export * from './protocol.js';
