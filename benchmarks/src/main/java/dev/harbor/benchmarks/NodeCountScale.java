package dev.harbor.benchmarks;

import dev.harbor.service.Node;
import dev.harbor.transport.Harbor;
import io.grpc.Grpc;
import io.grpc.InsecureServerCredentials;
import io.grpc.Metadata;
import io.grpc.Server;
import io.grpc.ServerStreamTracer;
import java.lang.management.ManagementFactory;
import java.lang.management.MemoryMXBean;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.LongAdder;
import java.util.function.BooleanSupplier;

/**
 * How Harbor's full mesh costs grow with the number of nodes: for 2, 4, 8, 16 and 32 nodes, the time
 * to a fully linked cluster, the heap the links take, the idle (heartbeat) traffic, the time until
 * every other node has declared a crashed node lost, and the time for the rest to stop and leave.
 *
 * <p><b>In one JVM, over loopback.</b> 32 node processes do not fit 2 cores (each JVM alone takes a
 * core for seconds to start), so every node here is a {@link Node} with its {@link Harbor} transport and
 * its own gRPC server (direct executor) on 127.0.0.1 in this JVM, each listing every other node as a
 * peer, on the defaults (500 ms heartbeats, 2 s loss timeout). They share the JVM's gRPC event loops
 * and two cores, as processes on one 2-core host would share the cores.
 *
 * <p><b>Figures</b>, per cluster size {@code n}:
 * <ul>
 *   <li><i>linked</i>: from the first {@link Harbor#start} (all are started one after another) until
 *       every node is connected to the other {@code n - 1}.</li>
 *   <li><i>heap per node</i> and <i>per link</i>: used heap after full GCs with the cluster linked and
 *       idle, minus the same with the nodes and servers built but no transport started, over {@code n}
 *       and over the {@code n(n-1)} directed links.</li>
 *   <li><i>idle traffic</i>: bytes on the wire (gRPC's count of message bytes, both directions of every
 *       link stream, counted once at the stream's server end) over {@link #IDLE} of an idle linked
 *       cluster: heartbeats only, per node per second.</li>
 *   <li><i>loss detected</i>: node {@code n} crashes (its server is shut down at once and its links
 *       cut, with no Leaving), and the figure is the time until every other node has declared it lost
 *       (it is no longer among their {@link Harbor#peerAddresses}).</li>
 *   <li><i>stop</i>: the other {@code n - 1} stop their node, leave and close, all at once (a thread
 *       each); the time until the last has closed.</li>
 * </ul>
 * Run: {@code java -Xmx4g -cp benchmarks/target/benchmarks.jar dev.harbor.benchmarks.NodeCountScale [repeats [sizes...]]}
 * (default 3 repeats of 2 4 8 16 32, after one unshown warm-up cluster of 8), one line per cluster.
 */
public final class NodeCountScale {
    /** How long the linked cluster idles while its traffic is counted. */
    static final Duration IDLE = Duration.ofSeconds(10);
    /** How long any one phase may take before the run fails. */
    static final Duration MAX = Duration.ofSeconds(120);

    /** Bytes on the wire of every link stream, at its server end, both ways. */
    private static final LongAdder WIRE_BYTES = new LongAdder();

    private NodeCountScale() {
    }

    /** One node of the cluster. */
    private record Member(Node node, Harbor harbor, Server server) {
    }

    public static void main(String[] args) throws Exception {
        int repeats = args.length == 0 ? 3 : Integer.parseInt(args[0]);
        int[] sizes = args.length <= 1 ? new int[] {2, 4, 8, 16, 32}
                : java.util.Arrays.stream(args).skip(1).mapToInt(Integer::parseInt).toArray();
        run(8); // warm-up, not shown: the first cluster in the JVM loads and compiles gRPC, protobuf and the runtime
        System.out.println("nodes | linked ms | heap/node KiB | heap/link KiB | idle B/s/node | idle B/s/link"
                + " | loss detected ms | stop ms");
        for (int n : sizes) {
            for (int r = 0; r < repeats; r++) {
                System.out.println(run(n));
            }
        }
        System.exit(0);
    }

    private static String run(int n) throws Exception {
        List<Integer> ports = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            ports.add(CrossNodeThroughput.freePort());
        }
        List<Member> members = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            int id = i + 1;
            Node node = Node.builder().id(id).build();
            List<String> peers = new ArrayList<>();
            for (int j = 0; j < n; j++) {
                if (j != i) {
                    peers.add("127.0.0.1:" + ports.get(j));
                }
            }
            Harbor harbor = Harbor.builder(node).advertise("127.0.0.1:" + ports.get(i)).peers(peers).build();
            Server server = Grpc.newServerBuilderForPort(ports.get(i), InsecureServerCredentials.create()).directExecutor()
                    .addStreamTracerFactory(new WireCounter()).addService(harbor.linkService()).build().start();
            members.add(new Member(node, harbor, server));
        }
        long heapBefore = usedHeapAfterGc();

        long start = System.nanoTime();
        members.forEach(m -> m.harbor().start());
        await(() -> members.stream().allMatch(m -> m.harbor().connected().size() == n - 1), "a fully linked cluster of " + n);
        long linkedMs = (System.nanoTime() - start) / 1_000_000;

        Thread.sleep(1_000); // the first heartbeats and name tables settle
        long heapLinked = usedHeapAfterGc();
        WIRE_BYTES.reset();
        long idleStart = System.nanoTime();
        Thread.sleep(IDLE.toMillis());
        double idleSeconds = (System.nanoTime() - idleStart) / 1e9;
        double bytesPerSecond = WIRE_BYTES.sum() / idleSeconds;

        // Node n crashes: no Leaving; its server goes at once and its links are cut.
        Member crashed = members.get(n - 1);
        List<Member> rest = members.subList(0, n - 1);
        long crash = System.nanoTime();
        crashed.server().shutdownNow();
        crashed.harbor().close();
        await(() -> rest.stream().noneMatch(m -> m.harbor().peerAddresses().containsKey(n)), "node " + n + " declared lost");
        long lossMs = (System.nanoTime() - crash) / 1_000_000;
        crashed.node().stop();

        long stopStart = System.nanoTime();
        CountDownLatch stopped = new CountDownLatch(rest.size());
        for (Member m : rest) {
            Thread.ofPlatform().start(() -> {
                try {
                    m.node().stop();
                    m.harbor().leave("the run is over", Duration.ofSeconds(5));
                    m.harbor().close();
                    m.server().shutdown();
                } finally {
                    stopped.countDown();
                }
            });
        }
        if (!stopped.await(MAX.toSeconds(), TimeUnit.SECONDS)) {
            throw new IllegalStateException("the " + rest.size() + " nodes left did not stop within " + MAX.toSeconds() + " s");
        }
        long stopMs = (System.nanoTime() - stopStart) / 1_000_000;
        for (Member m : members) {
            m.server().shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
        }

        long links = (long) n * (n - 1);
        double heapPerNode = (heapLinked - heapBefore) / 1024.0 / n;
        return String.format(Locale.ROOT, "%d | %,d | %,.1f | %,.1f | %,.0f | %,.0f | %,d | %,d", n, linkedMs, heapPerNode,
                (heapLinked - heapBefore) / 1024.0 / links, bytesPerSecond / n, bytesPerSecond / links, lossMs, stopMs);
    }

    private static void await(BooleanSupplier done, String what) throws InterruptedException {
        long deadline = System.nanoTime() + MAX.toNanos();
        while (!done.getAsBoolean()) {
            if (System.nanoTime() - deadline > 0) {
                throw new IllegalStateException("no " + what + " within " + MAX.toSeconds() + " s");
            }
            Thread.sleep(5);
        }
    }

    private static long usedHeapAfterGc() throws InterruptedException {
        MemoryMXBean memory = ManagementFactory.getMemoryMXBean();
        for (int i = 0; i < 3; i++) {
            System.gc();
            Thread.sleep(100);
        }
        return memory.getHeapMemoryUsage().getUsed();
    }

    /** Counts the message bytes of every stream at its server end, both ways. */
    private static final class WireCounter extends ServerStreamTracer.Factory {
        @Override
        public ServerStreamTracer newServerStreamTracer(String fullMethodName, Metadata headers) {
            return new ServerStreamTracer() {
                @Override
                public void outboundWireSize(long bytes) {
                    WIRE_BYTES.add(bytes);
                }

                @Override
                public void inboundWireSize(long bytes) {
                    WIRE_BYTES.add(bytes);
                }
            };
        }
    }
}
