import type { ResolvedSQSOptions } from "./options.js";
import {
  batches,
  isQueueUrl,
  type SQSPort,
  type SQSReceived,
  type SQSReceiveOptions,
  type SQSSendOptions,
} from "./port.js";

/**
 * The SQS port on `@aws-sdk/client-sqs` v3, imported here only: this module is loaded when the
 * transport starts (or the first publish), so `import "weir"` never loads the AWS SDK.
 */
export async function awsPort(options: ResolvedSQSOptions): Promise<SQSPort> {
  const sdk = await import("@aws-sdk/client-sqs");
  const client = new sdk.SQSClient({
    ...(options.endpoint === undefined ? {} : { endpoint: options.endpoint }),
    ...(options.region === undefined ? {} : { region: options.region }),
    ...(options.credentials === undefined ? {} : { credentials: { ...options.credentials } }),
  });
  const urls = new Map<string, string>();
  const port: SQSPort = {
    async queueUrl(nameOrUrl) {
      if (isQueueUrl(nameOrUrl)) return nameOrUrl;
      const known = urls.get(nameOrUrl);
      if (known !== undefined) return known;
      const out = await client.send(new sdk.GetQueueUrlCommand({ QueueName: nameOrUrl }));
      const url = out.QueueUrl ?? "";
      urls.set(nameOrUrl, url);
      return url;
    },
    async createQueue(name, attributes) {
      const out = await client.send(
        new sdk.CreateQueueCommand({
          QueueName: name,
          ...(attributes ? { Attributes: { ...attributes } } : {}),
        }),
      );
      const url = out.QueueUrl ?? "";
      urls.set(name, url);
      return url;
    },
    async receive(url, o: SQSReceiveOptions): Promise<SQSReceived[]> {
      const out = await client.send(
        new sdk.ReceiveMessageCommand({
          QueueUrl: url,
          MaxNumberOfMessages: o.max,
          WaitTimeSeconds: o.waitSeconds,
          ...(o.visibilitySeconds === undefined ? {} : { VisibilityTimeout: o.visibilitySeconds }),
          MessageSystemAttributeNames: ["ApproximateReceiveCount", "MessageGroupId"],
          MessageAttributeNames: ["All"],
        }),
        o.signal === undefined ? {} : { abortSignal: o.signal },
      );
      return (out.Messages ?? []).map((m) => {
        const attributes: Record<string, string> = {};
        for (const [key, value] of Object.entries(m.MessageAttributes ?? {})) {
          if (value.StringValue !== undefined) attributes[key] = value.StringValue;
        }
        return {
          id: m.MessageId ?? "",
          receipt: m.ReceiptHandle ?? "",
          body: m.Body ?? "",
          receiveCount: Number(m.Attributes?.ApproximateReceiveCount ?? "1"),
          groupId: m.Attributes?.MessageGroupId,
          attributes,
        };
      });
    },
    async delete(url, receipts) {
      const failed: string[] = [];
      await Promise.all(
        batches(receipts).map(async (chunk) => {
          const out = await client.send(
            new sdk.DeleteMessageBatchCommand({
              QueueUrl: url,
              Entries: chunk.map((receipt, i) => ({ Id: String(i), ReceiptHandle: receipt })),
            }),
          );
          for (const entry of out.Failed ?? []) failed.push(chunk[Number(entry.Id)] ?? "");
        }),
      );
      return failed;
    },
    async changeVisibility(url, entries) {
      await Promise.all(
        batches(entries).map((chunk) =>
          client.send(
            new sdk.ChangeMessageVisibilityBatchCommand({
              QueueUrl: url,
              Entries: chunk.map((entry, i) => ({
                Id: String(i),
                ReceiptHandle: entry.receipt,
                VisibilityTimeout: entry.seconds,
              })),
            }),
          ),
        ),
      );
    },
    async send(url, body, o: SQSSendOptions) {
      const attributes = Object.entries(o.attributes ?? {});
      const out = await client.send(
        new sdk.SendMessageCommand({
          QueueUrl: url,
          MessageBody: body,
          ...(o.groupId === undefined ? {} : { MessageGroupId: o.groupId }),
          ...(o.deduplicationId === undefined ? {} : { MessageDeduplicationId: o.deduplicationId }),
          ...(o.delaySeconds === undefined ? {} : { DelaySeconds: o.delaySeconds }),
          ...(attributes.length === 0
            ? {}
            : {
                MessageAttributes: Object.fromEntries(
                  attributes.map(([key, value]) => [key, { DataType: "String", StringValue: value }]),
                ),
              }),
        }),
      );
      return out.MessageId ?? "";
    },
    async attributes(url, names) {
      const out = await client.send(
        new sdk.GetQueueAttributesCommand({
          QueueUrl: url,
          AttributeNames: names as import("@aws-sdk/client-sqs").QueueAttributeName[],
        }),
      );
      return { ...(out.Attributes ?? {}) };
    },
    async purge(url) {
      await client.send(new sdk.PurgeQueueCommand({ QueueUrl: url }));
    },
    close() {
      client.destroy();
    },
  };
  return port;
}
