/** `weir publish --transport nats --help` and `weir dlq --transport nats --help`: loaded without the transport. */

const SERVER = `The server is --server (or --url, its other name), else WEIR_NATS_URL, else 127.0.0.1:4222.`;

export const NATS_PUBLISH_HELP = `Usage: weir publish --transport nats <subject> <json> [options]

Publishes <json> to <subject> with JetStream and exits 0 once a stream has stored it (its publish
ack); exits 1 when no stream captures <subject> (WEIR_ERR_NATS_NO_STREAM).

Options:
  --header name=value    a header (repeatable)
  --message-id ID        Nats-Msg-Id: JetStream drops a second publish with this id
                         (--msg-id ID: the former name, still accepted)
  --timeout ms           wait this long for the connection and the ack (default 10000)
  --server S             the NATS server (host:port or nats://host:port)
  --url S                the same as --server (the name the other transports use)
  --env-file FILE        load environment variables (WEIR_NATS_URL, ...) from FILE first

${SERVER}
`;

export const NATS_DLQ_HELP = `Usage: weir dlq --transport nats list|replay|purge <stream> [options]

  list <stream>      show the dead letters of <stream> (oldest first; nothing is removed)
  replay <stream>    publish them back to their original subjects (attempts start again), then
                     delete them from the dead-letter stream
  purge <stream>     delete them

Dead letters are in the stream <stream>-dlq on the subject weir.dlq.<stream>, unless the route
names its own (--dlq-stream, --dlq-subject).

Options:
  --limit N          list / replay at most N (list: default 100)
  --json             list: as JSON
  --grep text        replay only those whose body contains text
  --dlq-stream S     the route's deadLetter.stream
  --dlq-subject S    the route's deadLetter.subject
  --timeout ms       wait this long for the server (default 10000)
  --server S         the NATS server
  --url S            the same as --server
  --env-file FILE    load environment variables (WEIR_NATS_URL, ...) from FILE first

${SERVER}
`;
