/**
 * The scaler's settings contract shared by `ShardAutoscaler` (which sets them) and the handler
 * (which reads them): the consumers variable and its typed parser. Pure: no AWS clients, no
 * logger, so the construct can import it at synth time.
 */

/** A setting of the scaler's environment is missing or malformed. */
export class ScalerConfigError extends Error {
  public override readonly name = 'ScalerConfigError';
}

/** One consumer as the scaler reads it (the `CONSUMERS` variable holds a JSON array of these). */
export interface ScalerConsumerConfig {
  /** Unique among the consumers: its cooldown's key in the state, its name in reasons. */
  readonly id: string;
  /** Its Lambda function: AWS/Lambda IteratorAge, Errors, Duration (FunctionName dimension). */
  readonly functionName: string;
  /** Its handler's `service` dimension (UserRecords, ProcessingFailures, DuplicatesSkipped). */
  readonly serviceName?: string;
  /** Its function timeout, ms. */
  readonly timeoutMs?: number;
  /** Its event-source mapping, when the scaler may change the mapping's parallelization factor. */
  readonly eventSourceMappingId?: string;
}

/**
 * The variable that holds every consumer of the stream, as a JSON array of
 * `{ id, functionName, serviceName?, timeoutMs?, eventSourceMappingId? }` (`ScalerConsumerConfig`);
 * `ShardAutoscaler` sets it. The older single-consumer variables (CONSUMER_FUNCTION_NAME,
 * CONSUMER_SERVICE_NAME, CONSUMER_TIMEOUT_MS, EVENT_SOURCE_MAPPING_ID) are still read without it.
 */
export const CONSUMERS_ENV = 'CONSUMERS';

/** The id of the consumer at `index` in `CONSUMERS` (and the tag of its alarms): `consumer`, `consumer2`, ... */
export function consumerId(index: number): string {
  return index === 0 ? 'consumer' : `consumer${index + 1}`;
}

/** Parses and checks `CONSUMERS`: a ScalerConfigError names the entry and the rule it broke. */
export function parseConsumers(text: string): ScalerConsumerConfig[] {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new ScalerConfigError(`scaler: ${CONSUMERS_ENV} must be a JSON array of consumers; it is not JSON (${(error as Error).message})`);
  }
  if (!Array.isArray(value)) {
    throw new ScalerConfigError(`scaler: ${CONSUMERS_ENV} must be a JSON array of consumers; received ${value === null ? 'null' : typeof value}`);
  }
  const ids = new Set<string>();
  return value.map((entry: unknown, index): ScalerConsumerConfig => {
    const fail = (rule: string): never => {
      throw new ScalerConfigError(`scaler: ${CONSUMERS_ENV}[${index}] ${rule}`);
    };
    if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) {
      return fail(`must be an object with id and functionName; received ${JSON.stringify(entry)}`);
    }
    const item = entry as Record<string, unknown>;
    const text = (name: string, required: boolean): string | undefined => {
      const field = item[name];
      if (field === undefined && !required) {
        return undefined;
      }
      if (typeof field !== 'string' || field.length === 0) {
        fail(`${name} must be a non-empty string; received ${JSON.stringify(field)}`);
      }
      return field as string;
    };
    const id = text('id', true)!;
    if (ids.has(id)) {
      fail(`id must be unique among the consumers; received '${id}' twice`);
    }
    ids.add(id);
    const timeoutMs = item.timeoutMs;
    if (timeoutMs !== undefined && (typeof timeoutMs !== 'number' || !Number.isFinite(timeoutMs) || timeoutMs <= 0)) {
      fail(`timeoutMs must be a positive number; received ${JSON.stringify(timeoutMs)}`);
    }
    return {
      id,
      functionName: text('functionName', true)!,
      serviceName: text('serviceName', false),
      timeoutMs: timeoutMs as number | undefined,
      eventSourceMappingId: text('eventSourceMappingId', false),
    };
  });
}
