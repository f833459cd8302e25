import * as fs from 'fs';
import * as path from 'path';
import type { App } from 'aws-cdk-lib';

export interface NagViolation {
  readonly rule: string;
  readonly severity: string;
  readonly paths: string[];
}

/**
 * Synthesizes an app that has cdk-nag (and CloudFormation Validate) registered and returns every
 * violation in the validation report, warnings included. Errors make synth throw; the message
 * then lists them, so a failing test shows what to fix.
 */
export function nagViolations(app: App): NagViolation[] {
  const assembly = app.synth();
  const report = JSON.parse(fs.readFileSync(path.join(assembly.directory, 'validation-report.json'), 'utf8')) as {
    pluginReports: Array<{ violations?: Array<{ ruleName: string; severity: string; violatingResources: Array<{ constructPath?: string; resourceLogicalId?: string }> }> }>;
  };
  return report.pluginReports.flatMap((plugin) => (plugin.violations ?? []).map((violation) => ({
    rule: violation.ruleName,
    severity: violation.severity,
    paths: violation.violatingResources.map((resource) => resource.constructPath ?? resource.resourceLogicalId ?? '?'),
  })));
}
