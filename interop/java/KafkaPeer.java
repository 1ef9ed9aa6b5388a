// The Java reference client (kafka-clients) as a peer of the interop suite.
// Compiled at test time against the jars of scripts/install-kafka.sh:
//
//   javac -cp 'target/kafka/libs/*' -d OUT interop/java/KafkaPeer.java
//   java -cp 'OUT:target/kafka/libs/*' KafkaPeer produce --bootstrap B --topic T [options] < records
//   java -cp 'OUT:target/kafka/libs/*' KafkaPeer consume --bootstrap B --topic T --count N [options]
//   java -cp 'OUT:target/kafka/libs/*' KafkaPeer script --bootstrap B --topic T --transactional-prefix P < steps
//   java -cp 'OUT:target/kafka/libs/*' KafkaPeer group --bootstrap B --topic T --group G [--assignor range] [--protocol classic]
//
// Records travel as JSON lines, one per record:
//   {"key": "k" | null, "value": "v" | null, "headers": [["name", "value" | null], ...],
//    "partition": 0, "timestamp": 1700000000000}
// (partition and timestamp optional when producing). Strings are UTF-8.
// `consume` prints the same shape plus "offset", sorted by partition and offset.
//
// produce options: --compression none|gzip|snappy|lz4|zstd, --idempotent,
//   --transactional-id ID (one transaction around all records), --abort
//   (abort it instead of committing), --acks all|1|0.
// script: several producers interleaved on one topic, one JSON step per line,
//   run in order; every send is flushed before the next step, so the log
//   holds the records in step order. A step names its producer ("producer":
//   "txn..." is transactional with id P-NAME, "idem..." idempotent, any
//   other name neither) and an "op": "send" (the default; a record as
//   above), "begin", "commit" or "abort". Each send prints
//   {"producer": NAME, "partition": N, "offset": N}.
// group: a member of consumer group G (classic protocol, auto-commit off,
//   earliest) until stdin closes; then it commits what it read and leaves.
//   It prints {"event": "assigned"|"revoked"|"lost", "partitions": [N..]}
//   from its rebalance listener and {"event": "record", "partition": N,
//   "offset": N, "value": "v"} per record, one line each, flushed; each
//   with "ts", the wall clock in milliseconds when it was printed.
//   --assignor: range (default), roundrobin, sticky, cooperative-sticky.
//   --protocol consumer: KIP-848 (group.protocol=consumer) instead of
//   classic; the broker assigns (--assignor names its assignor, uniform or
//   range; without it the broker chooses) and owns the session timeout and
//   heartbeat interval, so none of the client-side settings are set.
// consume options: --isolation read_committed|read_uncommitted (default
//   read_committed), --timeout-ms N (default 30000): fewer than --count
//   records by then is an error (exit 3) after printing what was read.

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Collection;
import java.util.concurrent.atomic.AtomicBoolean;
import org.apache.kafka.clients.consumer.ConsumerRebalanceListener;
import java.util.concurrent.Future;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;

public final class KafkaPeer {
    private static final ObjectMapper JSON = new ObjectMapper();

    public static void main(String[] args) throws Exception {
        if (args.length == 0) {
            usage("no command");
        }
        Map<String, String> opts = new HashMap<>();
        for (int i = 1; i < args.length; i++) {
            String a = args[i];
            if (!a.startsWith("--")) {
                usage("unexpected argument " + a);
            }
            String name = a.substring(2);
            if (name.equals("idempotent") || name.equals("abort")) {
                opts.put(name, "true");
            } else if (i + 1 < args.length) {
                opts.put(name, args[++i]);
            } else {
                usage(a + " needs a value");
            }
        }
        switch (args[0]) {
            case "produce" -> System.exit(produce(opts));
            case "consume" -> System.exit(consume(opts));
            case "script" -> System.exit(script(opts));
            case "group" -> System.exit(group(opts));
            default -> usage("unknown command " + args[0]);
        }
    }

    private static void usage(String why) {
        System.err.println("KafkaPeer: " + why
                + "\nusage: KafkaPeer produce|consume --bootstrap B --topic T [options]");
        System.exit(64);
    }

    private static String required(Map<String, String> opts, String name) {
        String v = opts.get(name);
        if (v == null) {
            usage("--" + name + " is required");
        }
        return v;
    }

    private static byte[] bytes(JsonNode n) {
        return n == null || n.isNull() ? null : n.asText().getBytes(StandardCharsets.UTF_8);
    }

    private static ProducerRecord<byte[], byte[]> record(String topic, JsonNode r) {
        Integer partition = r.hasNonNull("partition") ? r.get("partition").asInt() : null;
        Long timestamp = r.hasNonNull("timestamp") ? r.get("timestamp").asLong() : null;
        ProducerRecord<byte[], byte[]> record =
                new ProducerRecord<>(topic, partition, timestamp, bytes(r.get("key")), bytes(r.get("value")));
        JsonNode headers = r.get("headers");
        if (headers != null) {
            for (JsonNode h : headers) {
                record.headers().add(h.get(0).asText(), bytes(h.get(1)));
            }
        }
        return record;
    }

    private static Properties producerProperties(Map<String, String> opts) {
        Properties p = new Properties();
        p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, required(opts, "bootstrap"));
        p.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
        p.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
        p.put(ProducerConfig.COMPRESSION_TYPE_CONFIG, opts.getOrDefault("compression", "none"));
        p.put(ProducerConfig.ACKS_CONFIG, opts.getOrDefault("acks", "all"));
        p.put(ProducerConfig.DELIVERY_TIMEOUT_MS_CONFIG, "30000");
        p.put(ProducerConfig.REQUEST_TIMEOUT_MS_CONFIG, "10000");
        p.put(ProducerConfig.MAX_BLOCK_MS_CONFIG, "30000");
        return p;
    }

    private static int script(Map<String, String> opts) throws Exception {
        String topic = required(opts, "topic");
        String prefix = required(opts, "transactional-prefix");
        Map<String, KafkaProducer<byte[], byte[]>> producers = new HashMap<>();
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        int steps = 0;
        try {
            for (String line; (line = in.readLine()) != null; ) {
                if (line.isBlank()) {
                    continue;
                }
                steps++;
                JsonNode step = JSON.readTree(line);
                String name = step.get("producer").asText();
                KafkaProducer<byte[], byte[]> producer = producers.get(name);
                if (producer == null) {
                    Properties p = producerProperties(opts);
                    p.put(ProducerConfig.LINGER_MS_CONFIG, "0");
                    boolean txn = name.startsWith("txn");
                    p.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, Boolean.toString(txn || name.startsWith("idem")));
                    if (txn) {
                        p.put(ProducerConfig.TRANSACTIONAL_ID_CONFIG, prefix + "-" + name);
                    }
                    producer = new KafkaProducer<>(p);
                    if (txn) {
                        producer.initTransactions();
                    }
                    producers.put(name, producer);
                }
                String op = step.hasNonNull("op") ? step.get("op").asText() : "send";
                switch (op) {
                    case "send" -> {
                        Future<RecordMetadata> f = producer.send(record(topic, step));
                        producer.flush();
                        RecordMetadata md = f.get();
                        ObjectNode o = JSON.createObjectNode();
                        o.put("producer", name);
                        o.put("partition", md.partition());
                        o.put("offset", md.offset());
                        System.out.println(JSON.writeValueAsString(o));
                    }
                    case "begin" -> producer.beginTransaction();
                    case "commit" -> producer.commitTransaction();
                    case "abort" -> producer.abortTransaction();
                    default -> usage("step " + steps + ": unknown op " + op);
                }
            }
        } finally {
            for (KafkaProducer<byte[], byte[]> producer : producers.values()) {
                producer.close(Duration.ofSeconds(10));
            }
        }
        System.out.flush();
        System.err.println("KafkaPeer: ran " + steps + " steps on " + topic);
        return 0;
    }

    private static int produce(Map<String, String> opts) throws Exception {
        String topic = required(opts, "topic");
        Properties p = producerProperties(opts);
        p.put(ProducerConfig.LINGER_MS_CONFIG, "5");
        String txnId = opts.get("transactional-id");
        boolean idempotent = opts.containsKey("idempotent") || txnId != null;
        p.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, Boolean.toString(idempotent));
        if (txnId != null) {
            p.put(ProducerConfig.TRANSACTIONAL_ID_CONFIG, txnId);
        }
        List<ProducerRecord<byte[], byte[]>> records = new ArrayList<>();
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        for (String line; (line = in.readLine()) != null; ) {
            if (!line.isBlank()) {
                records.add(record(topic, JSON.readTree(line)));
            }
        }
        try (KafkaProducer<byte[], byte[]> producer = new KafkaProducer<>(p)) {
            if (txnId != null) {
                producer.initTransactions();
                producer.beginTransaction();
            }
            List<Future<RecordMetadata>> sent = new ArrayList<>();
            for (ProducerRecord<byte[], byte[]> r : records) {
                sent.add(producer.send(r));
            }
            producer.flush();
            for (Future<RecordMetadata> f : sent) {
                f.get();
            }
            if (txnId != null) {
                if (opts.containsKey("abort")) {
                    producer.abortTransaction();
                } else {
                    producer.commitTransaction();
                }
            }
        }
        System.err.println("KafkaPeer: produced " + records.size() + " records to " + topic);
        return 0;
    }

    private static synchronized void emit(ObjectNode o) {
        System.out.println(o.toString());
        System.out.flush();
    }

    private static void emitPartitions(String event, Collection<TopicPartition> tps) {
        ObjectNode o = JSON.createObjectNode();
        o.put("event", event);
        ArrayNode parts = o.putArray("partitions");
        tps.stream().map(TopicPartition::partition).sorted().forEach(parts::add);
        o.put("ts", System.currentTimeMillis());
        emit(o);
    }

    private static int group(Map<String, String> opts) throws Exception {
        String topic = required(opts, "topic");
        boolean consumerProtocol = switch (opts.getOrDefault("protocol", "classic")) {
            case "classic" -> false;
            case "consumer" -> true;
            default -> {
                usage("unknown protocol " + opts.get("protocol"));
                yield false;
            }
        };
        String assignor = consumerProtocol
                ? switch (opts.getOrDefault("assignor", "")) {
                    case "", "uniform", "range" -> opts.getOrDefault("assignor", "");
                    default -> {
                        usage("not a broker-side assignor: " + opts.get("assignor"));
                        yield "";
                    }
                }
                : switch (opts.getOrDefault("assignor", "range")) {
                    case "range" -> "org.apache.kafka.clients.consumer.RangeAssignor";
                    case "roundrobin" -> "org.apache.kafka.clients.consumer.RoundRobinAssignor";
                    case "sticky" -> "org.apache.kafka.clients.consumer.StickyAssignor";
                    case "cooperative-sticky" -> "org.apache.kafka.clients.consumer.CooperativeStickyAssignor";
                    default -> {
                        usage("unknown assignor " + opts.get("assignor"));
                        yield "";
                    }
                };
        Properties p = new Properties();
        p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, required(opts, "bootstrap"));
        p.put(ConsumerConfig.GROUP_ID_CONFIG, required(opts, "group"));
        p.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
        p.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
        p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        p.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        if (consumerProtocol) {
            // KIP-848: the broker assigns and owns the session settings;
            // the client-side ones are refused with this protocol.
            p.put(ConsumerConfig.GROUP_PROTOCOL_CONFIG, "consumer");
            if (!assignor.isEmpty()) {
                p.put(ConsumerConfig.GROUP_REMOTE_ASSIGNOR_CONFIG, assignor);
            }
        } else {
            p.put(ConsumerConfig.PARTITION_ASSIGNMENT_STRATEGY_CONFIG, assignor);
            p.put(ConsumerConfig.SESSION_TIMEOUT_MS_CONFIG, "10000");
            p.put(ConsumerConfig.HEARTBEAT_INTERVAL_MS_CONFIG, "1000");
        }
        AtomicBoolean done = new AtomicBoolean(false);
        Thread stdin = new Thread(() -> {
            try {
                while (System.in.read() >= 0) {
                    // Only the end of input matters.
                }
            } catch (Exception e) {
                // A broken stdin ends the run too.
            }
            done.set(true);
        });
        stdin.setDaemon(true);
        stdin.start();
        try (KafkaConsumer<byte[], byte[]> consumer = new KafkaConsumer<>(p)) {
            consumer.subscribe(List.of(topic), new ConsumerRebalanceListener() {
                @Override
                public void onPartitionsRevoked(Collection<TopicPartition> tps) {
                    emitPartitions("revoked", tps);
                }

                @Override
                public void onPartitionsAssigned(Collection<TopicPartition> tps) {
                    emitPartitions("assigned", tps);
                }

                @Override
                public void onPartitionsLost(Collection<TopicPartition> tps) {
                    emitPartitions("lost", tps);
                }
            });
            while (!done.get()) {
                for (ConsumerRecord<byte[], byte[]> r : consumer.poll(Duration.ofMillis(100))) {
                    ObjectNode o = JSON.createObjectNode();
                    o.put("event", "record");
                    o.put("partition", r.partition());
                    o.put("offset", r.offset());
                    o.put("value", r.value() == null ? null : new String(r.value(), StandardCharsets.UTF_8));
                    o.put("ts", System.currentTimeMillis());
                    emit(o);
                }
            }
            consumer.commitSync(Duration.ofSeconds(30));
        }
        return 0;
    }

    private static int consume(Map<String, String> opts) throws Exception {
        String topic = required(opts, "topic");
        int count = Integer.parseInt(required(opts, "count"));
        long timeoutMs = Long.parseLong(opts.getOrDefault("timeout-ms", "30000"));
        Properties p = new Properties();
        p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, required(opts, "bootstrap"));
        p.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
        p.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
        p.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, opts.getOrDefault("isolation", "read_committed"));
        p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        p.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        List<ConsumerRecord<byte[], byte[]>> got = new ArrayList<>();
        try (KafkaConsumer<byte[], byte[]> consumer = new KafkaConsumer<>(p)) {
            long deadline = System.currentTimeMillis() + timeoutMs;
            List<PartitionInfo> infos = List.of();
            while (infos.isEmpty() && System.currentTimeMillis() < deadline) {
                infos = consumer.partitionsFor(topic, Duration.ofMillis(5000));
            }
            List<TopicPartition> tps = new ArrayList<>();
            for (PartitionInfo info : infos) {
                tps.add(new TopicPartition(topic, info.partition()));
            }
            consumer.assign(tps);
            consumer.seekToBeginning(tps);
            while (got.size() < count && System.currentTimeMillis() < deadline) {
                for (ConsumerRecord<byte[], byte[]> r : consumer.poll(Duration.ofMillis(200))) {
                    got.add(r);
                }
            }
        }
        got.sort(Comparator.comparingInt((ConsumerRecord<byte[], byte[]> r) -> r.partition())
                .thenComparingLong(ConsumerRecord::offset));
        for (ConsumerRecord<byte[], byte[]> r : got) {
            ObjectNode o = JSON.createObjectNode();
            o.put("partition", r.partition());
            o.put("offset", r.offset());
            o.put("timestamp", r.timestamp());
            o.put("key", r.key() == null ? null : new String(r.key(), StandardCharsets.UTF_8));
            o.put("value", r.value() == null ? null : new String(r.value(), StandardCharsets.UTF_8));
            ArrayNode headers = o.putArray("headers");
            for (Header h : r.headers()) {
                ArrayNode pair = headers.addArray();
                pair.add(h.key());
                pair.add(h.value() == null ? null : new String(h.value(), StandardCharsets.UTF_8));
            }
            System.out.println(JSON.writeValueAsString(o));
        }
        System.out.flush();
        if (got.size() < count) {
            System.err.println("KafkaPeer: read " + got.size() + " of " + count + " records in " + timeoutMs + " ms");
            return 3;
        }
        return 0;
    }
}
