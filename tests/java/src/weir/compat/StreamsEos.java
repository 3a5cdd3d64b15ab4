package weir.compat;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.TreeMap;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.serialization.LongDeserializer;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.KeyValue;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.errors.StreamsUncaughtExceptionHandler;
import org.apache.kafka.streams.kstream.Consumed;
import org.apache.kafka.streams.kstream.Grouped;
import org.apache.kafka.streams.kstream.Materialized;
import org.apache.kafka.streams.kstream.Produced;

/**
 * Kafka Streams with processing.guarantee=exactly_once_v2 under crashes
 * (tests/compat/test_streams_eos.sh drives it): per-account running sums. The input
 * (eos-in, 3 partitions) holds (account, amount) records; the topology re-keys them (a
 * repartition topic), sums per account in a store backed by a changelog topic, and writes
 * every new sum to eos-out. One input record makes exactly one output record, so the
 * read_committed output of each account must be exactly the prefix sums of its amounts in
 * input order, however often the app or the broker is killed.
 *
 *   StreamsEos setup BOOTSTRAP                  creates eos-in and eos-out
 *   StreamsEos produce BOOTSTRAP N PER_SECOND   writes the N input records, paced
 *   StreamsEos app BOOTSTRAP STATE_DIR          runs the app until killed ("RUNNING" once up)
 *   StreamsEos verify BOOTSTRAP N TIMEOUT_MS    reads the output, prints TAP lines (no plan)
 */
public final class StreamsEos {
    static final String APP = "eos-sums", IN = "eos-in", OUT = "eos-out";
    static final int ACCOUNTS = 37;

    public static void main(String[] args) throws Exception {
        String bootstrap = args[1];
        switch (args[0]) {
        case "setup" -> {
            Kit k = new Kit(bootstrap);
            k.createTopic(IN, 3);
            k.createTopic(OUT, 3);
            k.admin.close(Duration.ofSeconds(2));
        }
        case "produce" -> produce(bootstrap, Integer.parseInt(args[2]), Integer.parseInt(args[3]));
        case "app" -> app(bootstrap, Path.of(args[2]));
        case "verify" -> System.exit(verify(bootstrap, Integer.parseInt(args[2]), Long.parseLong(args[3])) ? 0 : 1);
        default -> throw new IllegalArgumentException(args[0]);
        }
        Runtime.getRuntime().halt(0);
    }

    static String account(int i) {
        return "acct-" + (i % ACCOUNTS);
    }

    static long amount(int i) {
        return 1 + (i * 7919L) % 1000;
    }

    /** Idempotent, acks=all, and patient: it keeps retrying through a broker restart. */
    static void produce(String bootstrap, int n, int perSecond) throws Exception {
        Kit k = new Kit(bootstrap);
        var props = k.producerProps();
        props.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, true);
        props.put(ProducerConfig.ACKS_CONFIG, "all");
        props.put(ProducerConfig.DELIVERY_TIMEOUT_MS_CONFIG, 150000);
        props.put(ProducerConfig.MAX_BLOCK_MS_CONFIG, 150000);
        props.put(ProducerConfig.REQUEST_TIMEOUT_MS_CONFIG, 5000);
        props.put(ProducerConfig.RECONNECT_BACKOFF_MAX_MS_CONFIG, 500);
        List<Future<RecordMetadata>> fs = new ArrayList<>();
        long t0 = System.nanoTime();
        try (var p = new KafkaProducer<String, String>(props)) {
            for (int i = 0; i < n; i++) {
                long due = t0 + (long) i * 1_000_000_000L / perSecond;
                long wait = due - System.nanoTime();
                if (wait > 0) Thread.sleep(wait / 1_000_000, (int) (wait % 1_000_000));
                fs.add(p.send(new ProducerRecord<>(IN, account(i), Long.toString(amount(i)))));
            }
            p.flush();
            for (var f : fs) f.get(150, TimeUnit.SECONDS);
        }
        System.out.println("PRODUCED " + n);
        System.out.flush();
        k.admin.close(Duration.ofSeconds(2));
    }

    static void app(String bootstrap, Path stateDir) throws Exception {
        Properties p = new Properties();
        p.put(StreamsConfig.APPLICATION_ID_CONFIG, APP);
        p.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(StreamsConfig.STATE_DIR_CONFIG, stateDir.toString());
        p.put(StreamsConfig.PROCESSING_GUARANTEE_CONFIG, StreamsConfig.EXACTLY_ONCE_V2);
        // Transactions of a second, whose records reach the log within milliseconds: a kill
        // lands in an open transaction with output already written (which must be aborted).
        p.put(StreamsConfig.COMMIT_INTERVAL_MS_CONFIG, 1000);
        p.put(StreamsConfig.producerPrefix(ProducerConfig.LINGER_MS_CONFIG), 5);
        p.put(StreamsConfig.STATESTORE_CACHE_MAX_BYTES_CONFIG, 0);
        p.put(StreamsConfig.NUM_STREAM_THREADS_CONFIG, 1);
        // Static membership: the restarted app takes its place in the group at once instead of
        // waiting for the killed one's session to expire.
        p.put(StreamsConfig.consumerPrefix(ConsumerConfig.GROUP_INSTANCE_ID_CONFIG), APP + "-instance-1");
        p.put(StreamsConfig.consumerPrefix(ConsumerConfig.SESSION_TIMEOUT_MS_CONFIG), 10000);
        p.put(StreamsConfig.consumerPrefix(ConsumerConfig.HEARTBEAT_INTERVAL_MS_CONFIG), 1000);
        // Longer than the broker's restart: Kafka 4.4 (KRaft, one node) runs the timeout abort of
        // a transaction left open across its crash while it still counts itself fenced, finds no
        // leader for the partitions, takes them for deleted and drops their abort markers: the
        // transaction hangs forever (the changelog's LSO stuck, the restore with it). A killed
        // app's transaction is aborted at once anyway, by its successor's InitProducerId (the
        // same transactional id: the process id is kept in the state dir).
        p.put(StreamsConfig.producerPrefix(ProducerConfig.TRANSACTION_TIMEOUT_CONFIG), 60000);
        p.put(StreamsConfig.producerPrefix(ProducerConfig.REQUEST_TIMEOUT_MS_CONFIG), 5000);
        p.put(StreamsConfig.RECONNECT_BACKOFF_MAX_MS_CONFIG, 500);
        StreamsBuilder b = new StreamsBuilder();
        b.stream(IN, Consumed.with(Serdes.String(), Serdes.String()))
                // map() may change the key, so the grouping goes through a repartition topic.
                .map((k, v) -> KeyValue.pair(k, Long.parseLong(v)))
                .groupByKey(Grouped.with("sums", Serdes.String(), Serdes.Long()))
                .aggregate(() -> 0L, (k, v, sum) -> sum + v,
                        Materialized.<String, Long, org.apache.kafka.streams.state.KeyValueStore<org.apache.kafka.common.utils.Bytes, byte[]>>as("sums")
                                .withKeySerde(Serdes.String()).withValueSerde(Serdes.Long()))
                .toStream()
                .to(OUT, Produced.with(Serdes.String(), Serdes.Long()));
        KafkaStreams app = new KafkaStreams(b.build(), p);
        // A broker restart under the app may kill a stream thread: it is replaced, as an
        // operator of an EOS app would configure.
        app.setUncaughtExceptionHandler(e -> StreamsUncaughtExceptionHandler.StreamThreadExceptionResponse.REPLACE_THREAD);
        app.setStateListener((now, before) -> {
            if (now == KafkaStreams.State.RUNNING) {
                System.out.println("RUNNING");
                System.out.flush();
            }
        });
        app.start();
        Thread.sleep(Long.MAX_VALUE);
    }

    /** Reads eos-out with read_committed until N records or the deadline; checks them. */
    static boolean verify(String bootstrap, int n, long timeoutMs) {
        Map<String, List<Long>> want = new TreeMap<>();
        Map<String, Long> sums = new HashMap<>();
        for (int i = 0; i < n; i++) {
            long s = sums.merge(account(i), amount(i), Long::sum);
            want.computeIfAbsent(account(i), a -> new ArrayList<>()).add(s);
        }
        Kit k = new Kit(bootstrap);
        Map<String, List<Long>> got = new TreeMap<>();
        int records = 0;
        long uncommitted = 0;
        for (String isolation : List.of("read_committed", "read_uncommitted")) {
            var props = k.consumerProps(null);
            props.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, LongDeserializer.class.getName());
            props.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, isolation);
            try (var c = new KafkaConsumer<String, Long>(props)) {
                c.assign(Kit.partitions(OUT, 3));
                c.seekToBeginning(c.assignment());
                long end = System.currentTimeMillis() + (isolation.equals("read_committed") ? timeoutMs : 10000);
                int seen = 0;
                long quietUntil = Long.MAX_VALUE;
                while (System.currentTimeMillis() < Math.min(end, quietUntil)) {
                    for (var r : c.poll(Duration.ofMillis(200))) {
                        seen++;
                        if (isolation.equals("read_committed")) got.computeIfAbsent(r.key(), a -> new ArrayList<>()).add(r.value());
                    }
                    // Past N: a little longer, so a duplicate shows.
                    if (seen >= n && quietUntil == Long.MAX_VALUE) quietUntil = System.currentTimeMillis() + 1500;
                }
                if (isolation.equals("read_committed")) records = seen; else uncommitted = seen;
            }
        }
        k.admin.close(Duration.ofSeconds(2));
        boolean ok = true;
        ok &= tap(records == n, "read_committed output: exactly " + n + " records, one per input record",
                "got " + records);
        StringBuilder diff = new StringBuilder();
        for (var e : want.entrySet()) {
            List<Long> g = got.getOrDefault(e.getKey(), List.of());
            if (!g.equals(e.getValue())) {
                diff.append(e.getKey()).append(": want ").append(e.getValue().size()).append(" sums ending ")
                        .append(e.getValue().get(e.getValue().size() - 1)).append(", got ").append(g.size());
                for (int i = 0; i < Math.min(g.size(), e.getValue().size()); i++) {
                    if (!g.get(i).equals(e.getValue().get(i))) {
                        diff.append(", first difference at ").append(i).append(": ").append(g.get(i)).append(" for ")
                                .append(e.getValue().get(i));
                        break;
                    }
                }
                diff.append('\n');
            }
        }
        for (String a : got.keySet()) if (!want.containsKey(a)) diff.append("unexpected key ").append(a).append('\n');
        ok &= tap(diff.length() == 0, "every account's outputs are exactly its running sums in input order (no duplicate, no loss)",
                diff.toString());
        Map<String, Long> last = new TreeMap<>(), wantLast = new TreeMap<>(sums);
        for (var e : got.entrySet()) last.put(e.getKey(), e.getValue().get(e.getValue().size() - 1));
        ok &= tap(last.equals(wantLast), "the final sum of every account is exact", "want " + wantLast + "\ngot  " + last);
        ok &= tap(uncommitted > n, "the kills interrupted open transactions: read_uncommitted sees aborted output too",
                "read_uncommitted saw " + uncommitted + " records");
        System.out.println("# read_uncommitted saw " + uncommitted + " records, " + (uncommitted - n) + " of them aborted");
        System.out.flush();
        return ok;
    }

    static boolean tap(boolean ok, String name, String evidence) {
        System.out.println((ok ? "ok - " : "not ok - ") + name);
        if (!ok) for (String l : evidence.split("\n")) System.out.println("    # " + l);
        System.out.flush();
        return ok;
    }
}
