import { randomUUID } from 'crypto';
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';
import { dynamoDbClient } from '../shared/clients';
import { ProducerMetric } from './contract';
import { produceOnce, payloadHashOf } from './once';
import {
  ProducerBusyError,
  ProducerWriteError,
  loadConfig,
  prefetchShardMap,
  prepare,
  produce,
  type ProduceResult,
  type ProducerConfig,
} from './producer';
import { ProgressStore } from './progress-store';
import { ProducerInputError, RULES, parseRequest, parseRequestId, parseRequestInSlices } from './validate';

export { ProducerInputError } from './validate';
export { ProducerBusyError, ProducerWriteError } from './producer';

const logger = new Logger();
const metrics = new Metrics();

type HttpEvent = Pick<APIGatewayProxyEventV2, 'body' | 'isBase64Encoded' | 'requestContext' | 'headers'>;

function isHttp(event: unknown): event is HttpEvent {
  return (
    typeof event === 'object' && event !== null && 'requestContext' in event && typeof (event as HttpEvent).requestContext === 'object'
  );
}

function json(statusCode: number, body: unknown): APIGatewayProxyStructuredResultV2 {
  return { statusCode, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) };
}

let stores: { table: string; store: ProgressStore } | undefined;

/** The container's progress store, when the construct gave the function a table. */
function progressStore(config: ProducerConfig): ProgressStore | undefined {
  if (config.progressTableName === undefined) {
    return undefined;
  }
  if (stores?.table !== config.progressTableName) {
    stores = {
      table: config.progressTableName,
      store: new ProgressStore({
        client: dynamoDbClient(),
        tableName: config.progressTableName,
        windowSeconds: config.progressWindowSeconds,
      }),
    };
  }
  return stores.store;
}

/**
 * Producer entry: a direct invoke `{ records: [...], requestId? }` answers a `ProduceResult` (or
 * throws `ProducerInputError` / `ProducerWriteError` / `ProducerBusyError`); an HTTP event
 * (Function URL, API Gateway v2) answers 200 (all written), 207 (some written), 503 (none
 * written), 400 (bad input) or 409 (the same requestId is being written).
 *
 * With the progress table, a delivery of a request again (Lambda's asynchronous retries and
 * duplicate deliveries share the invocation's request id; a caller may name the request with
 * `requestId` or an `Idempotency-Key` header) writes only what earlier deliveries did not.
 */
export async function handler(event: unknown, context: Context): Promise<ProduceResult | APIGatewayProxyStructuredResultV2> {
  const config = loadConfig();
  const store = progressStore(config);
  const http = isHttp(event);
  let request: unknown = event;
  if (http) {
    try {
      const text = event.isBase64Encoded ? Buffer.from(event.body ?? '', 'base64').toString('utf8') : (event.body ?? '');
      request = JSON.parse(text);
    } catch {
      return json(400, { message: RULES.body, errors: [{ index: -1, rule: RULES.body }] });
    }
  }
  try {
    const header = http ? event.headers?.['idempotency-key'] : undefined;
    const requestId = parseRequestId(request, header);
    // Lambda's retries of an asynchronous event carry its request id; an HTTP request without a
    // requestId is answered at once and never retried by Lambda, so it needs no progress.
    const key = requestId !== undefined ? `request#${requestId}` : http ? undefined : `invoke#${context.awsRequestId}`;
    // Validated while the shard map's round trip and the claim's are in flight (a refusal then
    // turns the claimed item into the refusal), in slices of records so that they progress
    // meanwhile: a fresh container's first requests are sent, and their answers read, during
    // validation instead of after it. A request with a caller's requestId is validated first,
    // whole: it is claimed only with valid records, so that a refused request does not take its
    // id, and its records are hashed (payloadHash) only once they are known to be within limits.
    const list = (request as { records?: unknown } | null)?.records;
    const deferred = requestId === undefined && Array.isArray(list) && list.length > 0;
    const once = await produceOnce(
      deferred
        ? { count: list.length, parse: () => parseRequestInSlices(request, config.limits.maxEntryBytes, config.limits) }
        : parseRequest(request, config.limits.maxEntryBytes, config.limits),
      {
        store,
        key,
        // Only the progress table's claim reads it: without a table, no JSON text of every record.
        payloadHash: store !== undefined && requestId !== undefined ? payloadHashOf((request as { records: unknown }).records) : '-',
        owner: `${context.awsRequestId}/${randomUUID()}`,
        remainingMs: () => context.getRemainingTimeInMillis(),
        produce: (pending, remainingMs, onWritten, plan) => produce(pending, config, remainingMs, onWritten, plan),
        prepare: (pending) => prepare(pending, config),
        prefetch: () => prefetchShardMap(config),
      },
    );
    const { result, outcome } = once;
    metrics.addMetric(ProducerMetric.USER_RECORDS, MetricUnit.Count, result.recordCount);
    metrics.addMetric(ProducerMetric.ALREADY_WRITTEN_RECORDS, MetricUnit.Count, once.alreadyWritten);
    if (outcome) {
      metrics.addMetric(ProducerMetric.KINESIS_RECORDS, MetricUnit.Count, outcome.kinesisRecords);
      metrics.addMetric(
        ProducerMetric.AGGREGATION_RATIO,
        MetricUnit.NoUnit,
        outcome.kinesisRecords > 0 ? outcome.writtenCount / outcome.kinesisRecords : 0,
      );
      metrics.addMetric(ProducerMetric.RETRIES, MetricUnit.Count, outcome.retries);
      metrics.addMetric(ProducerMetric.THROTTLED_ENTRIES, MetricUnit.Count, outcome.throttledEntries);
      metrics.addMetric(ProducerMetric.RESENT_RECORDS, MetricUnit.Count, outcome.resentRecords);
      metrics.addMetric(ProducerMetric.UNKNOWN_OUTCOME_RETRIES, MetricUnit.Count, outcome.unknownOutcomeRetries);
      if (outcome.misroutedEntries > 0) {
        logger.warn(
          'entries landed on another shard than the shard map said (the stream was resharded); shard map refreshed, records outside the landing shard sent again',
          {
            misroutedEntries: outcome.misroutedEntries,
            resentRecords: outcome.resentRecords,
          },
        );
      }
    }
    metrics.addMetric(ProducerMetric.FAILED_RECORDS, MetricUnit.Count, result.failedCount);
    if (once.alreadyWritten > 0) {
      logger.info('a delivery of a request seen before: records an earlier delivery wrote were not sent again', {
        key,
        alreadyWritten: once.alreadyWritten,
        recordCount: result.recordCount,
      });
    }
    if (result.failedCount > 0) {
      logger.error('records not written', {
        key,
        failedCount: result.failedCount,
        recordCount: result.recordCount,
        firstFailures: result.failed.slice(0, 10),
      });
    }
    if (http) {
      return json(result.failedCount === 0 ? 200 : result.writtenCount > 0 ? 207 : 503, result);
    }
    if (result.failedCount > 0 && config.throwOnUndelivered) {
      if (!once.progressSaved) {
        // A retry would send again what this delivery wrote but could not record: answer instead.
        logger.error('not asking Lambda to retry: the progress table did not record everything written, so a retry could copy records', {
          key,
        });
        return result;
      }
      throw new ProducerWriteError(result);
    }
    return result;
  } catch (error) {
    if (error instanceof ProducerInputError) {
      return refuse(error, http, store, context);
    }
    if (error instanceof ProducerBusyError) {
      logger.warn('request is being written by another invocation', { key: error.key, leaseUntil: error.leaseUntil });
      if (http) {
        return json(409, { message: error.message });
      }
    }
    throw error;
  } finally {
    metrics.publishStoredMetrics();
  }
}

/**
 * A request refused for its input: HTTP 400. A direct invoke throws `ProducerInputError`: an
 * asynchronous caller learns of it only from the on-failure destination, which Lambda fills after
 * its retries, so it must throw (Lambda has no per-error retry setting). The retries cost little
 * and say it once: the first delivery records the refusal in the progress table and logs the
 * broken rules; Lambda's retries of the same event (same request id) find the record, log one
 * info line and throw the same error, which reaches the on-failure queue with every rule named.
 */
async function refuse(
  error: ProducerInputError,
  http: boolean,
  store: ProgressStore | undefined,
  context: Context,
): Promise<APIGatewayProxyStructuredResultV2> {
  metrics.addMetric(ProducerMetric.REFUSED_REQUESTS, MetricUnit.Count, 1);
  if (http) {
    logger.warn('bad producer request', { errors: error.errors.slice(0, 20) });
    return json(400, { message: error.message, errors: error.errors });
  }
  let seen: 'first' | 'again' = error.recorded ?? 'first';
  if (store !== undefined && error.recorded === undefined) {
    try {
      seen = await store.refuse(`invoke#${context.awsRequestId}`, error.message);
    } catch (caught) {
      logger.warn('refusal not recorded in the progress table', { error: (caught as Error).message });
    }
  }
  if (seen === 'again') {
    logger.info('a retry of a refused request: refused again', { awsRequestId: context.awsRequestId });
  } else {
    logger.warn('bad producer request', { errors: error.errors.slice(0, 20) });
  }
  throw error;
}
