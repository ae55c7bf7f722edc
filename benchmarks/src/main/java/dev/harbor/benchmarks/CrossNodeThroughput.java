package dev.harbor.benchmarks;

import dev.harbor.transport.EnvelopeBatch;
import dev.harbor.transport.Harbor;
import dev.harbor.proto.Batch;
import dev.harbor.proto.HarborGrpc;
import dev.harbor.proto.LinkFrame;
import dev.harbor.service.CallException;
import dev.harbor.service.Handle;
import dev.harbor.service.Message;
import dev.harbor.service.Node;
import dev.harbor.service.Service;
import dev.harbor.service.ServiceContext;
import com.google.protobuf.ByteString;
import io.grpc.CallOptions;
import io.grpc.Grpc;
import io.grpc.InsecureChannelCredentials;
import io.grpc.InsecureServerCredentials;
import io.grpc.ManagedChannel;
import io.grpc.Server;
import io.grpc.stub.ClientCallStreamObserver;
import io.grpc.stub.ClientCalls;
import io.grpc.stub.ClientResponseObserver;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.ServerSocket;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.atomic.LongAdder;
import java.util.concurrent.locks.LockSupport;
import org.apache.pekko.actor.AbstractActor;
import org.apache.pekko.actor.ActorRef;
import org.apache.pekko.actor.ActorSystem;
import org.apache.pekko.actor.Props;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OperationsPerInvocation;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;
import org.openjdk.jmh.infra.IterationParams;
import org.openjdk.jmh.runner.IterationType;

/**
 * Cross-node send throughput: messages per second from one node process to another over loopback,
 * Harbor against Pekko Artery remoting and against a bare gRPC stream (the ceiling), read on the event
 * loop or handed to each sink's own thread.
 *
 * <p><b>Two processes.</b> The JMH fork is the sending node. For each trial it starts the receiving node
 * as a child JVM ({@link ChildJvm} running {@link RemoteNode}, same class path, same JDK, a fixed 1 GB
 * heap) and kills it at the end of the trial. All traffic is on 127.0.0.1. On a 2-core machine the two
 * processes share the two cores, as two nodes on one host would.
 *
 * <p><b>Scenario.</b> {@code pairs} pairs of a <i>sender</i> (in the fork) and a <i>sink</i> (in the
 * child). An invocation moves {@link #MESSAGES} one-way messages, split evenly over the pairs: the
 * benchmark thread tells every sender to send its quota, each sender sends it as fast as its runtime
 * accepts, each sink counts and, when its count reaches the quota, sends one ack back to its sender,
 * and the sender counts down the invocation's latch. The benchmark thread waits for every ack (at most
 * {@link BenchSupport#TIMEOUT}, then the run fails). {@link OperationsPerInvocation} makes the score
 * messages per second; the {@code pairs} acks are not counted.
 *
 * <p><b>Same on every side.</b> Every message carries the same preallocated 100-character ASCII
 * {@link #PAYLOAD} (100 bytes in UTF-8), and every sink gets it as a {@code String} and reads its
 * length (Harbor's sinks through {@code Message.payload(String.class)}, which decodes it on the sink's
 * thread).
 * <ul>
 *   <li>{@code harbor}: node 1 (fork) and node 2 (child), each a {@link Node} with a {@link Harbor}
 *       transport on its defaults (batches of up to {@link Harbor#DEFAULT_BATCH_SIZE} envelopes, an outbound queue
 *       of 100,000) and a gRPC
 *       server with a direct executor, each listing the other as its peer, so there is one link stream
 *       each way. Senders are services that loop over {@code ctx.send(sink, PAYLOAD)}; a send refused
 *       with {@code OVERLOADED} (the link's queue is full) is retried after {@link #BACKOFF_NANOS} and
 *       counted, and the count is printed at the end of the trial. Sinks are services
 *       ({@link RemoteNode.HarborSink}).</li>
 *   <li>{@code artery}: two classic Pekko {@code ActorSystem}s with Artery TCP remoting
 *       ({@link RemoteNode#arteryConfig}). The classic API (untyped {@code ActorRef}s found with
 *       {@code actorSelection(...).resolveOne}) is used because typed actor refs cross systems only with
 *       {@code pekko-cluster-typed}; the transport underneath is the same Artery either way. Senders are
 *       classic actors that loop over {@code sink.tell(PAYLOAD, self)}; sinks are classic actors
 *       ({@link RemoteNode.ArterySink}). Artery drops, rather than refuses, what overflows its outbound
 *       queue, so that queue is sized to {@link #ARTERY_QUEUE}: a whole invocation fits.</li>
 *   <li>{@code grpc}: one bare grpc-java bidirectional stream ({@code Harbor.Link}, whose messages it
 *       reuses, so the bytes per message are Harbor's: a {@code Send} envelope with a {@code from} and a
 *       {@code to} handle of Harbor's size and the text payload) with direct executors on both ends.
 *       There are no senders and no queue: the stream's own writer (the benchmark thread to start a
 *       round, then gRPC's on-ready callback) builds frames of {@link #GRPC_BATCH} new envelopes (Harbor's
 *       default batch, so that both carry as many per stream message), round-robin over the
 *       pairs, and writes them while {@code isReady()}; the server parses each frame, decodes each
 *       payload to a {@code String}, counts per sink and acks on the response stream
 *       ({@link RemoteNode.GrpcSinks}). This is the ceiling for Harbor's envelopes: what the transport
 *       Harbor is built on moves with no runtime around it.</li>
 *   <li>{@code handoff}: the same bare stream, whose child hands each frame's messages to their sinks
 *       instead of reading them on the event loop: each sink reads its messages on a virtual thread of
 *       its own, started when it was idle ({@link RemoteNode.HandoffSinks}). Nothing else of a runtime:
 *       no mailbox item per send beyond the payload's slice, no dispatch, no death, no outbox. What
 *       reading each sink's messages on a thread of its own costs with next to nothing of a runtime
 *       around it (Harbor, Pekko and Erlang all run a service's code on its own thread): how much of
 *       Harbor's distance from the bare stream is that hand-over, and how much the rest of Harbor.</li>
 *   <li>{@code raw}: the raw ceiling, one bare gRPC stream of {@code repeated bytes}
 *       ({@link RawBytesStream}): {@link #GRPC_BATCH} items of the payload's 100 UTF-8 bytes per stream
 *       message, as many as the other streams carry (each
 *       item encoded from the {@code String} anew, as a send encodes its payload), no handles and no
 *       envelope; the child decodes each item to a {@code String} and acks every {@code quota} items
 *       ({@link RemoteNode.RawSinks}). What gRPC and protobuf move when a message is its payload
 *       alone: how much of the bare-envelope figure the envelope's format costs.</li>
 * </ul>
 *
 * <p><b>What is printed besides the score.</b> At the end of each trial: the rounds run and, for
 * Harbor, the sends refused with OVERLOADED and retried and the sends dropped as undeliverable (both
 * 0 in a healthy run: an invocation fits into Harbor's outbound queue); from the child, for Harbor
 * and the bare stream, the envelopes received and the frames they came in ({@code [remote] ... per
 * frame}): how full the batches were. And, for every runtime, the CPU time each JVM used per message
 * over the measurement iterations (the operating system's count for the whole process: every thread,
 * JIT and GC included; the sending JVM is this fork, the receiving one the child): what a message
 * costs each side, which the score alone does not tell (on 2 cores the two JVMs share the CPU). It
 * moves between runs too, about as much as the score does.
 *
 * <p><b>Warm-up.</b> Two JVMs compile netty, protobuf and the runtime at once on two cores; on a busy
 * 2-core machine the score was still climbing after 5 x 3 s, hence 8 x 3 s. Check that the warm-up
 * iterations have levelled off before trusting a score.
 *
 * <p><b>Run</b> (about 9 minutes on 2 cores: 10 trials of 8 x 3 s warm-up and 5 x 3 s measurement, each
 * plus a child JVM start; run it alone, on an otherwise quiet machine):
 * <pre>
 * ./mvnw -q install -DskipTests
 * java -jar benchmarks/target/benchmarks.jar CrossNodeThroughput -rf json -rff benchmarks/target/cross-node.json
 * </pre>
 * To profile both ends, give each JVM a flight recording (the child writes its own when it exits):
 * <pre>
 * java -jar benchmarks/target/benchmarks.jar CrossNodeThroughput -p runtime=harbor -p pairs=1 \
 *   -jvmArgsAppend "-XX:StartFlightRecording=filename=/tmp/fork.jfr,settings=profile \
 *   -Dharbor.bench.child.jvmArgs=-XX:StartFlightRecording=filename=/tmp/child.jfr,settings=profile"
 * </pre>
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Fork(value = 1, jvmArgsAppend = {"-Xms2g", "-Xmx2g"})
@Warmup(iterations = 8, time = 3)
@Measurement(iterations = 5, time = 3)
public class CrossNodeThroughput {

    /** One-way messages per invocation, across all pairs. */
    static final int MESSAGES = 100_000;
    /** Bytes of the payload (ASCII, so also its length in characters). */
    static final int PAYLOAD_BYTES = 100;
    /** The payload of every message, for every runtime. */
    static final String PAYLOAD = "0123456789".repeat(PAYLOAD_BYTES / 10);
    /**
     * Envelopes (or raw items) per gRPC stream message for the bare streams: Harbor's default batch, so
     * that every stream carries as many per message. (Until Harbor's batch went from 64 to 256, this
     * was 64, as issue 14 wrote the raw ceiling.)
     */
    static final int GRPC_BATCH = Harbor.DEFAULT_BATCH_SIZE;
    /** Artery's outbound message queue: room for a whole invocation (its default is 3072). */
    static final int ARTERY_QUEUE = 2 * MESSAGES;
    /** How long a Harbor sender waits before retrying a send refused with OVERLOADED. */
    static final long BACKOFF_NANOS = TimeUnit.MICROSECONDS.toNanos(100);

    @Param({"harbor", "artery", "grpc", "handoff", "raw"})
    public String runtime;

    @Param({"1", "8"})
    public int pairs;

    private ChildJvm child;
    private Rig rig;

    // --- CPU per message (see the class comment); the benchmark thread's own, as JMH calls every method here on it ---
    /** Invocations run so far in this trial. */
    private long invocations;
    /** Whether the iteration running now is a measurement iteration, and where it started. */
    private boolean measuring;
    private long invocationsAtStart;
    private long cpuAtStart;
    private long childCpuAtStart;
    /** Summed over the measurement iterations so far: messages, and the CPU nanoseconds each JVM used. */
    private long measuredMessages;
    private long measuredCpu;
    private long measuredChildCpu;
    private int measuredIterations;

    @Setup(Level.Trial)
    public void start() {
        if (MESSAGES % pairs != 0) {
            throw new IllegalArgumentException(pairs + " pairs cannot share " + MESSAGES + " messages evenly");
        }
        int quota = MESSAGES / pairs;
        try {
            rig = switch (runtime) {
                case "harbor" -> new HarborRig(pairs, quota, this::spawn);
                case "artery" -> new ArteryRig(pairs, quota, this::spawn);
                case "grpc", "handoff" -> new GrpcRig(runtime, pairs, quota, this::spawn);
                case "raw" -> new RawRig(pairs, quota, this::spawn);
                default -> throw new IllegalArgumentException("unknown runtime '" + runtime
                        + "': use harbor, artery, grpc, handoff or raw");
            };
        } catch (RuntimeException e) {
            stop(); // JMH runs no tear-down after a failed set-up: kill the child here
            throw e;
        }
    }

    /** Starts the receiving node for this trial; the rig calls it once. */
    private ChildJvm spawn(String... args) {
        child = ChildJvm.start(runtime + " receiver", RemoteNode.class, args);
        return child;
    }

    @Setup(Level.Iteration)
    public void iterationStarts(IterationParams iteration) {
        measuring = iteration.getType() == IterationType.MEASUREMENT;
        invocationsAtStart = invocations;
        cpuAtStart = cpuNanos(ProcessHandle.current());
        childCpuAtStart = childCpu();
    }

    @TearDown(Level.Iteration)
    public void iterationEnds() {
        long own = cpuNanos(ProcessHandle.current());
        long other = childCpu();
        if (measuring && own >= 0 && other >= 0 && cpuAtStart >= 0 && childCpuAtStart >= 0) {
            measuredMessages += (invocations - invocationsAtStart) * MESSAGES;
            measuredCpu += own - cpuAtStart;
            measuredChildCpu += other - childCpuAtStart;
            measuredIterations++;
        }
    }

    /**
     * The CPU time {@code process} has used so far in nanoseconds, all its threads (JIT and GC included),
     * as the operating system counts it; -1 if the platform does not say.
     */
    private static long cpuNanos(ProcessHandle process) {
        return process.info().totalCpuDuration().map(Duration::toNanos).orElse(-1L);
    }

    /** The child JVM's CPU time so far in nanoseconds, or -1 if there is none or the platform does not say. */
    private long childCpu() {
        return child == null ? -1 : cpuNanos(child.handle());
    }

    /** The CPU both JVMs used per message over the measurement iterations, for the log. */
    private String cpuPerMessage() {
        if (measuredMessages == 0) {
            return "CPU per message: not measured (no measurement iteration, or the platform gives no process CPU times)";
        }
        double sender = (double) measuredCpu / measuredMessages;
        double receiver = (double) measuredChildCpu / measuredMessages;
        return String.format(Locale.ROOT, "CPU per message over %d measurement iteration(s): sending JVM %.1f ns, receiving JVM %.1f ns,"
                + " both %.1f ns", measuredIterations, sender, receiver, sender + receiver);
    }

    @TearDown(Level.Trial)
    public void stop() {
        try {
            if (rig != null) {
                System.out.println(runtime + ", " + pairs + " pairs: " + rig.report());
                System.out.println(runtime + ", " + pairs + " pairs: " + cpuPerMessage());
                rig.close();
            }
        } finally {
            rig = null;
            if (child != null) {
                child.close();
                child = null;
            }
        }
    }

    /** Every sender sends its share of {@link #MESSAGES}; returns when every sink has acked its share. */
    @Benchmark
    @OperationsPerInvocation(MESSAGES)
    public void send() {
        rig.round();
        invocations++;
    }

    /** The sending side of one runtime, with its pairs set up and linked to the child. */
    interface Rig extends AutoCloseable {
        /** Sends one invocation's messages and waits for every ack. */
        void round();

        /** What happened during the trial, for the log. */
        String report();

        @Override
        void close();
    }

    /** How a rig starts the receiving node: the arguments of {@link RemoteNode}. */
    @FunctionalInterface
    interface Spawner {
        ChildJvm spawn(String... args);
    }

    /** Waits for {@code done}, failing early with {@code failure} if one was recorded. */
    static void await(CountDownLatch done, AtomicReference<Throwable> failure, String what) {
        try {
            BenchSupport.await(done, what);
        } finally {
            Throwable t = failure.get();
            if (t != null) {
                throw new IllegalStateException(what + " failed: " + t, t);
            }
        }
    }

    static int freePort() {
        try (ServerSocket s = new ServerSocket(0)) {
            return s.getLocalPort();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /**
     * The first local id of the bare gRPC stream's senders and sinks: as large as a Harbor handle's ids
     * (milliseconds since 2026 shifted left by 22), so that the handles take as many bytes on the wire.
     */
    static final long GRPC_ID_BASE = 1L << 56;

    /** The address of sink {@code i} on the bare gRPC stream. */
    static Handle grpcSink(int i) {
        return Handle.of(RemoteNode.CHILD_NODE, GRPC_ID_BASE + i);
    }

    /** The address of sender {@code i} on the bare gRPC stream. */
    static Handle grpcSender(int i) {
        return Handle.of(RemoteNode.PARENT_NODE, GRPC_ID_BASE + i);
    }

    // ------------------------------------------------------------------ Harbor

    /** Tells a sender to send {@code quota} messages to {@code sink} and count down {@code done} at its ack. */
    record HarborRound(Handle sink, int quota, CountDownLatch done) {
    }

    /** The Harbor sender. Its fields need no locks: its handlers never run concurrently. */
    static final class HarborSender implements Service {
        private final LongAdder overloaded;
        private final AtomicReference<Throwable> failure;
        private CountDownLatch done;

        HarborSender(LongAdder overloaded, AtomicReference<Throwable> failure) {
            this.overloaded = overloaded;
            this.failure = failure;
        }

        @Override
        public Object receive(ServiceContext ctx, Message m) {
            if (m.payload() instanceof HarborRound round) {
                done = round.done();
                try {
                    for (int i = 0; i < round.quota(); i++) {
                        send(ctx, round.sink());
                    }
                } catch (RuntimeException e) {
                    failure.compareAndSet(null, e);
                    while (done.getCount() > 0) {
                        done.countDown();
                    }
                }
            } else {
                done.countDown(); // the sink's ack
            }
            return null;
        }

        private void send(ServiceContext ctx, Handle sink) {
            while (true) {
                try {
                    ctx.send(sink, PAYLOAD);
                    return;
                } catch (CallException e) {
                    if (e.failure() != CallException.Failure.OVERLOADED) {
                        throw e;
                    }
                    overloaded.increment();
                    LockSupport.parkNanos(BACKOFF_NANOS);
                }
            }
        }
    }

    static final class HarborRig implements Rig {
        private final Node node = Node.builder().id(RemoteNode.PARENT_NODE).build();
        private final Harbor harbor;
        private final Server server;
        private final Handle[] senders;
        private final Handle[] sinks;
        private final int quota;
        private final LongAdder overloaded = new LongAdder();
        private final AtomicReference<Throwable> failure = new AtomicReference<>();
        private int rounds;

        HarborRig(int pairs, int quota, Spawner spawner) {
            this.quota = quota;
            String self = "127.0.0.1:" + freePort();
            int childPort = freePort();
            String peer = "127.0.0.1:" + childPort;
            harbor = Harbor.builder(node).advertise(self).peers(List.of(peer)).build();
            try {
                server = Grpc.newServerBuilderForPort(Integer.parseInt(self.substring(self.indexOf(':') + 1)),
                        InsecureServerCredentials.create()).directExecutor().addService(harbor.linkService()).build().start();
            } catch (IOException e) {
                harbor.close();
                node.stop();
                throw new UncheckedIOException(e);
            }
            try {
                harbor.start();
                ChildJvm child = spawner.spawn("harbor", String.valueOf(childPort), self, String.valueOf(pairs), String.valueOf(quota));
                String[] handles = child.ready().split(",");
                if (handles.length != pairs) {
                    throw new IllegalStateException("the child reported " + handles.length + " sinks, expected " + pairs);
                }
                sinks = new Handle[pairs];
                senders = new Handle[pairs];
                for (int i = 0; i < pairs; i++) {
                    sinks[i] = Handle.parse(handles[i]);
                    senders[i] = node.launch(() -> new HarborSender(overloaded, failure));
                }
                long deadline = System.nanoTime() + BenchSupport.TIMEOUT.toNanos();
                while (!harbor.connected().contains(RemoteNode.CHILD_NODE)) {
                    if (System.nanoTime() > deadline) {
                        throw new IllegalStateException("node 1 could not link to node 2 at " + peer + " within "
                                + BenchSupport.TIMEOUT.toSeconds() + " s");
                    }
                    LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(10));
                }
            } catch (RuntimeException e) {
                close();
                throw e;
            }
        }

        @Override
        public void round() {
            CountDownLatch done = new CountDownLatch(senders.length);
            for (int i = 0; i < senders.length; i++) {
                node.send(senders[i], new HarborRound(sinks[i], quota, done));
            }
            await(done, failure, "a round of Harbor sends to node 2");
            rounds++;
        }

        @Override
        public String report() {
            return rounds + " rounds; sends refused with OVERLOADED and retried: " + overloaded.sum()
                    + "; undeliverable: " + harbor.undeliverable();
        }

        /**
         * Stops node 1, then its server (so node 2 cannot dial back in while the links close: Harbor would
         * refuse that link with an error in the log), then its links.
         */
        @Override
        public void close() {
            node.stop();
            server.shutdownNow();
            try {
                server.awaitTermination(5, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            harbor.close();
        }
    }

    // ------------------------------------------------------------------ Pekko Artery

    /** Tells a sender to send {@code quota} messages to {@code sink} and count down {@code done} at its ack. */
    record ArteryRound(ActorRef sink, int quota, CountDownLatch done) {
    }

    /** The Pekko sender: a classic actor, so that its {@code self} can travel as the sender of each message. */
    static final class ArterySender extends AbstractActor {
        private CountDownLatch done;

        @Override
        public Receive createReceive() {
            return receiveBuilder()
                    .match(ArteryRound.class, round -> {
                        done = round.done();
                        ActorRef sink = round.sink();
                        for (int i = 0; i < round.quota(); i++) {
                            sink.tell(PAYLOAD, getSelf());
                        }
                    })
                    .matchAny(ack -> done.countDown())
                    .build();
        }
    }

    static final class ArteryRig implements Rig {
        private final ActorSystem system;
        private final List<ActorRef> senders = new ArrayList<>();
        private final List<ActorRef> sinks = new ArrayList<>();
        private final int quota;
        private final AtomicReference<Throwable> failure = new AtomicReference<>();
        private int rounds;

        ArteryRig(int pairs, int quota, Spawner spawner) {
            this.quota = quota;
            int childPort = freePort();
            system = ActorSystem.create("sender", RemoteNode.arteryConfig(0, ARTERY_QUEUE));
            try {
                ChildJvm child = spawner.spawn("artery", String.valueOf(childPort), "-", String.valueOf(pairs), String.valueOf(quota));
                String prefix = child.ready();
                for (int i = 0; i < pairs; i++) {
                    sinks.add(BenchSupport.get(system.actorSelection(prefix + i).resolveOne(BenchSupport.TIMEOUT)
                            .toCompletableFuture(), "resolving Pekko sink " + prefix + i));
                    senders.add(system.actorOf(Props.create(ArterySender.class, ArterySender::new), "sender-" + i));
                }
            } catch (RuntimeException e) {
                close();
                throw e;
            }
        }

        @Override
        public void round() {
            CountDownLatch done = new CountDownLatch(senders.size());
            for (int i = 0; i < senders.size(); i++) {
                senders.get(i).tell(new ArteryRound(sinks.get(i), quota, done), ActorRef.noSender());
            }
            await(done, failure, "a round of Pekko Artery sends to the child");
            rounds++;
        }

        @Override
        public String report() {
            return rounds + " rounds";
        }

        @Override
        public void close() {
            system.terminate();
            BenchSupport.get(system.getWhenTerminated().toCompletableFuture(), "termination of actor system " + system.name());
        }
    }

    // ------------------------------------------------------------------ bare gRPC

    /**
     * A sender that writes one bare gRPC stream itself, with no runtime (the ceilings): the benchmark
     * thread starts a round, then gRPC's on-ready callback writes frames of up to {@link #GRPC_BATCH}
     * messages while the stream is ready; the child acks each sink's quota on the response stream.
     *
     * @param <T> the stream's message type both ways
     */
    abstract static class BareStreamRig<T> implements Rig, ClientResponseObserver<T, T> {
        final ManagedChannel channel;
        private final int pairs;
        private final String what;
        private final AtomicReference<Throwable> failure = new AtomicReference<>();
        private volatile ClientCallStreamObserver<T> stream;
        private volatile CountDownLatch done = new CountDownLatch(0);
        /** Guarded by this: messages of the current round still to write. */
        private int left;
        private int rounds;
        private long frames;

        /** Starts the child ({@code RemoteNode kind ...}) and connects to it; the subclass then opens the stream. */
        BareStreamRig(String kind, int pairs, int quota, Spawner spawner) {
            this.pairs = pairs;
            this.what = "a round of " + kind + " sends to the child";
            int childPort = freePort();
            spawner.spawn(kind, String.valueOf(childPort), "-", String.valueOf(pairs), String.valueOf(quota));
            channel = Grpc.newChannelBuilder("127.0.0.1:" + childPort, InsecureChannelCredentials.create())
                    .directExecutor().build();
        }

        /** A stream message of {@code n} new messages. Called under this object's lock, one at a time. */
        abstract T frame(int n);

        /** How many sinks' acks {@code response} carries. */
        abstract int acks(T response);

        @Override
        public void beforeStart(ClientCallStreamObserver<T> requestStream) {
            stream = requestStream;
            requestStream.setOnReadyHandler(this::pump);
        }

        private synchronized void pump() {
            ClientCallStreamObserver<T> s = stream;
            while (left > 0 && s.isReady()) {
                int n = Math.min(GRPC_BATCH, left);
                T frame = frame(n);
                left -= n;
                frames++;
                s.onNext(frame);
            }
        }

        @Override
        public void round() {
            CountDownLatch latch = new CountDownLatch(pairs);
            synchronized (this) {
                done = latch;
                left = MESSAGES;
            }
            pump();
            await(latch, failure, what);
            rounds++;
        }

        @Override
        public void onNext(T response) {
            CountDownLatch latch = done;
            for (int i = acks(response); i > 0; i--) {
                latch.countDown();
            }
        }

        @Override
        public void onError(Throwable t) {
            failure.compareAndSet(null, t);
            CountDownLatch latch = done;
            while (latch.getCount() > 0) {
                latch.countDown();
            }
        }

        @Override
        public void onCompleted() {
            onError(new IllegalStateException("the child ended the stream"));
        }

        @Override
        public String report() {
            return rounds + " rounds in " + frames + " frames";
        }

        @Override
        public void close() {
            ClientCallStreamObserver<T> s = stream;
            if (s != null) {
                s.cancel("the benchmark is over", null);
            }
            channel.shutdownNow();
            try {
                channel.awaitTermination(5, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }

    /**
     * The bare-envelope ceiling: Harbor's own link stream and envelope format ({@link EnvelopeBatch}, the
     * flat form a node writes), a send per message with its payload encoded anew, round-robin over the
     * pairs (a round is a whole number of turns, so each sink gets its quota). For {@code handoff}, each
     * sink's quota of a round goes in one run instead, so that a frame holds one sink's messages (two at
     * a boundary), as Harbor's frames hold one sending service's batch: a frame then wakes one sink's
     * thread, not every sink's. The inline reader of {@code grpc} does the same work in either order.
     */
    static final class GrpcRig extends BareStreamRig<LinkFrame> {
        private final int pairs;
        private final Handle[] from;
        private final Handle[] to;
        private final int quota;
        /** Whether each sink's quota of a round goes in one run rather than round-robin. */
        private final boolean runs;
        /** Guarded by this: the pair of the next message (round-robin), or its place in the round (runs). */
        private int next;

        /** {@code kind}: the child's sinks, {@code grpc} or {@code handoff}; the stream is the same. */
        GrpcRig(String kind, int pairs, int quota, Spawner spawner) {
            super(kind, pairs, quota, spawner);
            this.pairs = pairs;
            this.quota = quota;
            this.runs = kind.equals("handoff");
            from = new Handle[pairs];
            to = new Handle[pairs];
            for (int i = 0; i < pairs; i++) {
                from[i] = grpcSender(i);
                to[i] = grpcSink(i);
            }
            HarborGrpc.newStub(channel).link(this);
        }

        @Override
        LinkFrame frame(int n) {
            EnvelopeBatch batch = new EnvelopeBatch();
            for (int i = 0; i < n; i++) {
                if (runs) {
                    int pair = next / quota;
                    batch.send(to[pair], from[pair], PAYLOAD);
                    next = next + 1 == MESSAGES ? 0 : next + 1;
                } else {
                    batch.send(to[next], from[next], PAYLOAD);
                    next = next + 1 == pairs ? 0 : next + 1;
                }
            }
            return LinkFrame.newBuilder().setBatch(Batch.newBuilder().setPacked(batch.toByteString())).build();
        }

        @Override
        int acks(LinkFrame response) {
            return response.getBatch().getPacked().isEmpty() ? 0 : 1; // the child acks each sink's quota in a frame of its own
        }
    }

    /** The raw ceiling ({@link RawBytesStream}): frames of payload bytes alone. */
    static final class RawRig extends BareStreamRig<List<ByteString>> {
        RawRig(int pairs, int quota, Spawner spawner) {
            super("raw", pairs, quota, spawner);
            ClientCalls.asyncBidiStreamingCall(channel.newCall(RawBytesStream.METHOD, CallOptions.DEFAULT), this);
        }

        @Override
        List<ByteString> frame(int n) {
            List<ByteString> chunk = new ArrayList<>(n);
            for (int i = 0; i < n; i++) {
                chunk.add(ByteString.copyFromUtf8(PAYLOAD)); // encoded anew per message, as a send encodes its payload
            }
            return chunk;
        }

        @Override
        int acks(List<ByteString> response) {
            return response.size(); // one item per sink's ack
        }
    }
}
