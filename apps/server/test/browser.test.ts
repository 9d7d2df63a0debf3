/**
 * The web page in Debian's chromium (playwright-core): upload a Kodak photo,
 * see original | protected | full with their stats and top-3 labels (from the
 * stand-in semantic target), download the .psic, and check that `psic decode`
 * gives exactly the pixels the page shows. Saves a screenshot; with
 * PSIC_UPDATE_SCREENSHOT=1 it also replaces docs/server.png.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import sharp from 'sharp';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { buildServer } from '../src/index.js';
import { assertKodak, KODAK, PLUGINS, REPO_ROOT, requireTool, SERVER_ROOT, tsNodeArgs } from './helpers.js';

const chromiumBin = requireTool(process.env.PSIC_CHROMIUM ?? '/usr/bin/chromium', 'chromium', 'browser test');

describe.skipIf(!chromiumBin)('web page in chromium', () => {
  let app: FastifyInstance;
  let browser: Browser;
  let base: string;
  let dir: string;

  beforeAll(async () => {
    assertKodak();
    dir = mkdtempSync(join(tmpdir(), 'psic-browser-'));
    [app, browser] = await Promise.all([
      buildServer({ threads: 1, workerImports: [PLUGINS], labelTarget: 'test-colours', labelCandidates: ['red', 'green', 'blue', 'grey'], logger: false }),
      chromium.launch({ executablePath: chromiumBin, args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'] }),
    ]);
    await app.listen({ port: 0, host: '127.0.0.1' });
    base = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`;
  });

  afterAll(async () => {
    await browser?.close();
    await app?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('protects a dropped photo, shows the three images with labels, and the CLI decodes the download to the same pixels', async () => {
    const context = await browser.newContext({ acceptDownloads: true, viewport: { width: 1400, height: 860 } });
    const page = await context.newPage();
    const pageErrors: string[] = [];
    page.on('pageerror', (e) => pageErrors.push(e.message));
    await page.goto(base);
    await page.waitForSelector('body[data-ready="true"]');
    await page.setInputFiles('#file', join(KODAK, 'kodim23.png'));

    await page.waitForSelector('#panel-full[data-ready]', { timeout: 60_000 });
    for (const id of ['original', 'protected', 'full']) {
      await page.waitForFunction((p) => document.querySelectorAll(`#panel-${p} .labels li`).length === 3, id, { timeout: 30_000 });
      const shown = await page.$eval(`#panel-${id} img`, (img) => (img as HTMLImageElement).complete && (img as HTMLImageElement).naturalWidth);
      expect(shown).toBe(768);
    }
    expect(await page.textContent('#panel-protected .mode')).toContain('plain');
    const psnrText = await page.textContent('#panel-protected dd[data-stat="PSNR"]');
    expect(Number.parseFloat(psnrText!)).toBeGreaterThan(25);
    expect(await page.textContent('#status')).toBe('done');

    const [download] = await Promise.all([page.waitForEvent('download'), page.click('#download')]);
    expect(download.suggestedFilename()).toBe('kodim23.psic');
    const psic = join(dir, 'kodim23.psic');
    await download.saveAs(psic);

    // the exact RGB the page displays, hashed in the page
    const shownPixels = await page.evaluate(async () => {
      const img = document.querySelector('#panel-protected img') as HTMLImageElement;
      const bitmap = await createImageBitmap(img, { colorSpaceConversion: 'none', premultiplyAlpha: 'none' });
      const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
      const ctx = canvas.getContext('2d')!;
      ctx.drawImage(bitmap, 0, 0);
      const rgba = ctx.getImageData(0, 0, bitmap.width, bitmap.height).data;
      const rgb = new Uint8Array((rgba.length / 4) * 3);
      for (let i = 0, j = 0; i < rgba.length; i += 4) {
        rgb[j++] = rgba[i];
        rgb[j++] = rgba[i + 1];
        rgb[j++] = rgba[i + 2];
      }
      const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', rgb));
      return { width: bitmap.width, height: bitmap.height, sha256: [...digest].map((b) => b.toString(16).padStart(2, '0')).join('') };
    });

    // psic decode with the float transforms where the server's threads run them (runtime and tensor backend):
    // the entropy path is exact everywhere, float synthesis may differ by one level between runtimes
    const out = join(dir, 'cli.png');
    const { backend, runtime } = app.psic.catalogue;
    await promisify(execFile)(process.execPath, tsNodeArgs('test/fixtures/run-cli-command.ts', 'decode', psic, out, '--backend', backend), {
      cwd: SERVER_ROOT,
      timeout: 60_000,
      env: { ...process.env, PSIC_RUNTIME: runtime },
    });
    const { data, info } = await sharp(out).removeAlpha().raw().toBuffer({ resolveWithObject: true });
    expect({ width: info.width, height: info.height }).toEqual({ width: shownPixels.width, height: shownPixels.height });
    expect(createHash('sha256').update(data).digest('hex')).toBe(shownPixels.sha256);

    const shot = join(dir, 'server.png');
    await page.screenshot({ path: shot, fullPage: true });
    if (process.env.PSIC_UPDATE_SCREENSHOT === '1') copyFileSync(shot, join(REPO_ROOT, 'docs/server.png'));
    expect(pageErrors).toEqual([]);
    await context.close();
  });
});
