import { InvalidOptionError } from "../../core/errors.js";
import { knownKeys, nonEmptyString, positiveInteger } from "../../core/validate.js";

/** AWS credentials, as the AWS SDK takes them. */
export interface SQSCredentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly sessionToken?: string;
}

/** `new App({ sqs: { ... } })`: where the SQS routes and `app.sqs.publish` reach SQS. */
export interface SQSOptions {
  /**
   * The SQS endpoint, for an emulator or a VPC endpoint (`http://127.0.0.1:4566`). Every request
   * goes there, queue URLs included.
   * @defaultValue `WEIR_SQS_ENDPOINT` (as the CLI reads it), else the AWS SDK's endpoint for `region`
   */
  endpoint?: string;
  /**
   * The AWS region (`eu-west-1`).
   * @defaultValue `AWS_REGION` or the AWS SDK's configuration; `"us-east-1"` when `endpoint` is set and none is found
   */
  region?: string;
  /**
   * Static credentials.
   * @defaultValue the AWS SDK's default credential chain (environment, shared files, instance role)
   */
  credentials?: SQSCredentials;
  /**
   * Messages a route may hold (received, not deleted or released) at once, for every `sqs` route that does not set its own
   * `prefetch` (a route's own wins), as `amqp.prefetch` is for AMQP routes.
   * @defaultValue a route's default, the larger of its `bulkSize` and 10
   */
  prefetch?: number;
}

export interface ResolvedSQSOptions {
  readonly endpoint: string | undefined;
  readonly region: string | undefined;
  readonly credentials: SQSCredentials | undefined;
  /** The app's default for a route's `prefetch` (undefined: the route's own default). */
  readonly prefetch: number | undefined;
}

/** Checks `sqs` once, when the App is built. */
export function resolveSQSOptions(options: SQSOptions | undefined): ResolvedSQSOptions {
  knownKeys("sqs", options, ["endpoint", "region", "credentials", "prefetch"]);
  // The app reads `WEIR_SQS_ENDPOINT` as the CLI does (and as NATS and Redis read theirs): with only
  // the variable set, both reach the same SQS. An empty variable is no endpoint.
  const fromEnv = options?.endpoint === undefined;
  const endpoint = fromEnv
    ? process.env.WEIR_SQS_ENDPOINT || undefined
    : nonEmptyString("sqs.endpoint", options.endpoint);
  if (endpoint !== undefined && !URL.canParse(endpoint)) {
    throw new InvalidOptionError(
      fromEnv ? "WEIR_SQS_ENDPOINT" : "sqs.endpoint",
      `must be a URL, got ${JSON.stringify(endpoint)}`,
    );
  }
  const region =
    options?.region === undefined ? process.env.AWS_REGION : nonEmptyString("sqs.region", options.region);
  const credentials = options?.credentials;
  if (credentials !== undefined) {
    knownKeys("sqs.credentials", credentials, ["accessKeyId", "secretAccessKey", "sessionToken"]);
    nonEmptyString("sqs.credentials.accessKeyId", credentials.accessKeyId);
    nonEmptyString("sqs.credentials.secretAccessKey", credentials.secretAccessKey);
  }
  return {
    endpoint,
    region: region ?? (endpoint === undefined ? undefined : "us-east-1"),
    credentials,
    prefetch:
      options?.prefetch === undefined ? undefined : positiveInteger("sqs.prefetch", options.prefetch, 1),
  };
}
