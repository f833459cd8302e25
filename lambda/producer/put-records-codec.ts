import { AwsJson1_1Protocol } from '@aws-sdk/core/protocols';
import { errorTypeRegistries } from '@aws-sdk/client-kinesis';
import { CborCodec } from '@smithy/core/cbor';
import { JsonCodec2, collectBody } from '@smithy/core/protocols';
import { NormalizedSchema } from '@smithy/core/schema';
import type {
  EndpointBearer,
  HandlerExecutionContext,
  HttpRequest,
  HttpResponse,
  MetadataBearer,
  OperationSchema,
  SerdeFunctions,
} from '@smithy/types';
import { wellFormed } from '../shared/text';

/** The content type of Kinesis's CBOR form of its JSON 1.1 protocol (what the AWS SDK for Java, and so the KPL's Java users and the KCL, send by default). */
export const AMZ_CBOR = 'application/x-amz-cbor-1.1';

/**
 * Whether PutRecords goes as CBOR: yes, unless the environment turns it off the way the AWS SDK
 * for Java is told to (`AWS_CBOR_DISABLE` set, SDK v1; `AWS_CBOR_ENABLED=false`, SDK v2), e.g.
 * behind a proxy or an emulator that speaks only JSON.
 */
export function cborEnabled(env: NodeJS.ProcessEnv = process.env): boolean {
  const disable = env.AWS_CBOR_DISABLE;
  return (disable === undefined || disable === '' || disable.toLowerCase() === 'false') && env.AWS_CBOR_ENABLED?.toLowerCase() !== 'false';
}

/**
 * The Kinesis client's JSON codec with one change: a PutRecords request body is written with
 * Node's native base64 (`Buffer#toString('base64')`) instead of the SDK's JavaScript loop
 * (`JsonShapeSerializer2.writeBase64`, about 7 ms per 2 MB request), byte for byte the body the
 * SDK writes (test/producer/put-records-codec.test.ts checks it against the SDK's own serializer).
 * Everything else (other operations, a PutRecords input with a member this does not know or a
 * string that needs JSON escaping) goes to the SDK's serializer unchanged, and so do signing,
 * retries and transport. It plugs in through the protocol's documented `jsonCodec` setting
 * (`AwsJson1_1Protocol({ …, jsonCodec })`, given as the client's `protocol`).
 */
export class PutRecordsJsonCodec extends JsonCodec2 {
  /** With `cbor`, a PutRecords body is written as CBOR (putRecordsCbor) where it can be, else as JSON. */
  public constructor(private readonly cbor = false) {
    // The settings AwsJsonRpcProtocol gives its default codec.
    super({ timestampFormat: { useTrait: true, default: 7 }, jsonName: false });
  }

  public override createSerializer(): Inner {
    return new PutRecordsSerializer(super.createSerializer(), this.cbor);
  }
}

/** Bodies written as CBOR (their requests are labelled so by KinesisProtocol.serializeRequest). */
const CBOR_BODIES = new WeakSet<Uint8Array>();

/** Where a PutRecords input's CBOR body may be written, by the input's `Records` list (lendBodyMemory). */
const BODY_MEMORY = new WeakMap<object, (bytes: number) => Buffer>();

/**
 * Lets the CBOR body of the PutRecords input whose `Records` list is `records` be written in memory
 * from `memory` (a slab lent until the caller's call has settled, slab-pool.ts) instead of a fresh
 * buffer: megabytes of new memory per request are otherwise mapped in page by page and counted by
 * V8 as external memory, which brings collections forward. The caller promises that nothing reads
 * the body once the call has settled (the SDK sends it, and resends it on its own retries, before
 * it answers).
 */
export function lendBodyMemory(records: readonly object[], memory: (bytes: number) => Buffer): void {
  BODY_MEMORY.set(records, memory);
}

/**
 * The Kinesis client's protocol (AWS JSON 1.1, the settings @aws-sdk/client-kinesis gives it) with
 * the PutRecords codec, and with `cbor` PutRecords sent in Kinesis's CBOR form
 * (`application/x-amz-cbor-1.1`, the default of the AWS SDK for Java): the records' bytes go in
 * as they are (CBOR byte strings), with no base64 text made and copied (about 2 ms per 2.3 MB
 * request) and a body a quarter smaller to hash and send. Kinesis answers a CBOR request in CBOR,
 * errors too; answers are read by their content type (CBOR with the SDK's own CBOR deserializer,
 * anything else as before), so every other operation, and any JSON answer, is unchanged. Signing,
 * retries and transport stay the SDK's.
 */
export class KinesisProtocol extends AwsJson1_1Protocol {
  private readonly cborCodec = new CborCodec();

  public constructor(cbor: boolean) {
    super({
      defaultNamespace: 'com.amazonaws.kinesis',
      errorTypeRegistries,
      serviceTarget: 'Kinesis_20131202',
      jsonCodec: new PutRecordsJsonCodec(cbor),
    });
  }

  public override setSerdeContext(serdeContext: SerdeFunctions): void {
    super.setSerdeContext(serdeContext);
    this.cborCodec.setSerdeContext(serdeContext);
  }

  public override async serializeRequest<Input extends object>(
    operationSchema: OperationSchema,
    input: Input,
    context: HandlerExecutionContext & SerdeFunctions & EndpointBearer,
  ): Promise<HttpRequest> {
    const request = await super.serializeRequest(operationSchema, input, context);
    if (request.body instanceof Uint8Array && CBOR_BODIES.has(request.body)) {
      request.headers['content-type'] = AMZ_CBOR;
    }
    return request;
  }

  public override async deserializeResponse<Output extends MetadataBearer>(
    operationSchema: OperationSchema,
    context: HandlerExecutionContext & SerdeFunctions,
    response: HttpResponse,
  ): Promise<Output> {
    if (contentTypeOf(response) !== AMZ_CBOR) {
      return super.deserializeResponse(operationSchema, context, response);
    }
    // As RpcProtocol.deserializeResponse reads JSON (no event streams in Kinesis's CBOR answers).
    const bytes = await collectBody(response.body, context);
    const deserializer = this.cborCodec.createDeserializer();
    if (this.isErrorResponse(response.statusCode)) {
      const dataObject = bytes.byteLength > 0 ? (deserializer.read(15, bytes) as Record<string, unknown>) : {};
      await this.handleError(operationSchema, context, response, dataObject, this.deserializeMetadata(response));
      throw new Error('Kinesis CBOR protocol: the error handler did not throw');
    }
    const output = bytes.byteLength > 0 ? (deserializer.read(NormalizedSchema.of(operationSchema.output), bytes) as object) : {};
    return { ...output, $metadata: this.deserializeMetadata(response) } as Output;
  }
}

function contentTypeOf(response: HttpResponse): string | undefined {
  for (const name in response.headers) {
    if (name.toLowerCase() === 'content-type') {
      return response.headers[name].split(';')[0].trim().toLowerCase();
    }
  }
  return undefined;
}

/** The Kinesis client's protocol for the producer: KinesisProtocol, CBOR unless the environment turns it off (cborEnabled). */
export function kinesisProtocol(options: { cbor?: boolean } = {}): KinesisProtocol {
  return new KinesisProtocol(options.cbor ?? cborEnabled());
}

type Inner = ReturnType<JsonCodec2['createSerializer']>;
type WrittenSchema = Parameters<Inner['write']>[0];

class PutRecordsSerializer {
  private body?: Buffer;

  public constructor(
    private readonly inner: Inner,
    private readonly cbor: boolean,
  ) {}

  public setSerdeContext(context: SerdeFunctions): void {
    this.inner.setSerdeContext(context);
  }

  public write(schema: WrittenSchema, value: unknown): void {
    this.body = undefined;
    if (NormalizedSchema.of(schema).getName() === 'PutRecordsInput') {
      const records = (value as { Records?: unknown } | null)?.Records;
      const memory = typeof records === 'object' && records !== null ? BODY_MEMORY.get(records) : undefined;
      const cbor = this.cbor ? putRecordsCbor(value, memory) : undefined;
      if (cbor !== undefined) {
        CBOR_BODIES.add(cbor);
      }
      this.body = cbor ?? putRecordsBody(value);
    }
    if (this.body === undefined) {
      this.inner.write(schema, value);
    }
  }

  public flush(): Uint8Array {
    const { body } = this;
    if (body !== undefined) {
      this.body = undefined;
      return body;
    }
    return this.inner.flush();
  }
}

/** Strings written as they are: no character JSON escapes, no surrogate (the SDK escapes lone ones). */
// eslint-disable-next-line no-control-regex -- the control characters are exactly what JSON must escape
const PLAIN = /^[^"\\\u0000-\u001f\ud800-\udfff]*$/;
const INPUT_MEMBERS = new Set(['Records', 'StreamName', 'StreamARN']);
const ENTRY_MEMBERS = new Set(['Data', 'ExplicitHashKey', 'PartitionKey']);

const plain = (value: unknown): value is string => typeof value === 'string' && PLAIN.test(value);
const present = (value: unknown): boolean => value !== undefined && value !== null;

/** A PutRecords input this codec writes itself: only the members it knows, each Data as a Buffer (no copy). */
interface PutRecordsShape {
  readonly entries: ReadonlyArray<{ readonly data: Buffer; readonly partitionKey: string; readonly explicitHashKey?: string }>;
  readonly streamName?: string;
  readonly streamArn?: string;
}

/**
 * The input as a PutRecordsShape, or undefined when it has a member this codec does not know, a
 * Data that is not bytes, or a string `writable` refuses (the SDK's serializer then writes it).
 */
function shapeOf(value: unknown, writable: (text: unknown) => text is string): PutRecordsShape | undefined {
  if (typeof value !== 'object' || value === null) {
    return undefined;
  }
  const input = value as Record<string, unknown>;
  for (const name in input) {
    if (!INPUT_MEMBERS.has(name) && present(input[name])) {
      return undefined;
    }
  }
  const { Records: records, StreamName: streamName, StreamARN: streamArn } = input;
  if (!Array.isArray(records) || (present(streamName) && !writable(streamName)) || (present(streamArn) && !writable(streamArn))) {
    return undefined;
  }
  const entries = new Array<PutRecordsShape['entries'][number]>(records.length);
  for (let i = 0; i < records.length; i++) {
    const entry = records[i] as Record<string, unknown> | null;
    if (typeof entry !== 'object' || entry === null) {
      return undefined;
    }
    for (const name in entry) {
      if (!ENTRY_MEMBERS.has(name) && present(entry[name])) {
        return undefined;
      }
    }
    const { Data: bytes, ExplicitHashKey: hashKey, PartitionKey: key } = entry;
    if (!(bytes instanceof Uint8Array) || !writable(key) || (present(hashKey) && !writable(hashKey))) {
      return undefined;
    }
    const data = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    entries[i] = present(hashKey) ? { data, partitionKey: key, explicitHashKey: hashKey as string } : { data, partitionKey: key };
  }
  return {
    entries,
    ...(present(streamName) ? { streamName: streamName as string } : {}),
    ...(present(streamArn) ? { streamArn: streamArn as string } : {}),
  };
}

/**
 * The JSON body of a PutRecords input as the SDK writes it (members in the schema's order:
 * Records [Data, ExplicitHashKey, PartitionKey], StreamName, StreamARN; absent ones left out), or
 * undefined when the input has anything else (the SDK then writes it).
 */
export function putRecordsBody(value: unknown): Buffer | undefined {
  const shape = shapeOf(value, plain);
  if (shape === undefined) {
    return undefined;
  }
  const { entries, streamName, streamArn } = shape;
  // Sizes first (base64 of n bytes is 4 * ceil(n / 3) characters), then each entry's base64 text
  // is made and written at once: no text outlives its entry, so a collection meanwhile copies none.
  let size = 2 + '"Records":[]'.length + entries.length; // braces, the list, commas and one spare
  for (const { data, partitionKey, explicitHashKey } of entries) {
    size +=
      '{"Data":"",'.length +
      4 * Math.ceil(data.byteLength / 3) +
      '"PartitionKey":""}'.length +
      Buffer.byteLength(partitionKey) +
      (explicitHashKey !== undefined ? '"ExplicitHashKey":"",'.length + explicitHashKey.length : 0);
  }
  if (streamName !== undefined) {
    size += ',"StreamName":""'.length + Buffer.byteLength(streamName);
  }
  if (streamArn !== undefined) {
    size += ',"StreamARN":""'.length + Buffer.byteLength(streamArn);
  }
  const out = Buffer.allocUnsafe(size);
  let at = out.write('{"Records":[', 0, 'latin1');
  for (let i = 0; i < entries.length; i++) {
    const { data, partitionKey, explicitHashKey } = entries[i];
    at += out.write(i === 0 ? '{"Data":"' : ',{"Data":"', at, 'latin1');
    at += out.write(data.toString('base64'), at, 'latin1');
    if (explicitHashKey !== undefined) {
      at += out.write('","ExplicitHashKey":"', at, 'latin1');
      at += out.write(explicitHashKey, at, 'utf8');
    }
    at += out.write('","PartitionKey":"', at, 'latin1');
    at += out.write(partitionKey, at, 'utf8');
    at += out.write('"}', at, 'latin1');
  }
  at += out.write(']', at, 'latin1');
  if (streamName !== undefined) {
    at += out.write(',"StreamName":"', at, 'latin1');
    at += out.write(streamName, at, 'utf8');
    at += out.write('"', at, 'latin1');
  }
  if (streamArn !== undefined) {
    at += out.write(',"StreamARN":"', at, 'latin1');
    at += out.write(streamArn, at, 'utf8');
    at += out.write('"', at, 'latin1');
  }
  at += out.write('}', at, 'latin1');
  return out.subarray(0, at);
}

/** A string UTF-8 can hold (no lone surrogate, which would be written as U+FFFD): other input goes the SDK's way. */
const text = (value: unknown): value is string => typeof value === 'string' && wellFormed(value);

const MAJOR_BYTES = 2;
const MAJOR_TEXT = 3;
const MAJOR_ARRAY = 4;
const MAJOR_MAP = 5;

/** Bytes of a CBOR head (major type and argument) for `n`. */
const headSize = (n: number): number => (n < 24 ? 1 : n < 0x100 ? 2 : n < 0x10000 ? 3 : 5);
/** Bytes of a CBOR text string holding `value`. */
const textSize = (value: string): number => {
  const bytes = Buffer.byteLength(value, 'utf8');
  return headSize(bytes) + bytes;
};

/**
 * The CBOR body of a PutRecords input (RFC 8949: a map of Records, a list of maps of Data as a byte
 * string, ExplicitHashKey and PartitionKey as text; StreamName and StreamARN as text; absent
 * members left out; definite lengths, the shortest heads), or undefined when the input has anything
 * else or a string UTF-8 cannot hold (the JSON codec then writes it). Each record's bytes are
 * copied in once, into `memory(size)` (the first `size` bytes of it) or a fresh buffer.
 */
export function putRecordsCbor(value: unknown, memory?: (bytes: number) => Buffer): Buffer | undefined {
  const shape = shapeOf(value, text);
  if (shape === undefined || shape.entries.length >= 2 ** 32 || shape.entries.some(({ data }) => data.byteLength >= 2 ** 32)) {
    return undefined;
  }
  const { entries, streamName, streamArn } = shape;
  let size = 1 + textSize('Records') + headSize(entries.length);
  for (const { data, partitionKey, explicitHashKey } of entries) {
    size +=
      1 +
      textSize('Data') +
      headSize(data.byteLength) +
      data.byteLength +
      textSize('PartitionKey') +
      textSize(partitionKey) +
      (explicitHashKey !== undefined ? textSize('ExplicitHashKey') + textSize(explicitHashKey) : 0);
  }
  if (streamName !== undefined) {
    size += textSize('StreamName') + textSize(streamName);
  }
  if (streamArn !== undefined) {
    size += textSize('StreamARN') + textSize(streamArn);
  }
  const out = memory === undefined ? Buffer.allocUnsafe(size) : memory(size).subarray(0, size);
  let at = 0;
  const head = (major: number, n: number): void => {
    if (n < 24) {
      out[at++] = (major << 5) | n;
    } else if (n < 0x100) {
      out[at++] = (major << 5) | 24;
      out[at++] = n;
    } else if (n < 0x10000) {
      out[at++] = (major << 5) | 25;
      at = out.writeUInt16BE(n, at);
    } else {
      out[at++] = (major << 5) | 26;
      at = out.writeUInt32BE(n, at);
    }
  };
  const writeText = (value: string): void => {
    head(MAJOR_TEXT, Buffer.byteLength(value, 'utf8'));
    at += out.write(value, at, 'utf8');
  };
  head(MAJOR_MAP, 1 + (streamName !== undefined ? 1 : 0) + (streamArn !== undefined ? 1 : 0));
  writeText('Records');
  head(MAJOR_ARRAY, entries.length);
  for (const { data, partitionKey, explicitHashKey } of entries) {
    head(MAJOR_MAP, explicitHashKey !== undefined ? 3 : 2);
    writeText('Data');
    head(MAJOR_BYTES, data.byteLength);
    at += data.copy(out, at);
    if (explicitHashKey !== undefined) {
      writeText('ExplicitHashKey');
      writeText(explicitHashKey);
    }
    writeText('PartitionKey');
    writeText(partitionKey);
  }
  if (streamName !== undefined) {
    writeText('StreamName');
    writeText(streamName);
  }
  if (streamArn !== undefined) {
    writeText('StreamARN');
    writeText(streamArn);
  }
  // Every byte was sized above; should the two ever disagree, the JSON codec writes the body.
  return at === size ? out : undefined;
}
