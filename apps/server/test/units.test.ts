/** The small pure pieces: status table, settings from the environment, log-safe URLs, output names. */
import { describe, expect, it } from 'vitest';
import { DEFAULT_LIMITS, optionsFromEnv, outputNames, resolveLimits, statusForCode, stripQueryValues } from '../src/index.js';

describe('statusForCode', () => {
  it('maps input errors to 4xx, capacity to 503, the unknown to 500', () => {
    expect(statusForCode('BAD_MAGIC')).toBe(400);
    expect(statusForCode('WRONG_KEY')).toBe(403);
    expect(statusForCode('IMAGE_TOO_LARGE')).toBe(413);
    expect(statusForCode('UNSUPPORTED_FORMAT')).toBe(415);
    expect(statusForCode('WRONG_MODEL')).toBe(422);
    expect(statusForCode('TIME_BUDGET')).toBe(422);
    expect(statusForCode('BUSY')).toBe(503);
    expect(statusForCode('SOMETHING_ELSE')).toBe(500);
  });
});

describe('stripQueryValues', () => {
  it('keeps parameter names and drops every value, so a key in a URL never reaches the log', () => {
    expect(stripQueryValues('/v1/decode?mode=full&key=secret')).toBe('/v1/decode?mode=…&key=…');
    expect(stripQueryValues('/healthz')).toBe('/healthz');
  });
});

describe('optionsFromEnv', () => {
  it('reads port, limits, lists and redis settings', () => {
    const o = optionsFromEnv({ PORT: '9000', PSIC_MAX_PIXELS: '1000000', PSIC_WORKER_IMPORTS: '@psic/vlp, /x/y.js', REDIS_URL: 'redis://h:1', PSIC_JOBS_ROOT: '/data' });
    expect(o).toMatchObject({ port: 9000, host: '127.0.0.1', limits: { maxPixels: 1_000_000 }, workerImports: ['@psic/vlp', '/x/y.js'], redisUrl: 'redis://h:1', jobsRoot: '/data' });
    expect(optionsFromEnv({}).port).toBe(8080);
  });

  it('refuses nonsense with BAD_CONFIG', () => {
    expect(() => optionsFromEnv({ PSIC_MAX_QUEUE: '-1' })).toThrow(/PSIC_MAX_QUEUE/);
    expect(() => optionsFromEnv({ PSIC_SERVER_THREADS: '1.5' })).toThrow(/PSIC_SERVER_THREADS/);
    expect(() => optionsFromEnv({ PSIC_LABEL_OPTIONS: '[1]' })).toThrow(/PSIC_LABEL_OPTIONS/);
    expect(() => resolveLimits({ maxPixels: 0 })).toThrow(/maxPixels/);
    expect(resolveLimits({})).toEqual(DEFAULT_LIMITS);
  });
});

describe('outputNames', () => {
  it('is <stem>.psic, or <file name>.psic where stems collide', () => {
    expect(outputNames(['/i/a.png', '/i/b.jpg', '/i/a.webp'], '/o')).toEqual(['/o/a.png.psic', '/o/b.psic', '/o/a.webp.psic']);
  });
});
