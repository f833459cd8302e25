import { RemovalPolicy, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import { LeaseTable } from '../../lib';
import { testApp, testStack } from '../helpers/app';

describe('LeaseTable', () => {
  test('has the KCL lease schema, on-demand billing, PITR, encryption and is retained', () => {
    // Prepare
    const stack = testStack();
    // Act
    new LeaseTable(stack, 'Leases');
    // Assess
    const template = Template.fromStack(stack);
    template.hasResource('AWS::DynamoDB::GlobalTable', {
      DeletionPolicy: 'Retain',
      Properties: Match.objectLike({
        KeySchema: [{ AttributeName: 'leaseKey', KeyType: 'HASH' }],
        AttributeDefinitions: [{ AttributeName: 'leaseKey', AttributeType: 'S' }],
        BillingMode: 'PAY_PER_REQUEST',
        SSESpecification: { SSEEnabled: true },
        Replicas: [
          Match.objectLike({ PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true }, DeletionProtectionEnabled: false }),
        ],
      }),
    });
    expect(JSON.stringify(template.toJSON())).not.toContain('LeaseOwnerToLeaseKeyIndex');
  });

  test('adds the KCL 3.x LeaseOwnerToLeaseKeyIndex (keys only) and deletion protection when asked', () => {
    // Prepare
    const stack = testStack();
    // Act
    new LeaseTable(stack, 'Leases', { leaseOwnerIndex: true, deletionProtection: true, removalPolicy: RemovalPolicy.DESTROY });
    // Assess
    Template.fromStack(stack).hasResource('AWS::DynamoDB::GlobalTable', {
      DeletionPolicy: 'Delete',
      Properties: Match.objectLike({
        AttributeDefinitions: Match.arrayWith([{ AttributeName: 'leaseOwner', AttributeType: 'S' }]),
        GlobalSecondaryIndexes: [
          {
            IndexName: 'LeaseOwnerToLeaseKeyIndex',
            KeySchema: [
              { AttributeName: 'leaseOwner', KeyType: 'HASH' },
              { AttributeName: 'leaseKey', KeyType: 'RANGE' },
            ],
            Projection: { ProjectionType: 'KEYS_ONLY' },
          },
        ],
        Replicas: [Match.objectLike({ DeletionProtectionEnabled: true })],
      }),
    });
  });

  test('grantLeaseHolder grants item reads and writes on this table only', () => {
    // Prepare
    const stack = testStack();
    const leases = new LeaseTable(stack, 'Leases');
    const role = new iam.Role(stack, 'Role', { assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com') });
    // Act
    leases.grantLeaseHolder(role);
    // Assess
    Template.fromStack(stack).hasResourceProperties('AWS::IAM::Policy', {
      PolicyDocument: {
        Statement: [
          {
            Effect: 'Allow',
            Action: ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem'],
            Resource: { 'Fn::GetAtt': [Match.stringLikeRegexp('^Leases'), 'Arn'] },
          },
        ],
      },
    });
  });

  test('encrypts with a given customer key and lets the lease holder use that key', () => {
    // Prepare: TableV2 renders a replica's key per region, so the stack has a concrete region.
    const stack = new Stack(testApp(), 'Keyed', { env: { account: '123456789012', region: 'eu-west-1' } });
    const key = new kms.Key(stack, 'Key', { enableKeyRotation: true });
    const role = new iam.Role(stack, 'Role', { assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com') });
    // Act
    const leases = new LeaseTable(stack, 'Leases', { encryptionKey: key });
    leases.grantLeaseHolder(role);
    // Assess
    const template = Template.fromStack(stack);
    template.hasResourceProperties('AWS::DynamoDB::GlobalTable', {
      SSESpecification: { SSEEnabled: true, SSEType: 'KMS' },
      Replicas: [Match.objectLike({ SSESpecification: { KMSMasterKeyId: { 'Fn::GetAtt': [Match.stringLikeRegexp('^Key'), 'Arn'] } } })],
    });
    template.hasResourceProperties('AWS::IAM::Policy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Action: Match.arrayWith(['kms:Decrypt', 'kms:GenerateDataKey*']),
            Resource: { 'Fn::GetAtt': [Match.stringLikeRegexp('^Key'), 'Arn'] },
          }),
          Match.objectLike({
            Action: ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem'],
            Resource: { 'Fn::GetAtt': [Match.stringLikeRegexp('^Leases'), 'Arn'] },
          }),
        ]),
      },
    });
    expect(leases.encryptionKey).toBe(key);
  });
});
