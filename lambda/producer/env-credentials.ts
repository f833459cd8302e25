/**
 * Stand-in for `@aws-sdk/credential-provider-node` in the producer bundle (an esbuild alias set by
 * ProducerFunction). Lambda always hands the function's role credentials over in environment
 * variables, so the SDK's full chain (SSO, INI files, web identity, IMDS and the nested STS/SSO
 * clients behind them, about 130 KB minified) is dead weight in the bundle and in cold start.
 */
export class MissingCredentialsError extends Error {
  public override readonly name = 'MissingCredentialsError';
}

export function defaultProvider(): () => Promise<{ accessKeyId: string; secretAccessKey: string; sessionToken?: string }> {
  return async () => {
    const accessKeyId = process.env.AWS_ACCESS_KEY_ID;
    const secretAccessKey = process.env.AWS_SECRET_ACCESS_KEY;
    if (!accessKeyId || !secretAccessKey) {
      throw new MissingCredentialsError(
        'AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not set (the producer bundle reads credentials from the environment only, as Lambda provides them)',
      );
    }
    const sessionToken = process.env.AWS_SESSION_TOKEN;
    return sessionToken ? { accessKeyId, secretAccessKey, sessionToken } : { accessKeyId, secretAccessKey };
  };
}
