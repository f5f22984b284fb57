// The bulk routes read their bodies as streams, whatever the Content-Type (curl --data-binary sends
// application/x-www-form-urlencoded): they are declared in an encapsulated scope whose only
// content-type parser hands the raw request stream through, so nothing buffers the body and the
// app's form/JSON parsers (and its body limit) stay as they are for the other routes.
// Reading stops early without destroying the request: the rest is drained so that the end of a
// stream reaches the client on a connection that stays usable; an error answer sent before the
// body ended says Connection: close instead (app.ts), and the server closes once it is out.

import type { Readable } from 'node:stream';
import type { FastifyInstance, FastifyRequest } from 'fastify';

export function registerRawBodyScope(app: FastifyInstance, declare: (scope: FastifyInstance) => void): void {
  app.register(async (scope) => {
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', (_request, payload, done) => done(null, payload));
    declare(scope);
  });
}

/** The request body as a stream (an empty one when the request has none). */
export function bodyStream(request: FastifyRequest): Readable {
  const body = request.body as Readable | undefined;
  return body !== undefined && body !== null && typeof (body as Readable).read === 'function' ? body : request.raw;
}

/** Reads chunks one at a time; `next` resolves null at the end. `stop` drains the rest unread. */
export class ChunkReader {
  private readonly iterator: AsyncIterator<Buffer>;

  constructor(private readonly stream: Readable) {
    this.iterator = stream[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  }

  async next(): Promise<Buffer | null> {
    const { value, done } = await this.iterator.next();
    return done === true ? null : (value as Buffer);
  }

  stop(): void {
    // The iterator reads through 'readable', which keeps a stream paused: hand it over to flowing mode.
    this.stream.removeAllListeners('readable');
    this.stream.on('data', () => undefined);
    this.stream.resume();
  }
}
