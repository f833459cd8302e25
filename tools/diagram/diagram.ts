/**
 * The architecture picture of the README, generated from the synthesized app.
 *
 *   npm run diagram            # docs/architecture.dot, and .svg and .png when graphviz `dot` is installed
 *   npm run diagram -- --stack OnDemandPipeline
 *
 * It synthesizes bin/build-app.ts (asset bundling skipped), walks the construct tree for every
 * CloudFormation resource (its construct path gives the part it belongs to), and reads the
 * references between resources from the synthesized templates: event-source mappings, IAM
 * statements (who may do what to which resource), alarm actions and alarm dimensions, Firehose
 * sources and destinations. Nothing is drawn by hand, so the picture follows the app.
 */
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { App, CfnResource, Stack } from 'aws-cdk-lib';
import type { CloudAssembly } from 'aws-cdk-lib/cx-api';
import { buildApp } from '../../bin/build-app';
import { StreamingPipeline } from '../../lib';

const ROOT = path.join(__dirname, '..', '..');
export const DOCS_DIR = path.join(ROOT, 'docs');

/** Resource types drawn as nodes, with their kind label and colour. */
const SHOWN: Record<string, { kind: string; color: string; shape?: string }> = {
  'AWS::Kinesis::Stream': { kind: 'Kinesis data stream', color: '#c8b6e2', shape: 'cds' },
  'AWS::Lambda::Function': { kind: 'Lambda function', color: '#fbd3a5' },
  'AWS::DynamoDB::Table': { kind: 'DynamoDB table', color: '#b7d3f2', shape: 'cylinder' },
  'AWS::DynamoDB::GlobalTable': { kind: 'DynamoDB table', color: '#b7d3f2', shape: 'cylinder' },
  'AWS::SQS::Queue': { kind: 'SQS queue', color: '#f5c1d5' },
  'AWS::SNS::Topic': { kind: 'SNS topic (KMS)', color: '#f5c1d5' },
  'AWS::KinesisFirehose::DeliveryStream': { kind: 'Firehose delivery stream', color: '#c8b6e2' },
  'AWS::S3::Bucket': { kind: 'S3 bucket', color: '#c5e5b4', shape: 'cylinder' },
  'AWS::CloudWatch::Dashboard': { kind: 'CloudWatch dashboard', color: '#c5e5b4', shape: 'note' },
};
const ALARM_TYPES = new Set(['AWS::CloudWatch::Alarm', 'AWS::CloudWatch::CompositeAlarm']);
/** Read-only actions left off edge labels when there are others. */
const MINOR_ACTION = /^(Describe|List|GetQueue|GetBucket|GetShardIterator|AbortMultipartUpload)/;

interface Resource {
  readonly logicalId: string;
  readonly type: string;
  readonly path: string;
  readonly component: string;
  readonly properties: Record<string, unknown>;
}

interface Node {
  readonly id: string;
  readonly component: string;
  readonly label: string;
  readonly kind: string;
  readonly color: string;
  readonly shape: string;
  count: number;
}

interface Edge {
  readonly from: string;
  readonly to: string;
  readonly labels: Set<string>;
  /** What the edge means (a mapping, a destination): shown instead of IAM actions when present. */
  readonly roles: Set<string>;
  readonly dashed: boolean;
}

/** Synthesizes the app as `npm run synth` does, without bundling assets, into a temporary folder. */
export function synthesizeApp(): { app: App; assembly: CloudAssembly; cleanup: () => void } {
  const outdir = fs.mkdtempSync(path.join(os.tmpdir(), 'diagram-'));
  const cdkJson = JSON.parse(fs.readFileSync(path.join(ROOT, 'cdk.json'), 'utf8')) as { context?: Record<string, unknown> };
  const app = new App({ outdir, context: { ...cdkJson.context, 'aws:cdk:bundling-stacks': [] } });
  buildApp(app);
  const assembly = app.synth();
  return { app, assembly, cleanup: () => fs.rmSync(outdir, { recursive: true, force: true }) };
}

/** The DOT of one stack of a synthesized app (by default the first). */
export function architectureDot(app: App, assembly: CloudAssembly, stackName?: string): string {
  const stacks = app.node.children.filter(Stack.isStack);
  const stack = stackName ? stacks.find((candidate) => candidate.stackName === stackName) : stacks[0];
  if (!stack) {
    throw new Error(`diagram: no stack '${stackName}' in the app; stacks: ${stacks.map((s) => s.stackName).join(', ')}`);
  }
  const template = assembly.getStackByName(stack.stackName).template as {
    Resources: Record<string, { Properties?: Record<string, unknown> }>;
  };
  const resources = collectResources(stack, template.Resources);
  const { nodes, nodeOf } = buildNodes(resources);
  const edges = buildEdges(resources, nodeOf);
  return render(stack, nodes, edges);
}

function collectResources(
  stack: Stack,
  templateResources: Record<string, { Properties?: Record<string, unknown> }>,
): Map<string, Resource> {
  const resources = new Map<string, Resource>();
  for (const construct of stack.node.findAll()) {
    if (!CfnResource.isCfnResource(construct) || Stack.of(construct) !== stack) {
      continue;
    }
    const logicalId = stack.resolve(construct.logicalId) as string;
    const inTemplate = templateResources[logicalId];
    if (!inTemplate) {
      continue;
    }
    resources.set(logicalId, {
      logicalId,
      type: construct.cfnResourceType,
      path: construct.node.path,
      component: componentOf(stack, construct.node.path),
      properties: inTemplate.Properties ?? {},
    });
  }
  return resources;
}

/** The part a resource belongs to: the construct under the pipeline (or under the stack). */
function componentOf(stack: Stack, constructPath: string): string {
  const segments = constructPath.split('/').slice(stack.node.path.split('/').length);
  const top = stack.node.tryFindChild(segments[0]);
  return top instanceof StreamingPipeline && segments.length > 1 ? segments[1] : segments[0];
}

function buildNodes(resources: Map<string, Resource>): { nodes: Node[]; nodeOf: Map<string, string> } {
  const nodes = new Map<string, Node>();
  const nodeOf = new Map<string, string>();
  for (const resource of resources.values()) {
    if (ALARM_TYPES.has(resource.type)) {
      // One node per part for its alarms.
      const id = dotId(`${resource.component}_alarms`);
      const node = nodes.get(id) ?? {
        id,
        component: resource.component,
        label: 'alarms',
        kind: 'CloudWatch alarms',
        color: '#c5e5b4',
        shape: 'box3d',
        count: 0,
      };
      node.count += 1;
      nodes.set(id, node);
      nodeOf.set(resource.logicalId, id);
      continue;
    }
    const shown = SHOWN[resource.type];
    if (!shown) {
      continue;
    }
    const id = dotId(resource.logicalId);
    nodes.set(id, {
      id,
      component: resource.component,
      label: nodeLabel(resource),
      kind: shown.kind,
      color: shown.color,
      shape: shown.shape ?? 'box',
      count: 1,
    });
    nodeOf.set(resource.logicalId, id);
  }
  return { nodes: [...nodes.values()], nodeOf };
}

/** The construct path below the part, without the L2's `Resource` segments: `Function`, `State`. */
function nodeLabel(resource: Resource): string {
  const below = resource.path.split('/');
  const index = below.indexOf(resource.component);
  const rest = below.slice(index + 1).filter((segment) => segment !== 'Resource');
  return rest.length > 0 ? rest.join('/') : resource.component;
}

function buildEdges(resources: Map<string, Resource>, nodeOf: Map<string, string>): Edge[] {
  const edges = new Map<string, Edge>();
  const add = (from: string | undefined, to: string | undefined, label: string | undefined, dashed = false, role = false) => {
    if (!from || !to || from === to) {
      return;
    }
    const key = `${from}->${to}:${dashed}`;
    const edge = edges.get(key) ?? { from, to, labels: new Set<string>(), roles: new Set<string>(), dashed };
    if (label) {
      (role ? edge.roles : edge.labels).add(label);
    }
    edges.set(key, edge);
  };
  const addRole = (from: string | undefined, to: string | undefined, label: string) => add(from, to, label, false, true);
  const mappings = new Set<string>();

  // Who uses each role: the shown resources whose properties reference it.
  const roleUsers = new Map<string, string[]>();
  for (const resource of resources.values()) {
    if (!nodeOf.has(resource.logicalId)) {
      continue;
    }
    for (const ref of references(resource.properties)) {
      if (resources.get(ref)?.type === 'AWS::IAM::Role') {
        roleUsers.set(ref, [...(roleUsers.get(ref) ?? []), nodeOf.get(resource.logicalId)!]);
      }
    }
  }

  for (const resource of resources.values()) {
    const props = resource.properties;
    switch (resource.type) {
      case 'AWS::Lambda::EventSourceMapping': {
        const source = firstShown(props.EventSourceArn, nodeOf);
        const target = firstShown(props.FunctionName, nodeOf);
        addRole(source, target, 'event-source mapping');
        if (source && target) {
          mappings.add(`${target}->${source}`);
        }
        const destination = (props.DestinationConfig as { OnFailure?: { Destination?: unknown } } | undefined)?.OnFailure?.Destination;
        addRole(target, firstShown(destination, nodeOf), 'on failure');
        break;
      }
      case 'AWS::IAM::Policy':
      case 'AWS::IAM::Role': {
        const roles = resource.type === 'AWS::IAM::Role' ? [resource.logicalId] : references(props.Roles);
        const documents =
          resource.type === 'AWS::IAM::Role'
            ? ((props.Policies as Array<{ PolicyDocument: unknown }> | undefined) ?? []).map((policy) => policy.PolicyDocument)
            : [props.PolicyDocument];
        const users = roles.flatMap((role) => roleUsers.get(role) ?? []);
        for (const statement of documents.flatMap(
          (document) =>
            ((document as { Statement?: unknown[] })?.Statement ?? []) as Array<{
              Effect?: string;
              Action?: string | string[];
              Resource?: unknown;
            }>,
        )) {
          if (statement.Effect !== 'Allow') {
            continue;
          }
          const actions = ([] as string[]).concat(statement.Action ?? []);
          for (const target of new Set(
            references(statement.Resource)
              .map((ref) => nodeOf.get(ref))
              .filter((id): id is string => id !== undefined),
          )) {
            for (const user of users) {
              add(user, target, actionLabel(actions));
            }
          }
        }
        break;
      }
      case 'AWS::CloudWatch::Alarm':
      case 'AWS::CloudWatch::CompositeAlarm': {
        const alarms = nodeOf.get(resource.logicalId);
        for (const action of [...references(props.AlarmActions), ...references(props.OKActions)]) {
          const target = nodeOf.get(action);
          addRole(alarms, target, resources.get(action)?.type === 'AWS::Lambda::Function' ? 'invokes' : 'notifies');
        }
        const watched = [props.Dimensions, props.Metrics, props.AlarmRule].flatMap(references);
        for (const ref of watched) {
          add(nodeOf.get(ref), alarms, undefined, true);
        }
        break;
      }
      case 'AWS::KinesisFirehose::DeliveryStream': {
        const self = nodeOf.get(resource.logicalId);
        const source = firstShown(
          (props.KinesisStreamSourceConfiguration as { KinesisStreamARN?: unknown } | undefined)?.KinesisStreamARN,
          nodeOf,
        );
        addRole(source, self, 'source');
        if (source && self) {
          mappings.add(`${self}->${source}`);
        }
        for (const [key, value] of Object.entries(props)) {
          if (key.endsWith('DestinationConfiguration')) {
            for (const ref of references(value)) {
              if (resources.get(ref)?.type === 'AWS::S3::Bucket') {
                addRole(self, nodeOf.get(ref), 'delivers');
              }
            }
          }
        }
        break;
      }
      case 'AWS::S3::Bucket':
        addRole(
          nodeOf.get(resource.logicalId),
          firstShown((props.LoggingConfiguration as { DestinationBucketName?: unknown } | undefined)?.DestinationBucketName, nodeOf),
          'access logs',
        );
        break;
      default:
        break;
    }
  }
  // A reader of the stream through a mapping or a Firehose source: that edge says it.
  return [...edges.values()].filter((edge) => !mappings.has(`${edge.from}->${edge.to}`));
}

function actionLabel(actions: string[]): string {
  const names = [...new Set(actions.map((action) => action.split(':')[1] ?? action))].sort();
  const major = names.filter((name) => !MINOR_ACTION.test(name));
  const shown = major.length > 0 ? major : names;
  return shown.length > 2 ? `${shown.slice(0, 2).join(', ')}, …` : shown.join(', ');
}

/** Logical IDs referenced (Ref, Fn::GetAtt, ${Id} in Fn::Sub) anywhere in a value. */
function references(value: unknown): string[] {
  const found: string[] = [];
  const visit = (node: unknown) => {
    if (Array.isArray(node)) {
      node.forEach(visit);
    } else if (node && typeof node === 'object') {
      for (const [key, child] of Object.entries(node)) {
        if (key === 'Ref' && typeof child === 'string' && !child.startsWith('AWS::')) {
          found.push(child);
        } else if (key === 'Fn::GetAtt' && Array.isArray(child)) {
          found.push(String(child[0]));
        } else {
          visit(child);
        }
      }
    }
  };
  visit(value);
  return found;
}

function firstShown(value: unknown, nodeOf: Map<string, string>): string | undefined {
  return references(value)
    .map((ref) => nodeOf.get(ref))
    .find((id) => id !== undefined);
}

function render(stack: Stack, nodes: Node[], edges: Edge[]): string {
  const lines = [
    `// Generated by \`npm run diagram\` (tools/diagram/diagram.ts) from the synthesized app, stack ${stack.stackName}. Do not edit.`,
    'digraph architecture {',
    '  graph [rankdir=LR, fontname="Helvetica", fontsize=12, nodesep=0.35, ranksep=0.9, compound=true, newrank=true,',
    `         label="${escape(`${stack.stackName}: ${stack.templateOptions.description ?? ''}`)}", labelloc=t];`,
    '  node [fontname="Helvetica", fontsize=11, style="filled,rounded", shape=box];',
    '  edge [fontname="Helvetica", fontsize=9, color="#555555"];',
  ];
  const components = [...new Set(nodes.map((node) => node.component))];
  for (const component of components) {
    lines.push(
      `  subgraph ${dotId(`cluster_${component}`)} {`,
      `    label="${escape(component)}"; style="rounded,dashed"; color="#999999";`,
    );
    for (const node of nodes.filter((candidate) => candidate.component === component)) {
      const title = node.kind === 'CloudWatch alarms' ? `${node.count} alarm${node.count === 1 ? '' : 's'}` : node.label;
      const style = node.shape === 'box' ? 'filled,rounded' : 'filled';
      lines.push(
        `    ${node.id} [label="${escape(title)}\\n${escape(node.kind)}", shape=${node.shape}, style="${style}", fillcolor="${node.color}"];`,
      );
    }
    lines.push('  }');
  }
  for (const edge of [...edges].sort((a, b) => `${a.from}${a.to}`.localeCompare(`${b.from}${b.to}`))) {
    const labels = edge.roles.size > 0 ? edge.roles : edge.labels;
    const attributes = [
      labels.size > 0 ? `label="${escape([...labels].sort().join('; '))}"` : undefined,
      edge.dashed ? 'style=dashed, color="#aaaaaa", arrowhead=none' : undefined,
    ].filter(Boolean);
    lines.push(`  ${edge.from} -> ${edge.to}${attributes.length > 0 ? ` [${attributes.join(', ')}]` : ''};`);
  }
  lines.push('}', '');
  return lines.join('\n');
}

function dotId(value: string): string {
  return value.replace(/[^A-Za-z0-9_]/g, '_');
}

function escape(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"');
}

function main(): void {
  const stackIndex = process.argv.indexOf('--stack');
  const stackName = stackIndex > 0 ? process.argv[stackIndex + 1] : undefined;
  const { app, assembly, cleanup } = synthesizeApp();
  try {
    const dot = architectureDot(app, assembly, stackName);
    fs.mkdirSync(DOCS_DIR, { recursive: true });
    const dotFile = path.join(DOCS_DIR, 'architecture.dot');
    fs.writeFileSync(dotFile, dot);
    console.log(`wrote ${path.relative(ROOT, dotFile)}`);
    for (const [format, extra] of [
      ['svg', []],
      ['png', ['-Gdpi=110']],
    ] as const) {
      const out = path.join(DOCS_DIR, `architecture.${format}`);
      try {
        execFileSync('dot', [`-T${format}`, ...extra, dotFile, '-o', out], { stdio: 'inherit' });
        console.log(`wrote ${path.relative(ROOT, out)}`);
      } catch (error) {
        console.warn(`graphviz 'dot' failed or is not installed (${(error as Error).message}); the committed image stays as it is`);
        return;
      }
    }
  } finally {
    cleanup();
  }
}

if (require.main === module) {
  main();
}
