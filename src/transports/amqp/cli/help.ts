/** `weir publish --help` and `weir dlq --help`: plain text, loaded without the transport. */

const BROKER = `The broker URL is --url, else WEIR_AMQP_URL, else amqp://guest:guest@127.0.0.1:5672.`;

export const PUBLISH_HELP = `Usage: weir publish <queue> <json> [options]

Publishes <json> to <queue> through the default exchange (after checking the queue exists) and
exits 0 once the broker has confirmed it.

Options:
  --exchange X           publish to exchange X; <queue> is then the routing key (no queue check)
  --header name=value    a header (repeatable)
  --timeout ms           wait this long for the connection and the confirm (default 10000)
  --url URL              the broker
  --vhost V              the vhost (default: the URL's)
  --env-file FILE        load environment variables (WEIR_AMQP_URL, ...) from FILE first

${BROKER}
`;
export const DLQ_HELP = `Usage: weir dlq list|replay|purge <queue> [options]

  list <queue>       show the dead letters of <queue> (oldest first; nothing is consumed)
  replay <queue>     move them back to <queue>, attempts reset
  purge <queue>      delete them

Options:
  --limit N          list / replay at most N (list: default 100)
  --json             list: as JSON
  --grep text        replay only those whose body contains text
  --module M         use the app of module M (its broker and dead-letter settings); not with --url
  --timeout ms       wait this long for the broker (default 10000)
  --url URL          the broker
  --vhost V          the vhost (default: the URL's)
  --env-file FILE    load environment variables (WEIR_AMQP_URL, ...) from FILE first

${BROKER}
`;
