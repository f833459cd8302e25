import { Match, type Template } from 'aws-cdk-lib/assertions';
import { parseConsumers, type ScalerConsumerConfig } from '../../lambda/scaler/contract';

/** The scaler function's environment variables (the function with STATE_TABLE_NAME). */
export function scalerVariables(template: Template): Record<string, unknown> {
  const functions = template.findResources('AWS::Lambda::Function', {
    Properties: { Environment: { Variables: { STATE_TABLE_NAME: Match.anyValue() } } },
  });
  const found = Object.values(functions);
  expect(found).toHaveLength(1);
  return (found[0] as { Properties: { Environment: { Variables: Record<string, unknown> } } }).Properties.Environment.Variables;
}

/** A CloudFormation value as text: `{ Ref: X }` as `<Ref:X>`, `{ 'Fn::GetAtt': [X, Y] }` as `<GetAtt:X.Y>`, `Fn::Join` joined. */
function render(value: unknown): string {
  if (typeof value === 'string') {
    return value;
  }
  const object = value as Record<string, unknown>;
  if (typeof object?.Ref === 'string') {
    return `<Ref:${object.Ref}>`;
  }
  if (Array.isArray(object?.['Fn::GetAtt'])) {
    return `<GetAtt:${(object['Fn::GetAtt'] as string[]).join('.')}>`;
  }
  if (Array.isArray(object?.['Fn::Join'])) {
    const [separator, parts] = object['Fn::Join'] as [string, unknown[]];
    return parts.map(render).join(separator);
  }
  throw new Error(`unexpected CloudFormation value ${JSON.stringify(value)}`);
}

/**
 * The scaler's CONSUMERS variable, read by the handler's own parser (so a test also proves that
 * what the construct writes is what the handler accepts); references read `<Ref:LogicalId>`.
 */
export function scalerConsumers(template: Template): ScalerConsumerConfig[] {
  const value = scalerVariables(template).CONSUMERS;
  expect(value).toBeDefined();
  return parseConsumers(render(value));
}
