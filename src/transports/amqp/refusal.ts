import { ConnectionError } from "../../core/errors.js";

/**
 * Recognises the broker refusing a connection (rather than being out of reach), as amqplib 2.x
 * reports it. amqplib puts no code on these errors, only text, so the text is matched, on the
 * protocol facts it states rather than on the broker's wording:
 *
 * - The login (AMQP 0-9-1 connection.start-ok): RabbitMQ answers a wrong user or password with
 *   connection.close 403 ACCESS_REFUSED (clients that announce `authentication_failure_close`, as
 *   amqplib does, get the close instead of a dropped socket). amqplib: `Handshake terminated by
 *   server: 403 (ACCESS-REFUSED) with message "..."`. 530 NOT_ALLOWED there is a refusal too.
 * - The vhost (connection.open): a vhost that does not exist, or that the user has no permission
 *   on, is answered with connection.close 530 NOT_ALLOWED instead of connection.open-ok. amqplib
 *   reports `Expected ConnectionOpenOk; got <ConnectionClose channel:0>`, dropping the reply code
 *   and text, so the message lists what RabbitMQ refuses an open for.
 *
 * A numeric `code` of 403 or 530 on the error (should amqplib ever add one) counts as well.
 */
export function accessRefusal(error: unknown, user: string, vhost: string): ConnectionError | undefined {
  if (!(error instanceof Error)) return undefined;
  const code = (error as { code?: unknown }).code;
  const login = /Handshake terminated by server: (403|530) \(([A-Z_-]+)\)/.exec(error.message);
  if (login !== null || code === 403) {
    const status = login === null ? "403 ACCESS_REFUSED" : `${login[1]} ${login[2]!.replaceAll("-", "_")}`;
    return new ConnectionError(
      "WEIR_ERR_AUTH",
      `the broker refused the login of user "${user}" on vhost "${vhost}" (${status}): check the user name and password`,
      { cause: error },
    );
  }
  if (/^Expected ConnectionOpenOk; got <ConnectionClose/.test(error.message) || code === 530) {
    return new ConnectionError(
      "WEIR_ERR_AUTH",
      `the broker refused user "${user}" access to vhost "${vhost}" at connection.open (530 NOT_ALLOWED): ` +
        "the vhost does not exist, the user has no permission on it, or a connection limit is reached",
      { cause: error },
    );
  }
  return undefined;
}

/** The user amqplib logs in as for `url`: the URL's, else `guest` (amqplib's default). */
export function urlUser(url: string): string {
  const parsed = new URL(url);
  if (parsed.username === "" && parsed.password === "") return "guest";
  return decodeURIComponent(parsed.username);
}

/** True for the error `accessRefusal` makes. */
export function isAccessRefusal(error: unknown): error is ConnectionError {
  return error instanceof ConnectionError && error.code === "WEIR_ERR_AUTH";
}
