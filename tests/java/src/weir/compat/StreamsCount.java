package weir.compat;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.config.ConfigResource;
import org.apache.kafka.common.serialization.LongDeserializer;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.streams.CloseOptions;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.KeyValue;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.kstream.Consumed;
import org.apache.kafka.streams.kstream.Grouped;
import org.apache.kafka.streams.kstream.Materialized;
import org.apache.kafka.streams.kstream.Produced;

/**
 * The Kafka Streams tier (at-least-once): lines of words -> flatMap to words -> groupBy word
 * (a repartition topic) -> count (a store backed by a compacted changelog topic) -> an output
 * topic. Three phases of input, each checked for the exact count of every word:
 * 1. first run; 2. the app restarted with an EMPTY state dir, so the store is restored from
 * the changelog; 3. the broker restarted under the running app (the driving script does it
 * when this program prints "RESTART-BROKER", and answers on stdin). TAP on stdout.
 */
public final class StreamsCount {
    static final String APP = "wordcount";
    static final String IN = "words-in", OUT = "words-counts";
    static int n, failed;
    static String bootstrap;
    static final Map<String, Long> expected = new TreeMap<>();
    static int produced;

    static void tap(boolean ok, String name, String evidence) {
        n++;
        if (!ok) failed++;
        System.out.println((ok ? "ok " : "not ok ") + n + " - " + name);
        if (!ok && evidence != null) {
            for (String l : evidence.split("\n")) System.out.println("    # " + l);
        }
        System.out.flush();
    }

    public static void main(String[] args) throws Exception {
        bootstrap = args[0];
        Path stateRoot = Files.createTempDirectory("weir-streams-");
        Kit k = new Kit(bootstrap);
        k.createTopic(IN, 3);
        k.createTopic(OUT, 3);
        BufferedReader stdin = new BufferedReader(new InputStreamReader(System.in));

        produceLines(1500);
        KafkaStreams app = start(stateRoot.resolve("a"));
        String why = awaitCounts(60000);
        tap(why == null, "first run: exact counts of 1500 lines", why);
        close(app);

        List<String> topics = new ArrayList<>(k.admin.listTopics().names().get(10, TimeUnit.SECONDS));
        String rep = APP + "-counts-repartition", chg = APP + "-counts-changelog";
        tap(topics.contains(rep) && topics.contains(chg), "the repartition and changelog topics exist", topics.toString());
        try {
            var res = new ConfigResource(ConfigResource.Type.TOPIC, chg);
            String policy = k.admin.describeConfigs(List.of(res)).all().get(10, TimeUnit.SECONDS).get(res)
                    .get("cleanup.policy").value();
            tap(policy.equals("compact"), "the changelog topic is compacted", "cleanup.policy=" + policy);
        } catch (Exception e) {
            tap(false, "the changelog topic is compacted", e.toString());
        }

        produceLines(1000);
        app = start(stateRoot.resolve("b"));
        why = awaitCounts(60000);
        tap(why == null, "app restarted on an empty state dir: store restored from the changelog, exact counts of 2500 lines", why);

        System.out.println("RESTART-BROKER");
        System.out.flush();
        String answer = stdin.readLine();
        tap("restarted".equals(answer), "the broker was restarted under the running app", "driver said: " + answer);
        produceLines(500);
        why = awaitCounts(90000);
        tap(why == null, "after the broker restart: exact counts of 3000 lines", why);
        tap(app.state() == KafkaStreams.State.RUNNING, "the app is RUNNING after the broker restart", "state " + app.state());
        close(app);
        System.out.println("1.." + n);
        System.out.flush();
        Runtime.getRuntime().halt(failed == 0 ? 0 : 1);
    }

    static String word(int i) {
        return "w" + ((i * 7 + i / 13) % 23);
    }

    /** Lines of 1 to 4 words, deterministic; updates the expected counts. */
    static void produceLines(int lines) throws Exception {
        Kit k = new Kit(bootstrap);
        try (var p = new KafkaProducer<String, String>(k.producerProps())) {
            List<java.util.concurrent.Future<?>> fs = new ArrayList<>();
            for (int i = 0; i < lines; i++, produced++) {
                int words = 1 + produced % 4;
                StringBuilder sb = new StringBuilder();
                for (int j = 0; j < words; j++) {
                    String w = word(produced * 4 + j);
                    sb.append(j == 0 ? "" : " ").append(w);
                    expected.merge(w, 1L, Long::sum);
                }
                fs.add(p.send(new ProducerRecord<>(IN, "line-" + produced, sb.toString())));
            }
            p.flush();
            for (var f : fs) f.get(30, TimeUnit.SECONDS);
        }
        k.admin.close(Duration.ofSeconds(2));
    }

    static KafkaStreams start(Path stateDir) {
        Properties p = new Properties();
        p.put(StreamsConfig.APPLICATION_ID_CONFIG, APP);
        p.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(StreamsConfig.STATE_DIR_CONFIG, stateDir.toString());
        p.put(StreamsConfig.PROCESSING_GUARANTEE_CONFIG, StreamsConfig.AT_LEAST_ONCE);
        p.put(StreamsConfig.COMMIT_INTERVAL_MS_CONFIG, 100);
        p.put(StreamsConfig.STATESTORE_CACHE_MAX_BYTES_CONFIG, 0);
        p.put(StreamsConfig.NUM_STREAM_THREADS_CONFIG, 1);
        p.put(StreamsConfig.consumerPrefix(ConsumerConfig.SESSION_TIMEOUT_MS_CONFIG), 10000);
        p.put(StreamsConfig.consumerPrefix(ConsumerConfig.HEARTBEAT_INTERVAL_MS_CONFIG), 1000);
        StreamsBuilder b = new StreamsBuilder();
        b.stream(IN, Consumed.with(Serdes.String(), Serdes.String()))
                .flatMapValues(v -> Arrays.asList(v.split(" ")))
                .groupBy((key, w) -> w, Grouped.with("counts", Serdes.String(), Serdes.String()))
                .count(Materialized.as("counts"))
                .toStream()
                .to(OUT, Produced.with(Serdes.String(), Serdes.Long()));
        KafkaStreams app = new KafkaStreams(b.build(), p);
        app.start();
        return app;
    }

    static void close(KafkaStreams app) {
        app.close(CloseOptions.groupMembershipOperation(CloseOptions.GroupMembershipOperation.LEAVE_GROUP)
                .withTimeout(Duration.ofSeconds(20)));
    }

    /** Reads the output topic from the start until the latest count of every word is the
     * expected one; null when reached, else what differs. */
    static String awaitCounts(long timeoutMs) {
        Kit k = new Kit(bootstrap);
        var props = k.consumerProps(null);
        props.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, LongDeserializer.class.getName());
        Map<String, Long> latest = new HashMap<>();
        long end = System.currentTimeMillis() + timeoutMs;
        try (var c = new KafkaConsumer<String, Long>(props)) {
            c.assign(Kit.partitions(OUT, 3));
            c.seekToBeginning(c.assignment());
            while (System.currentTimeMillis() < end) {
                for (var r : c.poll(Duration.ofMillis(200))) latest.put(r.key(), r.value());
                if (latest.equals(expected)) return null;
            }
        } catch (Exception e) {
            return e.toString();
        } finally {
            k.admin.close(Duration.ofSeconds(2));
        }
        Map<String, String> diff = new TreeMap<>();
        for (var e : expected.entrySet()) {
            Long got = latest.get(e.getKey());
            if (!e.getValue().equals(got)) diff.put(e.getKey(), "want " + e.getValue() + " got " + got);
        }
        for (var key : latest.keySet()) if (!expected.containsKey(key)) diff.put(key, "unexpected " + latest.get(key));
        return "counts differ: " + diff;
    }
}
