/**
 * SQS side by side (issue #20): a weir SQS route against a raw @aws-sdk/client-sqs receive / delete
 * loop doing the same work, both on fauxqs (an SQS emulator, in this process on 127.0.0.1): the same
 * messages, 10 per receive, one DeleteMessageBatch per 10, a no-op handler. Each side drains its own
 * queue of N pre-sent messages; msg/s is N over the time to drain it. Sides alternate, ROUNDS times.
 *
 *   npx tsx bench/sqs.ts            (N=2000, ROUNDS=2; WEIR_BENCH_N, WEIR_BENCH_ROUNDS)
 */
import {
  CreateQueueCommand,
  DeleteMessageBatchCommand,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  SQSClient,
} from "@aws-sdk/client-sqs";
import { pino } from "pino";
import { App, RouteTypes } from "../src/index.js";

const N = Number(process.env.WEIR_BENCH_N ?? 2000);
const ROUNDS = Number(process.env.WEIR_BENCH_ROUNDS ?? 2);
const credentials = () => ({ accessKeyId: "bench", secretAccessKey: "bench" });

const fauxqs = await import("fauxqs");
const server = fauxqs.buildApp({ logger: false }) as unknown as {
  listen(o: { port: number; host: string }): Promise<string>;
  close(): Promise<void>;
};
const endpoint = (await server.listen({ port: 0, host: "127.0.0.1" })).replace("localhost", "127.0.0.1");
const client = new SQSClient({ endpoint, region: "us-east-1", credentials: credentials() });

async function fill(name: string): Promise<string> {
  const url = (await client.send(new CreateQueueCommand({ QueueName: name }))).QueueUrl!;
  for (let i = 0; i < N; i += 10) {
    await client.send(
      new SendMessageBatchCommand({
        QueueUrl: url,
        Entries: Array.from({ length: Math.min(10, N - i) }, (_, j) => ({
          Id: String(j),
          MessageBody: JSON.stringify({ n: i + j }),
        })),
      }),
    );
  }
  return url;
}

async function raw(url: string): Promise<number> {
  const started = performance.now();
  let done = 0;
  while (done < N) {
    const out = await client.send(
      new ReceiveMessageCommand({ QueueUrl: url, MaxNumberOfMessages: 10, WaitTimeSeconds: 1 }),
    );
    const messages = out.Messages ?? [];
    for (const m of messages) JSON.parse(m.Body ?? "null");
    if (messages.length > 0) {
      await client.send(
        new DeleteMessageBatchCommand({
          QueueUrl: url,
          Entries: messages.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle! })),
        }),
      );
    }
    done += messages.length;
  }
  return (N / (performance.now() - started)) * 1000;
}

async function weir(name: string): Promise<number> {
  const app = new App({
    logger: pino({ level: "silent" }),
    sqs: { endpoint, region: "us-east-1", credentials: credentials() },
  });
  let done = 0;
  let finished: () => void = () => {};
  const all = new Promise<void>((resolve) => {
    finished = resolve;
  });
  app.route(
    [name],
    { type: RouteTypes.SQS, prefetch: 10, waitTime: 1_000, options: { bulkSize: 10, bulkFlushInterval: 50 } },
    (messages) => {
      done += messages.length;
      if (done >= N) finished();
    },
  );
  const started = performance.now();
  await app.start();
  await all;
  const rate = (N / (performance.now() - started)) * 1000;
  await app.stop();
  return rate;
}

const results: { weir: number[]; raw: number[] } = { weir: [], raw: [] };
for (let round = 0; round < ROUNDS; round++) {
  const a = `bench-raw-${round}-${Date.now()}`;
  const b = `bench-weir-${round}-${Date.now()}`;
  const urlA = await fill(a);
  await fill(b);
  results.raw.push(await raw(urlA));
  results.weir.push(await weir(b));
}
const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)] ?? 0;
const summary = {
  n: N,
  rounds: ROUNDS,
  rawMsgPerS: results.raw.map(Math.round),
  weirMsgPerS: results.weir.map(Math.round),
  ratio: Number((median(results.weir) / median(results.raw)).toFixed(3)),
};
console.log(JSON.stringify(summary));
client.destroy();
await server.close();
