import type { FetchAPI, Plugin } from 'graphql-yoga';
import { AppError, errorResponse } from '../../errors.js';

/** No GraphQL request of ours comes near this: a document is at most 5,000 tokens. */
export const MAX_REQUEST_BODY_BYTES = 1024 * 1024;

const tooLarge = (limit: number) =>
  new AppError('BAD_USER_INPUT', `The request body is larger than ${limit} bytes.`, 413);
const badLength = () => new AppError('BAD_USER_INPUT', 'The Content-Length header is invalid.', 400);

/**
 * The request-body limit, in place of yoga's (`maxRequestBodySize: false` in app.ts), which
 * pipes every body through a TransformStream even when Content-Length already bounds it: a
 * stream pipeline, an AbortController and a DOMException per request, ~10 % of a no-SQL
 * request's CPU. node:http reads exactly Content-Length bytes of an HTTP/1.1 body, so a valid
 * Content-Length is checked here and nothing is counted; a body without one (chunked) is
 * counted chunk by chunk as yoga does, and cut off at the limit.
 */
export function useRequestBodyLimit(limit = MAX_REQUEST_BODY_BYTES): Plugin {
  return {
    onRequestParse({ request, requestParser, setRequestParser, endResponse, fetchAPI }) {
      const declared = request.headers.get('content-length');
      if (declared !== null) {
        // One non-negative integer; a list ("5, 5") or anything else is refused, never skipped.
        if (!/^[0-9]{1,15}$/.test(declared)) return endResponse(errorResponse(badLength()));
        if (Number(declared) > limit) return endResponse(errorResponse(tooLarge(limit)));
        return;
      }
      if (!requestParser || !request.body) return;
      setRequestParser((unbounded) => requestParser(counted(unbounded, limit, fetchAPI)));
    },
  };
}

/** The request with a body that errors as soon as more than `limit` bytes have arrived. */
function counted(request: Request, limit: number, fetchAPI: FetchAPI): Request {
  // As yoga does: a native body stream needs the native TransformStream, a ponyfilled one its own.
  const Transform = request.body instanceof ReadableStream ? TransformStream : fetchAPI.TransformStream;
  let received = 0;
  const body = request.body!.pipeThrough(
    new Transform<Uint8Array, Uint8Array>({
      transform(chunk, controller) {
        received += chunk.byteLength;
        if (received > limit) controller.error(tooLarge(limit));
        else controller.enqueue(chunk);
      },
    }),
  );
  return new fetchAPI.Request(request.url, {
    method: request.method,
    headers: request.headers,
    signal: request.signal,
    body,
    duplex: 'half',
  } as RequestInit);
}
