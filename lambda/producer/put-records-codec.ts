import { AwsJson1_1Protocol } from '@aws-sdk/core/protocols';
import { errorTypeRegistries } from '@aws-sdk/client-kinesis';
import { JsonCodec2 } from '@smithy/core/protocols';
import { NormalizedSchema } from '@smithy/core/schema';
import type { SerdeFunctions } from '@smithy/types';

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
  public constructor() {
    // The settings AwsJsonRpcProtocol gives its default codec.
    super({ timestampFormat: { useTrait: true, default: 7 }, jsonName: false });
  }

  public override createSerializer(): Inner {
    return new PutRecordsSerializer(super.createSerializer());
  }
}

/** The Kinesis client's protocol (the settings @aws-sdk/client-kinesis gives it) with the PutRecords codec. */
export function kinesisProtocol(): AwsJson1_1Protocol {
  return new AwsJson1_1Protocol({
    defaultNamespace: 'com.amazonaws.kinesis',
    errorTypeRegistries,
    serviceTarget: 'Kinesis_20131202',
    jsonCodec: new PutRecordsJsonCodec(),
  });
}

type Inner = ReturnType<JsonCodec2['createSerializer']>;
type WrittenSchema = Parameters<Inner['write']>[0];

class PutRecordsSerializer {
  private body?: Buffer;

  public constructor(private readonly inner: Inner) {}

  public setSerdeContext(context: SerdeFunctions): void {
    this.inner.setSerdeContext(context);
  }

  public write(schema: WrittenSchema, value: unknown): void {
    this.body = NormalizedSchema.of(schema).getName() === 'PutRecordsInput' ? putRecordsBody(value) : undefined;
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

/**
 * The JSON body of a PutRecords input as the SDK writes it (members in the schema's order:
 * Records [Data, ExplicitHashKey, PartitionKey], StreamName, StreamARN; absent ones left out), or
 * undefined when the input has anything else (the SDK then writes it).
 */
export function putRecordsBody(value: unknown): Buffer | undefined {
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
  if (!Array.isArray(records) || (present(streamName) && !plain(streamName)) || (present(streamArn) && !plain(streamArn))) {
    return undefined;
  }
  // Sizes first (base64 of n bytes is 4 * ceil(n / 3) characters), then each entry's base64 text
  // is made and written at once: no text outlives its entry, so a collection meanwhile copies none.
  const data = new Array<Buffer>(records.length);
  let size = 2 + '"Records":[]'.length + records.length; // braces, the list, commas and one spare
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
    if (!(bytes instanceof Uint8Array) || !plain(key) || (present(hashKey) && !plain(hashKey))) {
      return undefined;
    }
    data[i] = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    size +=
      '{"Data":"",'.length +
      4 * Math.ceil(bytes.byteLength / 3) +
      '"PartitionKey":""}'.length +
      Buffer.byteLength(key) +
      (present(hashKey) ? '"ExplicitHashKey":"",'.length + (hashKey as string).length : 0);
  }
  if (present(streamName)) {
    size += ',"StreamName":""'.length + Buffer.byteLength(streamName as string);
  }
  if (present(streamArn)) {
    size += ',"StreamARN":""'.length + Buffer.byteLength(streamArn as string);
  }
  const out = Buffer.allocUnsafe(size);
  let at = out.write('{"Records":[', 0, 'latin1');
  for (let i = 0; i < records.length; i++) {
    const entry = records[i] as { ExplicitHashKey?: string | null; PartitionKey: string };
    at += out.write(i === 0 ? '{"Data":"' : ',{"Data":"', at, 'latin1');
    at += out.write(data[i].toString('base64'), at, 'latin1');
    if (present(entry.ExplicitHashKey)) {
      at += out.write('","ExplicitHashKey":"', at, 'latin1');
      at += out.write(entry.ExplicitHashKey as string, at, 'utf8');
    }
    at += out.write('","PartitionKey":"', at, 'latin1');
    at += out.write(entry.PartitionKey, at, 'utf8');
    at += out.write('"}', at, 'latin1');
  }
  at += out.write(']', at, 'latin1');
  if (present(streamName)) {
    at += out.write(',"StreamName":"', at, 'latin1');
    at += out.write(streamName as string, at, 'utf8');
    at += out.write('"', at, 'latin1');
  }
  if (present(streamArn)) {
    at += out.write(',"StreamARN":"', at, 'latin1');
    at += out.write(streamArn as string, at, 'utf8');
    at += out.write('"', at, 'latin1');
  }
  at += out.write('}', at, 'latin1');
  return out.subarray(0, at);
}
