import { ConnectionError, WeirError } from "../core/errors.js";

/**
 * The CLI's own lines go to stderr, prefixed `weir:`; stdout is the app's (its JSON logs) or the
 * command's result (a route table, an AsyncAPI document), so it stays pipeable.
 */
export function say(line: string): void {
  process.stderr.write(`weir: ${scrub(line)}\n`);
}

export function print(text: string): void {
  process.stdout.write(text.endsWith("\n") ? text : `${text}\n`);
}

/** Last line of defence: no `scheme://user:password@` ever reaches the terminal. */
export function scrub(text: string): string {
  return text.replace(/([a-z][a-z0-9+.-]*:\/\/[^:\s/@]*:)[^@\s/]+@/gi, "$1***@");
}

/** The errors along `error.cause`, outermost first. */
export function causes(error: unknown): unknown[] {
  const chain: unknown[] = [];
  for (let current = error; current !== undefined && chain.length < 10; ) {
    chain.push(current);
    current = current instanceof Error ? current.cause : undefined;
  }
  return chain;
}

/** True when the failure was reaching the broker (refused, unknown host, login refused, timeout). */
export function isConnectionFailure(error: unknown): boolean {
  return causes(error).some(
    (each) =>
      each instanceof ConnectionError ||
      (each instanceof WeirError && each.code.startsWith("WEIR_ERR_CONNECTION")) ||
      /ECONNREFUSED|ENOTFOUND|EHOSTUNREACH|ETIMEDOUT|ACCESS_REFUSED|connection to the broker/i.test(
        each instanceof Error ? each.message : String(each),
      ),
  );
}

/** `CODE: message` for a WeirError, the message otherwise; scrubbed. */
export function describeFailure(error: unknown): string {
  if (error instanceof WeirError) return scrub(`${error.message} (${error.code})`);
  return scrub(error instanceof Error ? error.message : String(error));
}
