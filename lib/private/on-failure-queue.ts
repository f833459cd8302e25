import { Duration, Validations } from 'aws-cdk-lib';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';

/**
 * The on-failure queue a construct creates when none is given: SQS-managed encryption, TLS only,
 * 14 days' retention. It is itself a dead-letter destination (of `whatFails`), so cdk-nag's
 * AwsSolutions-SQS3 (a queue without a DLQ) is acknowledged on it with that reason.
 */
export function createOnFailureQueue(scope: Construct, id: string, whatFails: string): sqs.Queue {
  const queue = new sqs.Queue(scope, id, {
    encryption: sqs.QueueEncryption.SQS_MANAGED,
    enforceSSL: true,
    retentionPeriod: Duration.days(14),
  });
  Validations.of(queue).acknowledge({
    id: 'AwsSolutions-SQS3',
    reason: `This queue is itself the on-failure destination of ${whatFails}; a dead-letter queue of it would add nothing`,
  });
  return queue;
}
