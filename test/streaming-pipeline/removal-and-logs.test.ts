import { RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as logs from 'aws-cdk-lib/aws-logs';
import { AwsSolutionsChecks } from 'cdk-nag';
import { STATEFUL_RESOURCE_TYPES, StreamingPipeline, type StreamingPipelineProps } from '../../lib';
import { testApp, testStack } from '../helpers/app';
import { nagViolations } from '../helpers/nag';

function pipeline(props: StreamingPipelineProps = {}, stack: Stack = testStack()) {
  new StreamingPipeline(stack, 'Pipeline', { monitoring: { alarmEmails: ['oncall@example.com'] }, ...props });
  return { stack, template: Template.fromStack(stack) };
}

function policiesOf(template: Template): Array<[string, string, unknown]> {
  return STATEFUL_RESOURCE_TYPES.flatMap((type) =>
    Object.entries(template.findResources(type)).map(([id, resource]): [string, string, unknown] => [type, id, resource.DeletionPolicy]),
  );
}

describe('StreamingPipeline removalPolicy', () => {
  test('DESTROY: every stream, table, bucket, queue, log group and key is deleted with the stack; the archive buckets are emptied first', () => {
    const { template } = pipeline({ removalPolicy: RemovalPolicy.DESTROY });

    const policies = policiesOf(template);
    expect(policies.map(([type]) => type)).toEqual(
      expect.arrayContaining([
        'AWS::Kinesis::Stream',
        'AWS::DynamoDB::GlobalTable',
        'AWS::S3::Bucket',
        'AWS::SQS::Queue',
        'AWS::Logs::LogGroup',
        'AWS::KMS::Key',
      ]),
    );
    expect(policies.filter(([, , policy]) => policy !== 'Delete')).toEqual([]);
    template.hasResourceProperties('Custom::S3AutoDeleteObjects', {
      BucketName: { Ref: Match.stringLikeRegexp('^PipelineArchiveBucket') },
    });
  });

  test('RETAIN: the same resources are all retained, queues and log groups included', () => {
    const { template } = pipeline({ removalPolicy: RemovalPolicy.RETAIN });

    const policies = policiesOf(template);
    expect(policies.length).toBeGreaterThan(8);
    expect(policies.filter(([, , policy]) => policy !== 'Retain')).toEqual([]);
    template.resourceCountIs('Custom::S3AutoDeleteObjects', 0);
  });

  test('unset: each part keeps its own default (stream retained, queues destroyed)', () => {
    const { template } = pipeline();

    template.hasResource('AWS::Kinesis::Stream', { DeletionPolicy: 'Retain' });
    template.hasResource('AWS::SQS::Queue', { DeletionPolicy: 'Delete' });
  });

  test('DESTROY synthesizes cdk-nag clean', () => {
    const app = testApp();
    pipeline({ removalPolicy: RemovalPolicy.DESTROY }, new Stack(app, 'Trial'));
    Validations.of(app).addPlugins(new AwsSolutionsChecks(app));

    expect(nagViolations(app)).toEqual([]);
  });
});

describe('StreamingPipeline log groups', () => {
  test('logRetention and logEncryptionKey reach every log group; the key lets CloudWatch Logs use it', () => {
    const stack = testStack();
    const key = new kms.Key(stack, 'LogKey', { enableKeyRotation: true });
    const { template } = pipeline({ logRetention: logs.RetentionDays.THREE_MONTHS, logEncryptionKey: key }, stack);

    const groups = Object.values(template.findResources('AWS::Logs::LogGroup'));
    expect(groups.length).toBeGreaterThanOrEqual(3);
    for (const group of groups) {
      expect(group.Properties).toEqual(
        expect.objectContaining({ RetentionInDays: 90, KmsKeyId: { 'Fn::GetAtt': [expect.stringMatching(/^LogKey/), 'Arn'] } }),
      );
    }
    template.hasResourceProperties('AWS::KMS::Key', {
      KeyPolicy: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Principal: { Service: { 'Fn::Join': ['', ['logs.', { Ref: 'AWS::Region' }, '.amazonaws.com']] } },
            Action: Match.arrayWith(['kms:Decrypt', 'kms:Encrypt']),
          }),
        ]),
      },
    });
  });

  test('by default every log group keeps a year', () => {
    const { template } = pipeline();

    for (const group of Object.values(template.findResources('AWS::Logs::LogGroup'))) {
      expect(group.Properties.RetentionInDays).toBe(365);
    }
  });
});
