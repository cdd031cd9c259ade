/** `weir publish --transport redis --help` and `weir dlq --transport redis --help`: plain text. */

const SERVER = `Redis is --url, else WEIR_REDIS_URL, else redis://127.0.0.1:6379.`;

export const REDIS_PUBLISH_HELP = `Usage: weir publish --transport redis <stream> <json> [options]

Adds <json> to <stream> as the field "body" (XADD; the stream is created when missing) and exits 0
once Redis has it, printing the entry's id.

Options:
  --maxlen N             trim the stream to about N entries (MAXLEN ~ N)
  --message-id ID        the field message-id (a route's default once key)
  --header name=value    another field (repeatable)
  --timeout ms           wait this long for Redis (default 10000)
  --url URL              the Redis server
  --env-file FILE        load environment variables (WEIR_REDIS_URL, ...) from FILE first

${SERVER}
`;

export const REDIS_DLQ_HELP = `Usage: weir dlq --transport redis list|replay|purge <stream> [options]

The dead letters of <stream> are the entries of the stream <stream>.dlq.

  list <stream>      show them (oldest first; nothing is removed)
  replay <stream>    move them back to <stream> (XADD + XDEL in one MULTI), attempts reset
  purge <stream>     delete <stream>.dlq

Options:
  --limit N          list / replay at most N (list: default 100)
  --json             list: as JSON
  --grep text        replay only those whose body contains text
  --module M         use the app of module M (its Redis); not with --url
  --timeout ms       wait this long for Redis (default 10000)
  --url URL          the Redis server
  --env-file FILE    load environment variables (WEIR_REDIS_URL, ...) from FILE first

${SERVER}
`;
