import { Logger } from '@aws-lambda-powertools/logger';
import type { Context } from 'aws-lambda';
import type { UserRecord } from '../shared/deaggregate';

const logger = new Logger({ serviceName: 'example-processor' });

/**
 * The app's example record processor: logs each user record (debug level: set
 * POWERTOOLS_LOG_LEVEL=DEBUG to see them). Replace it with your own module exporting
 * `processRecord`; throw to stop the shard at a record (it is retried, then sent to the
 * on-failure queue).
 */
export async function processRecord(record: UserRecord, _context: Context): Promise<void> {
  if (record.corrupt !== undefined) {
    // A KPL aggregate that could not be read ('checksum' or 'undecodable'): its bytes, whole.
    // It is counted (CorruptRecords) and alarmed on; keep it somewhere to look at, or throw to stop its key.
    logger.warn('corrupt KPL aggregate, handed over whole', {
      shardId: record.shardId,
      sequenceNumber: record.sequenceNumber,
      corrupt: record.corrupt,
      bytes: record.data.length,
    });
    return;
  }
  logger.debug('user record', {
    shardId: record.shardId,
    sequenceNumber: record.sequenceNumber,
    subSequenceNumber: record.subSequenceNumber,
    partitionKey: record.partitionKey,
    bytes: record.data.length,
  });
}
