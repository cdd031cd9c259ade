import { isFinal, type TaskRecord, type TaskStatus } from "./record.js";
import { parseRecord } from "./redis-store.js";
import type { Outcome, SubmittedRun, TaskStore, Unwatch } from "./store.js";

/**
 * The task store of weir/testing: the Redis store's rules on a Map, so a test client runs tasks and
 * reports their status and results without Redis. Records do not expire.
 */
export class MemoryTaskStore implements TaskStore {
  private readonly records = new Map<string, Record<string, string>>();
  private readonly watchers = new Map<string, Set<() => void>>();
  private readonly revokeListeners = new Set<(id: string) => void>();

  async submit(run: SubmittedRun, _ttlMs: number): Promise<void> {
    const fields: Record<string, string> = {
      id: run.id,
      task: run.task,
      status: "submitted",
      attempt: "0",
      submittedAt: String(Date.now()),
    };
    if (run.previous !== undefined) fields.previous = JSON.stringify(run.previous);
    if (run.next !== undefined) fields.next = JSON.stringify(run.next);
    this.records.set(run.id, fields);
    this.changed(run.id);
  }

  async forget(id: string): Promise<void> {
    this.records.delete(id);
  }

  async start(id: string, task: string, attempt: number): Promise<"run" | "revoked"> {
    const fields = this.records.get(id) ?? { id, submittedAt: String(Date.now()) };
    if (fields.status === "revoked" || fields.status === "succeeded") return "revoked";
    Object.assign(fields, {
      task,
      status: "running",
      attempt: String(attempt),
      startedAt: String(Date.now()),
    });
    this.records.set(id, fields);
    this.changed(id);
    return "run";
  }

  async finish(id: string, task: string, outcome: Outcome): Promise<TaskStatus> {
    const fields = this.records.get(id) ?? { id };
    const status: TaskStatus = fields.status === "revoked" ? "revoked" : outcome.status;
    Object.assign(fields, { id, task, status });
    if (status === "succeeded" && outcome.status === "succeeded") {
      fields.result = outcome.result;
      fields.finishedAt = String(Date.now());
      delete fields.error;
    } else if (outcome.status !== "succeeded") {
      fields.error = outcome.error;
      if (isFinal(status)) fields.finishedAt ??= String(Date.now());
    }
    this.records.set(id, fields);
    this.changed(id);
    return status;
  }

  async get(id: string): Promise<TaskRecord | undefined> {
    const fields = this.records.get(id);
    return fields === undefined ? undefined : parseRecord(fields);
  }

  async revoke(id: string): Promise<TaskStatus | undefined> {
    const fields = this.records.get(id);
    const had = fields?.status as TaskStatus | undefined;
    if (had !== undefined && isFinal(had)) return had;
    this.records.set(id, { ...fields, id, status: "revoked", finishedAt: String(Date.now()) });
    this.changed(id);
    for (const listener of this.revokeListeners) listener(id);
    return had;
  }

  async watch(id: string, listener: () => void): Promise<Unwatch> {
    let set = this.watchers.get(id);
    if (set === undefined) {
      set = new Set();
      this.watchers.set(id, set);
    }
    set.add(listener);
    return async () => {
      set.delete(listener);
    };
  }

  async onRevoke(listener: (id: string) => void): Promise<Unwatch> {
    this.revokeListeners.add(listener);
    return async () => {
      this.revokeListeners.delete(listener);
    };
  }

  async close(): Promise<void> {}

  private changed(id: string): void {
    for (const listener of this.watchers.get(id) ?? []) listener();
  }
}
