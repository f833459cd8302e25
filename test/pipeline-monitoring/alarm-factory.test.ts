import { Match, Template } from 'aws-cdk-lib/assertions';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as sns from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';
import { EXAMPLE_PROCESSOR_ENTRY, StreamingPipeline } from '../../lib';
import { AlarmFactory, MissingData } from '../../lib/private/alarm-factory';
import { testStack } from '../helpers/app';

const metric = (metricName: string) => new cloudwatch.Metric({ namespace: 'Test', metricName, dimensionsMap: { Part: 'a' } });

/** A factory in its own scope, with a topic action on ALARM and (unless `okActions` is false) on OK. */
function factoryFixture(options: { namePrefix?: string; okActions?: boolean; deferred?: boolean } = {}) {
  const stack = testStack();
  const topic = new sns.Topic(stack, 'Topic', { enforceSSL: true });
  const notify = new actions.SnsAction(topic);
  const scope = new Construct(stack, 'Part');
  const factory = new AlarmFactory(scope, {
    namePrefix: 'namePrefix' in options ? options.namePrefix : 'pipe',
    actions: options.deferred
      ? { deferredTo: 'a composite alarm' }
      : { onAlarm: [notify], onOk: options.okActions === false ? undefined : [notify] },
  });
  return { stack, factory };
}

/** One alarm of every shape the factory makes. */
function addEveryShape(factory: AlarmFactory, named = true) {
  const name = (value: string) => (named ? value : undefined);
  const occurrence = factory.addOccurrenceAlarm('OccurrenceAlarm', {
    name: name('Occurrence'),
    description: 'any',
    metric: metric('Errors'),
  });
  const sustained = factory.addSustainedAlarm('SustainedAlarm', {
    name: name('Sustained'),
    description: 'level',
    metric: metric('Age'),
    threshold: 60000,
    periods: 3,
  });
  const queue = factory.addQueueNotEmptyAlarm('QueueAlarm', {
    name: name('QueueNotEmpty'),
    description: 'waiting',
    metric: metric('Depth'),
  });
  const general = factory.addAlarm('GeneralAlarm', {
    name: name('General'),
    description: 'low',
    metric: metric('Success'),
    threshold: 1,
    comparison: cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
    evaluationPeriods: 4,
    datapointsToAlarm: 2,
    missingData: MissingData.UNKNOWN,
  });
  const composite = factory.addAnyOfAlarm('AnyAlarm', { name: name('Any'), description: 'one of them', alarms: [occurrence, sustained] });
  return { occurrence, sustained, queue, general, composite };
}

describe('AlarmFactory', () => {
  test("names every alarm <prefix>-<name>, in the factory's scope with the given construct id", () => {
    const { stack, factory } = factoryFixture();
    addEveryShape(factory);
    const template = Template.fromStack(stack);

    for (const name of ['Occurrence', 'Sustained', 'QueueNotEmpty', 'General']) {
      template.hasResourceProperties('AWS::CloudWatch::Alarm', { AlarmName: `pipe-${name}` });
    }
    template.hasResourceProperties('AWS::CloudWatch::CompositeAlarm', { AlarmName: 'pipe-Any' });
    expect(Object.keys(template.findResources('AWS::CloudWatch::Alarm')).sort()).toEqual(
      ['PartGeneralAlarm', 'PartOccurrenceAlarm', 'PartQueueAlarm', 'PartSustainedAlarm'].map((id) =>
        expect.stringMatching(new RegExp(`^${id}[0-9A-F]{8}$`)),
      ),
    );
    expect(factory.alarmName('Later')).toBe('pipe-Later');
  });

  test('without a prefix, CloudFormation names the alarms, and a name is refused; with one, a missing name is refused', () => {
    const unnamed = factoryFixture({ namePrefix: undefined });
    addEveryShape(unnamed.factory, false);
    const template = Template.fromStack(unnamed.stack);
    expect(
      Object.values(template.findResources('AWS::CloudWatch::Alarm')).map(
        (alarm) => (alarm.Properties as { AlarmName?: string }).AlarmName,
      ),
    ).toEqual([undefined, undefined, undefined, undefined]);
    expect(() => unnamed.factory.addOccurrenceAlarm('NamedAlarm', { name: 'Named', description: 'x', metric: metric('X') })).toThrow(
      /generated names; received name 'Named' for NamedAlarm/,
    );
    expect(() => unnamed.factory.alarmName('Named')).toThrow(/generated names/);

    const named = factoryFixture();
    expect(() => named.factory.addOccurrenceAlarm('UnnamedAlarm', { description: 'x', metric: metric('X') })).toThrow(
      /named 'pipe-<name>'; UnnamedAlarm has no name/,
    );
  });

  test('puts its actions on every alarm it makes, on ALARM and on OK', () => {
    const { stack, factory } = factoryFixture();
    addEveryShape(factory);
    const template = Template.fromStack(stack);
    const topic = [{ Ref: Match.stringLikeRegexp('^Topic') }];

    for (const type of ['AWS::CloudWatch::Alarm', 'AWS::CloudWatch::CompositeAlarm']) {
      const alarms = Object.values(template.findResources(type));
      expect(alarms.length).toBeGreaterThan(0);
      template.allResourcesProperties(type, { AlarmActions: topic, OKActions: topic });
    }
  });

  test('on ALARM only when no OK actions are given; none at all when the actions are deferred', () => {
    const alarmOnly = factoryFixture({ okActions: false });
    addEveryShape(alarmOnly.factory);
    Template.fromStack(alarmOnly.stack).allResourcesProperties('AWS::CloudWatch::Alarm', {
      AlarmActions: [{ Ref: Match.stringLikeRegexp('^Topic') }],
      OKActions: Match.absent(),
    });

    const deferred = factoryFixture({ deferred: true });
    addEveryShape(deferred.factory);
    Template.fromStack(deferred.stack).allResourcesProperties('AWS::CloudWatch::Alarm', {
      AlarmActions: Match.absent(),
      OKActions: Match.absent(),
    });
  });

  test('each shape states its comparison, periods and missing data', () => {
    const { stack, factory } = factoryFixture();
    addEveryShape(factory);
    const template = Template.fromStack(stack);

    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      AlarmName: 'pipe-Occurrence',
      Threshold: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      EvaluationPeriods: 1,
      DatapointsToAlarm: Match.absent(),
      TreatMissingData: 'notBreaching',
    });
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      AlarmName: 'pipe-Sustained',
      Threshold: 60000,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      EvaluationPeriods: 3,
      DatapointsToAlarm: 3,
      TreatMissingData: 'notBreaching',
    });
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      AlarmName: 'pipe-QueueNotEmpty',
      Threshold: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      EvaluationPeriods: 1,
      TreatMissingData: 'ignore',
    });
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      AlarmName: 'pipe-General',
      Threshold: 1,
      ComparisonOperator: 'LessThanThreshold',
      EvaluationPeriods: 4,
      DatapointsToAlarm: 2,
      TreatMissingData: 'missing',
      AlarmDescription: 'low',
    });
    template.hasResourceProperties('AWS::CloudWatch::CompositeAlarm', {
      AlarmRule: { 'Fn::Join': ['', Match.arrayWith([Match.stringLikeRegexp('^\\(ALARM\\("')])] },
      AlarmDescription: 'one of them',
    });
  });
});

describe('no alarm without an action', () => {
  test("a full pipeline: every alarm notifies people or invokes the scaler, except the archive's own, which the monitoring composite alarm covers", () => {
    const stack = testStack();
    const pipeline = new StreamingPipeline(stack, 'Pipeline', { consumers: [{ id: 'Audit', processorEntry: EXAMPLE_PROCESSOR_ENTRY }] });
    const template = Template.fromStack(stack);
    const archiveAlarmIds = pipeline.archive!.alarms.map((alarm) => stack.getLogicalId(alarm.node.defaultChild as cloudwatch.CfnAlarm));

    const alarms = { ...template.findResources('AWS::CloudWatch::Alarm'), ...template.findResources('AWS::CloudWatch::CompositeAlarm') };
    const withoutAction = Object.entries(alarms)
      .filter(([, alarm]) => !(alarm.Properties as { AlarmActions?: unknown[] }).AlarmActions?.length)
      .map(([id]) => id);
    expect(archiveAlarmIds).toHaveLength(3);
    expect(withoutAction.sort()).toEqual([...archiveAlarmIds].sort());
    const composite = Object.values(template.findResources('AWS::CloudWatch::CompositeAlarm'));
    expect(composite).toHaveLength(1);
    const rule = JSON.stringify(composite[0].Properties);
    for (const id of archiveAlarmIds) {
      expect(rule).toContain(id);
    }
  });
});
