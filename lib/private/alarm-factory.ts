import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type { Construct } from 'constructs';

/**
 * How an alarm reads a period without data, named by what the metric's absence means. Every
 * alarm says which one applies: there is no default.
 */
export const MissingData = {
  /** The metric is published only when something happens (invocations, writes, deliveries): none means nothing went wrong. */
  NOTHING_HAPPENED: cloudwatch.TreatMissingData.NOT_BREACHING,
  /** The source stops publishing while idle (SQS queue depth): keep the last state. */
  KEEP_STATE: cloudwatch.TreatMissingData.IGNORE,
  /** No data is unknown: the alarm neither fires nor clears on it (nothing acts on data it does not have). */
  UNKNOWN: cloudwatch.TreatMissingData.MISSING,
} as const;

/** The actions every alarm of a factory gets. */
export interface AlarmActions {
  /** On ALARM. */
  readonly onAlarm: cloudwatch.IAlarmAction[];
  /**
   * On OK.
   * @default - none
   */
  readonly onOk?: cloudwatch.IAlarmAction[];
}

/**
 * The factory's alarms get their actions elsewhere: `reason` says who adds them (an alarm must
 * not end without one).
 */
export interface DeferredAlarmActions {
  readonly deferredTo: string;
}

export interface AlarmFactoryProps {
  /**
   * Alarm names are `<namePrefix>-<name>`.
   * @default - no names: CloudFormation generates them (then no alarm may give a `name`)
   */
  readonly namePrefix?: string;
  /** The actions of every alarm the factory creates. */
  readonly actions: AlarmActions | DeferredAlarmActions;
}

/** Everything an alarm states; the factory adds its name and actions. */
export interface AlarmSpec {
  /** The name after the factory's prefix: required with a prefix, refused without one. */
  readonly name?: string;
  /** What is wrong and what to do, for the person who reads the notification. */
  readonly description: string;
  readonly metric: cloudwatch.IMetric;
  readonly threshold: number;
  readonly comparison: cloudwatch.ComparisonOperator;
  readonly evaluationPeriods: number;
  /**
   * @default - not set (CloudWatch uses `evaluationPeriods`)
   */
  readonly datapointsToAlarm?: number;
  readonly missingData: cloudwatch.TreatMissingData;
}

/** An alarm on something that should not happen at all: any datapoint at or above `threshold` (default 1). */
export type OccurrenceAlarmSpec = Omit<AlarmSpec, 'comparison' | 'threshold' | 'evaluationPeriods' | 'missingData'> & {
  /** @default 1 */
  readonly threshold?: number;
  /** @default 1 */
  readonly evaluationPeriods?: number;
};

/** An alarm on a level held at or above `threshold` for `periods` periods in a row (every one of them). */
export type SustainedAlarmSpec = Omit<AlarmSpec, 'comparison' | 'evaluationPeriods' | 'datapointsToAlarm' | 'missingData'> & {
  readonly periods: number;
  /** @default MissingData.NOTHING_HAPPENED */
  readonly missingData?: cloudwatch.TreatMissingData;
};

/** A composite alarm in ALARM while any of `alarms` is. */
export interface AnyOfAlarmSpec {
  readonly name?: string;
  readonly description: string;
  readonly alarms: readonly cloudwatch.IAlarm[];
}

/** `<prefix>-<name>`: the one naming rule of the library's alarms (IAM policies name alarms before they exist). */
export function alarmNameOf(prefix: string, name: string): string {
  return `${prefix}-${name}`;
}

/**
 * Creates the alarms of one construct in its scope: the construct id given, the name from the
 * prefix, the factory's actions on every alarm, and a statement of how missing data reads. The
 * shapes the library repeats (an occurrence, a sustained level, a queue that is not empty, any of
 * several alarms) have their own method; `addAlarm` takes the rest.
 */
export class AlarmFactory {
  constructor(
    private readonly scope: Construct,
    private readonly props: AlarmFactoryProps,
  ) {}

  /** The name an alarm with this `name` gets. */
  public alarmName(name: string): string {
    if (this.props.namePrefix === undefined) {
      throw new Error(`AlarmFactory: alarms of ${this.scope.node.path} have generated names; received name '${name}'`);
    }
    return alarmNameOf(this.props.namePrefix, name);
  }

  public addAlarm(id: string, spec: AlarmSpec): cloudwatch.Alarm {
    const alarm = new cloudwatch.Alarm(this.scope, id, {
      alarmName: this.nameOf(id, spec.name),
      alarmDescription: spec.description,
      metric: spec.metric,
      threshold: spec.threshold,
      comparisonOperator: spec.comparison,
      evaluationPeriods: spec.evaluationPeriods,
      datapointsToAlarm: spec.datapointsToAlarm,
      treatMissingData: spec.missingData,
    });
    this.addActions(alarm);
    return alarm;
  }

  /** Any datapoint at or above the threshold (1 by default) in the periods: it should never happen. Published only when it does. */
  public addOccurrenceAlarm(id: string, spec: OccurrenceAlarmSpec): cloudwatch.Alarm {
    return this.addAlarm(id, {
      ...spec,
      threshold: spec.threshold ?? 1,
      comparison: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: spec.evaluationPeriods ?? 1,
      missingData: MissingData.NOTHING_HAPPENED,
    });
  }

  /** At or above the threshold in every one of `periods` periods in a row. */
  public addSustainedAlarm(id: string, spec: SustainedAlarmSpec): cloudwatch.Alarm {
    const { periods, missingData, ...rest } = spec;
    return this.addAlarm(id, {
      ...rest,
      comparison: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: periods,
      datapointsToAlarm: periods,
      missingData: missingData ?? MissingData.NOTHING_HAPPENED,
    });
  }

  /**
   * A queue's visible messages at 1 or more (`metric`: its depth, Maximum). SQS stops publishing
   * for a queue that stays inactive: the alarm keeps its last state, so a message nobody touched
   * keeps it on and an idle empty queue keeps it off.
   */
  public addQueueNotEmptyAlarm(id: string, spec: Pick<AlarmSpec, 'name' | 'description' | 'metric'>): cloudwatch.Alarm {
    return this.addAlarm(id, {
      ...spec,
      threshold: 1,
      comparison: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 1,
      missingData: MissingData.KEEP_STATE,
    });
  }

  /** A composite alarm in ALARM while any of `spec.alarms` is (reuse instead of a second alarm on the same metric). */
  public addAnyOfAlarm(id: string, spec: AnyOfAlarmSpec): cloudwatch.CompositeAlarm {
    const alarm = new cloudwatch.CompositeAlarm(this.scope, id, {
      compositeAlarmName: this.nameOf(id, spec.name),
      alarmDescription: spec.description,
      alarmRule: cloudwatch.AlarmRule.anyOf(
        ...spec.alarms.map((member) => cloudwatch.AlarmRule.fromAlarm(member, cloudwatch.AlarmState.ALARM)),
      ),
    });
    this.addActions(alarm);
    return alarm;
  }

  private nameOf(id: string, name: string | undefined): string | undefined {
    if (this.props.namePrefix === undefined) {
      if (name !== undefined) {
        throw new Error(`AlarmFactory: alarms of ${this.scope.node.path} have generated names; received name '${name}' for ${id}`);
      }
      return undefined;
    }
    if (name === undefined) {
      throw new Error(`AlarmFactory: alarms of ${this.scope.node.path} are named '${this.props.namePrefix}-<name>'; ${id} has no name`);
    }
    return alarmNameOf(this.props.namePrefix, name);
  }

  private addActions(alarm: cloudwatch.AlarmBase): void {
    const actions = this.props.actions;
    if ('deferredTo' in actions) {
      return;
    }
    alarm.addAlarmAction(...actions.onAlarm);
    if (actions.onOk && actions.onOk.length > 0) {
      alarm.addOkAction(...actions.onOk);
    }
  }
}
