import { Stack, Validations } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { AwsSolutionsChecks } from 'cdk-nag';
import { ConsumerFunction, DataStream, EXAMPLE_PROCESSOR_ENTRY } from '../../lib';
import { testApp } from '../helpers/app';
import { nagViolations } from '../helpers/nag';

describe('ConsumerFunction in a VPC, traced', () => {
  test('is clean under cdk-nag: the VPC policy and the X-Ray statement are acknowledged by their findings', () => {
    // Prepare
    const app = testApp();
    const stack = new Stack(app, 'Nag');
    const vpc = ec2.Vpc.fromVpcAttributes(stack, 'Vpc', {
      vpcId: 'vpc-0123456789abcdef0',
      availabilityZones: ['eu-west-1a'],
      privateSubnetIds: ['subnet-0123456789abcdef0'],
      privateSubnetRouteTableIds: ['rtb-0123456789abcdef0'],
    });
    new ConsumerFunction(stack, 'Consumer', {
      stream: new DataStream(stack, 'Stream'),
      processorEntry: EXAMPLE_PROCESSOR_ENTRY,
      vpc,
      tracing: lambda.Tracing.ACTIVE,
    });
    Validations.of(app).addPlugins(new AwsSolutionsChecks(app));

    // Act / Assess
    expect(nagViolations(app)).toEqual([]);
  });
});
