import { readFile } from 'node:fs/promises';
import { fingerprintHex } from '@psic/core';
import { readContainer } from '@psic/entropy';
import { parse, requirePositionals } from '../args.js';
import { report } from '../output.js';

const HELP = `Usage: psic info FILE.psic [--json]

Validate a .psic file and print its header: backbone, weight fingerprint,
image size, sections.
`;

export async function infoCommand(argv: string[]): Promise<void> {
  const { values, positionals } = parse(argv, { json: { type: 'boolean' } }, HELP);
  requirePositionals(positionals, 1, HELP);
  const bytes = new Uint8Array(await readFile(positionals[0]));
  const c = readContainer(bytes);
  report(values.json === true, {
    file: positionals[0],
    bytes: bytes.length,
    version: c.version,
    backbone: c.backbone,
    fingerprint: fingerprintHex(c.fingerprint),
    width: c.width,
    height: c.height,
    sections: c.sections.map((s) => s.length).join(' + '),
    bpp: (bytes.length * 8) / (c.width * c.height),
  });
}
