/**
 * The reference a user would otherwise write: Powertools' `BatchProcessor` for Kinesis with
 * `processPartialResponse`, a record handler that deaggregates the KPL record and awaits the same
 * processor for each user record in turn. BENCH_POWERTOOLS_MODE=sequential sets
 * `processInParallel: false` (2.35 runs `Promise.all` over the batch's records unless it is false,
 * BasePartialProcessor.process); anything else keeps its default, parallel and unordered.
 * No checkpoints: Powertools has none.
 */
import { BatchProcessor, EventType, processPartialResponse } from '@aws-lambda-powertools/batch';
import type { Context, KinesisStreamBatchResponse, KinesisStreamEvent, KinesisStreamRecord } from 'aws-lambda';
import { deaggregateRecord } from '../../lambda/shared/deaggregate';
import { processRecord } from './processor';

const processor = new BatchProcessor(EventType.KinesisDataStreams);
const processInParallel = process.env.BENCH_POWERTOOLS_MODE !== 'sequential';

export const handler = async (event: KinesisStreamEvent, context: Context): Promise<KinesisStreamBatchResponse> => {
  const recordHandler = async (record: KinesisStreamRecord): Promise<void> => {
    for (const user of deaggregateRecord(record)) {
      await processRecord(user, context);
    }
  };
  return processPartialResponse(event, recordHandler, processor, { context, processInParallel });
};
