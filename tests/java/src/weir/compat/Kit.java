package weir.compat;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;

/** Client settings and small helpers shared by the Java tiers. Timeouts are short on purpose:
 * against a broker that lacks something, a case fails in seconds instead of hanging. */
final class Kit {
    final String bootstrap;
    final Admin admin;

    Kit(String bootstrap) {
        this.bootstrap = bootstrap;
        this.admin = Admin.create(adminProps());
    }

    Properties adminProps() {
        Properties p = new Properties();
        p.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, 8000);
        p.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, 15000);
        return p;
    }

    Properties producerProps() {
        Properties p = new Properties();
        p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        p.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        p.put(ProducerConfig.LINGER_MS_CONFIG, 5);
        p.put(ProducerConfig.REQUEST_TIMEOUT_MS_CONFIG, 8000);
        p.put(ProducerConfig.DELIVERY_TIMEOUT_MS_CONFIG, 20000);
        p.put(ProducerConfig.MAX_BLOCK_MS_CONFIG, 15000);
        return p;
    }

    Properties bytesProducerProps() {
        Properties p = producerProps();
        p.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
        p.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
        return p;
    }

    Properties consumerProps(String group) {
        Properties p = new Properties();
        p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        p.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        p.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false);
        p.put(ConsumerConfig.REQUEST_TIMEOUT_MS_CONFIG, 8000);
        p.put(ConsumerConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, 15000);
        if (group != null) p.put(ConsumerConfig.GROUP_ID_CONFIG, group);
        return p;
    }

    /** Classic-protocol group member settings that make rebalances quick. */
    Properties classicProps(String group) {
        Properties p = consumerProps(group);
        p.put(ConsumerConfig.SESSION_TIMEOUT_MS_CONFIG, 10000);
        p.put(ConsumerConfig.HEARTBEAT_INTERVAL_MS_CONFIG, 500);
        p.put(ConsumerConfig.MAX_POLL_INTERVAL_MS_CONFIG, 30000);
        return p;
    }

    Properties bytesConsumerProps(String group) {
        Properties p = consumerProps(group);
        p.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
        p.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
        return p;
    }

    void createTopic(String name, int partitions) throws Exception {
        createTopic(name, partitions, Map.of());
    }

    void createTopic(String name, int partitions, Map<String, String> configs) throws Exception {
        NewTopic t = new NewTopic(name, partitions, (short) 1).configs(configs);
        admin.createTopics(List.of(t)).all().get(15, TimeUnit.SECONDS);
        waitForTopic(name, partitions);
    }

    /** Kafka creates topics asynchronously (the controller, then the broker's metadata);
     * a client may only rely on a topic once Metadata shows all its partitions with a leader. */
    void waitForTopic(String name, int partitions) throws Exception {
        long end = System.currentTimeMillis() + 15000;
        while (true) {
            try {
                var d = admin.describeTopics(List.of(name)).allTopicNames().get(5, TimeUnit.SECONDS).get(name);
                if (d.partitions().size() == partitions
                        && d.partitions().stream().allMatch(p -> p.leader() != null && p.leader().id() >= 0)) return;
            } catch (Exception e) {
                if (System.currentTimeMillis() > end) throw e;
            }
            if (System.currentTimeMillis() > end) throw new AssertionError("topic " + name + " not ready");
            Thread.sleep(50);
        }
    }

    static <K, V> List<ConsumerRecord<K, V>> drain(KafkaConsumer<K, V> c, int expected, long timeoutMs) {
        List<ConsumerRecord<K, V>> out = new ArrayList<>();
        long end = System.currentTimeMillis() + timeoutMs;
        while (out.size() < expected && System.currentTimeMillis() < end) {
            for (ConsumerRecord<K, V> r : c.poll(Duration.ofMillis(100))) out.add(r);
        }
        // One more short poll: anything beyond the expected count is a duplicate or a stray.
        for (ConsumerRecord<K, V> r : c.poll(Duration.ofMillis(200))) out.add(r);
        return out;
    }

    static List<TopicPartition> partitions(String topic, int n) {
        List<TopicPartition> l = new ArrayList<>();
        for (int i = 0; i < n; i++) l.add(new TopicPartition(topic, i));
        return l;
    }

    static Map<TopicPartition, Long> offsetsOf(Map<TopicPartition, Long> m) {
        return new HashMap<>(m);
    }

    static String sorted(Collection<TopicPartition> tps) {
        List<String> l = new ArrayList<>();
        for (TopicPartition tp : tps) l.add(tp.toString());
        java.util.Collections.sort(l);
        return l.toString();
    }
}
