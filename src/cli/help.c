/*
 * Help pages for every `weir` client command: `weir help`, `weir help <command> [<sub>]` and
 * `--help` anywhere print the same text, each with examples. Pages are plain strings kept under
 * 100 columns so they read well in any terminal.
 *
 * Invariant: every command and subcommand that the dispatchers accept has a page here (the
 * test test_cli_help.sh walks them all).
 */
#include "cli/cli.h"

#define CLUSTER_CONFIG_PAGE                                                                        \
    "usage: weir cluster config get [KEY...] [--broker ID] [--dynamic]\n"                          \
    "       weir cluster config set KEY=VALUE... [--delete KEY]... [--broker ID] [--dry-run]\n\n"  \
    "get shows a broker's settings with their source (dynamic, static, default) and whether\n"     \
    "they can change at run time; --dynamic shows only those changed at run time. set changes\n"   \
    "dynamic ones (Kafka's AlterConfigs on the broker) and prints old and new values; --delete\n"  \
    "returns a setting to its static or default value. The first broker of the metadata is\n"      \
    "asked unless --broker says which.\n\n"                                                        \
    "Examples:\n"                                                                                  \
    "  weir cluster config get log.retention.ms\n"                                                 \
    "  weir cluster config set log.retention.ms=86400000\n"                                        \
    "  weir cluster config set --delete log.retention.ms --dry-run\n"

typedef struct {
    const char *family;
    const char *sub; /* NULL: the family's page */
    const char *text;
} page_t;

#define GLOBAL_FLAGS                                                                               \
    "Global flags (before or after the command):\n"                                                \
    "  -b, --brokers HOST:PORT[,...]  brokers to bootstrap from (default $WEIR_BROKERS, else\n"    \
    "                                 127.0.0.1:9092)\n"                                           \
    "  -X KEY=VALUE                   any librdkafka setting (TLS, SASL, timeouts); repeatable\n"  \
    "      --profile NAME             brokers, registry and settings of a profile in\n"            \
    "                                 ~/.config/weir/weir.yaml (default $WEIR_PROFILE, else its\n" \
    "                                 `current`; -b and $WEIR_BROKERS win over it)\n"              \
    "  -o, --output table|json        output of listing commands (consume: json; see -f)\n"        \
    "      --timeout DURATION         wait this long for each broker answer (default 10s)\n"       \
    "      --dry-run                  commands that change something only say what they would\n"   \
    "                                 do (the broker validates what it can)\n"                     \
    "  -v, --verbose                  show librdkafka's log lines\n"

static const page_t pages[] = {
    {"topic", NULL,
     "usage: weir topic <subcommand> [flags]\n\n"
     "Create, list, inspect, change and delete topics.\n\n"
     "Subcommands:\n"
     "  create <topic>... [-p N] [-r N] [-c KEY=VALUE]... [--if-not-exists]\n"
     "  list [--internal] [-q]\n"
     "  describe <topic> [-p]\n"
     "  delete <topic>... [--yes]\n"
     "  alter-config <topic> [--set KEY=VALUE]... [--delete KEY]...\n"
     "  add-partitions <topic>... -n N\n"
     "  trim <topic> --before OFFSET|TIME [-p PARTITION] [--yes]\n"
     "  export <topic> [--from OFFSET|TIME] [--to OFFSET|TIME] [-p PARTITION] > FILE\n"
     "  import <file> <topic>\n\n"
     "Examples:\n"
     "  weir topic create orders -p 3 -c retention.ms=86400000\n"
     "  weir topic list -o json\n"
     "  weir topic describe orders -p\n\n"
     "Run 'weir help topic <subcommand>' for its flags.\n"},
    {"topic", "create",
     "usage: weir topic create <topic>... [flags]\n\n"
     "Creates topics. Fails (exit 1) when one already exists, unless --if-not-exists.\n\n"
     "Flags:\n"
     "  -p, --partitions N       partitions (default: the broker's default)\n"
     "  -r, --replicas N         replication factor (default: the broker's default)\n"
     "  -c, --config KEY=VALUE   a topic setting; repeatable\n"
     "      --if-not-exists      an existing topic is not an error\n\n"
     "Examples:\n"
     "  weir topic create orders -p 3\n"
     "  weir topic create events -c cleanup.policy=compact -c retention.ms=-1\n"
     "  weir topic create orders -p 12 --dry-run     # checked by the broker, not created\n"},
    {"topic", "list",
     "usage: weir topic list [flags]\n\n"
     "Lists topics with their partition count and replication factor, sorted by name.\n"
     "Internal topics (names starting with \"__\", like __consumer_offsets) are hidden.\n\n"
     "Flags:\n"
     "  --internal    include internal topics\n"
     "  -q, --quiet   names only, one a line\n\n"
     "JSON: [{\"name\", \"partition_count\", \"replication_factor\", \"internal\"}]\n\n"
     "Examples:\n"
     "  weir topic list\n"
     "  weir topic list -o json | jq -r '.[].name'\n"},
    {"topic", "describe",
     "usage: weir topic describe <topic> [-p]\n\n"
     "Shows a topic's summary and its settings; with -p its partitions instead: leader,\n"
     "replicas, log start offset and high watermark. JSON always has all of them.\n\n"
     "Flags:\n"
     "  -p, --partitions   show partitions rather than settings\n\n"
     "Examples:\n"
     "  weir topic describe orders\n"
     "  weir topic describe orders -p -o json\n"},
    {"topic", "delete",
     "usage: weir topic delete <topic>... [--yes]\n\n"
     "Deletes topics and all their records. Asks on a terminal; needs --yes otherwise.\n\n"
     "Flags:\n"
     "  -y, --yes   do not ask\n\n"
     "Examples:\n"
     "  weir topic delete orders --yes\n"
     "  weir topic delete orders --dry-run            # says what would be deleted\n"},
    {"topic", "alter-config",
     "usage: weir topic alter-config <topic> [--set KEY=VALUE]... [--delete KEY]...\n\n"
     "Changes topic settings: --set gives a value, --delete returns a setting to its default.\n"
     "Settings not named are kept. Prints each change (old and new value).\n\n"
     "Flags:\n"
     "  -s, --set KEY=VALUE   set a value; repeatable\n"
     "  -d, --delete KEY      back to the default; repeatable\n\n"
     "Examples:\n"
     "  weir topic alter-config orders --set retention.ms=3600000\n"
     "  weir topic alter-config orders --delete retention.ms\n"},
    {"topic", "add-partitions",
     "usage: weir topic add-partitions <topic>... -n N\n\n"
     "Adds N partitions to each topic. Keys hash to other partitions afterwards.\n\n"
     "Flags:\n"
     "  -n, --num N   partitions to add\n\n"
     "Examples:\n"
     "  weir topic add-partitions orders -n 2\n"},
    {"topic", "trim",
     "usage: weir topic trim <topic> --before OFFSET|TIME [-p PARTITION] [--yes]\n\n"
     "Deletes the records before an offset, or older than a time, by moving each partition's\n"
     "log start offset. TIME is RFC 3339 (2024-05-01T12:00:00Z), @<epoch ms>, or relative\n"
     "(-1h, -30m, -2d). Asks on a terminal; needs --yes otherwise.\n\n"
     "Flags:\n"
     "      --before OFFSET|TIME   where the log should start\n"
     "  -p, --partition N          only this partition (default: all)\n"
     "  -y, --yes                  do not ask\n\n"
     "Examples:\n"
     "  weir topic trim orders --before 1000 -p 0 --yes\n"
     "  weir topic trim orders --before -7d --yes\n"
     "  weir topic trim orders --before -7d --dry-run  # how many records would go\n"},
    {"topic", "export",
     "usage: weir topic export <topic> [--from OFFSET|TIME] [--to OFFSET|TIME] [-p PARTITION]\n\n"
     "Writes the topic's records to stdout as JSON lines, partition after partition, each in\n"
     "offset order: partition, offset, timestamp, timestamp_type, key, value and headers. Bytes\n"
     "are a string when they are UTF-8, else base64 with \"<field>_encoding\":\"base64\"; null\n"
     "stays null. 'weir topic import' reads the file back.\n\n"
     "Flags:\n"
     "      --from OFFSET|TIME   the first record (default: the log start); as in consume:\n"
     "                           N, +N, -N, start, end, @TIME, -1h\n"
     "      --to OFFSET|TIME     stop before this offset or time (default: the end now)\n"
     "  -p, --partition N        only this partition (default: all)\n\n"
     "Examples:\n"
     "  weir topic export orders > orders.jsonl\n"
     "  weir topic export orders --from @-1h -p 0 > last-hour.jsonl\n"},
    {"topic", "import",
     "usage: weir topic import <file> <topic>\n\n"
     "Produces the records of a file written by 'weir topic export' into a topic, each to its\n"
     "partition with its key, value, headers and timestamp, in the file's order (idempotent,\n"
     "acks=all). Every line is checked first: a bad one is named by its line number and\n"
     "nothing is written. Offsets are not kept: each partition's records are appended.\n\n"
     "Examples:\n"
     "  weir topic import orders.jsonl orders-replay\n"
     "  weir topic import orders.jsonl orders-replay --dry-run  # only check the file\n"},
    {"dlq", NULL,
     "usage: weir dlq <subcommand> [flags]\n\n"
     "Dead-letter topics (names ending in .dlq, as libweir writes them): what failed, why,\n"
     "and sending it back.\n\n"
     "Subcommands:\n"
     "  list\n"
     "  show <topic.dlq> [-n N] [--error REGEX]\n"
     "  redrive <topic.dlq> [--to TOPIC] [--error REGEX] [--dry-run]\n\n"
     "Examples:\n"
     "  weir dlq list\n"
     "  weir dlq show orders.dlq --error timeout\n"
     "  weir dlq redrive orders.dlq --dry-run\n\n"
     "Run 'weir help dlq <subcommand>' for its flags.\n"},
    {"dlq", "list",
     "usage: weir dlq list\n\n"
     "Each dead-letter topic with its number of records, how many are still to redrive\n"
     "(PENDING: past the progress of the group weir-redrive.<topic>), the age of its oldest and\n"
     "newest record and its most frequent errors (weir.dlq.error). Reads every record.\n\n"
     "Examples:\n"
     "  weir dlq list\n"
     "  weir dlq list -o json\n"},
    {"dlq", "show",
     "usage: weir dlq show <topic.dlq> [-n N] [--error REGEX]\n\n"
     "The dead letters of a topic, oldest first: where each came from (topic/partition/offset),\n"
     "its error, the attempts made, and the first and last failure times.\n\n"
     "Flags:\n"
     "  -n, --num N         at most N records (default 100)\n"
     "      --error REGEX   only records whose error matches (POSIX extended regex)\n\n"
     "Examples:\n"
     "  weir dlq show orders.dlq -n 10\n"
     "  weir dlq show orders.dlq --error 'timeout|unavailable' -o json\n"},
    {"dlq", "redrive",
     "usage: weir dlq redrive <topic.dlq> [--to TOPIC] [--error REGEX] [--dry-run]\n\n"
     "Sends dead letters back to their original topic and partition (or to --to TOPIC), without\n"
     "the weir.dlq.* headers and with weir.redrive.source, then commits its progress in the\n"
     "group weir-redrive.<topic.dlq> (the admin API's redrive uses the same group): a rerun\n"
     "starts after what was already sent and never sends a record twice. Records that do not\n"
     "match --error are passed over and stay in the dead-letter topic. Records without an\n"
     "origin are skipped. --dry-run counts what would move and moves nothing.\n\n"
     "Flags:\n"
     "      --to TOPIC      send every record there instead (partitioned by key)\n"
     "      --error REGEX   only records whose error matches (POSIX extended regex)\n\n"
     "Examples:\n"
     "  weir dlq redrive orders.dlq --dry-run\n"
     "  weir dlq redrive orders.dlq --error timeout\n"
     "  weir dlq redrive orders.dlq --to orders-retry -o json\n"},
    {"saga", NULL,
     "usage: weir saga <subcommand> [flags]\n\n"
     "The sagas libweir's orchestrators run, read from their state topics (names ending in\n"
     ".sagas, or --topic): each saga's status, step, attempt, times and history.\n\n"
     "Subcommands:\n"
     "  list [--topic TOPIC] [--status STATUS]\n"
     "  show <saga id> [--topic TOPIC]\n\n"
     "Examples:\n"
     "  weir saga list --status COMPENSATED\n"
     "  weir saga show 7f3c2a10-... --topic order.sagas\n\n"
     "Run 'weir help saga <subcommand>' for its flags.\n"},
    {"saga", "list",
     "usage: weir saga list [--topic TOPIC] [--status STATUS]\n\n"
     "Every saga of the state topics (all topics named *.sagas, or TOPIC), by topic then id:\n"
     "its id, definition (SAGA), status (RUNNING, COMPENSATING, COMPLETED, COMPENSATED),\n"
     "current step and phase (action or compensation), attempt, when its kept history starts\n"
     "and when it last changed, and why it failed. Reads every record of those topics.\n"
     "An ended saga is there until its retention forgets it (weir_saga_config).\n\n"
     "Flags:\n"
     "      --topic TOPIC     the state topic to read (exit 3 if there is none)\n"
     "      --status STATUS   only the sagas with this status\n\n"
     "Examples:\n"
     "  weir saga list\n"
     "  weir saga list --topic order.sagas --status RUNNING -o json\n"},
    {"saga", "show",
     "usage: weir saga show <saga id> [--topic TOPIC]\n\n"
     "One saga's state (as in list, and the data it was started with) and its history, oldest\n"
     "first: each command sent, reply, timeout, retry and compensation with its time. A saga\n"
     "id no state topic holds exits 3 (not found) and says where it looked.\n\n"
     "Flags:\n"
     "      --topic TOPIC   the state topic to read (default: every *.sagas topic)\n\n"
     "Examples:\n"
     "  weir saga show 7f3c2a10-...\n"
     "  weir saga show 7f3c2a10-... --topic order.sagas -o json\n"},
    {"produce", NULL,
     "usage: weir produce <topic> [flags] < input\n\n"
     "Writes records read from stdin: one record per line by default (the line without its\n"
     "newline is the value), or as parsed by -f. Streams: input of any size is never held in\n"
     "memory. Ctrl-C stops reading and delivers what was read.\n\n"
     "Flags:\n"
     "  -k, --key KEY            the key of every record (unless -f reads %k)\n"
     "  -H, --header KEY=VALUE   a header on every record; repeatable\n"
     "  -p, --partition N        write to this partition (default: by key hash)\n"
     "  -f, --format FORMAT      how to parse input, e.g. '%k\\t%v\\n' (tokens below)\n"
     "      --acks 0|1|all       acknowledgement to wait for (default all)\n"
     "  -z, --compression none|gzip|snappy|lz4|zstd\n"
     "      --dry-run            parse the input and print the records (JSON lines); send\n"
     "                           nothing\n\n"
     "A missing topic is created by the broker (if it creates topics on first use) unless a\n"
     "partition is given (-p, or %p in -f): then it must exist.\n\n"
     "Format tokens (as in 'weir help consume'): %t topic, %p partition, %k key, %K key\n"
     "length, %v value, %V value length, %h headers k=v,k=v, %T timestamp (ms); %o and %H are\n"
     "read and ignored. A field ends at the literal that follows it, or after its length when\n"
     "%K / %V came first (binary safe). A length of -1 is a null key or value.\n\n"
     "Examples:\n"
     "  echo hello | weir produce orders\n"
     "  printf 'k1\\tv1\\nk2\\tv2\\n' | weir produce orders -f '%k\\t%v\\n'\n"
     "  weir produce orders -k user-7 -H source=cli < events.txt\n"
     "  weir produce orders -f '%k\\t%v\\n' --dry-run < events.tsv\n"},
    {"consume", NULL,
     "usage: weir consume <topic>|^REGEX... [flags]\n\n"
     "Prints records. By default one JSON object a line with the fields topic, partition,\n"
     "offset, timestamp (ms), time (RFC 3339), key, value, headers ([{key, value}]); keys and\n"
     "values that are not UTF-8 are base64 with \"key_encoding\"/\"value_encoding\": \"base64\".\n"
     "Without -g every partition is read from --from. With -g the group's committed offsets\n"
     "are used (partitions with none start at the start) unless --from is given, and the\n"
     "offsets of printed records are committed every second and on exit, Ctrl-C included.\n"
     "A topic starting with ^ is a regular expression over the topic names.\n\n"
     "Flags:\n"
     "      --from SPEC       where to start (default start; --offset is the same):\n"
     "                          start | end | N (exact offset) | +N (N after start)\n"
     "                          | -N (N before end) | @TIME (RFC 3339, epoch ms, or -1h)\n"
     "      --end-offset SPEC stop each partition before this offset (N, end, -N, +N)\n"
     "      --end-time TIME   stop each partition before its first record at or after TIME;\n"
     "                        with either, the run ends when every partition reached its end\n"
     "  -n, --num N           stop after N records\n"
     "  -e, --exit            stop at the end of every partition\n"
     "  -g, --group GROUP     consume as a member of this consumer group\n"
     "  -p, --partition N     only this partition\n"
     "  -f, --format FORMAT   print with a format instead of JSON\n"
     "      --decode          schema-registry-encoded keys and values (magic byte 0 and a\n"
     "                        schema id: Avro, JSON Schema, Protobuf) printed as JSON\n"
     "      --registry URL    the schema registry for --decode (default $WEIR_REGISTRY,\n"
     "                        else the profile's, else http://127.0.0.1:8081)\n"
     "      --dry-run         with -g: read as the group, commit nothing\n"
     "      --key KEY         only this key's records (of partition -p, default 0) on a topic\n"
     "                        with weir.key.index=true: their offsets from the admin API's key\n"
     "                        chain, then one fetch each, no scan (-n N: the newest N)\n"
     "      --admin URL       the admin API for --key (default $WEIR_ADMIN, else the\n"
     "                        registry's URL: weir serve serves both)\n\n"
     "Format tokens: %t topic  %p partition  %o offset  %k key  %K key length  %v value (also\n"
     "%s)  %V value length (also %S)  %h headers k=v,k=v  %H header count  %T timestamp (ms)\n"
     "%d time (RFC 3339)  %% a percent sign; %k{hex} %v{base64} encode; escapes \\n \\t \\r \\0\n"
     "\\\\ \\xHH.\n\n"
     "Examples:\n"
     "  weir consume orders -e\n"
     "  weir consume orders --from -10 -e -f '%p:%o %k=%v\\n'\n"
     "  weir consume orders --from @-1h -n 100\n"
     "  weir consume '^orders\\..*' --from start --end-time -1h\n"
     "  weir consume orders --end-offset 1000\n"
     "  weir consume orders-es --key order-7 -f '%o %v\\n'\n"
     "  weir consume orders -g billing\n"
     "  weir consume orders -e --decode\n"},
    {"group", NULL,
     "usage: weir group <subcommand> [flags]\n\n"
     "Inspect consumer groups, move their committed offsets, delete them.\n\n"
     "Subcommands:\n"
     "  list [-q]\n"
     "  describe <group>\n"
     "  seek <group> --to start|end|OFFSET|TIME [--topics T,...] [--execute]\n"
     "  delete <group>... [--yes]\n\n"
     "Examples:\n"
     "  weir group list\n"
     "  weir group describe billing\n"
     "  weir group seek billing --to -1h --execute\n"},
    {"group", "list",
     "usage: weir group list [-q]\n\n"
     "Lists consumer groups and their state, sorted by name.\n\n"
     "Flags:\n"
     "  -q, --quiet   names only, one a line\n\n"
     "JSON: [{\"group\", \"state\", \"simple\"}]\n\n"
     "Examples:\n"
     "  weir group list -o json\n"},
    {"group", "describe",
     "usage: weir group describe <group>\n\n"
     "Shows a group's state and members, and per partition: the committed offset, the log end\n"
     "offset (high watermark), the lag between them and the member the partition is assigned\n"
     "to. Exit 3 when the group does not exist.\n\n"
     "Examples:\n"
     "  weir group describe billing\n"
     "  weir group describe billing -o json | jq '.total_lag'\n"},
    {"group", "seek",
     "usage: weir group seek <group> --to SPEC [--topics T,...] [--execute]\n\n"
     "Moves a group's committed offsets. Prints, per partition, the offset before and after\n"
     "and the lag after; changes nothing unless --execute. The group must have no active\n"
     "members. SPEC: start | end | OFFSET | +N | -N | TIME (RFC 3339, @<epoch ms>, -1h).\n"
     "Without --topics the partitions the group has committed offsets for are moved.\n\n"
     "Flags:\n"
     "      --to SPEC         target offsets\n"
     "  -t, --topics T,...    topics to move (all their partitions); repeatable\n"
     "      --execute         apply the change\n\n"
     "Examples:\n"
     "  weir group seek billing --to start\n"
     "  weir group seek billing --to 2024-05-01T00:00:00Z --topics orders --execute\n"},
    {"group", "delete",
     "usage: weir group delete <group>... [--yes]\n\n"
     "Deletes groups and their committed offsets. The groups must have no active members.\n"
     "Asks on a terminal; needs --yes otherwise.\n\n"
     "Flags:\n"
     "  -y, --yes   do not ask\n\n"
     "Examples:\n"
     "  weir group delete billing --yes\n"},
    {"schema", NULL,
     "usage: weir schema <subcommand> [flags]\n\n"
     "Schemas in the schema registry (Confluent's REST API, served by `weir serve` on its HTTP\n"
     "listener): list, show, register, delete, check compatibility, and the compatibility\n"
     "level and mode of subjects.\n\n"
     "Subcommands:\n"
     "  list [--deleted] [--prefix P]\n"
     "  get <subject> [--version V] | --id N\n"
     "  register <subject> <file> [-t avro|json|protobuf] [--ref NAME=SUBJECT:VERSION]...\n"
     "  delete <subject> [--version V] [--permanent] [--yes]\n"
     "  check <file> --subject S [--version V] [-t TYPE]\n"
     "  compat [<subject>|--global] [LEVEL] [--delete]\n"
     "  config [<subject>]\n"
     "  mode [<subject>|--global] [READWRITE|READONLY|IMPORT] [--delete] [--force]\n\n"
     "Every subcommand takes --registry URL (default $WEIR_REGISTRY, else\n"
     "http://127.0.0.1:8081). A file's type comes from -t, else its extension (.avsc AVRO,\n"
     ".json JSON, .proto PROTOBUF), else AVRO.\n\n"
     "Examples:\n"
     "  weir schema register orders-value order.avsc\n"
     "  weir schema check order-v2.avsc --subject orders-value\n"
     "  weir schema compat orders-value FULL\n\n"
     "Run 'weir help schema <subcommand>' for its flags.\n"},
    {"schema", "list",
     "usage: weir schema list [--deleted] [--prefix P]\n\n"
     "Lists subjects with their latest version, its schema id and type, sorted by name.\n\n"
     "Flags:\n"
     "  --deleted      include soft-deleted subjects\n"
     "  --prefix P     only subjects starting with P\n"
     "  --registry URL the schema registry\n\n"
     "JSON: [{\"subject\", \"version\", \"id\", \"type\"}]\n\n"
     "Examples:\n"
     "  weir schema list\n"
     "  weir schema list -o json | jq -r '.[].subject'\n"},
    {"schema", "get",
     "usage: weir schema get <subject> [--version V] | --id N\n\n"
     "Prints a schema's text: a subject's version (default latest) or a schema by id. With\n"
     "-o json, the registry's whole answer (subject, version, id, schemaType, references).\n\n"
     "Flags:\n"
     "  --version V    a version number or latest\n"
     "  --id N         a schema id instead of a subject\n"
     "  --deleted      a soft-deleted version too\n"
     "  --registry URL the schema registry\n\n"
     "Examples:\n"
     "  weir schema get orders-value\n"
     "  weir schema get --id 3 -o json\n"},
    {"schema", "register",
     "usage: weir schema register <subject> <file> [flags]\n\n"
     "Registers the schema in FILE (- for stdin) under SUBJECT and prints its id. The same\n"
     "schema again gets the same id; an incompatible one is refused (exit 1, with the rule).\n\n"
     "Flags:\n"
     "  -t, --type T                  avro, json or protobuf (default: from the extension)\n"
     "      --ref NAME=SUBJECT:VERSION a reference (Avro named type, JSON $ref, proto import)\n"
     "      --normalize               store the normalized form\n"
     "      --registry URL            the schema registry\n\n"
     "Examples:\n"
     "  weir schema register orders-value order.avsc\n"
     "  weir schema register payments-value pay.proto --ref money.proto=money:1\n"},
    {"schema", "delete",
     "usage: weir schema delete <subject> [--version V] [--permanent] [--yes]\n\n"
     "Deletes a subject or one version: softly first (ids stay readable), then for good with\n"
     "--permanent. Asks on a terminal; needs --yes otherwise.\n\n"
     "Flags:\n"
     "  --version V    one version (a number or latest)\n"
     "  --permanent    the hard delete, after a soft one\n"
     "  -y, --yes      do not ask\n"
     "  --registry URL the schema registry\n\n"
     "Examples:\n"
     "  weir schema delete orders-value --yes\n"
     "  weir schema delete orders-value --permanent --yes\n"},
    {"schema", "check",
     "usage: weir schema check <file> --subject S [--version V] [-t TYPE]\n\n"
     "Asks the registry whether FILE may be registered under S, by the subject's compatibility\n"
     "level (or against one version). For contract tests in CI: exit 0 compatible, 4\n"
     "incompatible (each broken rule on stderr), 1 other errors.\n\n"
     "Flags:\n"
     "  -s, --subject S   the subject\n"
     "      --version V   check against this version only\n"
     "  -t, --type T      avro, json or protobuf\n"
     "      --registry URL the schema registry\n\n"
     "Examples:\n"
     "  weir schema check order-v2.avsc --subject orders-value\n"},
    {"schema", "compat",
     "usage: weir schema compat [<subject>|--global] [LEVEL] [--delete]\n\n"
     "Shows or sets the compatibility level: NONE, BACKWARD (the default), FORWARD, FULL, or\n"
     "their _TRANSITIVE forms. A subject without its own level shows the global one.\n\n"
     "Flags:\n"
     "  --global       the global level\n"
     "  --delete       remove the subject's own level (or reset the global one)\n"
     "  --registry URL the schema registry\n\n"
     "Examples:\n"
     "  weir schema compat orders-value FULL_TRANSITIVE\n"
     "  weir schema compat --global\n"},
    {"schema", "config",
     "usage: weir schema config [<subject>]\n\n"
     "Shows the compatibility level and mode that apply to a subject (its own, else the\n"
     "global ones), or the global ones.\n\n"
     "Flags:\n"
     "  --registry URL the schema registry\n\n"
     "Examples:\n"
     "  weir schema config orders-value\n"},
    {"schema", "mode",
     "usage: weir schema mode [<subject>|--global] [MODE] [--delete] [--force]\n\n"
     "Shows or sets the mode: READWRITE, READONLY (registrations refused) or IMPORT\n"
     "(registrations carry their own ids; --force allows it on a registry that has schemas).\n\n"
     "Flags:\n"
     "  --global       the global mode\n"
     "  --delete       remove the subject's own mode\n"
     "  --force        IMPORT even when schemas exist\n"
     "  --registry URL the schema registry\n\n"
     "Examples:\n"
     "  weir schema mode --global READONLY\n"
     "  weir schema mode orders-value\n"},
    {"txn", NULL,
     "usage: weir txn <subcommand> [flags]\n\n"
     "Transactions, as kafka-transactions.sh sees them: list and describe transactional ids,\n"
     "show each partition's active producers, find hanging transactions (open in a partition\n"
     "while no coordinator will ever end them) and abort one. Plaintext connections only.\n\n"
     "Subcommands:\n"
     "  list [--state STATE]... [--producer-id ID]... [--older-than MS] [-q]\n"
     "  describe <transactional-id>\n"
     "  producers <topic> [-p N]...\n"
     "  find-hanging [-t TOPIC [-p N]...] [--max-timeout MS]\n"
     "  abort -t TOPIC -p N (--start-offset O | --producer-id ID --producer-epoch E\n"
     "        --coordinator-epoch C) [--yes]\n\n"
     "Examples:\n"
     "  weir txn list --state Ongoing\n"
     "  weir txn describe payments-tx-1\n"
     "  weir txn find-hanging -t orders\n"
     "  weir txn abort -t orders -p 0 --start-offset 1042 --yes\n\n"
     "Run 'weir help txn <subcommand>' for its flags.\n"},
    {"txn", "list",
     "usage: weir txn list [--state STATE]... [--producer-id ID]... [--older-than MS] [-q]\n\n"
     "Lists transactional ids with their coordinator, producer id and state, asking every\n"
     "broker (ListTransactions), sorted by id. Filters combine; each may repeat or take a\n"
     "comma-separated list. States: Empty, Ongoing, PrepareCommit, PrepareAbort,\n"
     "CompleteCommit, CompleteAbort, PrepareEpochFence.\n\n"
     "Flags:\n"
     "      --state STATE      only ids in this state\n"
     "      --producer-id ID   only this producer id\n"
     "      --older-than MS    only transactions started longer ago (ms, or 5m, 1h); ids that\n"
     "                         never started one pass too, as on Kafka: add --state Ongoing\n"
     "  -q, --quiet            transactional ids only, one a line\n\n"
     "JSON: [{\"transactional_id\", \"coordinator\", \"producer_id\", \"state\"}]\n\n"
     "Examples:\n"
     "  weir txn list\n"
     "  weir txn list --state Ongoing --older-than 5m -o json\n"},
    {"txn", "describe",
     "usage: weir txn describe <transactional-id>\n\n"
     "Shows a transactional id as its coordinator knows it (DescribeTransactions): state,\n"
     "producer id and epoch, transaction timeout, start time and duration of the open\n"
     "transaction, and the partitions in it. Exit 3 when the coordinator does not know it.\n\n"
     "Examples:\n"
     "  weir txn describe payments-tx-1\n"
     "  weir txn describe payments-tx-1 -o json | jq '.partitions'\n"},
    {"txn", "producers",
     "usage: weir txn producers <topic> [-p N]...\n\n"
     "Shows the active producers of each partition (DescribeProducers, at its leader):\n"
     "producer id and epoch, last sequence, last timestamp, the coordinator epoch of its last\n"
     "transaction marker and the first offset of its open transaction (TXN-START-OFFSET, \"-\"\n"
     "when none is open). Exit 3 for an unknown topic or partition.\n\n"
     "Flags:\n"
     "  -p, --partition N   only this partition; repeatable\n\n"
     "Examples:\n"
     "  weir txn producers orders\n"
     "  weir txn producers orders -p 0 -o json\n"},
    {"txn", "find-hanging",
     "usage: weir txn find-hanging [-t TOPIC [-p N]...] [--max-timeout MS]\n\n"
     "Finds hanging transactions, as kafka-transactions.sh does: open transactions whose\n"
     "producer wrote nothing for longer than the maximum transaction timeout and whose\n"
     "producer id no coordinator lists, or whose coordinator does not count this partition in\n"
     "the producer's transaction. Every topic but the internal ones unless -t.\n\n"
     "Flags:\n"
     "  -t, --topic TOPIC      only this topic\n"
     "  -p, --partition N      only this partition of it; repeatable\n"
     "      --max-timeout MS   the brokers' transaction.max.timeout.ms (default 900000; ms,\n"
     "                         or 15m)\n\n"
     "JSON: [{\"topic\", \"partition\", \"producer_id\", \"producer_epoch\", "
     "\"coordinator_epoch\",\n"
     "\"start_offset\", \"last_timestamp\", \"last_time\", \"duration_ms\", "
     "\"transactional_id\"}]\n\n"
     "Examples:\n"
     "  weir txn find-hanging\n"
     "  weir txn find-hanging -t orders -o json\n"},
    {"txn", "abort",
     "usage: weir txn abort -t TOPIC -p N --start-offset O [--yes]\n"
     "       weir txn abort -t TOPIC -p N --producer-id ID --producer-epoch E\n"
     "                      --coordinator-epoch C [--yes]\n\n"
     "Aborts a hanging transaction in one partition by writing an ABORT marker for its\n"
     "producer (WriteTxnMarkers, at the partition's leader), as kafka-transactions.sh abort\n"
     "does. With --start-offset the producer is the one whose open transaction starts at that\n"
     "offset (exit 3 when none does). Only for transactions no coordinator will end: find\n"
     "them with find-hanging. Asks on a terminal; needs --yes otherwise.\n\n"
     "Flags:\n"
     "  -t, --topic TOPIC             the partition's topic\n"
     "  -p, --partition N             the partition\n"
     "      --start-offset O          the first offset of the transaction\n"
     "      --producer-id ID          or name the producer (brokers before Kafka 3.0)\n"
     "      --producer-epoch E\n"
     "      --coordinator-epoch C\n"
     "  -y, --yes                     do not ask\n\n"
     "Examples:\n"
     "  weir txn abort -t orders -p 0 --start-offset 1042 --yes\n"},
    {"cluster", NULL,
     "usage: weir cluster <subcommand> [flags]\n\n"
     "The cluster as a whole: identity, health, disk use per partition, broker settings.\n\n"
     "Subcommands:\n"
     "  info                      cluster id, controller, brokers, counts, client version\n"
     "  health                    checks; exit 1 when one fails (for probes and scripts)\n"
     "  logdirs [TOPIC...]        size of each partition in the brokers' log directories\n"
     "  config get [KEY...]       broker settings (--broker ID, --dynamic)\n"
     "  config set KEY=VALUE...   change dynamic broker settings (--delete KEY, --dry-run)\n\n"
     "Examples:\n"
     "  weir cluster info -o json\n"
     "  weir cluster health\n"
     "  weir cluster config set log.retention.ms=86400000 --dry-run\n"},
    {"cluster", "info",
     "usage: weir cluster info\n\n"
     "Shows the cluster id, the controller, the brokers, the topic and partition counts and\n"
     "this client's version (brokers do not report theirs over the Kafka protocol).\n\n"
     "Examples:\n"
     "  weir cluster info\n"
     "  weir cluster info -o json\n"},
    {"cluster", "health",
     "usage: weir cluster health\n\n"
     "Checks the brokers (reachable, a controller), the partitions (each has a leader), the\n"
     "replication (replicas in sync) and the consumer groups (none stuck rebalancing).\n"
     "Prints each check with ok, warn or fail; exits 1 when one fails, 0 otherwise.\n\n"
     "JSON: {\"healthy\", \"checks\": [{\"check\", \"status\", \"detail\"}]}\n\n"
     "Examples:\n"
     "  weir cluster health\n"
     "  weir cluster health -o json | jq .healthy\n"},
    {"cluster", "logdirs",
     "usage: weir cluster logdirs [TOPIC...]\n\n"
     "The bytes each partition holds in each broker's log directories (Kafka's\n"
     "DescribeLogDirs), for all topics or the ones named. PLAINTEXT listeners only.\n\n"
     "JSON: [{\"broker\", \"log_dir\", \"size\", \"topics\": [{\"name\", \"size\",\n"
     "       \"partitions\": [{\"partition\", \"size\", \"offset_lag\"}]}]}]\n\n"
     "Examples:\n"
     "  weir cluster logdirs\n"
     "  weir cluster logdirs orders -o json | jq '.[].size'\n"},
    {"cluster", "config", CLUSTER_CONFIG_PAGE},
    {"cluster config", NULL, CLUSTER_CONFIG_PAGE},
    {"cluster config", "get", NULL},
    {"cluster config", "set", NULL},
    {"user", NULL,
     "usage: weir user <create|passwd|delete|list> [flags]\n\n"
     "SASL/SCRAM users (SCRAM-SHA-256, SCRAM-SHA-512; SASL PLAIN checks the same credentials),\n"
     "through Kafka's AlterUserScramCredentials and DescribeUserScramCredentials. The password\n"
     "stays here: only a salt and the salted password are sent. Talks to a PLAINTEXT listener\n"
     "(the broker's local administration listener). See docs/security.md.\n\n"
     "Examples:\n"
     "  weir user create alice --password s3cret --mechanism SCRAM-SHA-512\n"
     "  weir user list -o json\n"},
    {"user", "create",
     "usage: weir user create <name> --password PW [--mechanism M] [--iterations N]\n\n"
     "Adds a SCRAM credential for a user (fails if the user has one for that mechanism).\n\n"
     "Flags:\n"
     "  -p, --password PW   the password (required)\n"
     "      --mechanism M   SCRAM-SHA-256 (default) or SCRAM-SHA-512\n"
     "      --iterations N  4096..16384 (default 4096)\n\n"
     "Examples:\n"
     "  weir user create alice --password s3cret\n"
     "  weir user create alice --password s3cret --mechanism SCRAM-SHA-512\n"},
    {"user", "passwd",
     "usage: weir user passwd <name> --password PW [--mechanism M] [--iterations N]\n\n"
     "Sets a new password for an existing user (its credential for that mechanism).\n\n"
     "Flags:\n"
     "  -p, --password PW   the new password (required)\n"
     "      --mechanism M   SCRAM-SHA-256 (default) or SCRAM-SHA-512\n"
     "      --iterations N  4096..16384 (default 4096)\n\n"
     "Examples:\n"
     "  weir user passwd alice --password n3w-s3cret\n"},
    {"user", "delete",
     "usage: weir user delete <name> [--mechanism M]\n\n"
     "Removes a user's credentials: all of them, or the one of --mechanism.\n\n"
     "Flags:\n"
     "      --mechanism M   only this one: SCRAM-SHA-256 or SCRAM-SHA-512\n\n"
     "Examples:\n"
     "  weir user delete alice\n"},
    {"user", "list",
     "usage: weir user list\n\n"
     "Lists the users and their SCRAM mechanisms with iterations.\n\n"
     "Examples:\n"
     "  weir user list\n"
     "  weir user list -o json\n"},
    {"quota", NULL,
     "usage: weir quota <alter|describe> [flags]\n\n"
     "Kafka's client quotas, through AlterClientQuotas and DescribeClientQuotas: byte rates and\n"
     "request percentage per user and/or client id (a default with --default), connection rate\n"
     "per ip. A client over its quota is throttled. See docs/quotas.md.\n\n"
     "Examples:\n"
     "  weir quota alter --name user=alice --add producer_byte_rate=1048576\n"
     "  weir quota describe -o json\n"},
    {"quota", "alter",
     "usage: weir quota alter <entity flags> (--add KEY=VALUE | --delete KEY)...\n\n"
     "Sets or removes quotas of one entity: a user, a client id, both, or an ip.\n\n"
     "Flags:\n"
     "      --name TYPE=NAME   an entity component: user=alice, client-id=app, ip=10.0.0.1\n"
     "      --default TYPE     the default of that type (Kafka's <default>)\n"
     "      --add KEY=VALUE    producer_byte_rate, consumer_byte_rate, request_percentage,\n"
     "                         controller_mutation_rate; connection_creation_rate for an ip\n"
     "      --delete KEY       removes that quota\n"
     "      --dry-run          the broker checks the change and stores nothing\n\n"
     "Examples:\n"
     "  weir quota alter --name user=alice --name client-id=app --add producer_byte_rate=1024\n"
     "  weir quota alter --default client-id --add consumer_byte_rate=2097152\n"
     "  weir quota alter --name user=alice --delete producer_byte_rate\n"},
    {"quota", "describe",
     "usage: weir quota describe [--name TYPE=NAME] [--default TYPE] [--any TYPE] [--strict]\n\n"
     "Lists the entities that match and their quotas (all of them without a flag).\n\n"
     "Flags:\n"
     "      --name TYPE=NAME   entities with this component\n"
     "      --default TYPE     entities with the default of that type\n"
     "      --any TYPE         entities with any component of that type\n"
     "      --strict           only entities with exactly these components\n\n"
     "Examples:\n"
     "  weir quota describe\n"
     "  weir quota describe --name user=alice --strict -o json\n"},
    {"acl", NULL,
     "usage: weir acl <create|list|delete> [flags]\n\n"
     "Kafka's ACLs, through CreateAcls, DescribeAcls and DeleteAcls: who (principal, host) may do\n"
     "what (operation) on which topics, groups, transactional ids or the cluster; a DENY wins.\n"
     "Talks to a PLAINTEXT listener (the broker's local administration listener, whose\n"
     "User:ANONYMOUS is then usually in super.users). See docs/security.md.\n\n"
     "Examples:\n"
     "  weir acl create --allow-principal User:alice --operation read --topic orders\n"
     "  weir acl list --topic orders -o json\n"},
    {"acl", "create",
     "usage: weir acl create --allow-principal|--deny-principal P --operation OP <resource>...\n\n"
     "Adds ACLs: every combination of the principals, operations, resources and hosts given.\n\n"
     "Flags (create: the bindings, every combination; list, delete: a filter, a flag not\n"
     "given matches anything):\n"
     "      --allow-principal P        User:alice (repeatable)\n"
     "      --deny-principal P         User:bob (repeatable)\n"
     "      --operation OP             all, read, write, create, delete, alter, describe,\n"
     "                                 cluster_action, describe_configs, alter_configs,\n"
     "                                 idempotent_write (repeatable)\n"
     "      --topic T, --group G, --transactional-id ID, --cluster   the resource (repeatable)\n"
     "      --host H                   an IP (default *)\n"
     "      --resource-pattern-type T  literal (create's default), prefixed; match, any (list,\n"
     "                                 delete; any is their default)\n\n"
     "Examples:\n"
     "  weir acl create --allow-principal User:alice --operation read --operation describe \\\n"
     "      --topic orders --resource-pattern-type prefixed\n"
     "  weir acl create --deny-principal User:bob --operation write --topic orders\n"},
    {"acl", "list",
     "usage: weir acl list [filter flags]\n\n"
     "Lists the ACLs the filter matches (all of them without flags).\n\n"
     "Flags (create: the bindings, every combination; list, delete: a filter, a flag not\n"
     "given matches anything):\n"
     "      --allow-principal P        User:alice (repeatable)\n"
     "      --deny-principal P         User:bob (repeatable)\n"
     "      --operation OP             all, read, write, create, delete, alter, describe,\n"
     "                                 cluster_action, describe_configs, alter_configs,\n"
     "                                 idempotent_write (repeatable)\n"
     "      --topic T, --group G, --transactional-id ID, --cluster   the resource (repeatable)\n"
     "      --host H                   an IP (default *)\n"
     "      --resource-pattern-type T  literal (create's default), prefixed; match, any (list,\n"
     "                                 delete; any is their default)\n\n"
     "Examples:\n"
     "  weir acl list\n"
     "  weir acl list --topic orders-eu --resource-pattern-type match\n"},
    {"acl", "delete",
     "usage: weir acl delete <filter flags>\n\n"
     "Deletes the ACLs the filter matches (at least one flag is required).\n\n"
     "Flags (create: the bindings, every combination; list, delete: a filter, a flag not\n"
     "given matches anything):\n"
     "      --allow-principal P        User:alice (repeatable)\n"
     "      --deny-principal P         User:bob (repeatable)\n"
     "      --operation OP             all, read, write, create, delete, alter, describe,\n"
     "                                 cluster_action, describe_configs, alter_configs,\n"
     "                                 idempotent_write (repeatable)\n"
     "      --topic T, --group G, --transactional-id ID, --cluster   the resource (repeatable)\n"
     "      --host H                   an IP (default *)\n"
     "      --resource-pattern-type T  literal (create's default), prefixed; match, any (list,\n"
     "                                 delete; any is their default)\n\n"
     "Examples:\n"
     "  weir acl delete --deny-principal User:bob --operation write --topic orders\n"},
    {"profile", NULL,
     "usage: weir profile list\n\n"
     "Profiles name clusters in ~/.config/weir/weir.yaml ($WEIR_CONFIG to use another file):\n\n"
     "  current: local\n"
     "  profiles:\n"
     "    local:\n"
     "      brokers: 127.0.0.1:9092\n"
     "      registry: http://127.0.0.1:8081\n"
     "    prod:\n"
     "      brokers: kafka-1:9092,kafka-2:9092\n"
     "      settings:\n"
     "        security.protocol: SASL_SSL\n\n"
     "--profile NAME (or $WEIR_PROFILE) picks one, else `current`. -b and $WEIR_BROKERS win\n"
     "over a profile's brokers, -X over its settings.\n\n"
     "Examples:\n"
     "  weir profile list\n"
     "  weir --profile prod topic list\n"},
    {"profile", "list", NULL},
    {"completion", NULL,
     "usage: weir completion bash|zsh|fish\n\n"
     "Prints a completion script for the shell: commands, flags, values, and topic and group\n"
     "names asked of the broker.\n\n"
     "Examples:\n"
     "  source <(weir completion bash)            # in ~/.bashrc\n"
     "  source <(weir completion zsh)             # in ~/.zshrc, after compinit\n"
     "  weir completion fish > ~/.config/fish/completions/weir.fish\n"},
    {"completion", "bash", NULL},
    {"completion", "zsh", NULL},
    {"completion", "fish", NULL},
    {"version", NULL, "usage: weir version\n\nPrints the version of weir and librdkafka.\n"},
    {"serve", NULL,
     "usage: weir serve [flags]\n\nRuns the broker. See 'weir serve --help' and docs/broker.md.\n"},
};

void cli_help_overview(FILE *f)
{
    fprintf(f,
            "usage: weir [-b HOST:PORT] [-X KEY=VALUE]... [-o table|json] <command> ...\n\n"
            "Commands:\n"
            "  serve        run the broker\n"
            "  topic        create, list, describe, delete, alter-config, add-partitions, trim,\n"
            "               export, import\n"
            "  produce      write records from stdin\n"
            "  consume      print records\n"
            "  group        list, describe, seek, delete consumer groups\n"
            "  cluster      info, health, logdirs, config get|set\n"
            "  schema       schema registry: list, get, register, delete, check, compat, ...\n"
            "  user         SASL/SCRAM users: create, passwd, delete, list\n"
            "  acl          ACLs: create, list, delete\n"
            "  quota        client quotas: alter, describe\n"
            "  txn          transactions: list, describe, producers, find-hanging, abort\n"
            "  dlq          dead letters: list, show, redrive\n"
            "  saga         orchestrated sagas' state and history: list, show\n"
            "  profile      list the named brokers of ~/.config/weir/weir.yaml\n"
            "  completion   bash, zsh or fish completion script\n"
            "  version      print the version\n"
            "  help         help on a command: weir help topic create\n\n" GLOBAL_FLAGS
            "\nExit codes: 0 ok, 1 error, 2 usage, 3 not found.\n");
}

int cli_help_print(FILE *f, const char *family, const char *sub)
{
    const page_t *fam = NULL;
    for (size_t i = 0; i < WEIR_ARRAY_LEN(pages); i++) {
        const page_t *p = &pages[i];
        if (strcmp(p->family, family) != 0)
            continue;
        if (!p->sub)
            fam = p;
        if (sub && p->sub && strcmp(p->sub, sub) == 0) {
            fputs(p->text ? p->text : fam->text, f);
            fputs("\n" GLOBAL_FLAGS, f);
            return 0;
        }
    }
    if (!fam || sub)
        return -WEIR_ENOENT;
    fputs(fam->text, f);
    fputs("\n" GLOBAL_FLAGS, f);
    return 0;
}

int cli_help_main(cli_global_t *g, int argc, char **argv)
{
    if (argc < 2) {
        cli_help_overview(stdout);
        return CLI_OK;
    }
    const char *sub = argc > 2 ? argv[2] : NULL;
    if (cli_help_print(stdout, argv[1], sub) != 0) {
        fprintf(stderr, "weir help: no help for '%s%s%s' (see 'weir help')\n", argv[1],
                sub ? " " : "", sub ? sub : "");
        return CLI_USAGE;
    }
    return CLI_OK;
}
