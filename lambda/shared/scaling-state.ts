import { ConditionalCheckFailedException, GetItemCommand, PutItemCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DAY_MS, type ScalingState } from './scaling-decision';

/**
 * The autoscaler's durable state: one item (`pk` = "state") holding the last change per
 * direction, the UpdateShardCount calls of the rolling day, and the keys of the alarm events
 * already handled. Every write is conditional on the version read, so two deliveries of one
 * event (or two racing invocations) cannot both act.
 */
export interface StoredScalingState extends ScalingState {
  /** `<alarm name>@<state-change timestamp>` of the last events handled, newest last. */
  readonly processedEvents: readonly string[];
  /** The shard count the alarms' capacity constants were last written for. */
  readonly alarmShards?: number;
}

export interface VersionedState {
  readonly state: StoredScalingState;
  /** 0 when no item exists yet. */
  readonly version: number;
}

export const STATE_KEY = 'state';
const KEEP_EVENTS = 50;

export const EMPTY_STATE: StoredScalingState = { shardCountChanges: [], processedEvents: [] };

export class StateConflictError extends Error {
  public override readonly name = 'StateConflictError';
  constructor(public readonly expectedVersion: number) {
    super(`scaling state changed since version ${expectedVersion} was read: another invocation acted first`);
  }
}

export async function loadState(client: DynamoDBClient, tableName: string): Promise<VersionedState> {
  const result = await client.send(new GetItemCommand({ TableName: tableName, Key: { pk: { S: STATE_KEY } }, ConsistentRead: true }));
  if (!result.Item) {
    return { state: EMPTY_STATE, version: 0 };
  }
  const doc = JSON.parse(result.Item.doc?.S ?? '{}') as Partial<StoredScalingState>;
  return {
    version: Number(result.Item.version?.N ?? '0'),
    state: { ...doc, shardCountChanges: doc.shardCountChanges ?? [], processedEvents: doc.processedEvents ?? [] },
  };
}

/** Writes `state` as version `expectedVersion + 1`; throws StateConflictError when someone wrote in between. */
export async function saveState(
  client: DynamoDBClient,
  tableName: string,
  state: StoredScalingState,
  expectedVersion: number,
  now: number,
): Promise<number> {
  const trimmed: StoredScalingState = {
    ...state,
    shardCountChanges: state.shardCountChanges.filter((at) => at > now - DAY_MS),
    processedEvents: state.processedEvents.slice(-KEEP_EVENTS),
  };
  const version = expectedVersion + 1;
  try {
    await client.send(
      new PutItemCommand({
        TableName: tableName,
        Item: { pk: { S: STATE_KEY }, version: { N: String(version) }, doc: { S: JSON.stringify(trimmed) } },
        ConditionExpression: expectedVersion === 0 ? 'attribute_not_exists(pk)' : 'version = :expected',
        ExpressionAttributeValues: expectedVersion === 0 ? undefined : { ':expected': { N: String(expectedVersion) } },
      }),
    );
  } catch (error) {
    if (error instanceof ConditionalCheckFailedException || (error as Error).name === 'ConditionalCheckFailedException') {
      throw new StateConflictError(expectedVersion);
    }
    throw error;
  }
  return version;
}

/** The idempotency key of an alarm event. */
export function eventKey(alarmName: string, stateTimestamp: string): string {
  return `${alarmName}@${stateTimestamp}`;
}
