import type * as http from 'http';
import { cbor } from '@smithy/core/cbor';
import { AMZ_CBOR } from '../../lambda/producer/put-records-codec';

export { AMZ_CBOR };

/**
 * The two wire forms a Kinesis endpoint speaks, for our fake endpoints (tests and benches): AWS
 * JSON 1.1 (`application/x-amz-json-1.1`, blobs as base64 text) and its CBOR form
 * (`application/x-amz-cbor-1.1`, blobs as byte strings). As Kinesis does, a fake answers in the
 * form it was asked in.
 */
export const AMZ_JSON = 'application/x-amz-json-1.1';

/** The form a request came in: AMZ_CBOR when its content type says so, else AMZ_JSON. */
export function formOf(headers: http.IncomingHttpHeaders): string {
  return String(headers['content-type']).split(';')[0].trim() === AMZ_CBOR ? AMZ_CBOR : AMZ_JSON;
}

/** A PutRecords entry as it arrived, its Data as bytes whichever the form. */
export interface WireEntry {
  Data: Buffer;
  PartitionKey: string;
  ExplicitHashKey?: string;
}

/** A request body in either form; a PutRecords input's entries' Data as bytes. */
export function readRequest(
  req: http.IncomingMessage,
  body: Buffer,
): { form: string; input: Record<string, unknown> & { Records?: WireEntry[] } } {
  const form = formOf(req.headers);
  if (form === AMZ_CBOR) {
    const input = cbor.deserialize(body) as Record<string, unknown> & { Records?: Array<Omit<WireEntry, 'Data'> & { Data: Uint8Array }> };
    for (const entry of input.Records ?? []) {
      entry.Data = Buffer.from(entry.Data.buffer, entry.Data.byteOffset, entry.Data.byteLength);
    }
    return { form, input: input as Record<string, unknown> & { Records?: WireEntry[] } };
  }
  const input = JSON.parse(body.toString('utf8') || '{}') as Record<string, unknown> & {
    Records?: Array<Omit<WireEntry, 'Data'> & { Data: unknown }>;
  };
  for (const entry of input.Records ?? []) {
    entry.Data = Buffer.from(entry.Data as string, 'base64');
  }
  return { form, input: input as Record<string, unknown> & { Records?: WireEntry[] } };
}

/** Answers `body` in `form` (an error, status >= 400, also names its type in `x-amzn-errortype`, as Kinesis does). */
export function sendAnswer(
  res: http.ServerResponse,
  form: string,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  if (res.destroyed) {
    return;
  }
  const bytes = form === AMZ_CBOR ? Buffer.from(cbor.serialize(body)) : Buffer.from(JSON.stringify(body));
  res.writeHead(status, {
    'content-type': form === AMZ_CBOR ? AMZ_CBOR : AMZ_JSON,
    'content-length': bytes.length,
    ...(status >= 400 ? { 'x-amzn-errortype': (body as { __type: string }).__type } : {}),
    ...headers,
  });
  res.end(bytes);
}
