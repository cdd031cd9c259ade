/**
 * What the documentation's code blocks use without defining it (scripts/check-doc-blocks.ts): the
 * reader's own code, which weir knows nothing about. Kept small and honest: a snippet that needs
 * more defines it, or is fenced as "```ts partial".
 */

/** The app a snippet adds to; a block that makes its own `const app` shadows it. */
declare const app: import("weir").App;

/** Your database client. */
interface Db {
  /** Stores a row; resolves with its id. */
  insert(row: object): Promise<string>;
  find(id: string): Promise<object | undefined>;
  delete(id: string): Promise<void>;
  close(): Promise<void>;
}
/** Opens your database client. */
declare function connect(): Promise<Db>;
/** Your database client, already open. */
declare const db: Db;

/** Your business rule for an order. */
declare function valid(order: object): boolean;
/** Your payment gateway. */
declare function charge(payment: object): Promise<void>;
declare function refund(payment: object): Promise<void>;

/** Your mail service and mailing-list API. */
declare const mailer: { send(email: { to: string; subject: string }): Promise<void> };
declare const mailList: {
  subscribe(email: string): Promise<void>;
  unsubscribe(email: string): Promise<void>;
};

/** A bearer token from your identity provider. */
declare function token(): Promise<string>;
/** Your directory's password check. */
declare function ldapBind(username: string, password: string, clientIp: string): Promise<boolean>;
