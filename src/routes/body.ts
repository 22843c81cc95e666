import fs from 'node:fs';
import path from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as NodeReadableStream } from 'node:stream/web';
import { randomBytes } from 'node:crypto';
import busboy from 'busboy';
import type { MiddlewareHandler } from 'hono';
import type { AppEnv } from '../context.js';
import { AppError, badRequest } from '../errors.js';
import type { Ctx } from './http.js';
import type { UploadSlots } from '../services/upload-slots.js';

/**
 * Request bodies: nothing is read before authentication, CSRF and authorization have been decided, and nothing is
 * ever held in memory beyond a small, fixed limit. Large uploads (advisory imports) go to a temporary file, through
 * a bounded number of upload slots, after the route has checked who is calling.
 */

const tooLarge = (max: number) => new AppError('TOO_LARGE', `request body larger than ${max} bytes`);

/**
 * Replaces the request's body with one that fails with TOO_LARGE once more than `maxBytes` went through. A declared
 * `Content-Length` over the limit is refused before anything is read. Unlike hono's bodyLimit, which buffers a
 * chunked body to count it, this only counts: whoever reads the body (after auth) meets the limit.
 */
export function streamingBodyLimit(maxBytes: number | ((c: Ctx) => number | null)): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const max = typeof maxBytes === 'function' ? maxBytes(c) : maxBytes;
    if (max === null || !c.req.raw.body) return next();
    const declared = c.req.header('content-length');
    if (declared !== undefined && !c.req.header('transfer-encoding') && Number(declared) > max) throw tooLarge(max);
    limitBody(c, max);
    return next();
  };
}

/** Wraps the body so that reading past `max` bytes fails with TOO_LARGE (the error reaches whoever reads). */
export function limitBody(c: Ctx, max: number): void {
  const body = c.req.raw.body;
  if (!body) return;
  let seen = 0;
  const counted = body.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, ctl) {
        seen += chunk.byteLength;
        if (seen > max) ctl.error(tooLarge(max));
        else ctl.enqueue(chunk);
      },
    }),
  );
  replaceBody(c, counted);
}

function replaceBody(c: Ctx, body: ReadableStream<Uint8Array>): void {
  const raw = c.req.raw;
  c.req.raw = new Request(raw.url, { method: raw.method, headers: raw.headers, body, signal: raw.signal, duplex: 'half' } as RequestInit);
}

/** The multipart boundary of a Content-Type, or undefined. */
function boundaryOf(type: string): string | undefined {
  const m = /;\s*boundary=(?:"([^"]{1,70})"|([^\s;]{1,70}))/i.exec(type);
  return m?.[1] ?? m?.[2];
}

/** How much of a multipart body is read, at most, to find its first field (the CSRF token). */
export const FIRST_PART_LIMIT = 16 * 1024;

/**
 * The value of the first field of a multipart body when its name is `name`, read without consuming the body for
 * the route: the bytes read are put back in front of the rest of the stream. At most FIRST_PART_LIMIT bytes are read;
 * undefined when the first field is another one, a file, or does not end within that.
 */
export async function peekFirstMultipartField(c: Ctx, name: string): Promise<string | undefined> {
  const boundary = boundaryOf(c.req.header('content-type') ?? '');
  const body = c.req.raw.body;
  if (!boundary || !body) return undefined;
  const reader = body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  let value: string | undefined;
  let done = false;
  const delimiter = Buffer.from(`\r\n--${boundary}`);
  for (;;) {
    const r = await reader.read();
    if (r.done) {
      done = true;
      break;
    }
    chunks.push(r.value);
    size += r.value.byteLength;
    const buf = Buffer.concat(chunks.map((x) => Buffer.from(x.buffer, x.byteOffset, x.byteLength)));
    const start = buf.indexOf(`--${boundary}\r\n`);
    if (start === 0) {
      const headEnd = buf.indexOf('\r\n\r\n', start);
      const end = headEnd < 0 ? -1 : buf.indexOf(delimiter, headEnd + 4);
      if (end >= 0) {
        const head = buf.subarray(start, headEnd).toString('latin1');
        const disp = /content-disposition:\s*form-data;\s*name="([^"]*)"(.*)$/im.exec(head);
        if (disp && disp[1] === name && !/filename/i.test(disp[2] ?? '')) value = buf.subarray(headEnd + 4, end).toString('utf8');
        break;
      }
    } else if (buf.length >= boundary.length + 4) break; // not a multipart body that starts with its boundary
    if (size > FIRST_PART_LIMIT) break;
  }
  const prefix = chunks;
  const rest = new ReadableStream<Uint8Array>({
    async pull(ctl) {
      const next = prefix.shift();
      if (next) return ctl.enqueue(next);
      if (done) return ctl.close();
      try {
        const r = await reader.read();
        if (r.done) ctl.close();
        else ctl.enqueue(r.value);
      } catch (err) {
        ctl.error(err);
      }
    },
    cancel(reason) {
      return reader.cancel(reason);
    },
  });
  replaceBody(c, rest);
  return value;
}

export interface ReceivedFile {
  /** temporary file holding the upload; removed by `dispose` */
  path: string;
  /** the client's file name (multipart) or '' */
  filename: string;
  size: number;
  dispose(): void;
}

/**
 * Receives a large upload into a temporary file under `tmpDir`: the raw body, or the multipart field `field`
 * (other fields are ignored; a `_csrf` field has already been checked). Call only after authorization: this is where
 * the bytes are read. Holds an upload slot while receiving. Errors: TOO_LARGE past `maxBytes`, BAD_REQUEST when the
 * form has no such file field, UNAVAILABLE when all slots are busy.
 */
export async function receiveUpload(c: Ctx, opts: { tmpDir: string; maxBytes: number; slots: UploadSlots; field?: string }): Promise<ReceivedFile> {
  const release = opts.slots.acquire();
  fs.mkdirSync(opts.tmpDir, { recursive: true, mode: 0o700 });
  const file = path.join(opts.tmpDir, `upload-${randomBytes(12).toString('hex')}`);
  const dispose = () => fs.rmSync(file, { force: true });
  try {
    const declared = c.req.header('content-length');
    if (declared !== undefined && !c.req.header('transfer-encoding') && Number(declared) > opts.maxBytes + 64 * 1024) throw tooLarge(opts.maxBytes);
    const body = c.req.raw.body;
    if (!body) throw badRequest('the request has no body');
    const input = Readable.fromWeb(body as unknown as NodeReadableStream<Uint8Array>);
    let size = 0;
    const counter = () =>
      new Transform({
        transform(chunk: Buffer, _enc, cb) {
          size += chunk.length;
          cb(size > opts.maxBytes ? tooLarge(opts.maxBytes) : null, chunk);
        },
      });
    let filename = '';
    if (opts.field === undefined) {
      await pipeline(input, counter(), fs.createWriteStream(file, { mode: 0o600 }));
    } else {
      filename = await receiveMultipartFile(c, input, opts.field, file, counter, opts.maxBytes);
    }
    return { path: file, filename, size, dispose };
  } catch (err) {
    dispose();
    throw err;
  } finally {
    release();
  }
}

function receiveMultipartFile(c: Ctx, input: Readable, field: string, file: string, counter: () => Transform, maxBytes: number): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    let bb: busboy.Busboy;
    try {
      bb = busboy({ headers: { 'content-type': c.req.header('content-type') ?? '' }, limits: { files: 1, fields: 20, fieldSize: 64 * 1024, parts: 30, fileSize: maxBytes + 1 } });
    } catch {
      reject(badRequest('expected a multipart/form-data body'));
      return;
    }
    let got: Promise<string> | undefined;
    let failed = false;
    const fail = (err: unknown) => {
      if (failed) return;
      failed = true;
      input.unpipe(bb);
      input.destroy();
      reject(err);
    };
    bb.on('file', (name, stream, info) => {
      if (name !== field || got) {
        stream.resume();
        return;
      }
      got = pipeline(stream, counter(), fs.createWriteStream(file, { mode: 0o600 })).then(() => (info.filename ?? '').slice(0, 255));
      got.catch(fail);
    });
    bb.on('error', (err) => fail(err instanceof AppError ? err : badRequest('malformed multipart body')));
    bb.on('close', () => {
      if (failed) return;
      if (!got) return fail(badRequest(`the form needs a file field "${field}"`));
      got.then(resolve, fail);
    });
    input.on('error', fail);
    input.pipe(bb);
  });
}
