import { CreateTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { CreateStreamCommand, DescribeStreamSummaryCommand, KinesisClient } from '@aws-sdk/client-kinesis';
import { UpdateShardCountCommand } from '@aws-sdk/client-kinesis';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { configFromEnv, handler } from '../../lambda/scaler/index';
import { resetClients, setClientForTesting } from '../../lambda/shared/clients';
import { startDynalite, startKinesisLocal, type Dynalite, type KinesisLocal } from '../scaler/emulators';
import { ALARMS, alarmArn, alarmEvent, mockedCloudWatch, type MetricDataOptions } from '../scaler/fixtures';

/**
 * The scaler handler, as Lambda runs it (settings from the environment, clients from the shared
 * factory), against kinesis-local (real UpdateShardCount with its limits, on-demand streams) and
 * dynalite (the state table, with real conditional writes). CloudWatch and Lambda are mocked.
 */
const credentials = { AWS_ACCESS_KEY_ID: 'local', AWS_SECRET_ACCESS_KEY: 'local', AWS_REGION: 'us-east-1' };
let kinesisLocal: KinesisLocal;
let dynalite: Dynalite;
let kinesis: KinesisClient;
const savedEnv = { ...process.env };

beforeAll(async () => {
  [kinesisLocal, dynalite] = await Promise.all([startKinesisLocal({ updateShardCountMs: 300 }), startDynalite()]);
  const options = {
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    requestHandler: new NodeHttpHandler(),
  };
  kinesis = new KinesisClient({ ...options, endpoint: kinesisLocal.endpoint });
  const dynamodb = new DynamoDBClient({ ...options, endpoint: dynalite.endpoint });
  await kinesis.send(new CreateStreamCommand({ StreamName: 'provisioned', ShardCount: 2 }));
  await kinesis.send(new CreateStreamCommand({ StreamName: 'on-demand', StreamModeDetails: { StreamMode: 'ON_DEMAND' } }));
  for (const table of ['state-provisioned', 'state-on-demand']) {
    await dynamodb.send(
      new CreateTableCommand({
        TableName: table,
        AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }],
        KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
        BillingMode: 'PAY_PER_REQUEST',
      }),
    );
  }
  dynamodb.destroy();
  await waitFor(
    async () => (await summary('on-demand')).StreamStatus === 'ACTIVE' && (await summary('provisioned')).StreamStatus === 'ACTIVE',
  );
}, 30_000);

afterAll(async () => {
  kinesis?.destroy();
  resetClients();
  process.env = savedEnv;
  await Promise.all([kinesisLocal?.stop(), dynalite?.stop()]);
});

function useStream(
  streamName: string,
  mibPerSecond: number,
  shards: number,
  options: MetricDataOptions = {},
  extraEnv: Record<string, string> = {},
) {
  process.env = {
    ...savedEnv,
    ...credentials,
    AWS_ENDPOINT_URL_KINESIS: kinesisLocal.endpoint,
    AWS_ENDPOINT_URL_DYNAMODB: dynalite.endpoint,
    POWERTOOLS_SERVICE_NAME: 'scaler-it',
    POWERTOOLS_METRICS_NAMESPACE: 'KinesisPipeline',
    STREAM_NAME: streamName,
    STATE_TABLE_NAME: `state-${streamName}`,
    ALARM_NAMES: [ALARMS.utilization, ALARMS.lag].join(','),
    ALARM_ARNS: [alarmArn(ALARMS.utilization), alarmArn(ALARMS.lag)].join(','),
    MIN_SHARDS: '1',
    MAX_SHARDS: '16',
    TARGET_UTILIZATION: '0.6',
    SCALE_OUT_UTILIZATION: '0.8',
    SCALE_IN_UTILIZATION: '0.3',
    LAG_THRESHOLD_MS: '60000',
    SCALE_OUT_COOLDOWN_MS: '300000',
    SCALE_IN_COOLDOWN_MS: '3600000',
    QUIET_WINDOW_MINUTES: '60',
    RESERVED_SCALE_OUT_CALLS: '2',
    ADJUST_PARALLELIZATION: 'false',
    ...extraEnv,
  };
  resetClients();
  // The fake's datapoints end at the request's EndTime: the real clock here.
  const cw = mockedCloudWatch(mibPerSecond, shards, options);
  setClientForTesting('cloudwatch', cw.cloudwatch);
  setClientForTesting('lambda', cw.lambda);
  return cw;
}

async function summary(streamName: string) {
  return (await kinesis.send(new DescribeStreamSummaryCommand({ StreamName: streamName }))).StreamDescriptionSummary!;
}

async function waitFor(check: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) {
      throw new Error('condition not met in time');
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** The handler logs and emits EMF on stdout: keep it for the assertions, out of the test output. */
let stdout: string[] = [];
beforeEach(() => {
  stdout = [];
  jest.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    stdout.push(chunk.toString());
    return true;
  });
});
afterEach(() => jest.restoreAllMocks());

describe('scaler handler on kinesis-local', () => {
  test('an alarm event raises the shard count (at most double), and emits ShardCount and ScalingDecision', async () => {
    useStream('provisioned', 3, 2);

    const result = await handler(alarmEvent());

    expect(result).toEqual(expect.objectContaining({ decision: 'ScaleOut', targetShards: 4, shards: 4 }));
    await waitFor(async () => {
      const now = await summary('provisioned');
      return now.StreamStatus === 'ACTIVE' && now.OpenShardCount === 4;
    });
    const emf = stdout
      .join('')
      .split('\n')
      .filter((line) => line.includes('"_aws"'))
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(emf).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ ShardCount: 4, service: 'scaler-it' }),
        expect.objectContaining({ ScalingDecision: 1, Decision: 'ScaleOut', service: 'scaler-it' }),
      ]),
    );
  });

  test('the same event delivered again changes nothing', async () => {
    const cw = useStream('provisioned', 3, 4);

    cw.alarmStates.set(ALARMS.utilization, 'ALARM');
    const result = await handler(alarmEvent());

    expect(result.decision).toBe('Duplicate');
    expect((await summary('provisioned')).OpenShardCount).toBe(4);
  });

  test("kinesis-local enforces UpdateShardCount's doubling rule, which the decision never breaks", async () => {
    await expect(
      kinesis.send(new UpdateShardCountCommand({ StreamName: 'provisioned', TargetShardCount: 9, ScalingType: 'UNIFORM_SCALING' })),
    ).rejects.toThrow(/2x/);
  });

  test('an on-demand stream is left alone', async () => {
    useStream('on-demand', 50, 4);
    const before = await summary('on-demand');

    const result = await handler(alarmEvent(ALARMS.lag, 'ALARM', '2026-11-22T12:05:00.000+0000'));

    expect(result.decision).toBe('OnDemand');
    const after = await summary('on-demand');
    expect(after.OpenShardCount).toBe(before.OpenShardCount);
    expect(after.StreamModeDetails?.StreamMode).toBe('ON_DEMAND');
  });

  test("a forged event (another alarm's name and ARN) and a null event change nothing on the stream", async () => {
    useStream('provisioned', 0.01, 4);
    const before = await summary('provisioned');
    const forged = { ...alarmEvent('not-one-of-my-alarms'), alarmArn: alarmArn('not-one-of-my-alarms') };

    const result = await handler(forged);

    expect(result.decision).toBe('Ignored');
    await expect(handler(null)).rejects.toThrow(/the event is null, not an object/);
    expect((await summary('provisioned')).OpenShardCount).toBe(before.OpenShardCount);
    const emf = stdout
      .join('')
      .split('\n')
      .filter((line) => line.includes('"_aws"'))
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(emf).toEqual(expect.arrayContaining([expect.objectContaining({ ScalingDecision: 1, Decision: 'Ignored' })]));
  });

  test('a stuck consumer at low write utilisation: the stream keeps its shards, the stuck alarm is set with the reason', async () => {
    const cw = useStream(
      'provisioned',
      0.05,
      4,
      { ageMs: 300_000, consumer: { userRecords: 0, processingFailures: 30, errors: 2 } },
      {
        CONSUMER_FUNCTION_NAME: 'consumer',
        CONSUMER_SERVICE_NAME: 'consumer-svc',
        CONSUMER_TIMEOUT_MS: '30000',
        STUCK_ALARM_NAME: 'Stack-Autoscaler-ConsumerStuck',
      },
    );
    const before = await summary('provisioned');

    const result = await handler(alarmEvent(ALARMS.lag, 'ALARM', '2026-11-22T12:10:00.000+0000'));

    expect(result.decision).toBe('ConsumerStuck');
    expect((await summary('provisioned')).OpenShardCount).toBe(before.OpenShardCount);
    expect(cw.alarmStates.get('Stack-Autoscaler-ConsumerStuck')).toBe('ALARM');
    expect(cw.reasons.get('Stack-Autoscaler-ConsumerStuck')).toMatch(
      /consumer-stuck: .*150 failed user records, 10 failed invocations in 5 min/,
    );
  });

  test('settings come from the environment; a missing one is named', () => {
    expect(() => configFromEnv({ STREAM_NAME: 's' })).toThrow(/STATE_TABLE_NAME is not set/);
    expect(() => configFromEnv({ ...process.env, MIN_SHARDS: 'many' })).toThrow(/MIN_SHARDS must be a number; received 'many'/);
    expect(() => configFromEnv({ ...process.env, ALARM_ARNS: 'arn:aws:cloudwatch:us-east-1:111122223333:alarm:someone-else' })).toThrow(
      /ALARM_ARNS must be the ARN of each alarm in ALARM_NAMES.*someone-else/,
    );
  });
});
