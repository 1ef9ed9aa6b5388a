// The Apache Kafka Java client (kafka-clients) as a peer of kafka-bench.
//
// The bench's parent runs this once per client run (`java -cp ... JavaBench
// key=value ...`), in place of its own `__child`, and reads the `result
// k=v ...` line it prints, as for the Rust children. Unlike them, this
// program leaves the JVM's start-up and the JIT's warm-up out: it first
// does the same work untimed (producing to a topic of its own, reading the
// topic once, or round trips), then measures wall time and the process's
// CPU time (OperatingSystemMXBean.getProcessCpuTime) over the timed part
// only and reports both (`cpu_s`); the parent uses that CPU time in place
// of the child's whole CPU time. Peak RSS is still the whole child's.
//
// Settings follow the other clients: linger 5 ms, batch.size 1,000,000,
// the scenario's acks and codec (zstd level 3, lz4 at its default level,
// which kafka-clients runs with lz4-java's fast compressor), idempotence
// off unless transactional, at most 100,000 records unacknowledged; the
// consumer's defaults already match the others' (fetch.max.bytes 50 MiB,
// max.partition.fetch.bytes 1 MiB, fetch.max.wait.ms 500, check.crcs).

import java.lang.management.ManagementFactory;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;

import org.apache.kafka.clients.CommonClientConfigs;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.Callback;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;

public final class JavaBench {
    /** Most records left unacknowledged (the Rust side's WINDOW). */
    static final long WINDOW = 100_000;

    final String mode;
    final String bootstrap;
    final String topic;
    final long records;
    final int valueSize;
    final int partitions;
    final byte[][] keyCache;
    final String acks;
    final String compression;
    final long txn;
    final boolean group;
    final long deadline;

    // What the timed part measured.
    long counted;
    long bytes;
    double secs;
    double firstUs;
    double cpuSecs;
    double[] latencies = new double[0];

    JavaBench(Map<String, String> a) {
        mode = a.getOrDefault("mode", "");
        bootstrap = a.get("bootstrap");
        topic = a.get("topic");
        records = Long.parseLong(a.getOrDefault("records", "0"));
        valueSize = Integer.parseInt(a.getOrDefault("value-size", "100"));
        partitions = Integer.parseInt(a.getOrDefault("partitions", "1"));
        keyCache = makeKeys(Long.parseLong(a.getOrDefault("keys", "0")));
        acks = a.getOrDefault("acks", "1");
        compression = a.getOrDefault("compression", "none");
        txn = Long.parseLong(a.getOrDefault("txn", "0"));
        group = Boolean.parseBoolean(a.getOrDefault("group", "false"));
        deadline = System.nanoTime() + Long.parseLong(a.getOrDefault("limit-s", "240")) * 1_000_000_000L;
    }

    public static void main(String[] args) throws Exception {
        Map<String, String> a = new HashMap<>();
        for (String arg : args) {
            int eq = arg.indexOf('=');
            if (eq < 0) {
                throw new IllegalArgumentException("expected key=value, got " + arg);
            }
            a.put(arg.substring(0, eq), arg.substring(eq + 1));
        }
        JavaBench b = new JavaBench(a);
        switch (b.mode) {
            case "produce" -> {
                if (b.txn > 0) {
                    b.produceTxn();
                } else {
                    b.produce();
                }
            }
            case "consume" -> b.consume();
            case "roundtrip" -> b.roundTrip();
            default -> throw new IllegalArgumentException("unknown mode " + b.mode);
        }
        System.out.println(b.line());
        System.out.flush();
        // Client threads that linger must not hold the process.
        System.exit(0);
    }

    String line() {
        Arrays.sort(latencies);
        return String.format(java.util.Locale.ROOT,
            "result records=%d bytes=%d secs=%.6f p50_us=%.2f p99_us=%.2f first_us=%.0f cpu_s=%.6f",
            counted, bytes, secs, pct(0.50), pct(0.99), firstUs, cpuSecs);
    }

    double pct(double p) {
        if (latencies.length == 0) {
            return -1;
        }
        return latencies[(int) Math.round((latencies.length - 1) * p)];
    }

    static long cpuNanos() {
        var os = (com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean();
        return os.getProcessCpuTime();
    }

    void checkTime(long done) {
        if (System.nanoTime() > deadline) {
            throw new IllegalStateException("out of time after " + done + " of " + records);
        }
    }

    /** The bench's value pool: the same xorshift sequence as scenario::values. */
    /** Record i's key, key-0 .. key-(keys-1) in turn; null without keys. */
    byte[] keyOf(long i) {
        return keyCache.length == 0 ? null : keyCache[(int) (i % keyCache.length)];
    }

    static byte[][] makeKeys(long n) {
        byte[][] out = new byte[(int) n][];
        for (int k = 0; k < n; k++) {
            out[k] = ("key-" + k).getBytes(java.nio.charset.StandardCharsets.UTF_8);
        }
        return out;
    }

    static byte[][] values(int size) {
        long[] state = {0x9E3779B97F4A7C15L};
        int count = Math.min(Math.max((8 << 20) / Math.max(size, 1), 16), 1024);
        byte[] letters = "abcdefghijklmnop".getBytes();
        byte[][] out = new byte[count][];
        for (int i = 0; i < count; i++) {
            byte[] v = new byte[size];
            for (int k = 0; k < size; k++) {
                long s = state[0];
                s ^= s << 13;
                s ^= s >>> 7;
                s ^= s << 17;
                state[0] = s;
                v[k] = letters[(int) Long.remainderUnsigned(s, 16)];
            }
            out[i] = v;
        }
        return out;
    }

    /** Records produced untimed before a produce run: enough for the JIT. */
    long warmRecords() {
        return Math.min(Math.max(records / 4, 50_000), 200_000);
    }

    /**
     * The connection settings of every client here. kafka-clients 4.4 sends
     * ApiVersions v5 naming the cluster and node it expects (KIP-1242) to
     * every broker but the bootstrap ones; Tansu 0.6 closes such a
     * connection unanswered, so the check is turned off, which leaves the
     * request as v4 had it.
     */
    Properties common() {
        Properties p = new Properties();
        p.put(CommonClientConfigs.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put("metadata.cluster.check.enable", "false");
        return p;
    }

    Properties producerProps() {
        Properties p = common();
        p.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
        p.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
        p.put(ProducerConfig.ACKS_CONFIG, acks);
        p.put(ProducerConfig.LINGER_MS_CONFIG, "5");
        p.put(ProducerConfig.BATCH_SIZE_CONFIG, "1000000");
        p.put(ProducerConfig.COMPRESSION_TYPE_CONFIG, compression);
        p.put(ProducerConfig.COMPRESSION_ZSTD_LEVEL_CONFIG, "3");
        if (txn > 0) {
            // Transactions need idempotence (the scenario asks acks=all).
            p.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, "true");
            p.put(ProducerConfig.TRANSACTIONAL_ID_CONFIG,
                "bench-" + topic + "-" + ProcessHandle.current().pid());
        } else {
            p.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, "false");
        }
        return p;
    }

    /** Counts acknowledgements; every record must succeed. */
    static final class Acks implements Callback {
        final AtomicLong ok = new AtomicLong();
        final AtomicLong failed = new AtomicLong();
        final AtomicReference<Exception> first = new AtomicReference<>();

        @Override
        public void onCompletion(RecordMetadata md, Exception e) {
            if (e != null) {
                first.compareAndSet(null, e);
                failed.incrementAndGet();
            } else {
                ok.incrementAndGet();
            }
        }

        long done() {
            return ok.get() + failed.get();
        }

        void check(long expected) {
            if (failed.get() > 0) {
                throw new IllegalStateException(failed.get() + " records failed, first: " + first.get());
            }
            if (ok.get() != expected) {
                throw new IllegalStateException(ok.get() + " acks for " + expected + " records");
            }
        }
    }

    /** A topic of its own for the warm-up, so the measured one holds only the run's records. */
    String createWarmTopic() throws Exception {
        String warm = topic + "-warmup";
        Properties p = common();
        try (Admin admin = Admin.create(p)) {
            admin.createTopics(List.of(new NewTopic(warm, partitions, (short) 1))).all().get();
        }
        return warm;
    }

    void deleteTopic(String name) {
        Properties p = common();
        try (Admin admin = Admin.create(p)) {
            admin.deleteTopics(List.of(name)).all().get();
        } catch (Exception e) {
            System.err.println("java-bench: deleting " + name + ": " + e);
        }
    }

    /** Sends records [from, to) to `to`, keeping at most WINDOW unacknowledged. */
    void send(KafkaProducer<byte[], byte[]> p, String t, byte[][] vals, long from, long to, Acks acked) {
        for (long i = from; i < to; i++) {
            if ((i & 1023) == 0) {
                while (i - acked.done() >= WINDOW) {
                    java.util.concurrent.locks.LockSupport.parkNanos(100_000);
                    checkTime(i);
                }
                if ((i & 4095) == 0) {
                    checkTime(i);
                }
            }
            byte[] key = keyOf(i);
            p.send(new ProducerRecord<>(t, key, vals[(int) (i % vals.length)]), acked);
        }
    }

    void produce() throws Exception {
        byte[][] vals = values(valueSize);
        String warm = createWarmTopic();
        try (KafkaProducer<byte[], byte[]> p = new KafkaProducer<>(producerProps())) {
            Acks warmAcks = new Acks();
            long w = warmRecords();
            send(p, warm, vals, 0, w, warmAcks);
            p.flush();
            warmAcks.check(w);

            Acks acked = new Acks();
            long cpu0 = cpuNanos();
            long t0 = System.nanoTime();
            send(p, topic, vals, 0, records, acked);
            p.flush();
            long t1 = System.nanoTime();
            long cpu1 = cpuNanos();
            acked.check(records);
            counted = records;
            bytes = records * valueSize;
            secs = (t1 - t0) / 1e9;
            cpuSecs = (cpu1 - cpu0) / 1e9;
            if (acks.equals("0")) {
                // Untimed: with acks=0 a record is done once written, and
                // closing the socket at once can make the broker drop
                // requests it has not read yet.
                Thread.sleep(500);
            }
        }
        deleteTopic(warm);
    }

    /** Transactions of `txn` records: begin, send, commit (which flushes). */
    void transactions(KafkaProducer<byte[], byte[]> p, String t, byte[][] vals, long n, Acks acked) {
        for (long sent = 0; sent < n; ) {
            p.beginTransaction();
            long end = Math.min(sent + txn, n);
            send(p, t, vals, sent, end, acked);
            p.commitTransaction();
            sent = end;
            checkTime(sent);
        }
    }

    void produceTxn() throws Exception {
        byte[][] vals = values(valueSize);
        String warm = createWarmTopic();
        try (KafkaProducer<byte[], byte[]> p = new KafkaProducer<>(producerProps())) {
            p.initTransactions();
            Acks warmAcks = new Acks();
            long w = warmRecords();
            transactions(p, warm, vals, w, warmAcks);
            warmAcks.check(w);

            Acks acked = new Acks();
            long cpu0 = cpuNanos();
            long t0 = System.nanoTime();
            transactions(p, topic, vals, records, acked);
            long t1 = System.nanoTime();
            long cpu1 = cpuNanos();
            // commitTransaction returned after every ack; the callbacks
            // have run by then.
            acked.check(records);
            counted = records;
            bytes = records * valueSize;
            secs = (t1 - t0) / 1e9;
            cpuSecs = (cpu1 - cpu0) / 1e9;
        }
        deleteTopic(warm);
    }

    Properties consumerProps() {
        Properties c = common();
        c.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
        c.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
        c.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        return c;
    }

    List<TopicPartition> allPartitions() {
        List<TopicPartition> tps = new ArrayList<>();
        for (int i = 0; i < partitions; i++) {
            tps.add(new TopicPartition(topic, i));
        }
        return tps;
    }

    /**
     * Reads the topic once untimed (manual assignment, up to a million
     * records), then again timed: by manual assignment or as the only
     * member of a fresh group. As for the Rust consumers, the rate counts
     * the records after the first tenth and the time to the first record
     * is reported apart; CPU is from the assign or subscribe to the end.
     */
    void consume() {
        long warmN = Math.min(records, 1_000_000);
        try (KafkaConsumer<byte[], byte[]> c = new KafkaConsumer<>(consumerProps())) {
            c.assign(allPartitions());
            c.seekToBeginning(allPartitions());
            long got = 0;
            while (got < warmN) {
                got += c.poll(Duration.ofMillis(100)).count();
                checkTime(got);
            }
        }
        Properties props = consumerProps();
        if (group) {
            props.put(ConsumerConfig.GROUP_ID_CONFIG, "bench-" + topic + "-" + ProcessHandle.current().pid());
        } else {
            props.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        }
        long warm = records / 10;
        try (KafkaConsumer<byte[], byte[]> c = new KafkaConsumer<>(props)) {
            long cpu0 = cpuNanos();
            long start = System.nanoTime();
            if (group) {
                c.subscribe(List.of(topic));
            } else {
                c.assign(allPartitions());
                c.seekToBeginning(allPartitions());
            }
            long got = 0;
            long nbytes = 0;
            long first = 0;
            long steady = 0;
            while (got < records) {
                ConsumerRecords<byte[], byte[]> rs = c.poll(Duration.ofMillis(100));
                for (ConsumerRecord<byte[], byte[]> r : rs) {
                    // The clock only for the two records that need it, as
                    // the other harnesses do.
                    if (first == 0) {
                        first = System.nanoTime();
                    }
                    if (got == warm) {
                        steady = System.nanoTime();
                    }
                    got++;
                    byte[] v = r.value();
                    nbytes += v == null ? 0 : v.length;
                }
                checkTime(got);
            }
            long end = System.nanoTime();
            cpuSecs = (cpuNanos() - cpu0) / 1e9;
            if (first == 0) {
                first = start;
            }
            if (steady == 0) {
                steady = first;
            }
            counted = got - Math.min(warm, got);
            bytes = nbytes * counted / Math.max(got, 1);
            secs = Math.max((end - steady) / 1e9, 1e-6);
            firstUs = (first - start) / 1e3;
        }
    }

    /**
     * One record (acks=1, linger 0), wait for its ack, repeat: a warm-up of
     * at least 5,000 round trips (more than the Rust side's twentieth, for
     * the JIT), then the timed ones.
     */
    void roundTrip() throws Exception {
        Properties props = producerProps();
        props.put(ProducerConfig.ACKS_CONFIG, "1");
        props.put(ProducerConfig.LINGER_MS_CONFIG, "0");
        props.put(ProducerConfig.COMPRESSION_TYPE_CONFIG, "none");
        byte[] value = values(valueSize)[0];
        try (KafkaProducer<byte[], byte[]> p = new KafkaProducer<>(props)) {
            long warm = Math.max(records / 20, 5_000);
            for (long i = 0; i < warm; i++) {
                p.send(new ProducerRecord<>(topic, value)).get();
            }
            latencies = new double[(int) records];
            long cpu0 = cpuNanos();
            long t0 = System.nanoTime();
            for (int i = 0; i < records; i++) {
                long t = System.nanoTime();
                p.send(new ProducerRecord<>(topic, value)).get();
                latencies[i] = (System.nanoTime() - t) / 1e3;
                if ((i & 255) == 0) {
                    checkTime(i);
                }
            }
            secs = (System.nanoTime() - t0) / 1e9;
            cpuSecs = (cpuNanos() - cpu0) / 1e9;
            counted = records;
            bytes = records * valueSize;
        }
    }
}
