import { Size, Stack } from 'aws-cdk-lib';
import { Annotations, Match } from 'aws-cdk-lib/assertions';
import { ConsumerFunction, DataStream, EXAMPLE_PROCESSOR_ENTRY, RECORDS_ABOVE_LAMBDA_PAYLOAD } from '../../lib';
import { testApp } from '../helpers/app';

function consumerOn(maxRecordSize: Size | undefined): Stack {
  const stack = new Stack(testApp(), 'Stack');
  new ConsumerFunction(stack, 'Consumer', {
    stream: new DataStream(stack, 'Stream', { maxRecordSize }),
    processorEntry: EXAMPLE_PROCESSOR_ENTRY,
  });
  return stack;
}

describe('ConsumerFunction on a stream of large records', () => {
  test('a stream whose records can exceed what one Lambda invocation carries warns at synth, naming the largest deliverable record', () => {
    const stack = consumerOn(Size.mebibytes(10));

    Annotations.fromStack(stack).hasWarning(
      '/Stack/Consumer',
      Match.stringLikeRegexp(
        `takes records up to 10485760 bytes \\(maxRecordSize\\).*above about 4717824 bytes can never reach this consumer.*\\[ack: ${RECORDS_ABOVE_LAMBDA_PAYLOAD}\\]`,
      ),
    );
  });

  test('records up to 4 MiB fit an invocation (base64 and metadata included): no warning, and none at the default 1 MiB', () => {
    for (const size of [Size.mebibytes(4), undefined]) {
      Annotations.fromStack(consumerOn(size)).hasNoWarning('/Stack/Consumer', Match.stringLikeRegexp('maxRecordSize'));
    }
  });
});
