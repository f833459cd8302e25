import * as fs from 'fs';
import * as path from 'path';
import type { App } from 'aws-cdk-lib';

export interface NagViolation {
  readonly rule: string;
  readonly severity: string;
  readonly paths: string[];
}

interface Violator {
  readonly constructPath?: string;
  readonly resourceLogicalId?: string;
}

/**
 * Synthesizes an app that has cdk-nag (and CloudFormation Validate) registered and returns every
 * violation in the validation report, warnings included. Errors make synth throw; the message
 * then lists them, so a failing test shows what to fix.
 */
export function nagViolations(app: App): NagViolation[] {
  const assembly = app.synth();
  const report = JSON.parse(fs.readFileSync(path.join(assembly.directory, 'validation-report.json'), 'utf8')) as {
    pluginReports: Array<{
      violations?: Array<{ ruleName: string; severity: string; violatingConstructs?: Violator[]; violatingResources?: Violator[] }>;
    }>;
  };
  return report.pluginReports.flatMap((plugin) =>
    (plugin.violations ?? []).map((violation) => ({
      rule: violation.ruleName,
      severity: violation.severity,
      // The report written to the assembly names them violatingConstructs (aws-cdk-lib's
      // PolicyViolationConstructAware); the plugin-side type calls them violatingResources.
      paths: (violation.violatingConstructs ?? violation.violatingResources ?? []).map(
        (resource) => resource.constructPath ?? resource.resourceLogicalId ?? '?',
      ),
    })),
  );
}
