import { PsicError } from '@psic/entropy';
import { DEFAULT_MODEL, listModels, modelForQuality } from '@psic/zoo';
import { intOption, parse, requirePositionals } from '../args.js';
import { report } from '../output.js';

const HELP = `Usage: psic batch IN_DIR OUT_DIR [options]

Queue every image directly inside IN_DIR for encoding by the batch workers
(BullMQ on Redis; start workers with: node apps/server/dist/worker.js). Each
IN_DIR/<name>.<ext> becomes OUT_DIR/<name>.psic. Workers must see the same
paths (shared storage). Running the same batch id again adds nothing.

Options:
  --redis URL         Redis of the queue (default $REDIS_URL, else redis://127.0.0.1:6379)
  -m, --model NAME    shipped model the workers use (default ${DEFAULT_MODEL})
  -q, --quality Q     rate point instead of --model, 1 = smallest files
  --batch ID          batch id, [A-Za-z0-9_-] (default: a random one)
  --prefix P          queue key prefix, as the workers' PSIC_QUEUE_PREFIX (default psic)
  --wait              wait until every image is done or failed, printing progress;
                      exit status 1 if any failed
  --json              print results as JSON lines
  -h, --help          show this help
`;

export async function batchCommand(argv: string[]): Promise<void> {
  const { values, positionals } = parse(
    argv,
    {
      redis: { type: 'string' },
      model: { type: 'string', short: 'm' },
      quality: { type: 'string', short: 'q' },
      batch: { type: 'string' },
      prefix: { type: 'string' },
      wait: { type: 'boolean' },
      json: { type: 'boolean' },
    },
    HELP,
  );
  requirePositionals(positionals, 2, HELP);
  const [input, output] = positionals;
  const json = values.json === true;
  if (values.model !== undefined && values.quality !== undefined) throw new PsicError('USAGE', `give --model or --quality, not both\n\n${HELP}`);
  const model = values.quality !== undefined ? modelForQuality(intOption(values, 'quality', 1)) : String(values.model ?? DEFAULT_MODEL);
  const shipped = (await listModels()).map((m) => m.name);
  if (!shipped.includes(model)) throw new PsicError('UNKNOWN_MODEL', `no shipped model "${model}"; shipped: ${shipped.join(', ')}`);
  const redisUrl = String(values.redis ?? process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');

  // the queue protocol (job names, ids, progress records) lives with the workers, in @psic/server
  const { JobsService } = await import('@psic/server').catch((err: Error) => {
    throw new PsicError('UNAVAILABLE', `psic batch needs @psic/server (npm install @psic/server): ${err.message}`);
  });
  const jobs = new JobsService({ redisUrl, prefix: values.prefix as string | undefined });
  try {
    let status = await queueCall(redisUrl, () => jobs.enqueueFolder({ input, output, model, batch: values.batch as string | undefined }));
    report(json, { batch: status.batch, queued: status.total, input: status.input, output: status.output, model, redis: redisUrl });
    if (!values.wait) return;
    let last = '';
    while (status.state !== 'finished') {
      await new Promise((r) => setTimeout(r, 1000));
      status = await queueCall(redisUrl, () => jobs.status(status.batch));
      const line = `${status.done + status.failed}/${status.total} (failed ${status.failed})`;
      if (line !== last) {
        if (json) process.stdout.write(`${JSON.stringify({ batch: status.batch, done: status.done, failed: status.failed, total: status.total })}\n`);
        else process.stderr.write(`${line}\n`);
        last = line;
      }
    }
    for (const f of status.failures) process.stderr.write(`failed: ${f.input}: ${f.error}\n`);
    report(json, { batch: status.batch, state: status.state, done: status.done, failed: status.failed, total: status.total });
    if (status.failed > 0) process.exitCode = 1;
  } finally {
    await jobs.close();
  }
}

/** Redis trouble is one clear line, not an ioredis stack. */
async function queueCall<T>(url: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof PsicError) throw err;
    throw new PsicError('QUEUE_UNAVAILABLE', `cannot use the job queue at ${url}: ${(err as Error).message}`);
  }
}
