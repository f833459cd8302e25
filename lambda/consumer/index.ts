import { processRecord } from 'kinesis-pipeline-processor';
import { createHandler } from './handler';

/** The Lambda entry: the consumer around the user's processor (bundled in by an esbuild alias). */
export const handler = createHandler(processRecord);
