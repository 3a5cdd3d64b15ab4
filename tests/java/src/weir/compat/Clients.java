package weir.compat;

import static weir.compat.Tap.check;
import static weir.compat.Tap.eq;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.AlterConfigOp;
import org.apache.kafka.clients.admin.Config;
import org.apache.kafka.clients.admin.ConfigEntry;
import org.apache.kafka.clients.admin.ConsumerGroupDescription;
import org.apache.kafka.clients.admin.DescribeClusterResult;
import org.apache.kafka.clients.admin.ListOffsetsResult;
import org.apache.kafka.clients.admin.LogDirDescription;
import org.apache.kafka.clients.admin.NewPartitions;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.admin.RecordsToDelete;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRebalanceListener;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.consumer.OffsetAndTimestamp;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.GroupState;
import org.apache.kafka.common.GroupType;
import org.apache.kafka.common.TopicCollection;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.Uuid;
import org.apache.kafka.common.config.ConfigResource;
import org.apache.kafka.common.errors.GroupNotEmptyException;
import org.apache.kafka.common.errors.InvalidConfigurationException;
import org.apache.kafka.common.errors.InvalidPartitionsException;
import org.apache.kafka.common.errors.InvalidReplicationFactorException;
import org.apache.kafka.common.errors.RecordTooLargeException;
import org.apache.kafka.common.errors.TopicExistsException;
import org.apache.kafka.common.errors.UnknownTopicOrPartitionException;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.header.internals.RecordHeaders;

/**
 * The Java client tier: kafka-clients 4.x producer, consumer and Admin against one broker
 * (args[0] = bootstrap), every case in this one JVM. Exact counts, offsets, bytes and orders.
 */
public final class Clients {
    static Kit k;

    public static void main(String[] args) throws Exception {
        k = new Kit(args[0]);
        Tap t = new Tap();
        t.add("producer acks=0, acks=1, acks=all: 1000 records each, offsets and end offsets exact", 60000, Clients::acks);
        t.add("idempotent producer: 5000 records, 5 requests in flight, contiguous offsets, order kept", 60000, Clients::idempotent);
        t.add("compression gzip, snappy, lz4, zstd: keys, values and headers round trip exactly", 60000, Clients::compression);
        t.add("headers: duplicate keys, null and empty values, binary bytes, order kept", 30000, Clients::headers);
        t.add("large batches: 20000 x 1 KiB in 1 MiB batches and 20 x 900 KiB records, digests match", 90000, Clients::largeBatches);
        t.add("a record over max.message.bytes fails with RecordTooLargeException, the next one lands", 30000, Clients::tooLarge);
        t.add("consumer assign: seek, position, seekToBeginning/End, fetch from mid-batch offset", 30000, Clients::assignSeek);
        t.add("offsetsForTimes: first offset at or after a time, null past the end", 30000, Clients::offsetsForTimes);
        t.add("classic group, range assignor: 2 members take 2+2 partitions, 400 records once, commitSync exact", 60000, () -> groupSplit("range"));
        t.add("classic group, cooperative-sticky: the first member revokes only what moves", 60000, Clients::cooperative);
        t.add("group.protocol=consumer (KIP-848): 2 members take 2+2 partitions, 400 records once, commits", 60000, () -> groupSplit("consumer"));
        t.add("pause/resume: a paused partition yields nothing until resumed", 30000, Clients::pauseResume);
        t.add("commitAsync callback, committed() with metadata (NUL byte included) read back exactly", 30000, Clients::commitAsync);
        t.add("admin: createTopics (configs, errors), listTopics, describeTopics, deleteTopics", 45000, Clients::adminTopics);
        t.add("admin: topic ids: stable, describe by id, new id after re-creation", 45000, Clients::topicIds);
        t.add("admin: describeCluster: one node, its controller, a cluster id", 20000, Clients::describeCluster);
        t.add("admin: incrementalAlterConfigs SET/DELETE, describeConfigs values and sources", 30000, Clients::configs);
        t.add("admin: broker describeConfigs defaults (names, values, sources, read-only flags)", 20000, Clients::brokerConfigs);
        t.add("admin: createPartitions 1 -> 4, shrinking refused with InvalidPartitionsException", 30000, Clients::createPartitions);
        t.add("admin: deleteRecords moves the low watermark; consumers start there", 30000, Clients::deleteRecords);
        t.add("admin: listOffsets earliest, latest, timestamp and max-timestamp (KIP-734)", 30000, Clients::listOffsets);
        t.add("admin: consumer groups: list, describe, alter/list/delete offsets, delete group", 60000, Clients::groupsAdmin);
        t.add("admin: describeLogDirs: one dir holding the topic's partitions with their sizes", 30000, Clients::logDirs);
        t.runAndExit();
    }

    static List<RecordMetadata> sendAll(KafkaProducer<String, String> p, List<ProducerRecord<String, String>> recs)
            throws Exception {
        List<Future<RecordMetadata>> fs = new ArrayList<>();
        for (ProducerRecord<String, String> r : recs) fs.add(p.send(r));
        p.flush();
        List<RecordMetadata> out = new ArrayList<>();
        for (Future<RecordMetadata> f : fs) out.add(f.get(20, TimeUnit.SECONDS));
        return out;
    }

    static void acks() throws Exception {
        for (String acks : List.of("0", "1", "all")) {
            String topic = "acks-" + acks;
            k.createTopic(topic, 3);
            var props = k.producerProps();
            props.put(ProducerConfig.ACKS_CONFIG, acks);
            if (!acks.equals("all")) props.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, false);
            List<ProducerRecord<String, String>> recs = new ArrayList<>();
            for (int i = 0; i < 1000; i++) recs.add(new ProducerRecord<>(topic, i % 3, "k" + i, "v" + i));
            try (var p = new KafkaProducer<String, String>(props)) {
                List<RecordMetadata> md = sendAll(p, recs);
                for (int i = 0; i < 1000; i++) {
                    eq(i % 3, md.get(i).partition(), "partition of record " + i);
                    eq(acks.equals("0") ? -1L : (long) (i / 3), md.get(i).offset(), "acks=" + acks + " offset of record " + i);
                }
            }
            try (var c = new KafkaConsumer<String, String>(k.consumerProps(null))) {
                var end = c.endOffsets(Kit.partitions(topic, 3));
                eq(Map.of(new TopicPartition(topic, 0), 334L, new TopicPartition(topic, 1), 333L,
                        new TopicPartition(topic, 2), 333L), end, "acks=" + acks + " end offsets");
            }
        }
    }

    static void idempotent() throws Exception {
        String topic = "idem";
        k.createTopic(topic, 1);
        var props = k.producerProps();
        props.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, true);
        props.put(ProducerConfig.ACKS_CONFIG, "all");
        props.put(ProducerConfig.MAX_IN_FLIGHT_REQUESTS_PER_CONNECTION, 5);
        props.put(ProducerConfig.LINGER_MS_CONFIG, 0);
        props.put(ProducerConfig.BATCH_SIZE_CONFIG, 2000);
        List<ProducerRecord<String, String>> recs = new ArrayList<>();
        for (int i = 0; i < 5000; i++) recs.add(new ProducerRecord<>(topic, 0, null, "idem-" + i));
        try (var p = new KafkaProducer<String, String>(props)) {
            List<RecordMetadata> md = sendAll(p, recs);
            for (int i = 0; i < 5000; i++) eq((long) i, md.get(i).offset(), "offset of record " + i);
        }
        try (var c = new KafkaConsumer<String, String>(k.consumerProps(null))) {
            c.assign(Kit.partitions(topic, 1));
            var got = Kit.drain(c, 5000, 20000);
            eq(5000, got.size(), "records read");
            for (int i = 0; i < 5000; i++) {
                eq("idem-" + i, got.get(i).value(), "value at " + i);
                eq((long) i, got.get(i).offset(), "offset at " + i);
            }
        }
    }

    static void compression() throws Exception {
        for (String codec : List.of("gzip", "snappy", "lz4", "zstd")) {
            String topic = "codec-" + codec;
            k.createTopic(topic, 2);
            var props = k.producerProps();
            props.put(ProducerConfig.COMPRESSION_TYPE_CONFIG, codec);
            props.put(ProducerConfig.LINGER_MS_CONFIG, 20);
            List<ProducerRecord<String, String>> recs = new ArrayList<>();
            for (int i = 0; i < 1000; i++) {
                var h = new RecordHeaders();
                h.add("codec", codec.getBytes(StandardCharsets.UTF_8));
                h.add("i", Integer.toString(i).getBytes(StandardCharsets.UTF_8));
                recs.add(new ProducerRecord<>(topic, i % 2, "key-" + (i % 10), ("payload " + i + " ").repeat(8), h));
            }
            try (var p = new KafkaProducer<String, String>(props)) {
                sendAll(p, recs);
            }
            try (var c = new KafkaConsumer<String, String>(k.consumerProps(null))) {
                c.assign(Kit.partitions(topic, 2));
                var got = Kit.drain(c, 1000, 20000);
                eq(1000, got.size(), codec + ": records read");
                Map<Integer, Integer> next = new HashMap<>(Map.of(0, 0, 1, 1));
                for (ConsumerRecord<String, String> r : got) {
                    int i = next.get(r.partition());
                    next.put(r.partition(), i + 2);
                    eq("key-" + (i % 10), r.key(), codec + ": key");
                    eq(("payload " + i + " ").repeat(8), r.value(), codec + ": value");
                    eq(codec, new String(r.headers().lastHeader("codec").value(), StandardCharsets.UTF_8), codec + ": header");
                    eq(Integer.toString(i), new String(r.headers().lastHeader("i").value(), StandardCharsets.UTF_8), codec + ": header i");
                }
            }
        }
    }

    static void headers() throws Exception {
        String topic = "headers";
        k.createTopic(topic, 1);
        var h = new RecordHeaders();
        h.add("dup", "one".getBytes(StandardCharsets.UTF_8));
        h.add("null", null);
        h.add("empty", new byte[0]);
        h.add("dup", "two".getBytes(StandardCharsets.UTF_8));
        h.add("bin", new byte[] {0, (byte) 0xff, 0x7f, (byte) 0x80, 0});
        h.add("utf8-é", "ünïcödé".getBytes(StandardCharsets.UTF_8));
        try (var p = new KafkaProducer<String, String>(k.producerProps())) {
            sendAll(p, List.of(new ProducerRecord<String, String>(topic, 0, (String) null, (String) null, (Iterable<Header>) h),
                    new ProducerRecord<String, String>(topic, 0, "k", "", (Iterable<Header>) new RecordHeaders())));
        }
        try (var c = new KafkaConsumer<String, String>(k.consumerProps(null))) {
            c.assign(Kit.partitions(topic, 1));
            var got = Kit.drain(c, 2, 15000);
            eq(2, got.size(), "records");
            Header[] hs = got.get(0).headers().toArray();
            eq(6, hs.length, "header count");
            List<String> keys = new ArrayList<>();
            for (Header x : hs) keys.add(x.key());
            eq(List.of("dup", "null", "empty", "dup", "bin", "utf8-é"), keys, "header keys in order");
            eq("one", new String(hs[0].value(), StandardCharsets.UTF_8), "first dup");
            eq(null, hs[1].value(), "null header value");
            eq(0, hs[2].value().length, "empty header value");
            eq("two", new String(hs[3].value(), StandardCharsets.UTF_8), "second dup");
            check(Arrays.equals(new byte[] {0, (byte) 0xff, 0x7f, (byte) 0x80, 0}, hs[4].value()), "binary header");
            eq(null, got.get(0).key(), "null key");
            eq(null, got.get(0).value(), "null value");
            eq(0, got.get(1).headers().toArray().length, "no headers");
            eq("", got.get(1).value(), "empty value");
        }
    }

    static byte[] digest(List<byte[]> values) throws Exception {
        MessageDigest md = MessageDigest.getInstance("SHA-256");
        for (byte[] v : values) md.update(v);
        return md.digest();
    }

    static void largeBatches() throws Exception {
        String topic = "large";
        k.createTopic(topic, 1);
        var props = k.bytesProducerProps();
        props.put(ProducerConfig.BATCH_SIZE_CONFIG, 1 << 20);
        props.put(ProducerConfig.LINGER_MS_CONFIG, 50);
        props.put(ProducerConfig.BUFFER_MEMORY_CONFIG, 64L << 20);
        List<byte[]> sent = new ArrayList<>();
        java.util.Random rnd = new java.util.Random(42);
        try (var p = new KafkaProducer<byte[], byte[]>(props)) {
            List<Future<RecordMetadata>> fs = new ArrayList<>();
            for (int i = 0; i < 20000; i++) {
                byte[] v = new byte[1024];
                rnd.nextBytes(v);
                sent.add(v);
                fs.add(p.send(new ProducerRecord<>(topic, 0, null, v)));
            }
            for (int i = 0; i < 20; i++) {
                byte[] v = new byte[900 * 1024];
                rnd.nextBytes(v);
                sent.add(v);
                fs.add(p.send(new ProducerRecord<>(topic, 0, null, v)));
            }
            p.flush();
            for (int i = 0; i < fs.size(); i++) eq((long) i, fs.get(i).get(30, TimeUnit.SECONDS).offset(), "offset " + i);
        }
        try (var c = new KafkaConsumer<byte[], byte[]>(k.bytesConsumerProps(null))) {
            c.assign(Kit.partitions(topic, 1));
            var got = Kit.drain(c, sent.size(), 40000);
            eq(sent.size(), got.size(), "records read");
            List<byte[]> vals = new ArrayList<>();
            for (var r : got) vals.add(r.value());
            check(Arrays.equals(digest(sent), digest(vals)), "SHA-256 of all values differs");
        }
    }

    static void tooLarge() throws Exception {
        String topic = "toolarge";
        k.createTopic(topic, 1);
        var props = k.producerProps();
        props.put(ProducerConfig.MAX_REQUEST_SIZE_CONFIG, 4 << 20);
        props.put(ProducerConfig.BATCH_SIZE_CONFIG, 16384);
        try (var p = new KafkaProducer<String, String>(props)) {
            try {
                p.send(new ProducerRecord<>(topic, 0, null, "x".repeat(1_500_000))).get(20, TimeUnit.SECONDS);
                throw new AssertionError("a 1.5 MB record was accepted");
            } catch (ExecutionException e) {
                check(e.getCause() instanceof RecordTooLargeException, "expected RecordTooLargeException, got " + e.getCause());
            }
            eq(0L, p.send(new ProducerRecord<>(topic, 0, null, "small")).get(20, TimeUnit.SECONDS).offset(), "offset of the next record");
        }
    }

    static void assignSeek() throws Exception {
        String topic = "seek";
        k.createTopic(topic, 1);
        var props = k.producerProps();
        props.put(ProducerConfig.COMPRESSION_TYPE_CONFIG, "gzip");
        props.put(ProducerConfig.LINGER_MS_CONFIG, 100);
        List<ProducerRecord<String, String>> recs = new ArrayList<>();
        for (int i = 0; i < 100; i++) recs.add(new ProducerRecord<>(topic, 0, null, "s" + i));
        try (var p = new KafkaProducer<String, String>(props)) {
            sendAll(p, recs);
        }
        TopicPartition tp = new TopicPartition(topic, 0);
        try (var c = new KafkaConsumer<String, String>(k.consumerProps(null))) {
            c.assign(List.of(tp));
            c.seek(tp, 57);
            eq(57L, c.position(tp), "position after seek");
            var got = Kit.drain(c, 43, 15000);
            eq(43, got.size(), "records from 57");
            eq(57L, got.get(0).offset(), "first offset (mid-batch seek)");
            eq("s57", got.get(0).value(), "first value");
            eq(100L, c.position(tp), "position at the end");
            c.seekToBeginning(List.of(tp));
            eq(0L, c.position(tp), "position after seekToBeginning");
            c.seekToEnd(List.of(tp));
            eq(100L, c.position(tp), "position after seekToEnd");
            eq(0, c.poll(Duration.ofMillis(300)).count(), "nothing past the end");
        }
    }

    static void offsetsForTimes() throws Exception {
        String topic = "times";
        k.createTopic(topic, 1);
        long base = System.currentTimeMillis() - 3_600_000L;
        List<ProducerRecord<String, String>> recs = new ArrayList<>();
        for (int i = 0; i < 10; i++) recs.add(new ProducerRecord<>(topic, 0, base + i * 1000L, null, "t" + i));
        try (var p = new KafkaProducer<String, String>(k.producerProps())) {
            sendAll(p, recs);
        }
        TopicPartition tp = new TopicPartition(topic, 0);
        try (var c = new KafkaConsumer<String, String>(k.consumerProps(null))) {
            Map<TopicPartition, OffsetAndTimestamp> r = c.offsetsForTimes(Map.of(tp, base + 2500));
            eq(3L, r.get(tp).offset(), "offset for base+2500");
            eq(base + 3000, r.get(tp).timestamp(), "timestamp for base+2500");
            r = c.offsetsForTimes(Map.of(tp, base));
            eq(0L, r.get(tp).offset(), "offset for base");
            r = c.offsetsForTimes(Map.of(tp, base + 9000));
            eq(9L, r.get(tp).offset(), "offset for the last timestamp");
            r = c.offsetsForTimes(Map.of(tp, base + 10_000));
            eq(null, r.get(tp), "past the last timestamp");
            eq(Map.of(tp, 0L), c.beginningOffsets(List.of(tp)), "beginning offsets");
            eq(Map.of(tp, 10L), c.endOffsets(List.of(tp)), "end offsets");
        }
    }

    /** Fills a 4-partition topic with 100 records per partition. */
    static void fill4(String topic) throws Exception {
        k.createTopic(topic, 4);
        List<ProducerRecord<String, String>> recs = new ArrayList<>();
        for (int i = 0; i < 400; i++) recs.add(new ProducerRecord<>(topic, i % 4, "k" + i, "v" + i));
        try (var p = new KafkaProducer<String, String>(k.producerProps())) {
            sendAll(p, recs);
        }
    }

    static void groupSplit(String mode) throws Exception {
        String topic = "split-" + mode, group = "g-split-" + mode;
        fill4(topic);
        var props = mode.equals("consumer") ? k.consumerProps(group) : k.classicProps(group);
        if (mode.equals("consumer")) {
            props.put(ConsumerConfig.GROUP_PROTOCOL_CONFIG, "consumer");
        } else {
            props.put(ConsumerConfig.PARTITION_ASSIGNMENT_STRATEGY_CONFIG,
                    "org.apache.kafka.clients.consumer.RangeAssignor");
        }
        props.put(ConsumerConfig.MAX_POLL_RECORDS_CONFIG, 10);
        try (var a = new KafkaConsumer<String, String>(props); var b = new KafkaConsumer<String, String>(props)) {
            a.subscribe(List.of(topic));
            b.subscribe(List.of(topic));
            Map<String, ConsumerRecord<String, String>> seen = new HashMap<>();
            long end = System.currentTimeMillis() + 45000;
            // Poll both until each holds 2 partitions and has read each of them to its end (a
            // partition that moved is read again by its new owner: nothing was committed).
            while (System.currentTimeMillis() < end) {
                for (var c : List.of(a, b)) {
                    for (var r : c.poll(Duration.ofMillis(50))) seen.put(r.partition() + "/" + r.offset(), r);
                }
                if (a.assignment().size() == 2 && b.assignment().size() == 2 && atEnd(a, 100) && atEnd(b, 100)) break;
            }
            eq(2, a.assignment().size(), "partitions of member a");
            eq(2, b.assignment().size(), "partitions of member b");
            Set<TopicPartition> all = new HashSet<>(a.assignment());
            all.addAll(b.assignment());
            eq(4, all.size(), "the two assignments cover the topic");
            eq(400, seen.size(), "distinct records consumed");
            check(atEnd(a, 100) && atEnd(b, 100), "a member did not reach the end of its partitions");
            a.commitSync(Duration.ofSeconds(10));
            b.commitSync(Duration.ofSeconds(10));
            var committed = k.admin.listConsumerGroupOffsets(group).partitionsToOffsetAndMetadata().get(10, TimeUnit.SECONDS);
            Map<TopicPartition, Long> offs = new HashMap<>();
            committed.forEach((tp, om) -> offs.put(tp, om.offset()));
            Map<TopicPartition, Long> want = new HashMap<>();
            for (TopicPartition tp : Kit.partitions(topic, 4)) want.put(tp, 100L);
            eq(want, offs, "committed offsets");
            ConsumerGroupDescription d = k.admin.describeConsumerGroups(List.of(group)).all().get(10, TimeUnit.SECONDS).get(group);
            eq(mode.equals("consumer") ? GroupType.CONSUMER : GroupType.CLASSIC, d.type(), "group type");
            eq(GroupState.STABLE, d.groupState(), "group state");
            eq(2, d.members().size(), "members");
            if (!mode.equals("consumer")) eq("range", d.partitionAssignor(), "assignor");
        }
    }

    static boolean atEnd(KafkaConsumer<String, String> c, long end) {
        for (TopicPartition tp : c.assignment()) {
            if (c.position(tp, Duration.ofSeconds(5)) != end) return false;
        }
        return true;
    }

    static void cooperative() throws Exception {
        String topic = "coop", group = "g-coop";
        fill4(topic);
        var props = k.classicProps(group);
        props.put(ConsumerConfig.PARTITION_ASSIGNMENT_STRATEGY_CONFIG,
                "org.apache.kafka.clients.consumer.CooperativeStickyAssignor");
        List<Set<TopicPartition>> revokedA = new ArrayList<>();
        try (var a = new KafkaConsumer<String, String>(props)) {
            a.subscribe(List.of(topic), new ConsumerRebalanceListener() {
                public void onPartitionsRevoked(Collection<TopicPartition> p) {
                    if (!p.isEmpty()) revokedA.add(new HashSet<>(p));
                }

                public void onPartitionsAssigned(Collection<TopicPartition> p) {}
            });
            long end = System.currentTimeMillis() + 20000;
            while (a.assignment().size() < 4 && System.currentTimeMillis() < end) a.poll(Duration.ofMillis(100));
            eq(4, a.assignment().size(), "a alone holds all partitions");
            try (var b = new KafkaConsumer<String, String>(props)) {
                b.subscribe(List.of(topic));
                end = System.currentTimeMillis() + 40000;
                while (System.currentTimeMillis() < end && !(a.assignment().size() == 2 && b.assignment().size() == 2)) {
                    a.poll(Duration.ofMillis(50));
                    b.poll(Duration.ofMillis(50));
                }
                eq(2, a.assignment().size(), "a after b joined");
                eq(2, b.assignment().size(), "b after joining");
                eq(1, revokedA.size(), "a revoked once");
                eq(2, revokedA.get(0).size(), "a revoked exactly the 2 partitions that moved");
                eq(Kit.sorted(revokedA.get(0)), Kit.sorted(b.assignment()), "what a revoked is what b got");
                var d = k.admin.describeConsumerGroups(List.of(group)).all().get(10, TimeUnit.SECONDS).get(group);
                eq("cooperative-sticky", d.partitionAssignor(), "assignor");
            }
        }
    }

    static void pauseResume() throws Exception {
        String topic = "pause";
        k.createTopic(topic, 2);
        List<ProducerRecord<String, String>> recs = new ArrayList<>();
        for (int i = 0; i < 20; i++) recs.add(new ProducerRecord<>(topic, i % 2, null, "p" + i));
        try (var p = new KafkaProducer<String, String>(k.producerProps())) {
            sendAll(p, recs);
        }
        TopicPartition p0 = new TopicPartition(topic, 0), p1 = new TopicPartition(topic, 1);
        try (var c = new KafkaConsumer<String, String>(k.consumerProps(null))) {
            c.assign(List.of(p0, p1));
            c.pause(List.of(p1));
            eq(Set.of(p1), c.paused(), "paused set");
            var got = Kit.drain(c, 10, 10000);
            eq(10, got.size(), "records while p1 paused");
            for (var r : got) eq(0, r.partition(), "partition while p1 paused");
            eq(0, c.poll(Duration.ofMillis(500)).count(), "nothing more while paused");
            c.resume(List.of(p1));
            got = Kit.drain(c, 10, 10000);
            eq(10, got.size(), "records after resume");
            for (var r : got) eq(1, r.partition(), "partition after resume");
        }
    }

    static void commitAsync() throws Exception {
        String topic = "commit", group = "g-commit";
        k.createTopic(topic, 1);
        TopicPartition tp = new TopicPartition(topic, 0);
        try (var c = new KafkaConsumer<String, String>(k.classicProps(group))) {
            c.assign(List.of(tp));
            CompletableFuture<Exception> done = new CompletableFuture<>();
            c.commitAsync(Map.of(tp, new OffsetAndMetadata(7, "async-meta")), (offs, ex) -> done.complete(ex));
            long end = System.currentTimeMillis() + 15000;
            while (!done.isDone() && System.currentTimeMillis() < end) c.poll(Duration.ofMillis(50));
            check(done.isDone(), "commitAsync callback never ran");
            eq(null, done.get(), "commitAsync error");
            var got = c.committed(Set.of(tp)).get(tp);
            eq(7L, got.offset(), "committed offset");
            eq("async-meta", got.metadata(), "committed metadata");
            String nul = "before\u0000after";
            c.commitSync(Map.of(tp, new OffsetAndMetadata(9, nul)));
            got = c.committed(Set.of(tp)).get(tp);
            eq(9L, got.offset(), "committed offset (sync)");
            eq(nul, got.metadata(), "metadata with a NUL byte");
        }
    }

    static void adminTopics() throws Exception {
        var a = k.admin;
        a.createTopics(List.of(new NewTopic("adm-a", 3, (short) 1).configs(Map.of("retention.ms", "3600000",
                "cleanup.policy", "compact")))).all().get(15, TimeUnit.SECONDS);
        k.waitForTopic("adm-a", 3);
        try {
            a.createTopics(List.of(new NewTopic("adm-a", 1, (short) 1))).all().get(15, TimeUnit.SECONDS);
            throw new AssertionError("creating an existing topic succeeded");
        } catch (ExecutionException e) {
            check(e.getCause() instanceof TopicExistsException, "expected TopicExistsException, got " + e.getCause());
        }
        try {
            a.createTopics(List.of(new NewTopic("adm-rf3", 1, (short) 3))).all().get(15, TimeUnit.SECONDS);
            throw new AssertionError("replication factor 3 on one node succeeded");
        } catch (ExecutionException e) {
            check(e.getCause() instanceof InvalidReplicationFactorException, "expected InvalidReplicationFactorException, got " + e.getCause());
        }
        try {
            a.createTopics(List.of(new NewTopic("adm-badcfg", 1, (short) 1).configs(Map.of("retention.ms", "soon"))))
                    .all().get(15, TimeUnit.SECONDS);
            throw new AssertionError("retention.ms=soon accepted");
        } catch (ExecutionException e) {
            check(e.getCause() instanceof InvalidConfigurationException, "expected InvalidConfigurationException, got " + e.getCause());
        }
        Set<String> names = a.listTopics().names().get(10, TimeUnit.SECONDS);
        check(names.contains("adm-a"), "listTopics lacks adm-a: " + names);
        check(!names.contains("adm-rf3") && !names.contains("adm-badcfg"), "failed creations listed: " + names);
        TopicDescription d = a.describeTopics(List.of("adm-a")).allTopicNames().get(10, TimeUnit.SECONDS).get("adm-a");
        eq(3, d.partitions().size(), "partitions");
        eq(false, d.isInternal(), "internal");
        for (var p : d.partitions()) {
            eq(1, p.replicas().size(), "replicas of " + p.partition());
            eq(1, p.isr().size(), "isr of " + p.partition());
            eq(p.leader().id(), p.replicas().get(0).id(), "leader is the replica");
        }
        try {
            a.describeTopics(List.of("adm-missing")).allTopicNames().get(10, TimeUnit.SECONDS);
            throw new AssertionError("describing a missing topic succeeded");
        } catch (ExecutionException e) {
            check(e.getCause() instanceof UnknownTopicOrPartitionException, "expected UnknownTopicOrPartitionException, got " + e.getCause());
        }
        a.deleteTopics(List.of("adm-a")).all().get(15, TimeUnit.SECONDS);
        long end = System.currentTimeMillis() + 10000;
        while (a.listTopics().names().get(10, TimeUnit.SECONDS).contains("adm-a") && System.currentTimeMillis() < end) Thread.sleep(100);
        check(!a.listTopics().names().get(10, TimeUnit.SECONDS).contains("adm-a"), "adm-a still listed after delete");
        try {
            a.deleteTopics(List.of("adm-a")).all().get(15, TimeUnit.SECONDS);
            throw new AssertionError("deleting a missing topic succeeded");
        } catch (ExecutionException e) {
            check(e.getCause() instanceof UnknownTopicOrPartitionException, "expected UnknownTopicOrPartitionException, got " + e.getCause());
        }
    }

    static void topicIds() throws Exception {
        var a = k.admin;
        k.createTopic("ids", 2);
        Uuid id1 = a.describeTopics(List.of("ids")).allTopicNames().get(10, TimeUnit.SECONDS).get("ids").topicId();
        check(id1 != null && !id1.equals(Uuid.ZERO_UUID), "topic id is zero or missing: " + id1);
        Uuid again = a.describeTopics(List.of("ids")).allTopicNames().get(10, TimeUnit.SECONDS).get("ids").topicId();
        eq(id1, again, "topic id stable");
        var byId = a.describeTopics(TopicCollection.ofTopicIds(List.of(id1))).allTopicIds().get(10, TimeUnit.SECONDS);
        eq("ids", byId.get(id1).name(), "describe by id: name");
        eq(2, byId.get(id1).partitions().size(), "describe by id: partitions");
        a.deleteTopics(TopicCollection.ofTopicIds(List.of(id1))).all().get(15, TimeUnit.SECONDS);
        long end = System.currentTimeMillis() + 10000;
        while (a.listTopics().names().get(10, TimeUnit.SECONDS).contains("ids") && System.currentTimeMillis() < end) Thread.sleep(100);
        k.createTopic("ids", 1);
        Uuid id2 = a.describeTopics(List.of("ids")).allTopicNames().get(10, TimeUnit.SECONDS).get("ids").topicId();
        check(!id2.equals(id1) && !id2.equals(Uuid.ZERO_UUID), "re-created topic kept id " + id1);
    }

    static void describeCluster() throws Exception {
        DescribeClusterResult r = k.admin.describeCluster();
        var nodes = r.nodes().get(10, TimeUnit.SECONDS);
        eq(1, nodes.size(), "nodes");
        var node = nodes.iterator().next();
        eq(k.bootstrap, node.host() + ":" + node.port(), "node address");
        var controller = r.controller().get(10, TimeUnit.SECONDS);
        check(controller != null && !controller.isEmpty(), "no controller");
        String id = r.clusterId().get(10, TimeUnit.SECONDS);
        check(id != null && !id.isEmpty(), "no cluster id");
        eq(id, k.admin.describeCluster().clusterId().get(10, TimeUnit.SECONDS), "cluster id stable");
    }

    static ConfigEntry entry(ConfigResource res, String name) throws Exception {
        Config c = k.admin.describeConfigs(List.of(res)).all().get(10, TimeUnit.SECONDS).get(res);
        return c.get(name);
    }

    static void configs() throws Exception {
        k.createTopic("cfg", 1);
        var res = new ConfigResource(ConfigResource.Type.TOPIC, "cfg");
        ConfigEntry e = entry(res, "retention.ms");
        eq("604800000", e.value(), "default retention.ms");
        eq(ConfigEntry.ConfigSource.DEFAULT_CONFIG, e.source(), "default source");
        k.admin.incrementalAlterConfigs(Map.of(res, List.of(
                new AlterConfigOp(new ConfigEntry("retention.ms", "123456"), AlterConfigOp.OpType.SET),
                new AlterConfigOp(new ConfigEntry("cleanup.policy", "compact"), AlterConfigOp.OpType.SET))))
                .all().get(10, TimeUnit.SECONDS);
        k.admin.incrementalAlterConfigs(Map.of(res, List.of(
                new AlterConfigOp(new ConfigEntry("cleanup.policy", "delete"), AlterConfigOp.OpType.APPEND))))
                .all().get(10, TimeUnit.SECONDS);
        e = entry(res, "retention.ms");
        eq("123456", e.value(), "retention.ms after SET");
        eq(ConfigEntry.ConfigSource.DYNAMIC_TOPIC_CONFIG, e.source(), "source after SET");
        eq("compact,delete", entry(res, "cleanup.policy").value(), "cleanup.policy after SET+APPEND");
        k.admin.incrementalAlterConfigs(Map.of(res, List.of(
                new AlterConfigOp(new ConfigEntry("retention.ms", ""), AlterConfigOp.OpType.DELETE),
                new AlterConfigOp(new ConfigEntry("cleanup.policy", "compact"), AlterConfigOp.OpType.SUBTRACT))))
                .all().get(10, TimeUnit.SECONDS);
        e = entry(res, "retention.ms");
        eq("604800000", e.value(), "retention.ms after DELETE");
        eq(ConfigEntry.ConfigSource.DEFAULT_CONFIG, e.source(), "source after DELETE");
        eq("delete", entry(res, "cleanup.policy").value(), "cleanup.policy after SUBTRACT");
        try {
            k.admin.incrementalAlterConfigs(Map.of(res, List.of(new AlterConfigOp(
                    new ConfigEntry("retention.ms", "never"), AlterConfigOp.OpType.SET)))).all().get(10, TimeUnit.SECONDS);
            throw new AssertionError("retention.ms=never accepted");
        } catch (ExecutionException ex) {
            check(ex.getCause() instanceof InvalidConfigurationException, "expected InvalidConfigurationException, got " + ex.getCause());
        }
        // Standard Kafka 4 topic configs a template (Terraform, Strimzi) sets.
        k.admin.incrementalAlterConfigs(Map.of(res, List.of(
                new AlterConfigOp(new ConfigEntry("min.cleanable.dirty.ratio", "0.3"), AlterConfigOp.OpType.SET),
                new AlterConfigOp(new ConfigEntry("max.compaction.lag.ms", "86400000"), AlterConfigOp.OpType.SET),
                new AlterConfigOp(new ConfigEntry("compression.type", "zstd"), AlterConfigOp.OpType.SET))))
                .all().get(10, TimeUnit.SECONDS);
        eq("0.3", entry(res, "min.cleanable.dirty.ratio").value(), "min.cleanable.dirty.ratio");
        eq("zstd", entry(res, "compression.type").value(), "compression.type");
    }

    static void brokerConfigs() throws Exception {
        var nodes = k.admin.describeCluster().nodes().get(10, TimeUnit.SECONDS);
        var res = new ConfigResource(ConfigResource.Type.BROKER, Integer.toString(nodes.iterator().next().id()));
        Config c = k.admin.describeConfigs(List.of(res)).all().get(10, TimeUnit.SECONDS).get(res);
        String[][] want = {
            {"log.retention.hours", "168"}, {"log.segment.bytes", "1073741824"},
            {"message.max.bytes", "1048588"}, {"log.cleanup.policy", "delete"},
            {"auto.create.topics.enable", "true"}, {"delete.topic.enable", "true"},
            {"log.retention.bytes", "-1"}, {"compression.type", "producer"},
        };
        for (String[] w : want) {
            ConfigEntry e = c.get(w[0]);
            check(e != null, "broker config " + w[0] + " missing");
            eq(w[1], e.value(), w[0]);
            eq(ConfigEntry.ConfigSource.DEFAULT_CONFIG, e.source(), w[0] + " source");
        }
        eq(true, c.get("log.retention.hours").isReadOnly(), "log.retention.hours read-only (not dynamic)");
        eq(false, c.get("log.segment.bytes").isReadOnly(), "log.segment.bytes read-only (dynamic)");
        eq(true, c.get("log.dirs").isReadOnly(), "log.dirs read-only");
    }

    static void createPartitions() throws Exception {
        k.createTopic("grow", 1);
        k.admin.createPartitions(Map.of("grow", NewPartitions.increaseTo(4))).all().get(10, TimeUnit.SECONDS);
        k.waitForTopic("grow", 4);
        try {
            k.admin.createPartitions(Map.of("grow", NewPartitions.increaseTo(2))).all().get(10, TimeUnit.SECONDS);
            throw new AssertionError("shrinking to 2 partitions succeeded");
        } catch (ExecutionException e) {
            check(e.getCause() instanceof InvalidPartitionsException, "expected InvalidPartitionsException, got " + e.getCause());
        }
        try (var p = new KafkaProducer<String, String>(k.producerProps())) {
            eq(0L, p.send(new ProducerRecord<>("grow", 3, null, "x")).get(10, TimeUnit.SECONDS).offset(), "offset in the new partition");
        }
    }

    static void deleteRecords() throws Exception {
        k.createTopic("delrec", 1);
        List<ProducerRecord<String, String>> recs = new ArrayList<>();
        for (int i = 0; i < 100; i++) recs.add(new ProducerRecord<>("delrec", 0, null, "d" + i));
        try (var p = new KafkaProducer<String, String>(k.producerProps())) {
            sendAll(p, recs);
        }
        TopicPartition tp = new TopicPartition("delrec", 0);
        var lw = k.admin.deleteRecords(Map.of(tp, RecordsToDelete.beforeOffset(40))).lowWatermarks().get(tp).get(10, TimeUnit.SECONDS);
        eq(40L, lw.lowWatermark(), "low watermark");
        try (var c = new KafkaConsumer<String, String>(k.consumerProps(null))) {
            eq(Map.of(tp, 40L), c.beginningOffsets(List.of(tp)), "beginning offsets");
            c.assign(List.of(tp));
            c.seekToBeginning(List.of(tp));
            var got = Kit.drain(c, 60, 10000);
            eq(60, got.size(), "records after the low watermark");
            eq(40L, got.get(0).offset(), "first offset");
        }
        try {
            k.admin.deleteRecords(Map.of(tp, RecordsToDelete.beforeOffset(101))).all().get(10, TimeUnit.SECONDS);
            throw new AssertionError("deleting past the high watermark succeeded");
        } catch (ExecutionException e) {
            check(e.getCause() instanceof org.apache.kafka.common.errors.OffsetOutOfRangeException,
                    "expected OffsetOutOfRangeException, got " + e.getCause());
        }
    }

    static void listOffsets() throws Exception {
        k.createTopic("lo", 1);
        long base = System.currentTimeMillis() - 600_000L;
        long[] ts = {base + 5000, base + 1000, base + 9000, base + 3000};
        List<ProducerRecord<String, String>> recs = new ArrayList<>();
        for (long t : ts) recs.add(new ProducerRecord<>("lo", 0, t, null, "v"));
        try (var p = new KafkaProducer<String, String>(k.producerProps())) {
            sendAll(p, recs);
        }
        TopicPartition tp = new TopicPartition("lo", 0);
        var a = k.admin;
        ListOffsetsResult.ListOffsetsResultInfo r = a.listOffsets(Map.of(tp, OffsetSpec.earliest())).partitionResult(tp).get(10, TimeUnit.SECONDS);
        eq(0L, r.offset(), "earliest");
        r = a.listOffsets(Map.of(tp, OffsetSpec.latest())).partitionResult(tp).get(10, TimeUnit.SECONDS);
        eq(4L, r.offset(), "latest");
        r = a.listOffsets(Map.of(tp, OffsetSpec.forTimestamp(base + 4000))).partitionResult(tp).get(10, TimeUnit.SECONDS);
        eq(0L, r.offset(), "first offset with timestamp >= base+4000");
        eq(base + 5000, r.timestamp(), "its timestamp");
        r = a.listOffsets(Map.of(tp, OffsetSpec.maxTimestamp())).partitionResult(tp).get(10, TimeUnit.SECONDS);
        eq(2L, r.offset(), "max-timestamp offset");
        eq(base + 9000, r.timestamp(), "max timestamp");
    }

    static void groupsAdmin() throws Exception {
        String topic = "gadm", group = "g-admin";
        k.createTopic(topic, 2);
        List<ProducerRecord<String, String>> recs = new ArrayList<>();
        for (int i = 0; i < 20; i++) recs.add(new ProducerRecord<>(topic, i % 2, null, "g" + i));
        try (var p = new KafkaProducer<String, String>(k.producerProps())) {
            sendAll(p, recs);
        }
        var a = k.admin;
        var props = k.classicProps(group);
        props.put(ConsumerConfig.CLIENT_ID_CONFIG, "admin-case-client");
        try (var c = new KafkaConsumer<String, String>(props)) {
            c.subscribe(List.of(topic));
            var got = Kit.drain(c, 20, 20000);
            eq(20, got.size(), "records consumed by the member");
            c.commitSync(Duration.ofSeconds(10));
            var listed = a.listGroups().all().get(10, TimeUnit.SECONDS);
            check(listed.stream().anyMatch(g -> g.groupId().equals(group)), "listGroups lacks " + group);
            var d = a.describeConsumerGroups(List.of(group)).all().get(10, TimeUnit.SECONDS).get(group);
            eq(GroupState.STABLE, d.groupState(), "state with a member");
            eq(1, d.members().size(), "members");
            var m = d.members().iterator().next();
            eq("admin-case-client", m.clientId(), "member client id");
            eq(Kit.sorted(Kit.partitions(topic, 2)), Kit.sorted(m.assignment().topicPartitions()), "member assignment");
            try {
                a.deleteConsumerGroups(List.of(group)).all().get(10, TimeUnit.SECONDS);
                throw new AssertionError("deleting a group with a member succeeded");
            } catch (ExecutionException e) {
                check(e.getCause() instanceof GroupNotEmptyException, "expected GroupNotEmptyException, got " + e.getCause());
            }
        }
        var d = a.describeConsumerGroups(List.of(group)).all().get(10, TimeUnit.SECONDS).get(group);
        eq(GroupState.EMPTY, d.groupState(), "state after the member left");
        eq(0, d.members().size(), "members after leaving");
        TopicPartition p0 = new TopicPartition(topic, 0), p1 = new TopicPartition(topic, 1);
        a.alterConsumerGroupOffsets(group, Map.of(p0, new OffsetAndMetadata(3), p1, new OffsetAndMetadata(10, "m")))
                .all().get(10, TimeUnit.SECONDS);
        var offs = a.listConsumerGroupOffsets(group).partitionsToOffsetAndMetadata().get(10, TimeUnit.SECONDS);
        eq(3L, offs.get(p0).offset(), "altered p0");
        eq(10L, offs.get(p1).offset(), "altered p1");
        eq("m", offs.get(p1).metadata(), "altered p1 metadata");
        a.deleteConsumerGroupOffsets(group, Set.of(p0)).all().get(10, TimeUnit.SECONDS);
        offs = a.listConsumerGroupOffsets(group).partitionsToOffsetAndMetadata().get(10, TimeUnit.SECONDS);
        eq(Set.of(p1), offs.keySet(), "partitions with offsets after deleting p0's");
        a.deleteConsumerGroups(List.of(group)).all().get(10, TimeUnit.SECONDS);
        var listed = a.listGroups().all().get(10, TimeUnit.SECONDS);
        check(listed.stream().noneMatch(g -> g.groupId().equals(group)), "deleted group still listed");
        offs = a.listConsumerGroupOffsets(group).partitionsToOffsetAndMetadata().get(10, TimeUnit.SECONDS);
        eq(0, offs.size(), "offsets of a deleted group");
    }

    static void logDirs() throws Exception {
        k.createTopic("ld", 2);
        List<ProducerRecord<String, String>> recs = new ArrayList<>();
        for (int i = 0; i < 100; i++) recs.add(new ProducerRecord<>("ld", 0, null, "x".repeat(100)));
        try (var p = new KafkaProducer<String, String>(k.producerProps())) {
            sendAll(p, recs);
        }
        int node = k.admin.describeCluster().nodes().get(10, TimeUnit.SECONDS).iterator().next().id();
        Map<String, LogDirDescription> dirs = k.admin.describeLogDirs(List.of(node)).allDescriptions()
                .get(10, TimeUnit.SECONDS).get(node);
        eq(1, dirs.size(), "log dirs");
        LogDirDescription d = dirs.values().iterator().next();
        eq(null, d.error(), "log dir error");
        var r0 = d.replicaInfos().get(new TopicPartition("ld", 0));
        var r1 = d.replicaInfos().get(new TopicPartition("ld", 1));
        check(r0 != null && r1 != null, "partitions of ld missing: " + d.replicaInfos().keySet());
        check(r0.size() > 100 * 100, "size of ld-0: " + r0.size());
        eq(0L, r1.size(), "size of the empty ld-1");
        check(d.totalBytes().isPresent() && d.totalBytes().getAsLong() > 0, "total bytes");
        check(d.usableBytes().isPresent(), "usable bytes");
    }
}
