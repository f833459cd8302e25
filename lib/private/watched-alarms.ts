import type * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';

/**
 * Alarms another construct watches on people's behalf (PipelineMonitoring's composite alarm over a
 * FirehoseArchive's alarms): such an alarm reaches somebody without an action of its own.
 */
const watched = new WeakSet<cloudwatch.IAlarm>();

export function markWatched(alarms: readonly cloudwatch.IAlarm[]): void {
  for (const alarm of alarms) {
    watched.add(alarm);
  }
}

export function isWatched(alarm: cloudwatch.IAlarm): boolean {
  return watched.has(alarm);
}
