/**
 * One "container" of the producer benchmark: a fresh Node.js process (forked by
 * producer.bench.ts through bench/consumer/child.ts) serving bench/worker-host.ts's messages for
 * one producer handler bundle; it reports how many records the handler said were written.
 */
import type { Context } from 'aws-lambda';
import { lambdaContext, serveInvocations } from '../worker-host';

type Handler = (
  event: unknown,
  context: Context,
) => Promise<{ writtenCount?: number; failedCount?: number; statusCode?: number } | undefined>;

serveInvocations<Handler>(
  async (handler, event, context) => {
    const result = await handler(event, context());
    return {
      processed: result?.writtenCount ?? 0,
      orderViolations: 0,
      failures: result?.failedCount ? [`${result.failedCount} failed`] : [],
    };
  },
  (timeoutMillis) => lambdaContext(timeoutMillis, 'bench-producer', '1024'),
);
