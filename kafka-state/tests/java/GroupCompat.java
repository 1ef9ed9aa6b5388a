// Runs the Java client's consumer-protocol codec and assignors on cases read
// from stdin, one per line, and prints one result line per case, prefixed
// "@@ " so that any logging on stdout is easy to ignore.
//
// Run: java -cp "$KAFKA_HOME/libs/*" GroupCompat.java < cases
//
// Text encoding (no spaces inside a field):
//   str     "-" for null, else "s" followed by the UTF-8 bytes in hex
//   bytes   "-" for null, else "b" followed by hex
//   list    items joined by ",", or "." when empty
//   tp      str ":" partition
//
// Cases (fields separated by one space):
//   SUB id version topics(list of str) userData owned(list of tp) generation rack(str)
//       -> the hex of ConsumerProtocol.serializeSubscription
//   ASG id version partitions(list of tp) userData
//       -> the hex of ConsumerProtocol.serializeAssignment
//   DSUB id hex   -> topics userData owned generation rack, or ERR
//   DASG id hex   -> partitions userData, or ERR
//   UDS id partitions generation   -> StickyAssignor user data after that assignment
//   UDC id generation              -> CooperativeStickyAssignor user data
//   ASSIGN id assignor cluster members
//       cluster: topics joined by ";", each str "/" partitions joined by "|",
//                each partition its replica racks as a list of str ("." for none)
//       members: joined by ";", each fields joined by "@":
//                memberId instanceId rack topics owned generation userData
//       -> "memberId=partitions" joined by ";", members sorted by id

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;

import org.apache.kafka.clients.consumer.ConsumerGroupMetadata;
import org.apache.kafka.clients.consumer.ConsumerPartitionAssignor;
import org.apache.kafka.clients.consumer.ConsumerPartitionAssignor.Assignment;
import org.apache.kafka.clients.consumer.ConsumerPartitionAssignor.GroupSubscription;
import org.apache.kafka.clients.consumer.ConsumerPartitionAssignor.Subscription;
import org.apache.kafka.clients.consumer.CooperativeStickyAssignor;
import org.apache.kafka.clients.consumer.RangeAssignor;
import org.apache.kafka.clients.consumer.RoundRobinAssignor;
import org.apache.kafka.clients.consumer.StickyAssignor;
import org.apache.kafka.clients.consumer.internals.ConsumerProtocol;
import org.apache.kafka.common.Cluster;
import org.apache.kafka.common.Node;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;

public class GroupCompat {
    public static void main(String[] args) throws Exception {
        PrintStream out = new PrintStream(System.out, false, StandardCharsets.UTF_8);
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        String line;
        while ((line = in.readLine()) != null) {
            if (line.isEmpty()) continue;
            String[] f = line.split(" ", -1);
            String result;
            try {
                result = "OK " + run(f);
            } catch (Throwable e) {
                result = "ERR " + e.getClass().getSimpleName() + (e.getMessage() != null && e.getMessage().equals("Timeout") ? " Timeout" : "");
            }
            out.println("@@ " + f[1] + " " + result);
        }
        out.flush();
        // Assignor threads that timed out may still spin.
        System.exit(0);
    }

    static String run(String[] f) {
        switch (f[0]) {
            case "SUB": {
                Subscription s = new Subscription(strList(f[3]), bytes(f[4]), tpList(f[5]),
                        Integer.parseInt(f[6]), Optional.ofNullable(str(f[7])));
                return hex(ConsumerProtocol.serializeSubscription(s, Short.parseShort(f[2])));
            }
            case "ASG": {
                Assignment a = new Assignment(tpList(f[3]), bytes(f[4]));
                return hex(ConsumerProtocol.serializeAssignment(a, Short.parseShort(f[2])));
            }
            case "DSUB": {
                Subscription s = ConsumerProtocol.deserializeSubscription(ByteBuffer.wrap(unhex(f[2])));
                return showStrList(s.topics()) + " " + showBytes(s.userData()) + " "
                        + showTpList(s.ownedPartitions()) + " " + s.generationId().orElse(-1) + " "
                        + showStr(s.rackId().orElse(null));
            }
            case "DASG": {
                Assignment a = ConsumerProtocol.deserializeAssignment(ByteBuffer.wrap(unhex(f[2])));
                return showTpList(a.partitions()) + " " + showBytes(a.userData());
            }
            case "UDS": {
                StickyAssignor s = new StickyAssignor();
                int generation = Integer.parseInt(f[3]);
                s.onAssignment(new Assignment(tpList(f[2])), new ConsumerGroupMetadata("g", generation, "m", Optional.empty()));
                return showBytes(s.subscriptionUserData(Collections.emptySet()));
            }
            case "UDC": {
                CooperativeStickyAssignor s = new CooperativeStickyAssignor();
                int generation = Integer.parseInt(f[2]);
                s.onAssignment(new Assignment(new ArrayList<>()), new ConsumerGroupMetadata("g", generation, "m", Optional.empty()));
                return showBytes(s.subscriptionUserData(Collections.emptySet()));
            }
            case "ASSIGN": {
                // Bounded: an assignor that never finishes reports ERR Timeout.
                java.util.concurrent.FutureTask<String> task =
                        new java.util.concurrent.FutureTask<>(() -> assign(f[2], f[3], f[4]));
                Thread t = new Thread(task);
                t.setDaemon(true);
                t.start();
                try {
                    return task.get(5, java.util.concurrent.TimeUnit.SECONDS);
                } catch (java.util.concurrent.TimeoutException e) {
                    throw new IllegalStateException("Timeout");
                } catch (java.util.concurrent.ExecutionException e) {
                    if (e.getCause() instanceof RuntimeException) throw (RuntimeException) e.getCause();
                    throw new RuntimeException(e.getCause());
                } catch (InterruptedException e) {
                    throw new RuntimeException(e);
                }
            }
            default:
                throw new IllegalArgumentException(f[0]);
        }
    }

    static String assign(String name, String clusterText, String membersText) {
        ConsumerPartitionAssignor assignor;
        switch (name) {
            case "range": assignor = new RangeAssignor(); break;
            case "roundrobin": assignor = new RoundRobinAssignor(); break;
            case "sticky": assignor = new StickyAssignor(); break;
            case "cooperative-sticky": assignor = new CooperativeStickyAssignor(); break;
            default: throw new IllegalArgumentException(name);
        }
        List<Node> nodes = new ArrayList<>();
        Map<String, Node> rackNodes = new HashMap<>();
        Node noRack = new Node(0, "h", 9092);
        nodes.add(noRack);
        List<PartitionInfo> partitions = new ArrayList<>();
        if (!clusterText.equals(".")) {
            for (String topicText : clusterText.split(";")) {
                String[] tp = topicText.split("/", -1);
                String topic = str(tp[0]);
                if (tp[1].isEmpty()) continue;
                String[] parts = tp[1].split("\\|", -1);
                for (int p = 0; p < parts.length; p++) {
                    List<Node> replicas = new ArrayList<>();
                    for (String rack : strList(parts[p])) {
                        Node n = rackNodes.get(rack);
                        if (n == null) {
                            n = new Node(rackNodes.size() + 1, "h", 9092, rack);
                            rackNodes.put(rack, n);
                            nodes.add(n);
                        }
                        replicas.add(n);
                    }
                    if (replicas.isEmpty()) replicas.add(noRack);
                    Node[] r = replicas.toArray(new Node[0]);
                    partitions.add(new PartitionInfo(topic, p, r[0], r, r));
                }
            }
        }
        Cluster cluster = new Cluster("c", nodes, partitions, new HashSet<>(), new HashSet<>());
        // The consumer coordinator's map: a HashMap filled in JoinGroup order.
        Map<String, Subscription> subscriptions = new HashMap<>();
        if (!membersText.equals(".")) {
            for (String memberText : membersText.split(";")) {
                String[] m = memberText.split("@", -1);
                Subscription s = new Subscription(strList(m[3]), bytes(m[6]), tpList(m[4]),
                        Integer.parseInt(m[5]), Optional.ofNullable(str(m[2])));
                s.setGroupInstanceId(Optional.ofNullable(str(m[1])));
                subscriptions.put(str(m[0]), s);
            }
        }
        Map<String, Assignment> result = assignor.assign(cluster, new GroupSubscription(subscriptions)).groupAssignment();
        StringBuilder sb = new StringBuilder();
        for (Map.Entry<String, Assignment> e : new TreeMap<>(result).entrySet()) {
            if (sb.length() > 0) sb.append(';');
            sb.append(showStr(e.getKey())).append('=').append(showTpList(e.getValue().partitions()));
        }
        return sb.length() == 0 ? "." : sb.toString();
    }

    static String str(String s) {
        if (s.equals("-")) return null;
        return new String(unhex(s.substring(1)), StandardCharsets.UTF_8);
    }

    static String showStr(String s) {
        return s == null ? "-" : "s" + hex(ByteBuffer.wrap(s.getBytes(StandardCharsets.UTF_8)));
    }

    static ByteBuffer bytes(String s) {
        return s.equals("-") ? null : ByteBuffer.wrap(unhex(s.substring(1)));
    }

    static String showBytes(ByteBuffer b) {
        return b == null ? "-" : "b" + hex(b);
    }

    static List<String> strList(String s) {
        List<String> out = new ArrayList<>();
        if (s.equals(".")) return out;
        for (String item : s.split(",", -1)) out.add(str(item));
        return out;
    }

    static String showStrList(List<String> l) {
        if (l.isEmpty()) return ".";
        StringBuilder sb = new StringBuilder();
        for (String s : l) {
            if (sb.length() > 0) sb.append(',');
            sb.append(showStr(s));
        }
        return sb.toString();
    }

    static List<TopicPartition> tpList(String s) {
        List<TopicPartition> out = new ArrayList<>();
        if (s.equals(".")) return out;
        for (String item : s.split(",", -1)) {
            int colon = item.lastIndexOf(':');
            out.add(new TopicPartition(str(item.substring(0, colon)), Integer.parseInt(item.substring(colon + 1))));
        }
        return out;
    }

    static String showTpList(List<TopicPartition> l) {
        if (l.isEmpty()) return ".";
        StringBuilder sb = new StringBuilder();
        for (TopicPartition tp : l) {
            if (sb.length() > 0) sb.append(',');
            sb.append(showStr(tp.topic())).append(':').append(tp.partition());
        }
        return sb.toString();
    }

    static String hex(ByteBuffer b) {
        ByteBuffer d = b.duplicate();
        StringBuilder sb = new StringBuilder();
        while (d.hasRemaining()) sb.append(String.format("%02x", d.get() & 0xff));
        return sb.toString();
    }

    static byte[] unhex(String s) {
        byte[] out = new byte[s.length() / 2];
        for (int i = 0; i < out.length; i++)
            out[i] = (byte) Integer.parseInt(s.substring(2 * i, 2 * i + 2), 16);
        return out;
    }
}
