package dev.harbor.benchmarks;

import com.google.common.util.concurrent.ListenableFuture;
import dev.harbor.proto.ExitStreamItem;
import dev.harbor.proto.KillRequest;
import dev.harbor.proto.KillResponse;
import dev.harbor.proto.ListServicesRequest;
import dev.harbor.proto.NodeGrpc;
import dev.harbor.proto.ServiceInfo;
import dev.harbor.proto.WatchExitsRequest;
import dev.harbor.service.Handle;
import io.grpc.Grpc;
import io.grpc.InsecureChannelCredentials;
import io.grpc.ManagedChannel;
import io.grpc.stub.StreamObserver;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

/**
 * Exit-event latency: from a service's exit on one node process to the arrival of its exit event at a
 * {@code WatchExits} subscriber in another process, over loopback.
 *
 * <p>Not a JMH benchmark: a plain main, run from the shaded jar:
 * <pre>
 * java -cp benchmarks/target/benchmarks.jar dev.harbor.benchmarks.ExitEventLatency [samples [warm-up]]
 * </pre>
 * {@code samples} defaults to 10,000 and {@code warm-up} to 5,000 (about 20 s in all on 2 cores, plus the
 * child JVM's start).
 *
 * <p><b>Set-up.</b> The watched node runs in a child JVM ({@link AdminNode}: a {@code Node} with
 * {@code samples + warm-up} idle services and its admin API, {@code NodeAdminService}, on a gRPC server
 * with a direct executor). This JVM is the subscriber: a plain grpc-java client of the
 * {@code harbor.v1.Node} service (channel with a direct executor), with one {@code WatchExits(from_seq =
 * 0)} stream open for the whole run; it waits for the stream's {@code caught_up} item before the first
 * kill. The services to kill come from {@code ListServices} (all but the node's monitor).
 *
 * <p><b>One sample.</b> This JVM sends {@code Kill(service)} over the same channel; the node ends the
 * service, which publishes its exit event (stamped with the node's clock, {@code time_unix_nanos}), and
 * the node's exit stream sends it. On arrival (first thing in the stream observer's {@code onNext}, on
 * gRPC's event loop) the subscriber reads its own clock. The next kill is sent only after the event and
 * the Kill response have both arrived, so samples never overlap. The first {@code warm-up} samples are
 * not counted.
 *
 * <p><b>Two numbers per sample.</b>
 * <ul>
 *   <li><i>exit to arrival</i>: arrival time minus the event's {@code time_unix_nanos}. Both clocks are
 *       the same machine's {@code CLOCK_REALTIME} ({@code Clock.systemUTC()} in both JVMs), so the
 *       difference is a true one-way latency: the publishing of the event, the exit stream's drain, gRPC
 *       and the loopback.</li>
 *   <li><i>kill to arrival</i>: from just before the Kill RPC is sent to the event's arrival, on this
 *       JVM's monotonic clock: the above plus the Kill request's way to the node.</li>
 * </ul>
 * Both are printed as percentiles (p50, p90, p99, p99.9, max) in microseconds.
 */
public final class ExitEventLatency {

    /** Samples counted, unless given as the first argument. */
    static final int SAMPLES = 10_000;
    /** Samples taken first and not counted, unless given as the second argument. */
    static final int WARM_UP = 5_000;

    /** An exit event as it arrived: which service, when it exited (node's clock), when it arrived (ours). */
    record Arrival(dev.harbor.proto.Handle handle, long exitUnixNanos, long arrivedUnixNanos, long arrivedNanoTime) {
    }

    private ExitEventLatency() {
    }

    public static void main(String[] args) throws Exception {
        int samples = args.length > 0 ? Integer.parseInt(args[0]) : SAMPLES;
        int warmUp = args.length > 1 ? Integer.parseInt(args[1]) : WARM_UP;
        int total = samples + warmUp;
        int port = CrossNodeThroughput.freePort();

        try (ChildJvm child = ChildJvm.start("watched node", AdminNode.class, String.valueOf(port), String.valueOf(total))) {
            Handle monitor = Handle.parse(child.ready());
            ManagedChannel channel = Grpc.newChannelBuilder("127.0.0.1:" + port, InsecureChannelCredentials.create())
                    .directExecutor().build();
            try {
                run(channel, monitor, samples, warmUp);
            } finally {
                channel.shutdownNow();
                channel.awaitTermination(5, TimeUnit.SECONDS);
            }
        }
    }

    private static void run(ManagedChannel channel, Handle monitor, int samples, int warmUp) throws Exception {
        int total = samples + warmUp;
        List<dev.harbor.proto.Handle> targets = new ArrayList<>();
        for (ServiceInfo s : NodeGrpc.newBlockingStub(channel).withDeadlineAfter(BenchSupport.TIMEOUT.toMillis(), TimeUnit.MILLISECONDS)
                .listServices(ListServicesRequest.getDefaultInstance()).getServicesList()) {
            if (s.getHandle().getNode() != monitor.node() || s.getHandle().getId() != monitor.id()) {
                targets.add(s.getHandle());
            }
        }
        if (targets.size() != total) {
            throw new IllegalStateException("the watched node lists " + targets.size() + " services besides its monitor, expected " + total);
        }

        // Arrivals, or the Throwable that ended the stream.
        BlockingQueue<Object> arrivals = new LinkedBlockingQueue<>();
        CountDownLatch caughtUp = new CountDownLatch(1);
        NodeGrpc.newStub(channel).watchExits(WatchExitsRequest.newBuilder().setFromSeq(0).build(), new StreamObserver<>() {
            @Override
            public void onNext(ExitStreamItem item) {
                Instant now = Instant.now();
                long nanoTime = System.nanoTime();
                switch (item.getItemCase()) {
                    case EXIT -> arrivals.add(new Arrival(item.getExit().getHandle(), item.getExit().getTimeUnixNanos(),
                            unixNanos(now), nanoTime));
                    case CAUGHT_UP -> caughtUp.countDown();
                    default -> {
                        // the node's identity and the services alive at the start
                    }
                }
            }

            @Override
            public void onError(Throwable t) {
                arrivals.add(t);
            }

            @Override
            public void onCompleted() {
                arrivals.add(new IllegalStateException("the watched node ended the exit stream"));
            }
        });
        BenchSupport.await(caughtUp, "the WatchExits stream's caught_up item");

        NodeGrpc.NodeFutureStub admin = NodeGrpc.newFutureStub(channel);
        long[] exitToArrival = new long[samples];
        long[] killToArrival = new long[samples];
        long started = System.nanoTime();
        for (int i = 0; i < total; i++) {
            dev.harbor.proto.Handle target = targets.get(i);
            long sent = System.nanoTime();
            ListenableFuture<KillResponse> killed = admin.kill(KillRequest.newBuilder().setHandle(target).build());
            Object next = arrivals.poll(BenchSupport.TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
            if (next == null) {
                throw new IllegalStateException("no exit event within " + BenchSupport.TIMEOUT.toSeconds() + " s of killing "
                        + target.getNode() + "/" + target.getId() + " (sample " + i + ")");
            }
            if (next instanceof Throwable t) {
                throw new IllegalStateException("the WatchExits stream failed at sample " + i + ": " + t, t);
            }
            Arrival a = (Arrival) next;
            if (!a.handle().equals(target)) {
                throw new IllegalStateException("expected the exit of " + target.getId() + ", got that of " + a.handle().getId());
            }
            if (!BenchSupport.get(killed, "the Kill of sample " + i).getKilled()) {
                throw new IllegalStateException("the node says service " + target.getId() + " was not alive to kill");
            }
            if (i >= warmUp) {
                exitToArrival[i - warmUp] = a.arrivedUnixNanos() - a.exitUnixNanos();
                killToArrival[i - warmUp] = a.arrivedNanoTime() - sent;
            }
        }
        long seconds = TimeUnit.NANOSECONDS.toSeconds(System.nanoTime() - started);

        System.out.printf(Locale.ROOT, "Exit event latency, node %d (child JVM) to a WatchExits subscriber (this JVM), loopback:"
                + " %,d samples after %,d warm-up, %d s%n", RemoteNode.CHILD_NODE, samples, warmUp, seconds);
        System.out.println(percentiles("exit to arrival (us)", exitToArrival));
        System.out.println(percentiles("kill to arrival (us)", killToArrival));
    }

    static long unixNanos(Instant t) {
        return t.getEpochSecond() * 1_000_000_000L + t.getNano();
    }

    /** One line: p50, p90, p99, p99.9 and max of {@code nanos}, in microseconds. */
    static String percentiles(String what, long[] nanos) {
        long[] sorted = nanos.clone();
        Arrays.sort(sorted);
        return String.format(Locale.ROOT, "  %-22s p50 %8.1f   p90 %8.1f   p99 %8.1f   p99.9 %8.1f   max %8.1f   (min %.1f)",
                what, us(at(sorted, 0.50)), us(at(sorted, 0.90)), us(at(sorted, 0.99)), us(at(sorted, 0.999)),
                us(sorted[sorted.length - 1]), us(sorted[0]));
    }

    /** The {@code q} quantile of {@code sorted} (nearest rank). */
    private static long at(long[] sorted, double q) {
        int rank = (int) Math.ceil(q * sorted.length);
        return sorted[Math.max(0, Math.min(sorted.length - 1, rank - 1))];
    }

    private static double us(long nanos) {
        return nanos / 1_000.0;
    }
}
