/**
 * Resolves the CloudFormation intrinsics a synthesized template uses in Lambda environment
 * variables and event-source mappings (Ref, Fn::GetAtt, Fn::Join, Fn::Select, Fn::Split, Fn::Sub
 * and the pseudo parameters) to the names the local run gives the resources.
 */
export const LOCAL_ACCOUNT = '000000000000';

export interface TemplateResource {
  readonly Type: string;
  readonly Properties?: Record<string, unknown>;
  readonly Metadata?: Record<string, unknown>;
}

export class UnsupportedIntrinsicError extends Error {
  public override readonly name = 'UnsupportedIntrinsicError';
}

/** Physical names and ARNs of a template's resources on the emulators. */
export class LocalNames {
  public constructor(
    private readonly stackName: string,
    private readonly resources: Readonly<Record<string, TemplateResource>>,
    private readonly region: string,
  ) {}

  /** The resource's own name property if the template sets one, else `<stack>-<logicalId>`. */
  public physicalName(logicalId: string): string {
    const resource = this.resources[logicalId];
    if (!resource) {
      throw new UnsupportedIntrinsicError(`local: the template has no resource ${logicalId}`);
    }
    const props = resource.Properties ?? {};
    const own = [props.Name, props.TableName, props.FunctionName, props.QueueName, props.TopicName, props.RoleName].find(
      (value) => typeof value === 'string',
    );
    return own ?? `${this.stackName}-${logicalId}`.slice(0, 128);
  }

  public arn(logicalId: string): string {
    const name = this.physicalName(logicalId);
    const type = this.resources[logicalId].Type;
    const at = `${this.region}:${LOCAL_ACCOUNT}`;
    switch (type) {
      case 'AWS::Kinesis::Stream':
        return `arn:aws:kinesis:${at}:stream/${name}`;
      case 'AWS::DynamoDB::Table':
      case 'AWS::DynamoDB::GlobalTable':
        return `arn:aws:dynamodb:${at}:table/${name}`;
      case 'AWS::Lambda::Function':
        return `arn:aws:lambda:${at}:function:${name}`;
      case 'AWS::SQS::Queue':
        return `arn:aws:sqs:${at}:${name}`;
      case 'AWS::SNS::Topic':
        return `arn:aws:sns:${at}:${name}`;
      case 'AWS::IAM::Role':
        return `arn:aws:iam::${LOCAL_ACCOUNT}:role/${name}`;
      case 'AWS::KMS::Key':
        return `arn:aws:kms:${at}:key/${name}`;
      case 'AWS::S3::Bucket':
        return `arn:aws:s3:::${name.toLowerCase()}`;
      default:
        return `arn:aws:${type.split('::')[1]?.toLowerCase() ?? 'local'}:${at}:${name}`;
    }
  }

  public ref(name: string): string {
    switch (name) {
      case 'AWS::Region':
        return this.region;
      case 'AWS::AccountId':
        return LOCAL_ACCOUNT;
      case 'AWS::Partition':
        return 'aws';
      case 'AWS::URLSuffix':
        return 'amazonaws.com';
      case 'AWS::StackName':
        return this.stackName;
      case 'AWS::NoValue':
        return '';
      default: {
        const type = this.resources[name]?.Type;
        if (type === 'AWS::SQS::Queue') {
          return `http://sqs.${this.region}.localhost/${LOCAL_ACCOUNT}/${this.physicalName(name)}`;
        }
        return this.physicalName(name);
      }
    }
  }

  public getAtt(logicalId: string, attribute: string): string {
    if (attribute === 'Arn' || attribute.endsWith('Arn')) {
      return this.arn(logicalId);
    }
    if (attribute === 'QueueUrl') {
      return this.ref(logicalId);
    }
    return this.physicalName(logicalId);
  }

  /** Resolves a template value (string, intrinsic, array or object) to plain JSON. */
  public resolve(value: unknown): unknown {
    if (Array.isArray(value)) {
      return value.map((item) => this.resolve(item));
    }
    if (value === null || typeof value !== 'object') {
      return value;
    }
    const entries = Object.entries(value as Record<string, unknown>);
    if (entries.length === 1) {
      const [key, arg] = entries[0];
      switch (key) {
        case 'Ref':
          return this.ref(arg as string);
        case 'Fn::GetAtt': {
          const [id, attribute] = Array.isArray(arg) ? (arg as string[]) : String(arg).split('.');
          return this.getAtt(id, attribute);
        }
        case 'Fn::Join': {
          const [separator, items] = arg as [string, unknown[]];
          return (this.resolve(items) as unknown[]).join(separator);
        }
        case 'Fn::Select': {
          const [index, items] = arg as [unknown, unknown];
          return (this.resolve(items) as unknown[])[Number(this.resolve(index))];
        }
        case 'Fn::Split': {
          const [separator, text] = arg as [string, unknown];
          return String(this.resolve(text)).split(separator);
        }
        case 'Fn::Sub': {
          const [text, vars] = typeof arg === 'string' ? [arg, {}] : (arg as [string, Record<string, unknown>]);
          return text.replace(/\$\{([^}!]+)\}/g, (_all, name: string) => {
            if (name in vars) {
              return String(this.resolve(vars[name]));
            }
            const [id, attribute] = name.split('.');
            return attribute ? this.getAtt(id, attribute) : this.ref(id);
          });
        }
        default:
          if (key.startsWith('Fn::')) {
            throw new UnsupportedIntrinsicError(`local: ${key} is not supported in ${JSON.stringify(value)}`);
          }
      }
    }
    return Object.fromEntries(entries.map(([key, item]) => [key, this.resolve(item)]));
  }
}
