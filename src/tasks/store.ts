import type { TaskRecord, TaskRef, TaskStatus } from "./record.js";

/**
 * Where task status and results live: Redis for an app (./redis-store.ts), memory under
 * weir/testing (./memory-store.ts). Every write refreshes the record's expiry to its `ttl`, so a
 * record lives `ttl` ms after its last change; every change is announced to `watch`ers, so waiting
 * for a result never polls.
 */
export interface TaskStore {
  /** Records a run as `submitted` (before its message is sent: a fast worker must find it). */
  submit(record: SubmittedRun, ttlMs: number): Promise<void>;
  /** Forgets a run whose message could not be sent. */
  forget(id: string): Promise<void>;
  /**
   * Marks attempt `attempt` as `running`, unless the run was revoked: then returns `"revoked"` and
   * changes nothing (the worker skips it). One atomic step.
   */
  start(id: string, task: string, attempt: number, ttlMs: number): Promise<"run" | "revoked">;
  /**
   * Records how an attempt ended. A run revoked meanwhile stays `revoked` (its late result is not
   * kept). Returns the status recorded.
   */
  finish(id: string, task: string, outcome: Outcome, ttlMs: number): Promise<TaskStatus>;
  /** The record, or `undefined` when there is none (never submitted with results on, or expired). */
  get(id: string): Promise<TaskRecord | undefined>;
  /**
   * Revokes a run that has not reached a final status: records `revoked` and tells every worker
   * (`onRevoke`). Returns the status it had (`undefined`: no record; revoked anyway, for `ttlMs`).
   */
  revoke(id: string, ttlMs: number): Promise<TaskStatus | undefined>;
  /** Calls `listener` after every change of `id`'s record; resolves once listening. */
  watch(id: string, listener: () => void): Promise<Unwatch>;
  /** Calls `listener` with the id of every revoked run; resolves once listening. */
  onRevoke(listener: (id: string) => void): Promise<Unwatch>;
  close(): Promise<void>;
}

export type Unwatch = () => Promise<void>;

export interface SubmittedRun {
  readonly id: string;
  readonly task: string;
  readonly previous?: TaskRef | undefined;
  readonly next?: TaskRef | undefined;
}

/** How an attempt ended. */
export type Outcome =
  | { readonly status: "succeeded"; readonly result: string /* JSON */ }
  | { readonly status: "retrying" | "failed" | "revoked"; readonly error: string /* JSON TaskFailure */ };
