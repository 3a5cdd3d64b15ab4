package weir.compat;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import org.apache.kafka.clients.admin.ConsumerGroupDescription;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRebalanceListener;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.GroupType;
import org.apache.kafka.common.TopicPartition;

/**
 * Consumer groups through rebalances with kafka-clients 4.x, group.protocol=consumer (KIP-848)
 * and classic: one member, then three, then two leave while records keep arriving; every
 * record is delivered exactly once (each member commits what it read when a partition is
 * revoked); the committed offsets are resumed by a new member after a broker restart (the
 * program prints RESTART-BROKER and waits for a line on stdin: the driving script restarts the
 * broker). Prints the measured times as "# time ..." lines.
 */
public final class GroupRebalance {
    static final int PARTS = 6;
    static Kit k;

    /** A member that commits, on revocation, the position after the last record it read. */
    static final class Member implements ConsumerRebalanceListener {
        final KafkaConsumer<String, String> c;
        final Map<String, Integer> seen;
        final Map<Integer, Long> pos = new HashMap<>();

        Member(String name, String group, String topic, String protocol, Map<String, Integer> seen) {
            var props = protocol.equals("consumer") ? k.consumerProps(group) : k.classicProps(group);
            if (protocol.equals("consumer")) props.put(ConsumerConfig.GROUP_PROTOCOL_CONFIG, "consumer");
            props.put(ConsumerConfig.CLIENT_ID_CONFIG, name);
            props.put(ConsumerConfig.MAX_POLL_RECORDS_CONFIG, 200);
            this.seen = seen;
            c = new KafkaConsumer<>(props);
            c.subscribe(List.of(topic), this);
        }

        @Override
        public void onPartitionsRevoked(Collection<TopicPartition> parts) {
            Map<TopicPartition, OffsetAndMetadata> offs = new HashMap<>();
            for (TopicPartition tp : parts) {
                Long p = pos.remove(tp.partition());
                if (p != null) offs.put(tp, new OffsetAndMetadata(p));
            }
            if (!offs.isEmpty()) c.commitSync(offs, Duration.ofSeconds(10));
        }

        @Override
        public void onPartitionsAssigned(Collection<TopicPartition> parts) {}

        @Override
        public void onPartitionsLost(Collection<TopicPartition> parts) {
            for (TopicPartition tp : parts) pos.remove(tp.partition());
        }

        void poll() {
            for (var r : c.poll(Duration.ofMillis(20))) {
                seen.merge(r.partition() + "/" + r.offset(), 1, Integer::sum);
                pos.put(r.partition(), r.offset() + 1);
            }
        }

        int size() {
            return c.assignment().size();
        }
    }

    static double pollUntil(List<Member> ms, BooleanSupplier cond, int seconds, String what) {
        long t0 = System.nanoTime();
        while (System.nanoTime() - t0 < seconds * 1_000_000_000L) {
            for (Member m : ms) m.poll();
            if (cond.getAsBoolean()) return (System.nanoTime() - t0) / 1e9;
        }
        List<Integer> sizes = new ArrayList<>();
        for (Member m : ms) sizes.add(m.size());
        throw new AssertionError(what + " not reached within " + seconds + " s (sizes " + sizes + ")");
    }

    static void produce(String topic, int first, int count) throws Exception {
        try (var p = new KafkaProducer<String, String>(k.producerProps())) {
            List<java.util.concurrent.Future<?>> fs = new ArrayList<>();
            for (int i = first; i < first + count; i++) fs.add(p.send(new ProducerRecord<>(topic, i % PARTS, null, "" + i)));
            for (var f : fs) f.get(20, TimeUnit.SECONDS);
        }
    }

    static void run(String protocol) throws Exception {
        String topic = "jrb-" + protocol, group = "jrb-g-" + protocol;
        k.createTopic(topic, PARTS);
        produce(topic, 0, 600);
        Map<String, Integer> seen = new HashMap<>();
        Member m1 = new Member("m1", group, topic, protocol, seen);
        double first = pollUntil(List.of(m1), () -> m1.size() == PARTS, 30, "m1 owning every partition");
        pollUntil(List.of(m1), () -> seen.size() >= 150, 20, "m1 reading");
        Member m2 = new Member("m2", group, topic, protocol, seen);
        Member m3 = new Member("m3", group, topic, protocol, seen);
        produce(topic, 600, 300);
        List<Member> ms = List.of(m1, m2, m3);
        double three = pollUntil(ms, () -> m1.size() == 2 && m2.size() == 2 && m3.size() == 2, 60, "2+2+2");
        produce(topic, 900, 300);
        pollUntil(ms, () -> seen.size() == 1200, 30, "1200 records read");
        if (protocol.equals("consumer")) {
            ConsumerGroupDescription d = k.admin.describeConsumerGroups(List.of(group)).all()
                    .get(10, TimeUnit.SECONDS).get(group);
            Tap.eq(GroupType.CONSUMER, d.type(), "group type");
            Tap.eq(3, d.members().size(), "members described");
        }
        long t0 = System.nanoTime();
        m2.c.close(Duration.ofSeconds(10));
        m3.c.close(Duration.ofSeconds(10));
        pollUntil(List.of(m1), () -> m1.size() == PARTS, 60, "m1 alone");
        double leave = (System.nanoTime() - t0) / 1e9;
        produce(topic, 1200, 300);
        pollUntil(List.of(m1), () -> seen.size() == 1500, 30, "1500 records read");
        Map<String, Integer> twice = new TreeMap<>();
        seen.forEach((key, n) -> { if (n > 1) twice.put(key, n); });
        Tap.eq(Map.of(), twice, "records read more than once");
        Tap.eq(1500, seen.size(), "distinct records read");
        m1.c.close(Duration.ofSeconds(10));
        System.out.printf("# time %s: first member owns all %.2f s, 3 members at 2+2+2 %.2f s, 2 leave -> 1 member owns all %.2f s%n",
                protocol, first, three, leave);
    }

    static void restart() throws Exception {
        String topic = "jrb-consumer", group = "jrb-g-consumer";
        System.out.println("RESTART-BROKER");
        System.out.flush();
        String line = new BufferedReader(new InputStreamReader(System.in)).readLine();
        Tap.eq("restarted", line, "the broker restart");
        Map<String, Integer> seen = new HashMap<>();
        Member m = new Member("m4", group, topic, "consumer", seen);
        pollUntil(List.of(m), () -> m.size() == PARTS, 60, "the new member owning every partition");
        var committed = m.c.committed(new java.util.HashSet<>(Kit.partitions(topic, PARTS)), Duration.ofSeconds(10));
        Map<Integer, Long> offs = new TreeMap<>();
        committed.forEach((tp, om) -> offs.put(tp.partition(), om == null ? -1 : om.offset()));
        Map<Integer, Long> want = new TreeMap<>();
        for (int p = 0; p < PARTS; p++) want.put(p, 250L);
        Tap.eq(want, offs, "committed offsets after the restart");
        produce(topic, 1500, 60);
        pollUntil(List.of(m), () -> seen.size() == 60, 30, "60 new records");
        for (int p = 0; p < PARTS; p++)
            for (int o = 250; o < 260; o++) Tap.check(seen.containsKey(p + "/" + o), "record " + p + "/" + o + " missing");
        m.c.close(Duration.ofSeconds(10));
    }

    public static void main(String[] args) {
        k = new Kit(args[0]);
        Tap t = new Tap();
        t.add("classic protocol: 1 then 3 members then 1 again, 1500 records each read exactly once (the times to compare)", 240_000, () -> run("classic"));
        t.add("group.protocol=consumer (KIP-848): 1 then 3 members then 1 again, 1500 records each read exactly once", 240_000, () -> run("consumer"));
        t.add("group.protocol=consumer: the committed offsets are resumed after a broker restart", 180_000, GroupRebalance::restart);
        t.runAndExit();
    }
}
