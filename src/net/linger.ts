import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';

const CURRENT = Symbol('berth.currentRequest');
type LingerSocket = Socket & { [CURRENT]?: IncomingMessage; destroySoon?: () => void };

/**
 * A lingering close for answers given before the request body was read (a refused upload, a 413). Node closes such
 * a connection at once after the answer; the client is still sending, so the kernel answers its next bytes with a
 * reset, and a reset can make the client drop the answer it had not read yet (the reason Apache and nginx linger).
 * Here the socket sends its FIN after the answer and keeps discarding what arrives, up to `maxBytes` or `maxMs`,
 * then closes. Installed once per socket; `req` is the request being answered on it.
 */
export function lingerBeforeClose(req: IncomingMessage, opts: { maxBytes: number; maxMs: number } = { maxBytes: 16 * 1024 * 1024, maxMs: 5000 }): void {
  const sock = req.socket as LingerSocket;
  const installed = sock[CURRENT] !== undefined;
  sock[CURRENT] = req;
  if (installed || typeof sock.destroySoon !== 'function') return;
  const original = sock.destroySoon.bind(sock);
  sock.destroySoon = () => {
    const current = sock[CURRENT];
    if (!current || current.complete || sock.destroyed) return original();
    sock.end();
    let seen = 0;
    const done = () => {
      clearTimeout(timer);
      sock.destroy();
    };
    const timer = setTimeout(done, opts.maxMs);
    timer.unref();
    sock.on('data', (c: Buffer) => {
      seen += c.length;
      if (seen > opts.maxBytes) done();
    });
    sock.once('end', done);
    sock.once('close', () => clearTimeout(timer));
    sock.resume();
  };
}
