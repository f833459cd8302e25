import * as fs from 'fs';
import * as path from 'path';
import { Duration, Token, Validations } from 'aws-cdk-lib';
import type * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as nodejs from 'aws-cdk-lib/aws-lambda-nodejs';
import { METRICS_NAMESPACE, RuntimeEnv } from '../../lambda/shared/env';
import type { PropValidator } from './prop-validator';

/** The package root: the folder with our package.json, from `lib/` or from `dist/lib/`. */
export const PACKAGE_ROOT = findPackageRoot(__dirname);

/**
 * The TypeScript entry of a bundled handler, `lambda/<name>/index.ts`. The `.ts` sources ship in
 * the npm package (`files` in package.json), so the entry resolves inside `node_modules` too.
 */
export function handlerEntry(name: string): string {
  return path.join(PACKAGE_ROOT, 'lambda', name, 'index.ts');
}

/**
 * Settings every handler of this library shares: Node.js 24 on ARM64, bundled locally by esbuild
 * (never Docker) as a minified ES module with source maps, and JSON logs.
 * Construct-specific props are spread over these.
 */
export function pipelineFunctionDefaults(entry: string): nodejs.NodejsFunctionProps {
  return {
    entry,
    handler: 'handler',
    runtime: lambda.Runtime.NODEJS_24_X,
    architecture: lambda.Architecture.ARM_64,
    memorySize: 512,
    timeout: Duration.seconds(30),
    loggingFormat: lambda.LoggingFormat.JSON,
    environment: {
      [RuntimeEnv.NODE_OPTIONS]: '--enable-source-maps',
      [RuntimeEnv.POWERTOOLS_METRICS_NAMESPACE]: METRICS_NAMESPACE,
    },
    bundling: {
      forceDockerBundling: false,
      minify: true,
      sourceMap: true,
      sourcesContent: false,
      format: nodejs.OutputFormat.ESM,
      target: 'node24',
      mainFields: ['module', 'main'],
      // ESM output still meets CommonJS code inside the SDK; give it a require.
      banner: "import { createRequire as __cr } from 'module'; const require = __cr(import.meta.url);",
      // Bundle the SDK too: a pinned, tree-shaken client instead of whatever the runtime ships.
      externalModules: [],
    },
  };
}

/** The AWS-managed policy Lambda's VPC networking needs (network interfaces). */
const VPC_ACCESS_POLICY = 'service-role/AWSLambdaVPCAccessExecutionRole';

/** The Lambda settings users bring to a pipeline function: network, tracing, layers, variables, bundling. */
export interface PipelineFunctionOptions {
  /**
   * The VPC to run the function in. The role then gets the AWS-managed policy
   * `AWSLambdaVPCAccessExecutionRole` (network interfaces), as Lambda requires (acknowledged for
   * cdk-nag's AwsSolutions-IAM4); the subnets need a route to Kinesis, DynamoDB and CloudWatch
   * (NAT or VPC endpoints).
   * @default - not in a VPC
   */
  readonly vpc?: ec2.IVpc;
  /**
   * Subnets of `vpc` to use. Only with `vpc`.
   * @default - the VPC's private subnets
   */
  readonly vpcSubnets?: ec2.SubnetSelection;
  /**
   * Security groups of the function's network interfaces. Only with `vpc`.
   * @default - a new security group allowing all outbound traffic
   */
  readonly securityGroups?: ec2.ISecurityGroup[];
  /**
   * X-Ray tracing.
   * @default lambda.Tracing.DISABLED
   */
  readonly tracing?: lambda.Tracing;
  /**
   * Lambda layers to add (e.g. an extension).
   * @default - none
   */
  readonly layers?: lambda.ILayerVersion[];
  /**
   * Extra environment variables. A name the construct sets itself is refused at synth.
   * @default - none
   */
  readonly environment?: { [key: string]: string };
  /**
   * esbuild bundling options merged over the library's (ESM, minified, source maps, local esbuild);
   * `esbuildArgs` are merged too, and the construct's own aliases always stay.
   * @default - the library's bundling options
   */
  readonly bundling?: nodejs.BundlingOptions;
}

/** `vpcSubnets` and `securityGroups` need `vpc`: the error names the prop. */
export function checkNetworkOptions(options: PipelineFunctionOptions, validator: PropValidator): void {
  for (const [name, value] of [
    ['vpcSubnets', options.vpcSubnets],
    ['securityGroups', options.securityGroups],
  ] as const) {
    if (value !== undefined && !options.vpc) {
      validator.fail(`${name} needs vpc (the function's network); received ${name} without vpc`);
    }
  }
}

/**
 * The user's environment variables, refused when one has a name the construct sets (`ours`): the
 * handler would read the user's value, or the user's would be lost. Token names are skipped.
 */
export function checkUserEnvironment(user: { [key: string]: string } | undefined, ours: Iterable<string>, validator: PropValidator): void {
  if (user === undefined) {
    return;
  }
  const taken = new Set(ours);
  const clashes = Object.keys(user).filter((name) => !Token.isUnresolved(name) && taken.has(name));
  if (clashes.length > 0) {
    validator.fail(
      `environment must not set ${clashes.map((name) => `'${name}'`).join(', ')}: the construct sets ${clashes.length === 1 ? 'it' : 'them'} for the handler (its props set the value); received environment with ${clashes.join(', ')}`,
    );
  }
}

/** Bundling options: the library's, the user's over them, and the construct's esbuild aliases over both. */
export function mergeBundling(
  defaults: nodejs.NodejsFunctionProps,
  user: nodejs.BundlingOptions | undefined,
  ours: { [arg: string]: string | boolean } = {},
): nodejs.BundlingOptions {
  return {
    ...defaults.bundling,
    ...user,
    esbuildArgs: { ...defaults.bundling?.esbuildArgs, ...user?.esbuildArgs, ...ours },
  };
}

/**
 * Lambda creates and deletes a VPC function's network interfaces with its role's permissions;
 * CDK adds the managed policy only to roles it creates itself, so a construct that brings its own
 * role adds it (with the cdk-nag acknowledgement).
 */
export function grantVpcAccess(role: iam.Role, vpc: ec2.IVpc | undefined): void {
  if (!vpc) {
    return;
  }
  role.addManagedPolicy(iam.ManagedPolicy.fromAwsManagedPolicyName(VPC_ACCESS_POLICY));
  Validations.of(role).acknowledge({
    // cdk-nag reports each managed policy as its own finding: the bare rule id does not cover it.
    id: `AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/${VPC_ACCESS_POLICY}]`,
    reason:
      'A function in a VPC needs AWSLambdaVPCAccessExecutionRole (create, describe and delete network interfaces, which cannot be scoped to interfaces that do not exist yet); it is the only managed policy of this role, attached only with vpc',
  });
}

/**
 * With X-Ray tracing, Lambda adds `xray:PutTraceSegments` and `xray:PutTelemetryRecords` on `*` to
 * the role: those actions take no resource (X-Ray has no resource-level permissions for them).
 */
export function acknowledgeTracing(role: iam.Role, tracing: lambda.Tracing | undefined): void {
  if (tracing === undefined || tracing === lambda.Tracing.DISABLED) {
    return;
  }
  Validations.of(role).acknowledge({
    id: 'AwsSolutions-IAM5[Resource::*]',
    reason:
      "X-Ray tracing: xray:PutTraceSegments and xray:PutTelemetryRecords support no resource-level permissions, so Lambda's tracing statement is on *; added only with tracing",
  });
}

/** CloudWatch namespace of the handlers' own (EMF) metrics (defined with the handlers' shared variables). */
export { METRICS_NAMESPACE };

function findPackageRoot(start: string): string {
  let dir = start;
  while (!fs.existsSync(path.join(dir, 'package.json'))) {
    const parent = path.dirname(dir);
    if (parent === dir) {
      throw new Error(`kinesis-pipeline-cdk: no package.json above ${start}`);
    }
    dir = parent;
  }
  return dir;
}
