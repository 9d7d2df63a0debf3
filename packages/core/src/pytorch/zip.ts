/**
 * The zip container torch.save has written since PyTorch 1.6, read with
 * yauzl under limits: the central directory is walked first and every entry
 * checked (count, uncompressed size, running total, deflate ratio, method,
 * no encryption, no duplicate names) before a byte of content is inflated;
 * yauzl then enforces the declared sizes while streaming, and the CRC-32 of
 * every entry read is verified.
 */
import { crc32 } from '@psic/entropy';
import yauzl from 'yauzl';
import { CheckpointError, badCheckpoint, tooLarge } from './errors.js';
import type { CheckpointLimits } from './limits.js';

/** Below this size a high deflate ratio is harmless (a 2-byte "version" entry compresses "badly"). */
const RATIO_CHECK_FROM_BYTES = 64 * 1024;

const STORED = 0;
const DEFLATED = 8;

export class ZipArchive {
  private constructor(
    private readonly zip: yauzl.ZipFile,
    private readonly entries: Map<string, yauzl.Entry>,
  ) {}

  /** Open and vet every entry of a zip held in memory. */
  static async open(bytes: Uint8Array, limits: Required<CheckpointLimits>): Promise<ZipArchive> {
    const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    let zip: yauzl.ZipFile;
    try {
      zip = await yauzl.fromBufferPromise(buffer, { lazyEntries: true, validateEntrySizes: true, strictFileNames: true, decodeStrings: true });
    } catch (err) {
      return badCheckpoint(`not a readable zip container (${(err as Error).message}); the file may be truncated`, err);
    }
    if (zip.entryCount > limits.maxZipEntries) {
      zip.close();
      tooLarge(`zip lists ${zip.entryCount} entries, more than the limit of ${limits.maxZipEntries}`);
    }
    const entries = new Map<string, yauzl.Entry>();
    let total = 0;
    try {
      for await (const entry of zip.eachEntry()) {
        vetEntry(entry, limits);
        if (entries.has(entry.fileName)) badCheckpoint(`zip holds "${entry.fileName}" twice`);
        total += entry.uncompressedSize;
        if (total > limits.maxTotalBytes) tooLarge(`zip entries add up to more than the limit of ${limits.maxTotalBytes} bytes`);
        entries.set(entry.fileName, entry);
      }
    } catch (err) {
      zip.close();
      if (err instanceof CheckpointError) throw err;
      return badCheckpoint(`zip central directory is damaged (${(err as Error).message})`, err);
    }
    return new ZipArchive(zip, entries);
  }

  names(): string[] {
    return [...this.entries.keys()];
  }

  has(name: string): boolean {
    return this.entries.has(name);
  }

  /** Uncompressed size the directory declares (yauzl holds the data to it). */
  size(name: string): number {
    const entry = this.entries.get(name);
    if (!entry) badCheckpoint(`zip has no entry "${name}"`);
    return entry.uncompressedSize;
  }

  /** The whole content of one entry, CRC-checked. */
  async read(name: string): Promise<Uint8Array> {
    const entry = this.entries.get(name);
    if (!entry) badCheckpoint(`zip has no entry "${name}"`);
    let out: Buffer | undefined;
    let filled = 0;
    try {
      // Opening checks that the compressed bytes lie inside the file; only then is the output allocated.
      const stream = await this.zip.openReadStreamPromise(entry);
      out = Buffer.allocUnsafe(entry.uncompressedSize);
      for await (const chunk of stream as AsyncIterable<Buffer>) {
        // yauzl also stops at the declared size; this keeps the copy in bounds regardless
        if (filled + chunk.length > out.length) badCheckpoint(`zip entry "${name}" inflates past its declared ${out.length} bytes`);
        chunk.copy(out, filled);
        filled += chunk.length;
      }
    } catch (err) {
      if (err instanceof CheckpointError) throw err;
      return badCheckpoint(`zip entry "${name}" cannot be read (${(err as Error).message})`, err);
    }
    if (!out || filled !== out.length) badCheckpoint(`zip entry "${name}" has ${filled} bytes, its header says ${entry.uncompressedSize}`);
    const data = new Uint8Array(out.buffer, out.byteOffset, out.length);
    if (crc32(data) !== entry.crc32) badCheckpoint(`zip entry "${name}" fails its CRC-32 check (damaged file)`);
    return data;
  }

  close(): void {
    this.zip.close();
  }
}

function vetEntry(entry: yauzl.Entry, limits: Required<CheckpointLimits>): void {
  const name = entry.fileName;
  if (entry.isEncrypted()) badCheckpoint(`zip entry "${name}" is encrypted`);
  if (entry.compressionMethod !== STORED && entry.compressionMethod !== DEFLATED) {
    badCheckpoint(`zip entry "${name}" uses compression method ${entry.compressionMethod} (only stored and deflate are read)`);
  }
  if (entry.uncompressedSize > limits.maxEntryBytes) {
    tooLarge(`zip entry "${name}" declares ${entry.uncompressedSize} bytes, more than the limit of ${limits.maxEntryBytes}`);
  }
  if (entry.compressionMethod === STORED && entry.compressedSize !== entry.uncompressedSize) {
    badCheckpoint(`zip entry "${name}" is stored but its sizes differ (${entry.compressedSize} vs ${entry.uncompressedSize})`);
  }
  if (
    entry.compressionMethod === DEFLATED &&
    entry.uncompressedSize > RATIO_CHECK_FROM_BYTES &&
    entry.uncompressedSize > entry.compressedSize * limits.maxCompressionRatio
  ) {
    tooLarge(
      `zip entry "${name}" would inflate ${entry.compressedSize} bytes to ${entry.uncompressedSize} ` +
        `(ratio over ${limits.maxCompressionRatio}): refused as a zip bomb`,
    );
  }
}
