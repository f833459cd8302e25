import { RemovalPolicy } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as iam from 'aws-cdk-lib/aws-iam';
import { LeaseTable } from '../../lib';
import { testStack } from '../helpers/app';

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
        Replicas: [Match.objectLike({ PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true }, DeletionProtectionEnabled: false })],
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
        GlobalSecondaryIndexes: [{
          IndexName: 'LeaseOwnerToLeaseKeyIndex',
          KeySchema: [{ AttributeName: 'leaseOwner', KeyType: 'HASH' }, { AttributeName: 'leaseKey', KeyType: 'RANGE' }],
          Projection: { ProjectionType: 'KEYS_ONLY' },
        }],
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
        Statement: [{
          Effect: 'Allow',
          Action: ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem'],
          Resource: { 'Fn::GetAtt': [Match.stringLikeRegexp('^Leases'), 'Arn'] },
        }],
      },
    });
  });
});
