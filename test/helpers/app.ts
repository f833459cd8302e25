import { App, Stack } from 'aws-cdk-lib';

/**
 * An app for construct tests: asset bundling skipped (fast), CloudFormation Validate on, as in
 * cdk.json. Pass `bundle: true` for the one smoke test that bundles for real.
 */
export function testApp(options: { bundle?: boolean } = {}): App {
  return new App({
    context: {
      '@aws-cdk/core:validateAgainstDefaultRules': true,
      ...(options.bundle ? {} : { 'aws:cdk:bundling-stacks': [] }),
    },
  });
}

/** A stack in a fresh test app. */
export function testStack(id = 'TestStack'): Stack {
  return new Stack(testApp(), id);
}
