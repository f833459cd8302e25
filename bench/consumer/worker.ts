/**
 * One "container" of the consumer benchmark: a fresh Node.js process (forked by
 * consumer.bench.ts, bundled to .mjs) serving bench/worker-host.ts's messages for one consumer
 * handler bundle, one invocation at a time; it reports what the bench processor saw.
 */
import type { Context, KinesisStreamBatchResponse, KinesisStreamEvent } from 'aws-lambda';
import { lambdaContext, serveInvocations } from '../worker-host';
import { benchState } from './state';

export type { WorkerReply, WorkerRequest } from '../worker-host';

type Handler = (event: KinesisStreamEvent, context: Context) => Promise<KinesisStreamBatchResponse | void>;

const state = benchState();

serveInvocations<Handler>(
  async (handler, event, context) => {
    state.processed = 0;
    state.orderViolations = 0;
    if (state.ids) {
      state.ids = [];
    }
    const response = await handler(event as KinesisStreamEvent, context());
    return {
      processed: state.processed,
      orderViolations: state.orderViolations,
      ids: state.ids,
      failures: (response?.batchItemFailures ?? []).map((failure) => failure.itemIdentifier),
    };
  },
  (timeoutMillis) => lambdaContext(timeoutMillis, 'bench-consumer', '512'),
);
