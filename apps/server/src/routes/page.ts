/**
 * The web page: three static files from apps/server/public, read once at
 * start. Plain HTML/JS/CSS, no build step; it talks to the same /v1 API as
 * any client.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';

/** apps/server/public, from src/routes/*.ts (tests) and from dist/*.js (built). */
export function publicDir(): string {
  const here = import.meta.url;
  return fileURLToPath(new URL(here.includes('/src/routes/') ? '../../public/' : '../public/', here));
}

const FILES: [string, string, string][] = [
  ['/', 'index.html', 'text/html; charset=utf-8'],
  ['/app.js', 'app.js', 'text/javascript; charset=utf-8'],
  ['/style.css', 'style.css', 'text/css; charset=utf-8'],
];

// the page loads only its own files; decoded images are blob: URLs
const CSP = "default-src 'self'; img-src 'self' blob: data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'";

export async function pageRoutes(app: FastifyInstance): Promise<void> {
  const dir = publicDir();
  for (const [url, file, type] of FILES) {
    const body = readFileSync(`${dir}${file}`);
    app.get(url, { schema: { hide: true } }, async (_req, reply) =>
      reply.type(type).header('cache-control', 'no-cache').header('content-security-policy', CSP).header('x-content-type-options', 'nosniff').send(body),
    );
  }
}
