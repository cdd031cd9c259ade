import { execFileSync } from "node:child_process";
import * as amqp from "amqplib";

const URL = process.env.WEIR_AMQP_URL ?? "amqp://guest:guest@127.0.0.1:5672";
export const TEST_VHOST = "weir-test";

/**
 * Runs once before the suite: fails fast with a clear message when RabbitMQ is not reachable, and
 * makes sure the second vhost the multi-vhost tests use exists (idempotent).
 */
export default async function setup(): Promise<void> {
  try {
    const connection = await amqp.connect(URL);
    await connection.close();
  } catch (error) {
    throw new Error(
      `RabbitMQ is not reachable at ${URL.replace(/:[^:@/]*@/, ":***@")}: ${(error as Error).message}`,
    );
  }
  const vhosts = execFileSync("rabbitmqctl", ["-q", "list_vhosts"], { encoding: "utf8" });
  if (!vhosts.split("\n").some((line) => line.trim() === TEST_VHOST)) {
    execFileSync("rabbitmqctl", ["-q", "add_vhost", TEST_VHOST]);
  }
  execFileSync("rabbitmqctl", ["-q", "set_permissions", "-p", TEST_VHOST, "guest", ".*", ".*", ".*"]);
}
