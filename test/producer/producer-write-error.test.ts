import { ProducerWriteError, indicesByCode } from '../../lambda/producer/producer';

describe('ProducerWriteError', () => {
  test('names every unwritten record in its message, by error code, runs as ranges', () => {
    // Prepare
    const failed = [
      ...Array.from({ length: 300 }, (_, i) => ({ index: 1_000 + i, errorCode: 'ProvisionedThroughputExceededException' })),
      { index: 7, errorCode: 'KMSAccessDeniedException' },
      { index: 3, errorCode: 'ProvisionedThroughputExceededException' },
      { index: 5, errorCode: 'KMSAccessDeniedException' },
      { index: 4, errorCode: 'KMSAccessDeniedException' },
    ];

    // Act
    const error = new ProducerWriteError({ recordCount: 2_000, writtenCount: 1_696, failedCount: 304, failed });

    // Assess
    expect(error.name).toBe('ProducerWriteError');
    expect(error.message).toBe(
      '304 of 2000 records not written: {"ProvisionedThroughputExceededException":"3,1000-1299","KMSAccessDeniedException":"4-5,7"}',
    );
    expect(error.result.failed).toBe(failed);
  });

  test('indicesByCode of no failures is empty', () => {
    expect(indicesByCode([])).toEqual({});
  });
});
