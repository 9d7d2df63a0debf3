/**
 * `npm run serve`: the service with embedded defaults. Settings come from the
 * environment (PORT, HOST, REDIS_URL, PSIC_JOBS_ROOT, PSIC_SERVER_THREADS,
 * PSIC_MAX_* ...; see README). SIGINT / SIGTERM stop taking connections, let
 * running requests finish, then stop the inference threads.
 */
import { PsicError } from '@psic/entropy';
import { buildServer } from './app.js';
import { optionsFromEnv } from './config.js';

async function main(): Promise<void> {
  const { port, host, ...opts } = optionsFromEnv();
  const app = await buildServer(opts);
  const stop = async (signal: string) => {
    app.log.info(`${signal}: shutting down`);
    await app.close();
    process.exit(0);
  };
  process.once('SIGINT', () => void stop('SIGINT'));
  process.once('SIGTERM', () => void stop('SIGTERM'));
  await app.listen({ port, host });
  const { catalogue } = app.psic;
  app.log.info(`models: ${catalogue.models.map((m) => m.name).join(', ')}; backend ${catalogue.backend}; labels ${catalogue.labels?.target ?? 'off'}; jobs ${app.psic.jobs ? 'on' : 'off'}`);
}

main().catch((err: unknown) => {
  process.stderr.write(err instanceof PsicError ? `psic-server: ${err.code}: ${err.message}\n` : `psic-server: ${(err as Error)?.stack ?? String(err)}\n`);
  process.exit(1);
});
