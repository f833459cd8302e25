import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';
import { ProducerWriteError, loadConfig, produce, toResult, type ProduceResult } from './producer';
import { ProducerInputError, RULES, parseRequest } from './validate';

export { ProducerInputError } from './validate';
export { ProducerWriteError } from './producer';

const logger = new Logger();
const metrics = new Metrics();

type HttpEvent = Pick<APIGatewayProxyEventV2, 'body' | 'isBase64Encoded' | 'requestContext'>;

function isHttp(event: unknown): event is HttpEvent {
  return typeof event === 'object' && event !== null && 'requestContext' in event && typeof (event as HttpEvent).requestContext === 'object';
}

function json(statusCode: number, body: unknown): APIGatewayProxyStructuredResultV2 {
  return { statusCode, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) };
}

/**
 * Producer entry: a direct invoke `{ records: [...] }` answers a `ProduceResult` (or throws
 * `ProducerInputError` / `ProducerWriteError`); an HTTP event (Function URL, API Gateway v2)
 * answers 200 (all written), 207 (some written), 503 (none written) or 400 (bad input).
 */
export async function handler(event: unknown, context: Context): Promise<ProduceResult | APIGatewayProxyStructuredResultV2> {
  const config = loadConfig();
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
    const records = parseRequest(request, config.limits.maxEntryBytes, config.limits);
    const outcome = await produce(records, config, context.getRemainingTimeInMillis());
    metrics.addMetric('UserRecords', MetricUnit.Count, records.length);
    metrics.addMetric('KinesisRecords', MetricUnit.Count, outcome.kinesisRecords);
    metrics.addMetric('AggregationRatio', MetricUnit.NoUnit, outcome.kinesisRecords > 0 ? outcome.written.length / outcome.kinesisRecords : 0);
    metrics.addMetric('Retries', MetricUnit.Count, outcome.retries);
    metrics.addMetric('ThrottledEntries', MetricUnit.Count, outcome.throttledEntries);
    metrics.addMetric('FailedRecords', MetricUnit.Count, outcome.failed.length);
    metrics.addMetric('ResentRecords', MetricUnit.Count, outcome.resentRecords);
    if (outcome.misroutedEntries > 0) {
      logger.warn('entries landed on another shard than the shard map said (the stream was resharded); shard map refreshed, records outside the landing shard sent again', {
        misroutedEntries: outcome.misroutedEntries, resentRecords: outcome.resentRecords,
      });
    }
    const result = toResult(records.length, outcome);
    if (result.failedCount > 0) {
      logger.error('records not written', { failedCount: result.failedCount, recordCount: result.recordCount, firstFailures: result.failed.slice(0, 10) });
    }
    if (http) {
      return json(result.failedCount === 0 ? 200 : result.writtenCount > 0 ? 207 : 503, result);
    }
    if (result.failedCount > 0 && config.throwOnUndelivered) {
      throw new ProducerWriteError(result);
    }
    return result;
  } catch (error) {
    if (error instanceof ProducerInputError) {
      logger.warn('bad producer request', { errors: error.errors.slice(0, 20) });
      if (http) {
        return json(400, { message: error.message, errors: error.errors });
      }
    }
    throw error;
  } finally {
    metrics.publishStoredMetrics();
  }
}
