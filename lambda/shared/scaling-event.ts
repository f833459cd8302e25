/**
 * The scaler's input: the event a CloudWatch alarm's Lambda action sends. Parsing is strict about
 * shape (a malformed event is a `ScalerEventError`, never a TypeError) and identity (an event that
 * is not from one of the scaler's own alarms is named as foreign, so the handler ignores it
 * without reading or writing anything).
 */

/** The event a CloudWatch alarm's Lambda action sends (the parts the scaler reads). */
export interface AlarmEvent {
  readonly source?: string;
  readonly alarmArn?: string;
  readonly accountId?: string;
  readonly region?: string;
  readonly time?: string;
  readonly alarmData?: {
    readonly alarmName?: string;
    readonly state?: { readonly value?: string; readonly reason?: string; readonly timestamp?: string };
  };
}

/** A well-formed alarm event: the fields the scaler acts on are present strings. */
export interface ParsedAlarmEvent {
  readonly source?: string;
  readonly alarmArn?: string;
  readonly accountId?: string;
  readonly region?: string;
  readonly alarmName: string;
  readonly stateValue: string;
  /** The state change's timestamp (alarmData.state.timestamp, else time). */
  readonly timestamp: string;
}

/** The event is not a CloudWatch alarm action event; `rule` names what it broke. */
export class ScalerEventError extends Error {
  public override readonly name = 'ScalerEventError';
  constructor(
    message: string,
    public readonly rule: string,
  ) {
    super(message);
  }
}

export const ALARM_EVENT_SOURCE = 'aws.cloudwatch';

const EXPECTED = 'expected a CloudWatch alarm action event with alarmData.alarmName, alarmData.state.value and a timestamp';

export function parseAlarmEvent(value: unknown): ParsedAlarmEvent {
  const fail = (rule: string): never => {
    throw new ScalerEventError(`scaler: ${EXPECTED}; ${rule}`, rule);
  };
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return fail(`the event is ${value === null ? 'null' : Array.isArray(value) ? 'an array' : typeof value}, not an object`);
  }
  const event = value as Record<string, unknown>;
  const optionalText = (name: string): string | undefined => {
    const field = event[name];
    if (field !== undefined && typeof field !== 'string') {
      fail(`${name} must be a string; received ${typeof field}`);
    }
    return field as string | undefined;
  };
  const source = optionalText('source');
  const alarmArn = optionalText('alarmArn');
  const accountId = optionalText('accountId');
  const region = optionalText('region');
  const time = optionalText('time');
  const data = event.alarmData;
  if (typeof data !== 'object' || data === null) {
    return fail('alarmData is missing');
  }
  const alarmName = (data as Record<string, unknown>).alarmName;
  if (typeof alarmName !== 'string' || alarmName === '') {
    return fail('alarmData.alarmName is missing');
  }
  const state = (data as Record<string, unknown>).state;
  const stateValue = typeof state === 'object' && state !== null ? (state as Record<string, unknown>).value : undefined;
  if (typeof stateValue !== 'string' || stateValue === '') {
    return fail('alarmData.state.value is missing');
  }
  const stamp = (state as Record<string, unknown>).timestamp ?? time;
  if (typeof stamp !== 'string' || stamp === '') {
    return fail('alarmData.state.timestamp (or time) is missing');
  }
  return { source, alarmArn, accountId, region, alarmName, stateValue, timestamp: stamp };
}

/** What identifies the scaler's own alarms: their names and ARNs, as the construct created them. */
export interface OwnAlarms {
  readonly alarmNames: readonly string[];
  readonly alarmArns: readonly string[];
}

/**
 * Why the event is not from one of the scaler's own alarms, or `undefined` when it is: the source
 * is CloudWatch, the ARN is one the construct created, and the name, account and region in the
 * event agree with that ARN.
 */
export function foreignReason(event: ParsedAlarmEvent, own: OwnAlarms): string | undefined {
  if (event.source !== ALARM_EVENT_SOURCE) {
    return `source ${JSON.stringify(event.source ?? null)} is not ${ALARM_EVENT_SOURCE}`;
  }
  if (event.alarmArn === undefined || !own.alarmArns.includes(event.alarmArn)) {
    return `alarm ARN ${JSON.stringify(event.alarmArn ?? null)} is not one of this scaler's alarms`;
  }
  // arn:<partition>:cloudwatch:<region>:<account>:alarm:<name>
  const [, , , arnRegion, arnAccount, , ...nameParts] = event.alarmArn.split(':');
  const arnName = nameParts.join(':');
  if (event.alarmName !== arnName || !own.alarmNames.includes(event.alarmName)) {
    return `alarm name ${JSON.stringify(event.alarmName)} does not match its ARN's (${JSON.stringify(arnName)}) or is not one of this scaler's alarms`;
  }
  if (event.accountId !== arnAccount) {
    return `account ${JSON.stringify(event.accountId ?? null)} is not the alarm's account ${arnAccount}`;
  }
  if (event.region !== undefined && event.region !== arnRegion) {
    return `region ${JSON.stringify(event.region)} is not the alarm's region ${arnRegion}`;
  }
  return undefined;
}
