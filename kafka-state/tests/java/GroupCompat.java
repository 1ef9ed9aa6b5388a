// Answers the Rust compatibility test with what Apache Kafka's Java client
// does for the same input: the bytes it writes for consumer-protocol
// subscriptions and assignments, what it reads from ours, and the
// assignments its range and roundrobin assignors compute. Run with the
// Kafka libraries on the class path; one case per stdin line, one answer
// per stdout line ("<id> <answer>").

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeSet;

import org.apache.kafka.clients.consumer.ConsumerPartitionAssignor;
import org.apache.kafka.clients.consumer.ConsumerPartitionAssignor.Assignment;
import org.apache.kafka.clients.consumer.ConsumerPartitionAssignor.GroupSubscription;
import org.apache.kafka.clients.consumer.ConsumerPartitionAssignor.Subscription;
import org.apache.kafka.clients.consumer.RangeAssignor;
import org.apache.kafka.clients.consumer.RoundRobinAssignor;
import org.apache.kafka.clients.consumer.internals.ConsumerProtocol;
import org.apache.kafka.common.Cluster;
import org.apache.kafka.common.Node;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;

public class GroupCompat {
    static List<String> list(String s, String sep) {
        List<String> out = new ArrayList<>();
        if (s.equals("-")) return out;
        for (String x : s.split(sep)) if (!x.isEmpty()) out.add(x);
        return out;
    }

    static List<TopicPartition> partitions(String s) {
        List<TopicPartition> out = new ArrayList<>();
        for (String tp : list(s, ";")) {
            int at = tp.lastIndexOf(':');
            out.add(new TopicPartition(tp.substring(0, at), Integer.parseInt(tp.substring(at + 1))));
        }
        return out;
    }

    static ByteBuffer bytes(String hex) {
        if (hex.equals("-")) return null;
        byte[] b = new byte[hex.length() / 2];
        for (int i = 0; i < b.length; i++) b[i] = (byte) Integer.parseInt(hex.substring(2 * i, 2 * i + 2), 16);
        return ByteBuffer.wrap(b);
    }

    static String hex(ByteBuffer buf) {
        if (buf == null) return "-";
        StringBuilder sb = new StringBuilder();
        ByteBuffer b = buf.duplicate();
        while (b.hasRemaining()) sb.append(String.format("%02x", b.get()));
        return sb.length() == 0 ? "=" : sb.toString();
    }

    static String tps(List<TopicPartition> tps) {
        if (tps.isEmpty()) return "-";
        StringBuilder sb = new StringBuilder();
        for (TopicPartition tp : tps) sb.append(tp.topic()).append(':').append(tp.partition()).append(';');
        return sb.toString();
    }

    public static void main(String[] args) throws Exception {
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in));
        String line;
        while ((line = in.readLine()) != null) {
            String[] f = line.trim().split(" ");
            if (f.length < 2) continue;
            String kind = f[0], id = f[1];
            String answer;
            switch (kind) {
                case "SUB": {
                    // SUB id version topics userdata owned generation rack
                    Subscription s = new Subscription(list(f[3], ","), bytes(f[4]), partitions(f[5]),
                        Integer.parseInt(f[6]), f[7].equals("-") ? Optional.empty() : Optional.of(f[7]));
                    answer = hex(ConsumerProtocol.serializeSubscription(s, Short.parseShort(f[2])));
                    break;
                }
                case "ASG": {
                    // ASG id version partitions userdata
                    Assignment a = new Assignment(partitions(f[3]), bytes(f[4]));
                    answer = hex(ConsumerProtocol.serializeAssignment(a, Short.parseShort(f[2])));
                    break;
                }
                case "DSUB": {
                    Subscription s = ConsumerProtocol.deserializeSubscription(bytes(f[2]));
                    answer = String.join(",", s.topics()) + "|" + hex(s.userData()) + "|" + tps(s.ownedPartitions())
                        + "|" + s.generationId().orElse(-1) + "|" + s.rackId().orElse("-");
                    break;
                }
                case "DASG": {
                    Assignment a = ConsumerProtocol.deserializeAssignment(bytes(f[2]));
                    answer = tps(a.partitions()) + "|" + hex(a.userData());
                    break;
                }
                case "ASSIGN": {
                    // ASSIGN id assignor topic=n;.. member=instance|-=t,t;..
                    ConsumerPartitionAssignor assignor = f[2].equals("range") ? new RangeAssignor() : new RoundRobinAssignor();
                    Node node = new Node(0, "localhost", 9092);
                    List<PartitionInfo> parts = new ArrayList<>();
                    for (String t : list(f[3], ";")) {
                        String[] tn = t.split("=");
                        for (int p = 0; p < Integer.parseInt(tn[1]); p++)
                            parts.add(new PartitionInfo(tn[0], p, node, new Node[]{node}, new Node[]{node}));
                    }
                    Cluster cluster = new Cluster("c", List.of(node), parts, new HashSet<>(), new HashSet<>());
                    Map<String, Subscription> subs = new HashMap<>();
                    for (String m : list(f[4], ";")) {
                        String[] mf = m.split("=", 3);
                        Subscription s = new Subscription(list(mf[2], ","));
                        if (!mf[1].equals("-")) s.setGroupInstanceId(Optional.of(mf[1]));
                        subs.put(mf[0], s);
                    }
                    Map<String, Assignment> got = assignor.assign(cluster, new GroupSubscription(subs)).groupAssignment();
                    StringBuilder sb = new StringBuilder();
                    for (String m : new TreeSet<>(got.keySet())) {
                        TreeSet<String> owned = new TreeSet<>();
                        for (TopicPartition tp : got.get(m).partitions()) owned.add(tp.topic() + ":" + String.format("%05d", tp.partition()));
                        sb.append(m).append('=').append(String.join(",", owned)).append(';');
                    }
                    answer = sb.toString();
                    break;
                }
                default:
                    answer = "unknown";
            }
            System.out.println(id + " " + answer);
        }
    }
}
