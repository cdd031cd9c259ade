import { ConfigurationError } from "../core/errors.js";

/**
 * `scheduler.add(name, cron)`: the cron expression or the timezone cannot be used
 * (`WEIR_ERR_SCHEDULE_CRON`): croner refused it (its message is kept as `cause`), or it never fires.
 */
export class ScheduleCronError extends ConfigurationError {
  constructor(
    readonly schedule: string,
    readonly cron: string,
    reason: string,
    options?: { cause?: unknown },
  ) {
    super("WEIR_ERR_SCHEDULE_CRON", `schedule "${schedule}": cannot use cron "${cron}": ${reason}`, options);
  }
}
