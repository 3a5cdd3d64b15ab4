// Prints Apache Kafka's own catalogue of topic and broker configs, one JSON object per line,
// from the ConfigDefs in the Kafka jars on the class path: name, type, default, validator,
// whether a broker config may change at run time, whether it is internal, its documentation,
// and for topic configs the broker configs they default from. gen_config_tables.py turns the
// output into Weir's tables (src/broker/config_kafka.{c,h}); see README in this folder.
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import org.apache.kafka.common.config.ConfigDef;

public class KafkaConfigDump {
    static String json(String s) {
        if (s == null)
            return "null";
        StringBuilder b = new StringBuilder("\"");
        for (char c : s.toCharArray()) {
            if (c == '"' || c == '\\')
                b.append('\\').append(c);
            else if (c == '\n')
                b.append("\\n");
            else if (c < 32 || c > 126)
                b.append(String.format("\\u%04x", (int) c));
            else
                b.append(c);
        }
        return b.append('"').toString();
    }

    static void print(String kind, Map<String, ConfigDef.ConfigKey> keys, Set<String> dynamic,
                      Map<String, List<String>> synonyms) {
        for (ConfigDef.ConfigKey k : new TreeMap<>(keys).values()) {
            String def = null;
            if (k.hasDefault() && k.defaultValue != null)
                def = ConfigDef.convertToString(k.defaultValue, k.type);
            StringBuilder o = new StringBuilder("{");
            o.append("\"kind\":").append(json(kind));
            o.append(",\"name\":").append(json(k.name));
            o.append(",\"type\":").append(json(k.type.toString()));
            o.append(",\"default\":").append(json(def));
            o.append(",\"validator\":").append(json(k.validator == null ? null : k.validator.toString()));
            o.append(",\"dynamic\":").append(dynamic != null && dynamic.contains(k.name));
            o.append(",\"internal\":").append(k.internalConfig);
            List<String> syn = synonyms == null ? null : synonyms.get(k.name);
            if (syn != null) {
                o.append(",\"synonyms\":[");
                for (int i = 0; i < syn.size(); i++)
                    o.append(i > 0 ? "," : "").append(json(syn.get(i)));
                o.append("]");
            }
            o.append(",\"doc\":").append(json(k.documentation)).append("}");
            System.out.println(o);
        }
    }

    public static void main(String[] args) {
        Map<String, List<String>> topicSynonyms = new TreeMap<>();
        org.apache.kafka.server.config.ServerTopicConfigSynonyms.ALL_TOPIC_CONFIG_SYNONYMS.forEach((k, v) -> {
            List<String> names = new ArrayList<>();
            v.forEach(s -> names.add(s.name()));
            topicSynonyms.put(k, names);
        });
        print("topic", org.apache.kafka.storage.internals.log.LogConfig.configKeys(), null, topicSynonyms);
        print("broker", kafka.server.KafkaConfig.configDef().configKeys(),
              org.apache.kafka.server.config.DynamicBrokerConfig.ALL_DYNAMIC_CONFIGS, null);
    }
}
