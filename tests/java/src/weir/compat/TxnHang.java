package weir.compat;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;

/**
 * A transactional producer that leaves its transaction open, for the tests of hanging
 * transactions (TxnClients, test_txn_java.sh): it writes RECORDS records in one transaction
 * (record i to partition i mod PARTITIONS, values "open-i"), then AFTER plain records from an
 * idempotent producer (values "after-i", same spread), prints "READY" and waits to be killed
 * with SIGKILL, so no EndTxn is ever sent.
 *
 *   TxnHang BOOTSTRAP TRANSACTIONAL_ID TOPIC PARTITIONS RECORDS AFTER TIMEOUT_MS
 */
public final class TxnHang {
    public static void main(String[] args) throws Exception {
        String bootstrap = args[0], tid = args[1], topic = args[2];
        int partitions = Integer.parseInt(args[3]), records = Integer.parseInt(args[4]);
        int after = Integer.parseInt(args[5]);
        Kit k = new Kit(bootstrap);
        var props = k.producerProps();
        props.put(ProducerConfig.TRANSACTIONAL_ID_CONFIG, tid);
        props.put(ProducerConfig.TRANSACTION_TIMEOUT_CONFIG, Integer.parseInt(args[6]));
        var p = new KafkaProducer<String, String>(props);
        p.initTransactions();
        p.beginTransaction();
        List<Future<RecordMetadata>> fs = new ArrayList<>();
        for (int i = 0; i < records; i++) fs.add(p.send(new ProducerRecord<>(topic, i % partitions, null, "open-" + i)));
        p.flush();
        for (var f : fs) f.get(20, TimeUnit.SECONDS);
        if (after > 0) {
            try (var plain = new KafkaProducer<String, String>(k.producerProps())) {
                fs.clear();
                for (int i = 0; i < after; i++) fs.add(plain.send(new ProducerRecord<>(topic, i % partitions, null, "after-" + i)));
                plain.flush();
                for (var f : fs) f.get(20, TimeUnit.SECONDS);
            }
        }
        System.out.println("READY");
        System.out.flush();
        Thread.sleep(600_000);
        Runtime.getRuntime().halt(0);
    }
}
