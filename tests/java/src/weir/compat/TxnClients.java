package weir.compat;

import static weir.compat.Tap.check;
import static weir.compat.Tap.eq;

import java.io.BufferedReader;
import java.io.File;
import java.io.InputStreamReader;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalInt;
import java.util.OptionalLong;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import org.apache.kafka.clients.admin.AbortTransactionSpec;
import org.apache.kafka.clients.admin.ListTransactionsOptions;
import org.apache.kafka.clients.admin.ProducerState;
import org.apache.kafka.clients.admin.TransactionDescription;
import org.apache.kafka.clients.admin.TransactionListing;
import org.apache.kafka.clients.admin.TransactionState;
import org.apache.kafka.clients.consumer.CommitFailedException;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerGroupMetadata;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.InvalidProducerEpochException;
import org.apache.kafka.common.errors.ProducerFencedException;
import org.apache.kafka.common.errors.TransactionalIdNotFoundException;

/**
 * The Java transactions tier: kafka-clients 4.x KafkaProducer transactions (commit, abort,
 * sendOffsetsToTransaction with the consumer's group metadata), read_committed KafkaConsumer
 * exactly-once checks, a zombie producer fenced by its successor, and the Admin API on a
 * transaction left open by a producer killed with SIGKILL (listTransactions with filters,
 * describeTransactions, describeProducers, abortTransaction). args[0] = bootstrap. Every case
 * runs in this one JVM against one broker, in order (the listing case knows the transactional
 * ids the cases before it used).
 */
public final class TxnClients {
    static Kit k;

    public static void main(String[] args) throws Exception {
        k = new Kit(args[0]);
        Tap t = new Tap();
        t.add("commit and abort over 2 topics / 4 partitions: send offsets exact, read_committed and read_uncommitted exact", 60000, TxnClients::commitAbort);
        t.add("sendOffsetsToTransaction(groupMetadata): consume-transform-produce of 300 records exactly once, an aborted round replayed", 90000, TxnClients::consumeTransformProduce);
        t.add("sendOffsetsToTransaction with a stale generation or an unknown member: CommitFailedException, abortable", 60000, TxnClients::staleGroupMetadata);
        t.add("a zombie producer: InvalidProducerEpochException on send and commit, ProducerFencedException on abort, its records aborted", 60000, TxnClients::zombie);
        t.add("admin on a transaction left open by a SIGKILLed producer: list/describe/describeProducers/abortTransaction", 90000, TxnClients::hanging);
        t.runAndExit();
    }

    static KafkaProducer<String, String> txnProducer(String tid) {
        var props = k.producerProps();
        props.put(ProducerConfig.TRANSACTIONAL_ID_CONFIG, tid);
        props.put(ProducerConfig.TRANSACTION_TIMEOUT_CONFIG, 30000);
        var p = new KafkaProducer<String, String>(props);
        p.initTransactions();
        return p;
    }

    static KafkaConsumer<String, String> reader(String isolation) {
        var props = k.consumerProps(null);
        props.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, isolation);
        return new KafkaConsumer<>(props);
    }

    /** "topic/partition/offset/value" of every record of tps from the start, sorted. */
    static List<String> readAll(List<TopicPartition> tps, String isolation, int expected) {
        try (var c = reader(isolation)) {
            c.assign(tps);
            c.seekToBeginning(tps);
            List<String> out = new ArrayList<>();
            for (ConsumerRecord<String, String> r : Kit.drain(c, expected, 15000)) {
                out.add(r.topic() + "/" + r.partition() + "/" + r.offset() + "/" + r.value());
            }
            java.util.Collections.sort(out);
            return out;
        }
    }

    static Map<TopicPartition, Long> endOffsets(List<TopicPartition> tps, String isolation) {
        try (var c = reader(isolation)) {
            return new HashMap<>(c.endOffsets(tps, Duration.ofSeconds(15)));
        }
    }

    static Map<TopicPartition, Long> all(List<TopicPartition> tps, long v) {
        Map<TopicPartition, Long> m = new HashMap<>();
        for (TopicPartition tp : tps) m.put(tp, v);
        return m;
    }

    static Throwable cause(Exception e) {
        return e instanceof ExecutionException && e.getCause() != null ? e.getCause() : e;
    }

    static void commitAbort() throws Exception {
        k.createTopic("jt-a", 3);
        k.createTopic("jt-b", 1);
        List<TopicPartition> tps = new ArrayList<>(Kit.partitions("jt-a", 3));
        tps.addAll(Kit.partitions("jt-b", 1));
        List<String> committed = new ArrayList<>(), aborted = new ArrayList<>();
        try (var p = txnProducer("jt-commit-abort")) {
            // 1, committed: 4 records per partition at 0-3, the commit marker at 4.
            p.beginTransaction();
            List<Future<RecordMetadata>> fs = new ArrayList<>();
            for (TopicPartition tp : tps) {
                for (int i = 0; i < 4; i++) {
                    String v = "c1-" + tp + "-" + i;
                    fs.add(p.send(new ProducerRecord<>(tp.topic(), tp.partition(), "k" + i, v)));
                    committed.add(tp.topic() + "/" + tp.partition() + "/" + i + "/" + v);
                }
            }
            p.commitTransaction();
            for (int j = 0; j < fs.size(); j++) eq((long) (j % 4), fs.get(j).get().offset(), "offset of committed send " + j);
            // 2, aborted: 2 per partition at 5-6, the abort marker at 7.
            p.beginTransaction();
            fs.clear();
            for (TopicPartition tp : tps) {
                for (int i = 0; i < 2; i++) {
                    String v = "a2-" + tp + "-" + i;
                    fs.add(p.send(new ProducerRecord<>(tp.topic(), tp.partition(), "k" + i, v)));
                    aborted.add(tp.topic() + "/" + tp.partition() + "/" + (5 + i) + "/" + v);
                }
            }
            p.flush();
            for (int j = 0; j < fs.size(); j++) eq((long) (5 + j % 2), fs.get(j).get().offset(), "offset of aborted send " + j);
            p.abortTransaction();
            // 3, committed, jt-b-0 only: 1 record at 8, marker at 9.
            p.beginTransaction();
            var last = p.send(new ProducerRecord<>("jt-b", 0, "k", "c3"));
            p.commitTransaction();
            eq(8L, last.get().offset(), "offset of the last transaction's record");
            committed.add("jt-b/0/8/c3");
        }
        java.util.Collections.sort(committed);
        List<String> everything = new ArrayList<>(committed);
        everything.addAll(aborted);
        java.util.Collections.sort(everything);
        eq(committed, readAll(tps, "read_committed", committed.size()), "read_committed records");
        eq(everything, readAll(tps, "read_uncommitted", everything.size()), "read_uncommitted records");
        Map<TopicPartition, Long> hw = all(tps, 8L);
        hw.put(new TopicPartition("jt-b", 0), 10L);
        eq(hw, endOffsets(tps, "read_uncommitted"), "end offsets (high watermarks, markers counted)");
        eq(hw, endOffsets(tps, "read_committed"), "read_committed end offsets (last stable offsets)");
    }

    static void consumeTransformProduce() throws Exception {
        String in = "jt-ctp-in", out = "jt-ctp-out", group = "jt-ctp";
        k.createTopic(in, 3);
        k.createTopic(out, 3);
        try (var plain = new KafkaProducer<String, String>(k.producerProps())) {
            List<Future<RecordMetadata>> fs = new ArrayList<>();
            for (int i = 0; i < 300; i++) fs.add(plain.send(new ProducerRecord<>(in, i % 3, "k" + i, "v" + i)));
            plain.flush();
            for (var f : fs) f.get(20, TimeUnit.SECONDS);
        }
        var cprops = k.classicProps(group);
        cprops.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
        cprops.put(ConsumerConfig.MAX_POLL_RECORDS_CONFIG, 25);
        int abortedRecords = 0;
        try (var c = new KafkaConsumer<String, String>(cprops); var p = txnProducer("jt-ctp")) {
            c.subscribe(List.of(in));
            int done = 0, rounds = 0;
            long end = System.currentTimeMillis() + 60000;
            while (done < 300 && System.currentTimeMillis() < end) {
                var recs = c.poll(Duration.ofMillis(200));
                if (recs.isEmpty()) continue;
                p.beginTransaction();
                Map<TopicPartition, OffsetAndMetadata> offsets = new HashMap<>();
                for (ConsumerRecord<String, String> r : recs) {
                    p.send(new ProducerRecord<>(out, r.partition(), r.key(), "T(" + r.value() + ")"));
                    offsets.put(new TopicPartition(r.topic(), r.partition()), new OffsetAndMetadata(r.offset() + 1));
                }
                p.sendOffsetsToTransaction(offsets, c.groupMetadata());
                if (rounds++ == 1) {
                    // The second round is aborted: rewind to the committed offsets (or the
                    // start) and process it again, as an exactly-once loop does. Flushed
                    // first, so the aborted records are in the log (abortTransaction drops
                    // what it has not sent).
                    p.flush();
                    p.abortTransaction();
                    abortedRecords = recs.count();
                    var committed = c.committed(c.assignment(), Duration.ofSeconds(15));
                    for (TopicPartition tp : c.assignment()) {
                        OffsetAndMetadata om = committed.get(tp);
                        if (om == null) c.seekToBeginning(List.of(tp)); else c.seek(tp, om.offset());
                    }
                    continue;
                }
                p.commitTransaction();
                done += recs.count();
                if (rounds == 1) {
                    // Only the committed round's offsets are there; committed() of a read_committed
                    // consumer asks for stable offsets (waits out pending transactional commits).
                    var got = c.committed(new java.util.HashSet<>(Kit.partitions(in, 3)), Duration.ofSeconds(15));
                    Map<TopicPartition, Long> gotOffsets = new HashMap<>();
                    for (var e : got.entrySet()) if (e.getValue() != null) gotOffsets.put(e.getKey(), e.getValue().offset());
                    Map<TopicPartition, Long> want = new HashMap<>();
                    for (var e : offsets.entrySet()) want.put(e.getKey(), e.getValue().offset());
                    eq(want, gotOffsets, "committed offsets after the first round");
                }
            }
            eq(300, done, "records processed");
            check(abortedRecords > 0, "one round was aborted");
            var got = c.committed(new java.util.HashSet<>(Kit.partitions(in, 3)), Duration.ofSeconds(15));
            for (TopicPartition tp : Kit.partitions(in, 3)) {
                eq(100L, got.get(tp) == null ? null : got.get(tp).offset(), "committed offset of " + tp);
            }
        }
        List<String> want = new ArrayList<>();
        for (int part = 0; part < 3; part++) {
            for (int i = part, j = 0; i < 300; i += 3, j++) want.add(part + ":T(v" + i + ")");
        }
        List<String> got = new ArrayList<>();
        try (var c = reader("read_committed")) {
            c.assign(Kit.partitions(out, 3));
            c.seekToBeginning(Kit.partitions(out, 3));
            for (var r : Kit.drain(c, 300, 20000)) got.add(r.partition() + ":" + r.value());
        }
        // Per partition in order; partitions one after the other.
        List<String> sortedGot = got.stream().sorted((a, b) -> Character.compare(a.charAt(0), b.charAt(0))).collect(Collectors.toList());
        eq(want, sortedGot, "read_committed output: every input once, in input order per partition");
        eq(300 + abortedRecords, readAll(Kit.partitions(out, 3), "read_uncommitted", 300 + abortedRecords).size(),
                "read_uncommitted output: the aborted round too");
    }

    // ConsumerGroupMetadata's public constructor is deprecated for removal; a stale generation
    // cannot be had otherwise without a second member and a rebalance.
    @SuppressWarnings("removal")
    static void staleGroupMetadata() throws Exception {
        String in = "jt-stale", group = "jt-stale";
        k.createTopic(in, 1);
        try (var plain = new KafkaProducer<String, String>(k.producerProps())) {
            plain.send(new ProducerRecord<>(in, 0, "k", "v")).get(20, TimeUnit.SECONDS);
        }
        try (var c = new KafkaConsumer<String, String>(k.classicProps(group)); var p = txnProducer("jt-stale")) {
            c.subscribe(List.of(in));
            long end = System.currentTimeMillis() + 30000;
            while (c.assignment().isEmpty() && System.currentTimeMillis() < end) c.poll(Duration.ofMillis(100));
            ConsumerGroupMetadata md = c.groupMetadata();
            check(md.generationId() >= 1, "a generation: " + md);
            var offsets = Map.of(new TopicPartition(in, 0), new OffsetAndMetadata(1));
            for (ConsumerGroupMetadata bad : List.of(
                    new ConsumerGroupMetadata(group, md.generationId() + 1, md.memberId(), Optional.empty()),
                    new ConsumerGroupMetadata(group, md.generationId(), "no-such-member", Optional.empty()))) {
                p.beginTransaction();
                p.send(new ProducerRecord<>(in, 0, "k", "x"));
                try {
                    p.sendOffsetsToTransaction(offsets, bad);
                    throw new AssertionError("sendOffsetsToTransaction with " + bad + " succeeded");
                } catch (CommitFailedException e) {
                    // abortable: the producer goes on after abortTransaction
                }
                p.abortTransaction();
            }
            p.beginTransaction();
            p.sendOffsetsToTransaction(offsets, md);
            p.commitTransaction();
            var got = c.committed(Set.of(new TopicPartition(in, 0)), Duration.ofSeconds(15));
            eq(1L, got.get(new TopicPartition(in, 0)).offset(), "the offset committed with the right metadata");
        }
    }

    static void zombie() throws Exception {
        String topic = "jt-zombie";
        k.createTopic(topic, 1);
        var zombie = txnProducer("jt-zombie");
        zombie.beginTransaction();
        zombie.send(new ProducerRecord<>(topic, 0, "k", "zombie-1")).get(20, TimeUnit.SECONDS);
        try (var successor = txnProducer("jt-zombie")) {
            try {
                zombie.send(new ProducerRecord<>(topic, 0, "k", "zombie-2")).get(20, TimeUnit.SECONDS);
                throw new AssertionError("the zombie's send succeeded");
            } catch (ExecutionException e) {
                check(e.getCause() instanceof InvalidProducerEpochException || e.getCause() instanceof ProducerFencedException,
                        "the zombie's send fails with InvalidProducerEpochException or ProducerFencedException, not " + e.getCause());
                eq(InvalidProducerEpochException.class, e.getCause().getClass(), "the zombie's send error");
            }
            // The failed send left the transaction in an abortable error: commitTransaction
            // rethrows it; abortTransaction sends EndTxn with the old epoch, which the
            // coordinator answers PRODUCER_FENCED: fatal.
            try {
                zombie.commitTransaction();
                throw new AssertionError("the zombie's commit succeeded");
            } catch (InvalidProducerEpochException e) {
                // expected
            }
            try {
                zombie.abortTransaction();
                throw new AssertionError("the zombie's abort succeeded");
            } catch (ProducerFencedException e) {
                // expected
            }
            zombie.close(Duration.ZERO);
            successor.beginTransaction();
            successor.send(new ProducerRecord<>(topic, 0, "k", "successor"));
            successor.commitTransaction();
        }
        // zombie-1 at 0, the abort marker of the successor's initTransactions at 1,
        // successor at 2, its commit marker at 3.
        var tp = List.of(new TopicPartition(topic, 0));
        eq(List.of(topic + "/0/2/successor"), readAll(tp, "read_committed", 1), "read_committed");
        eq(List.of(topic + "/0/0/zombie-1", topic + "/0/2/successor"), readAll(tp, "read_uncommitted", 2), "read_uncommitted");
        eq(Map.of(tp.get(0), 4L), endOffsets(tp, "read_uncommitted"), "high watermark");
    }

    /** Starts TxnHang in a JVM of its own and waits for READY; the caller kills it. */
    static Process hang(String tid, String topic, int partitions, int records, int after, int timeoutMs) throws Exception {
        String java = System.getProperty("java.home") + File.separator + "bin" + File.separator + "java";
        List<String> cmd = new ArrayList<>(List.of(java, "-Xmx256m", "-XX:TieredStopAtLevel=1", "-Xshare:auto"));
        String log4j = System.getProperty("log4j2.configurationFile");
        if (log4j != null) cmd.add("-Dlog4j2.configurationFile=" + log4j);
        cmd.addAll(List.of("-cp", System.getProperty("java.class.path"), "weir.compat.TxnHang", k.bootstrap, tid, topic,
                Integer.toString(partitions), Integer.toString(records), Integer.toString(after), Integer.toString(timeoutMs)));
        Process proc = new ProcessBuilder(cmd).redirectError(ProcessBuilder.Redirect.DISCARD).start();
        var r = new BufferedReader(new InputStreamReader(proc.getInputStream()));
        String line = r.readLine();
        if (!"READY".equals(line)) {
            proc.destroyForcibly();
            throw new AssertionError("TxnHang did not get ready: " + line);
        }
        return proc;
    }

    static void hanging() throws Exception {
        String topic = "jt-hang", tid = "jt-hang";
        k.createTopic(topic, 2);
        List<TopicPartition> tps = Kit.partitions(topic, 2);
        // A transactional id that never began a transaction (state Empty, no start time).
        try (var empty = txnProducer("jt-empty")) {
            empty.close(Duration.ZERO);
        }
        long before = System.currentTimeMillis();
        // open-0..5: 3 per partition at 0-2; after-0..3: 2 per partition at 3-4.
        Process proc = hang(tid, topic, 2, 6, 4, 120000);
        proc.destroyForcibly(); // SIGKILL
        proc.waitFor(10, TimeUnit.SECONDS);

        eq(all(tps, 5L), endOffsets(tps, "read_uncommitted"), "high watermarks");
        eq(all(tps, 0L), endOffsets(tps, "read_committed"), "last stable offsets held at the open transaction's start");

        // listTransactions: every transactional id the cases before used, with its state.
        Map<String, TransactionState> states = new TreeMap<>();
        Map<String, Long> pids = new TreeMap<>();
        for (TransactionListing l : k.admin.listTransactions().all().get(15, TimeUnit.SECONDS)) {
            states.put(l.transactionalId(), l.state());
            pids.put(l.transactionalId(), l.producerId());
        }
        Map<String, TransactionState> want = new TreeMap<>(Map.of(
                "jt-empty", TransactionState.EMPTY,
                "jt-commit-abort", TransactionState.COMPLETE_COMMIT,
                "jt-ctp", TransactionState.COMPLETE_COMMIT,
                "jt-stale", TransactionState.COMPLETE_COMMIT,
                "jt-zombie", TransactionState.COMPLETE_COMMIT,
                tid, TransactionState.ONGOING));
        eq(want, states, "listTransactions: transactional ids and states");
        long pid = pids.get(tid);
        var byState = k.admin.listTransactions(new ListTransactionsOptions().filterStates(List.of(TransactionState.ONGOING)))
                .all().get(15, TimeUnit.SECONDS);
        eq(List.of(tid), byState.stream().map(TransactionListing::transactionalId).collect(Collectors.toList()),
                "listTransactions filtered on state Ongoing");
        var byPid = k.admin.listTransactions(new ListTransactionsOptions().filterProducerIds(Set.of(pid, pids.get("jt-zombie"))))
                .all().get(15, TimeUnit.SECONDS);
        eq(new TreeSet<>(List.of(tid, "jt-zombie")),
                byPid.stream().map(TransactionListing::transactionalId).collect(Collectors.toCollection(TreeSet::new)),
                "listTransactions filtered on two producer ids");
        var none = k.admin.listTransactions(new ListTransactionsOptions().filterProducerIds(Set.of(pid + 1000)))
                .all().get(15, TimeUnit.SECONDS);
        eq(0, none.size(), "listTransactions filtered on an unknown producer id");
        TransactionDescription d = k.admin.describeTransactions(List.of(tid)).description(tid).get(15, TimeUnit.SECONDS);
        check(d.transactionStartTimeMs().isPresent(), "describeTransactions: a start time");
        long started = d.transactionStartTimeMs().getAsLong();
        // ListTransactions v1 (KIP-994) duration filter: now - transaction start > filter, in
        // every state; an Empty id (start -1) passes any filter.
        Thread.sleep(Math.max(0, started + 1500 - System.currentTimeMillis()));
        var ongoingLonger = k.admin.listTransactions(new ListTransactionsOptions().filterOnDuration(1000)
                .filterStates(List.of(TransactionState.ONGOING))).all().get(15, TimeUnit.SECONDS);
        eq(List.of(tid), ongoingLonger.stream().map(TransactionListing::transactionalId).collect(Collectors.toList()),
                "listTransactions Ongoing and running longer than 1000 ms: the open one");
        var ongoingTooLong = k.admin.listTransactions(new ListTransactionsOptions().filterOnDuration(60_000)
                .filterStates(List.of(TransactionState.ONGOING))).all().get(15, TimeUnit.SECONDS);
        eq(0, ongoingTooLong.size(), "listTransactions Ongoing and running longer than 60 s: none");
        var hour = k.admin.listTransactions(new ListTransactionsOptions().filterOnDuration(3_600_000)).all().get(15, TimeUnit.SECONDS);
        eq(List.of("jt-empty"), hour.stream().map(TransactionListing::transactionalId).collect(Collectors.toList()),
                "listTransactions running longer than 1 hour: only the Empty id (no start time)");

        eq(TransactionState.ONGOING, d.state(), "describeTransactions state");
        eq(1, d.coordinatorId(), "describeTransactions coordinator");
        eq(pid, d.producerId(), "describeTransactions producer id (the listing's)");
        eq(0, d.producerEpoch(), "describeTransactions producer epoch");
        eq(120000L, d.transactionTimeoutMs(), "describeTransactions timeout");
        eq(new TreeSet<>(tps.stream().map(Object::toString).toList()),
                d.topicPartitions().stream().map(Object::toString).collect(Collectors.toCollection(TreeSet::new)),
                "describeTransactions partitions");
        check(d.transactionStartTimeMs().isPresent() && d.transactionStartTimeMs().getAsLong() >= before - 1000
                && d.transactionStartTimeMs().getAsLong() <= System.currentTimeMillis(),
                "describeTransactions start time within the case: " + d.transactionStartTimeMs() + " (case began " + before + ")");
        var done = k.admin.describeTransactions(List.of("jt-zombie")).description("jt-zombie").get(15, TimeUnit.SECONDS);
        eq(TransactionState.COMPLETE_COMMIT, done.state(), "describeTransactions of a committed one: state");
        eq(Set.of(), done.topicPartitions(), "describeTransactions of a committed one: no partitions");
        check(done.transactionStartTimeMs().isPresent() && done.transactionStartTimeMs().getAsLong() < started,
                "describeTransactions of a committed one: its last transaction's start time, earlier: " + done.transactionStartTimeMs());
        var empty = k.admin.describeTransactions(List.of("jt-empty")).description("jt-empty").get(15, TimeUnit.SECONDS);
        eq(TransactionState.EMPTY, empty.state(), "describeTransactions of an Empty one: state");
        eq(OptionalLong.empty(), empty.transactionStartTimeMs(), "describeTransactions of an Empty one: no start time");
        eq(30000L, empty.transactionTimeoutMs(), "describeTransactions of an Empty one: its timeout");
        try {
            k.admin.describeTransactions(List.of("jt-nope")).description("jt-nope").get(15, TimeUnit.SECONDS);
            throw new AssertionError("describeTransactions of an unknown id succeeded");
        } catch (ExecutionException e) {
            eq(TransactionalIdNotFoundException.class, e.getCause().getClass(), "describeTransactions of an unknown id");
        }

        var producers = k.admin.describeProducers(tps).all().get(15, TimeUnit.SECONDS);
        for (TopicPartition tp : tps) {
            List<ProducerState> ps = new ArrayList<>(producers.get(tp).activeProducers());
            ps.removeIf(s -> s.producerId() != pid);
            eq(1, ps.size(), "describeProducers " + tp + ": the killed producer");
            ProducerState s = ps.get(0);
            eq(0, s.producerEpoch(), tp + " producer epoch");
            eq(2, s.lastSequence(), tp + " last sequence (3 records)");
            eq(OptionalLong.of(0), s.currentTransactionStartOffset(), tp + " current transaction start offset");
            eq(OptionalInt.empty(), s.coordinatorEpoch(), tp + " coordinator epoch (no marker yet)");
            check(s.lastTimestamp() >= before - 1000, tp + " last timestamp " + s.lastTimestamp());
            eq(2, producers.get(tp).activeProducers().size(), tp + " active producers: the killed one and the plain idempotent one");
        }

        // Abort it on partition 0 only, as an operator does for a hanging transaction.
        TopicPartition p0 = tps.get(0), p1 = tps.get(1);
        k.admin.abortTransaction(new AbortTransactionSpec(p0, pid, (short) 0, 0)).all().get(15, TimeUnit.SECONDS);
        // The abort marker at 5.
        eq(Map.of(p0, 6L, p1, 0L), endOffsets(tps, "read_committed"), "LSO after aborting partition 0 (partition 1 still held)");
        var after = k.admin.describeProducers(List.of(p0)).partitionResult(p0).get(15, TimeUnit.SECONDS);
        ProducerState s0 = after.activeProducers().stream().filter(s -> s.producerId() == pid).findFirst().orElseThrow();
        eq(OptionalLong.empty(), s0.currentTransactionStartOffset(), "describeProducers after the abort: no open transaction");
        eq(OptionalInt.of(0), s0.coordinatorEpoch(), "describeProducers after the abort: the marker's coordinator epoch");
        eq(List.of(topic + "/0/3/after-0", topic + "/0/4/after-2"), readAll(List.of(p0), "read_committed", 2),
                "read_committed partition 0 after the abort: only the plain records");
        eq(TransactionState.ONGOING, k.admin.describeTransactions(List.of(tid)).description(tid).get(15, TimeUnit.SECONDS).state(),
                "the coordinator still has the transaction Ongoing (the admin abort wrote only the partition's marker)");
        k.admin.abortTransaction(new AbortTransactionSpec(p1, pid, (short) 0, 0)).all().get(15, TimeUnit.SECONDS);
        eq(Map.of(p0, 6L, p1, 6L), endOffsets(tps, "read_committed"), "LSO after aborting partition 1 too");
    }
}
