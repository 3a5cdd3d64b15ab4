package weir.bench;

import java.time.Duration;
import java.util.Properties;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.kstream.Consumed;
import org.apache.kafka.streams.kstream.GlobalKTable;
import org.apache.kafka.streams.kstream.Grouped;
import org.apache.kafka.streams.kstream.KStream;
import org.apache.kafka.streams.kstream.Materialized;
import org.apache.kafka.streams.kstream.Produced;
import org.apache.kafka.streams.kstream.TimeWindows;
import org.apache.kafka.streams.processor.StateRestoreListener;

/**
 * The Kafka Streams side of bench/bench_streams.c: the same topologies as the libweir side, one
 * stream thread, at-least-once, commits every 100 ms, no record cache (every update goes out, as
 * libweir does), producer linger 5 ms. It prints "READY" when the app is RUNNING and one
 * "RESULT key=value ..." line, then exits.
 *
 *   StreamsBench BOOTSTRAP MODE APP_ID STATE_DIR EXPECTED IN OUT [TABLE]
 *   MODE: count (tumbling 1 min count per key), join (stream join a GlobalKTable),
 *         build (running count per key), restore (the same on an empty state dir: restore time),
 *         latency (count, until killed)
 */
public final class StreamsBench {
    /* Counts go out as decimal text, as libweir's do. */
    static byte[] decimal(Long v) {
        return Long.toString(v).getBytes(java.nio.charset.StandardCharsets.US_ASCII);
    }

    /* This process's CPU time (all threads, user and system) in seconds, from /proc. */
    static double cpuSelf() {
        try {
            String st = new String(java.nio.file.Files.readAllBytes(java.nio.file.Path.of("/proc/self/stat")));
            String[] f = st.substring(st.lastIndexOf(')') + 2).split(" ");
            return (Long.parseLong(f[11]) + Long.parseLong(f[12])) / 100.0;
        } catch (Exception e) {
            return 0;
        }
    }

    public static void main(String[] a) throws Exception {
        String bootstrap = a[0], mode = a[1], app = a[2], dir = a[3];
        long expected = Long.parseLong(a[4]);
        String in = a[5], out = a[6], table = a.length > 7 ? a[7] : null;
        Properties p = new Properties();
        p.put(StreamsConfig.APPLICATION_ID_CONFIG, app);
        p.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(StreamsConfig.STATE_DIR_CONFIG, dir);
        p.put(StreamsConfig.PROCESSING_GUARANTEE_CONFIG, StreamsConfig.AT_LEAST_ONCE);
        p.put(StreamsConfig.COMMIT_INTERVAL_MS_CONFIG, 100);
        p.put(StreamsConfig.STATESTORE_CACHE_MAX_BYTES_CONFIG, 0);
        p.put(StreamsConfig.NUM_STREAM_THREADS_CONFIG, 1);
        p.put(StreamsConfig.producerPrefix(ProducerConfig.LINGER_MS_CONFIG), 5);
        p.put(StreamsConfig.consumerPrefix(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG), "earliest");
        p.put(StreamsConfig.consumerPrefix(ConsumerConfig.FETCH_MAX_WAIT_MS_CONFIG), 50);

        AtomicLong seen = new AtomicLong();
        AtomicLong first = new AtomicLong();
        CountDownLatch done = new CountDownLatch(1);
        long[] last = new long[1];
        double[] cpu = new double[2];
        StreamsBuilder b = new StreamsBuilder();
        KStream<String, byte[]> s = b.stream(in, Consumed.with(Serdes.String(), Serdes.ByteArray()));
        KStream<String, byte[]> result;
        switch (mode) {
        case "count":
        case "latency":
            result = s.groupByKey(Grouped.with(Serdes.String(), Serdes.ByteArray()))
                    .windowedBy(TimeWindows.ofSizeAndGrace(Duration.ofMinutes(1), Duration.ZERO))
                    .count(Materialized.as("count"))
                    .toStream((wk, v) -> wk.key())
                    .mapValues(StreamsBench::decimal);
            break;
        case "join":
            GlobalKTable<String, byte[]> t =
                    b.globalTable(table, Consumed.with(Serdes.String(), Serdes.ByteArray()));
            result = s.join(t, (k, v) -> k, (v, tv) -> {
                byte[] j = new byte[v.length + 1 + tv.length];
                System.arraycopy(v, 0, j, 0, v.length);
                j[v.length] = ':';
                System.arraycopy(tv, 0, j, v.length + 1, tv.length);
                return j;
            });
            break;
        default: /* build, restore */
            result = s.groupByKey(Grouped.with(Serdes.String(), Serdes.ByteArray()))
                    .count(Materialized.as("totals"))
                    .toStream()
                    .mapValues(StreamsBench::decimal);
        }
        result.peek((k, v) -> {
            long n = seen.incrementAndGet();
            if (n == 1) {
                first.set(System.nanoTime());
                cpu[0] = cpuSelf();
            }
            if (n == expected) {
                last[0] = System.nanoTime();
                cpu[1] = cpuSelf();
                done.countDown();
            }
        }).to(out, Produced.with(Serdes.String(), Serdes.ByteArray()));

        KafkaStreams ks = new KafkaStreams(b.build(), p);
        long[] restore = new long[3]; /* first start (ns), last end (ns), records */
        CountDownLatch restored = new CountDownLatch(1);
        ks.setGlobalStateRestoreListener(new StateRestoreListener() {
            public synchronized void onRestoreStart(TopicPartition tp, String store, long s0, long e0) {
                if (restore[0] == 0)
                    restore[0] = System.nanoTime();
            }

            public void onBatchRestored(TopicPartition tp, String store, long end, long n) {
            }

            public synchronized void onRestoreEnd(TopicPartition tp, String store, long total) {
                restore[1] = System.nanoTime();
                restore[2] += total;
                restored.countDown();
            }
        });
        CountDownLatch running = new CountDownLatch(1);
        ks.setStateListener((now, before) -> {
            if (now == KafkaStreams.State.RUNNING)
                running.countDown();
        });
        ks.start();
        running.await();
        System.out.println("READY");
        System.out.flush();
        if (mode.equals("restore")) {
            restored.await();
            double ms = (restore[1] - restore[0]) / 1e6;
            System.out.printf("RESULT restored_records=%d restore_ms=%.1f%n", restore[2], ms);
        } else if (!mode.equals("latency")) {
            done.await();
            double secs = (last[0] - first.get()) / 1e9;
            System.out.printf("RESULT records=%d records_per_s=%.0f records_per_cpu_s=%.0f%n",
                    expected, (expected - 1) / secs,
                    cpu[1] > cpu[0] ? (expected - 1) / (cpu[1] - cpu[0]) : -1.0);
        } else {
            new CountDownLatch(1).await(); /* until killed */
        }
        System.out.flush();
        ks.close(Duration.ofSeconds(10));
        Runtime.getRuntime().halt(0);
    }
}
