/**
 * What the in-memory broker answers where RabbitMQ would close the channel or refuse an operation:
 * `code` is the AMQP reply code (404 NOT_FOUND, 406 PRECONDITION_FAILED, ...), as amqplib reports
 * it, so weir's own error mapping (`WEIR_ERR_QUEUE_NOT_FOUND`, ...) runs unchanged in tests.
 */
export class BrokerError extends Error {
  /**
   * The AMQP class and method the close names (as amqplib reports them). Always 0 here: nothing
   * reads them, but their presence marks a server close for `isClosedChannelError` (port.ts).
   */
  readonly classId = 0;
  readonly methodId = 0;

  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
    this.name = "BrokerError";
  }
}

const REPLY_NAMES: Readonly<Record<number, string>> = {
  403: "ACCESS_REFUSED",
  404: "NOT_FOUND",
  405: "RESOURCE_LOCKED",
  406: "PRECONDITION_FAILED",
};

/** amqplib's wording for a channel the server closed, so log lines read the same as in production. */
export function channelClosedError(code: number, text: string): BrokerError {
  return new BrokerError(
    code,
    `Channel closed by server: ${code} (${REPLY_NAMES[code] ?? "ERROR"}) with message "${text}"`,
  );
}
