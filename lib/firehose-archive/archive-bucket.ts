import { Duration, FeatureFlags, RemovalPolicy, Validations } from 'aws-cdk-lib';
import * as cxapi from 'aws-cdk-lib/cx-api';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { PropValidator } from '../private/prop-validator';

/** When archived objects move to cheaper storage classes and expire. */
export interface ArchiveLifecycle {
  /**
   * Move objects to S3 Standard-IA after this age (at least 30 days).
   * @default Duration.days(30)
   */
  readonly infrequentAccessAfter?: Duration;
  /**
   * Move objects to S3 Glacier Flexible Retrieval after this age.
   * @default Duration.days(90)
   */
  readonly glacierAfter?: Duration;
  /**
   * Delete objects after this age.
   * @default - never: the archive is kept
   */
  readonly expireAfter?: Duration;
  /**
   * Delete overwritten or deleted object versions after this time.
   * @default Duration.days(30)
   */
  readonly noncurrentVersionExpiration?: Duration;
}

/** Options of the bucket `FirehoseArchive` creates when none is given. */
export interface ArchiveBucketProps {
  /**
   * Storage class transitions and expiry.
   * @default - Standard-IA after 30 days, Glacier after 90, never expire; old versions deleted after 30 days
   */
  readonly lifecycle?: ArchiveLifecycle;
  /**
   * What happens to the bucket (and its key and access-log bucket) when it leaves the stack.
   * @default RemovalPolicy.RETAIN
   */
  readonly removalPolicy?: RemovalPolicy;
  /**
   * Empty the bucket on stack deletion (adds a custom resource Lambda). Needs `removalPolicy` DESTROY.
   * @default false
   */
  readonly autoDeleteObjects?: boolean;
  /**
   * The key that encrypts archived objects.
   * @default - a new customer-managed key with yearly rotation
   */
  readonly encryptionKey?: kms.IKey;
}

/**
 * The archive's bucket: KMS-encrypted with S3 Bucket Keys, TLS only, all public access blocked,
 * versioned, with server access logs in a second bucket and lifecycle rules.
 */
export class ArchiveBucket extends Construct {
  public readonly bucket: s3.Bucket;
  public readonly accessLogsBucket: s3.Bucket;

  constructor(scope: Construct, id: string, props: ArchiveBucketProps = {}) {
    super(scope, id);
    validateLifecycle(props);
    const removalPolicy = props.removalPolicy ?? RemovalPolicy.RETAIN;
    const autoDeleteObjects = props.autoDeleteObjects ?? false;
    const lifecycle = props.lifecycle ?? {};

    // Server access log targets only accept SSE-S3; this bucket holds no records, only access logs.
    // With the feature flag S3 delivers logs through a bucket policy and ACLs can be disabled;
    // without it (apps that lack the flag) the L2 falls back to the log-delivery ACL.
    const logsByPolicy = FeatureFlags.of(this).isEnabled(cxapi.S3_SERVER_ACCESS_LOGS_USE_BUCKET_POLICY);
    this.accessLogsBucket = new s3.Bucket(this, 'AccessLogs', {
      encryption: s3.BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      objectOwnership: logsByPolicy ? s3.ObjectOwnership.BUCKET_OWNER_ENFORCED : undefined,
      versioned: true,
      removalPolicy,
      autoDeleteObjects,
      lifecycleRules: [{ expiration: Duration.days(365), noncurrentVersionExpiration: Duration.days(30) }],
    });
    Validations.of(this.accessLogsBucket).acknowledge({
      id: 'AwsSolutions-S1',
      reason:
        'This bucket is itself the server access log target of the archive bucket; logging it to itself would loop and to a third bucket would only move the question.',
    });

    const encryptionKey =
      props.encryptionKey ??
      new kms.Key(this, 'Key', {
        description: `Encrypts the Kinesis archive in ${this.node.path}`,
        enableKeyRotation: true,
        removalPolicy,
      });
    this.bucket = new s3.Bucket(this, 'Resource', {
      encryption: s3.BucketEncryption.KMS,
      encryptionKey,
      bucketKeyEnabled: true,
      enforceSSL: true,
      minimumTLSVersion: 1.2,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      versioned: true,
      serverAccessLogsBucket: this.accessLogsBucket,
      serverAccessLogsPrefix: 'archive/',
      removalPolicy,
      autoDeleteObjects,
      lifecycleRules: [
        {
          abortIncompleteMultipartUploadAfter: Duration.days(7),
          transitions: [
            { storageClass: s3.StorageClass.INFREQUENT_ACCESS, transitionAfter: lifecycle.infrequentAccessAfter ?? Duration.days(30) },
            { storageClass: s3.StorageClass.GLACIER, transitionAfter: lifecycle.glacierAfter ?? Duration.days(90) },
          ],
          expiration: lifecycle.expireAfter,
          noncurrentVersionExpiration: lifecycle.noncurrentVersionExpiration ?? Duration.days(30),
        },
      ],
    });
  }
}

function validateLifecycle(props: ArchiveBucketProps): void {
  const v = new PropValidator('FirehoseArchive');
  if (props.autoDeleteObjects && props.removalPolicy !== RemovalPolicy.DESTROY) {
    v.fail('autoDeleteObjects needs removalPolicy RemovalPolicy.DESTROY; the default RETAIN keeps the archive');
  }
  const days = (value?: Duration): number | undefined => (value && !value.isUnresolved() ? value.toDays({ integral: false }) : undefined);
  const lifecycle = props.lifecycle ?? {};
  const ia = days(lifecycle.infrequentAccessAfter) ?? 30;
  const glacier = days(lifecycle.glacierAfter) ?? 90;
  const expire = days(lifecycle.expireAfter);
  if (ia < 30 || !Number.isInteger(ia)) {
    v.fail(`lifecycle.infrequentAccessAfter must be whole days, at least 30 (an S3 rule for Standard-IA); received ${ia} days`);
  }
  if (glacier <= ia || !Number.isInteger(glacier)) {
    v.fail(`lifecycle.glacierAfter must be whole days after infrequentAccessAfter (${ia}); received ${glacier} days`);
  }
  if (expire !== undefined && (expire <= glacier || !Number.isInteger(expire))) {
    v.fail(`lifecycle.expireAfter must be whole days after glacierAfter (${glacier}); received ${expire} days`);
  }
  const noncurrent = days(lifecycle.noncurrentVersionExpiration);
  if (noncurrent !== undefined && (noncurrent < 1 || !Number.isInteger(noncurrent))) {
    v.fail(`lifecycle.noncurrentVersionExpiration must be whole days, at least 1; received ${noncurrent} days`);
  }
}
