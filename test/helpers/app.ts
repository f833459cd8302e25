import * as fs from 'fs';
import * as path from 'path';
import { App, Stack } from 'aws-cdk-lib';

/** The feature flags of cdk.json, so tests build what `npm run synth` builds. */
export const CDK_JSON_CONTEXT = (
  JSON.parse(fs.readFileSync(path.join(__dirname, '../../cdk.json'), 'utf8')) as { context: Record<string, unknown> }
).context;

/**
 * An app for construct tests: cdk.json's feature flags (CloudFormation Validate included), asset
 * bundling skipped (fast). Pass `bundle: true` for the one smoke test that bundles for real.
 */
export function testApp(options: { bundle?: boolean; context?: Record<string, unknown> } = {}): App {
  return new App({
    context: {
      ...CDK_JSON_CONTEXT,
      ...(options.bundle ? {} : { 'aws:cdk:bundling-stacks': [] }),
      ...options.context,
    },
  });
}

/** A stack in a fresh test app. */
export function testStack(id = 'TestStack'): Stack {
  return new Stack(testApp(), id);
}
