package dev.harbor.benchmarks;

import com.google.protobuf.ByteString;
import com.google.protobuf.InvalidProtocolBufferException;
import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import dev.harbor.transport.EnvelopeBatch;
import dev.harbor.transport.Harbor;
import dev.harbor.transport.Payloads;
import dev.harbor.proto.Batch;
import dev.harbor.proto.HarborGrpc;
import dev.harbor.proto.LinkFrame;
import dev.harbor.service.Handle;
import dev.harbor.service.Message;
import dev.harbor.service.Node;
import dev.harbor.service.Service;
import dev.harbor.service.ServiceContext;
import io.grpc.ForwardingServerCallListener;
import io.grpc.Grpc;
import io.grpc.InsecureServerCredentials;
import io.grpc.Metadata;
import io.grpc.Server;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.ServerInterceptors;
import io.grpc.ServerServiceDefinition;
import io.grpc.stub.ServerCalls;
import io.grpc.stub.StreamObserver;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.LongAdder;
import java.util.function.Function;
import org.apache.pekko.actor.AbstractActor;
import org.apache.pekko.actor.ActorSystem;
import org.apache.pekko.actor.Props;

/**
 * The receiving node of {@link CrossNodeThroughput}, run in its own JVM by {@link ChildJvm}.
 *
 * <pre>
 * RemoteNode harbor PORT PARENT_HOST:PORT PAIRS QUOTA
 * RemoteNode artery PORT -                PAIRS QUOTA
 * RemoteNode grpc   PORT -                PAIRS QUOTA
 * RemoteNode handoff PORT -               PAIRS QUOTA
 * RemoteNode raw    PORT -                PAIRS QUOTA
 * </pre>
 *
 * <p>Listens on {@code 127.0.0.1:PORT} and hosts {@code PAIRS} <i>sinks</i>. A sink counts the messages
 * it receives and, each time its count reaches {@code QUOTA}, sends one ack back to whoever sent the
 * last message and starts counting again. When set up it prints one line, {@code READY} followed by
 * where its sinks are, and then runs until its standard input ends (the parent closes it or dies);
 * then it exits (halting if its shutdown hooks take more than 3 s).
 *
 * <ul>
 *   <li>{@code harbor}: node 2, a {@link Node} with a {@link Harbor} transport and a gRPC server
 *       (direct executor, like the parent's) with the node's link service, its peer being node 1 at
 *       {@code PARENT}. Each sink is a service; the ack is a {@code ctx.send(m.from(), ACK)}. Prints the
 *       sinks' handles, comma-separated, once the link to node 1 is up both ways.</li>
 *   <li>{@code artery}: a classic Pekko {@code ActorSystem} named {@value #ARTERY_SYSTEM} with Artery TCP
 *       remoting ({@link #arteryConfig}). Each sink is a classic actor {@code /user/sink-i}; the ack is a
 *       {@code getSender().tell(ACK, getSelf())}. Prints the path prefix of its sinks.</li>
 *   <li>{@code grpc}: a bare gRPC server (direct executor) implementing the {@code Harbor.Link} stream
 *       method itself, without Harbor: each frame's batch of envelopes is read, each envelope's text
 *       payload decoded, read and counted for the sink named by its {@code to.id} (1 to PAIRS); the ack is a
 *       frame with one envelope addressed to that sink, on the response stream.</li>
 *   <li>{@code handoff}: the same server, whose sinks each read their envelopes' payloads on a virtual
 *       thread of their own, handed a frame's share at a time ({@link HandoffSinks}).</li>
 *   <li>{@code raw}: a bare gRPC server (direct executor) of {@link RawBytesStream}: each item of a
 *       chunk is decoded to a {@code String}, read and counted; every {@code QUOTA} items, one ack item goes
 *       back on the response stream (the items carry no address: the sinks share one count).</li>
 * </ul>
 */
public final class RemoteNode {

    /** What a sink sends back when its count reaches the quota. */
    static final String ACK = "ack";
    /** The name of the child's Pekko actor system. */
    static final String ARTERY_SYSTEM = "receiver";
    /** The harbor node ids: the benchmark's own JVM is node 1, the child node 2. */
    static final int PARENT_NODE = 1;
    static final int CHILD_NODE = 2;

    private RemoteNode() {
    }

    public static void main(String[] args) throws Exception {
        if (args.length != 5) {
            System.err.println("usage: RemoteNode harbor|artery|grpc|handoff|raw PORT PARENT_HOST:PORT|- PAIRS QUOTA");
            System.exit(2);
        }
        String runtime = args[0];
        int port = Integer.parseInt(args[1]);
        String parent = args[2];
        int pairs = Integer.parseInt(args[3]);
        int quota = Integer.parseInt(args[4]);
        Thread watchdog = ChildJvm.exitWhenParentGoes();

        String where = switch (runtime) {
            case "harbor" -> harbor(port, parent, pairs, quota);
            case "artery" -> artery(port, pairs, quota);
            case "grpc" -> grpc(port, "grpc", responses -> new GrpcSinks(responses, pairs, quota));
            case "handoff" -> grpc(port, "handoff", responses -> new HandoffSinks(responses, pairs, quota));
            case "raw" -> raw(port, quota);
            default -> throw new IllegalArgumentException("unknown runtime '" + runtime + "': use harbor, artery, grpc, handoff or raw");
        };
        System.out.println(ChildJvm.READY + " " + where);
        System.out.flush();
        watchdog.join();
    }

    // ------------------------------------------------------------------ link statistics

    /** Stream messages (frames) received on the child's gRPC server, and of them those sampled, for the log. */
    private static final LongAdder FRAMES = new LongAdder();
    private static final LongAdder SAMPLED = new LongAdder();
    /** The envelopes in the sampled frames. */
    private static final LongAdder ENVELOPES = new LongAdder();
    /**
     * One frame in this many, on each stream, has its envelopes counted. Counting a packed batch scans
     * its records a second time on the receiving event loop, a cost the bare stream's list does not
     * have; sampled, it stays out of the comparison, and the average per frame is as good.
     */
    private static final int SAMPLE_EVERY = 64;

    /**
     * Counts the frames that arrive on {@code service}'s streams and, in a sample of them, the envelopes
     * in their batches, and prints the frames and the envelopes per frame when the child exits: how full
     * the batches were (Harbor's batch size at most) is the first thing to know about a link's throughput.
     */
    /** The records in a packed batch (a scan of their heads: a copy of the batch and a few reads per record). */
    private static int records(ByteString packed) {
        int n = 0;
        try {
            for (EnvelopeBatch.Reader r = EnvelopeBatch.reader(packed); r.next(); ) {
                n++;
            }
        } catch (InvalidProtocolBufferException e) {
            // counted up to the damage; the receiver itself reports it
        }
        return n;
    }

    private static ServerServiceDefinition counted(ServerServiceDefinition service, String runtime) {
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            long frames = FRAMES.sum();
            long sampled = SAMPLED.sum();
            double perFrame = sampled == 0 ? 0.0 : (double) ENVELOPES.sum() / sampled;
            System.out.printf(Locale.ROOT, "%s receiver: about %,d envelopes in %,d frames (%.1f per frame in %,d frames"
                    + " sampled)%n", runtime, Math.round(perFrame * frames), frames, perFrame, sampled);
            System.out.flush();
        }, "print-link-statistics"));
        return ServerInterceptors.intercept(service, new ServerInterceptor() {
            @Override
            public <Q, A> ServerCall.Listener<Q> interceptCall(ServerCall<Q, A> call, Metadata headers,
                    ServerCallHandler<Q, A> next) {
                return new ForwardingServerCallListener.SimpleForwardingServerCallListener<>(next.startCall(call, headers)) {
                    /** This stream's frames so far; gRPC calls a stream's listener from one thread at a time. */
                    private long frames;

                    @Override
                    public void onMessage(Q message) {
                        FRAMES.increment();
                        if (frames++ % SAMPLE_EVERY == 0) {
                            SAMPLED.increment();
                            if (message instanceof LinkFrame f && f.hasBatch()) {
                                ENVELOPES.add(records(f.getBatch().getPacked()));
                            } else if (message instanceof List<?> chunk) {
                                ENVELOPES.add(chunk.size());
                            }
                        }
                        super.onMessage(message);
                    }
                };
            }
        });
    }

    // ------------------------------------------------------------------ Harbor

    /** A Harbor sink: counts, and acks to the sender of every {@code quota}-th message. */
    static final class HarborSink implements Service {
        private final int quota;
        private int count;
        /** The payloads' lengths, summed: every payload is read as a String, as a real service would. */
        private long chars;

        HarborSink(int quota) {
            this.quota = quota;
        }

        @Override
        public Object receive(ServiceContext ctx, Message m) {
            chars += m.payload(String.class).length();
            if (++count == quota) {
                count = 0;
                ctx.send(m.from(), ACK);
            }
            return null;
        }
    }

    private static String harbor(int port, String parent, int pairs, int quota) throws IOException, InterruptedException {
        Node node = Node.builder().id(CHILD_NODE).build();
        Harbor harbor = Harbor.builder(node).advertise("127.0.0.1:" + port).peers(List.of(parent)).build();
        Grpc.newServerBuilderForPort(port, InsecureServerCredentials.create())
                .directExecutor().addService(counted(harbor.linkService().bindService(), "harbor")).build().start();
        List<String> sinks = new ArrayList<>();
        for (int i = 0; i < pairs; i++) {
            Handle sink = node.launch(() -> new HarborSink(quota));
            sinks.add(sink.toString());
        }
        harbor.start();
        long deadline = System.nanoTime() + BenchSupport.TIMEOUT.toNanos();
        while (!harbor.connected().contains(PARENT_NODE)) {
            if (System.nanoTime() > deadline) {
                throw new IllegalStateException("node " + CHILD_NODE + " could not link to node " + PARENT_NODE + " at "
                        + parent + " within " + BenchSupport.TIMEOUT.toSeconds() + " s");
            }
            Thread.sleep(10);
        }
        return String.join(",", sinks);
    }

    // ------------------------------------------------------------------ Pekko Artery

    /**
     * The Pekko settings of both ends: {@link BenchSupport#PEKKO_CONFIG} plus classic remoting over
     * Artery TCP on 127.0.0.1:{@code port} (0: any free port; no shutdown hook: the sending side is
     * terminated by the benchmark, the child just exits), Java serialization off (the payload and the
     * ack are {@code String}s, which Artery serializes with its built-in {@code StringSerializer}), and an
     * outbound message queue of {@code queue} messages instead of 3072. Artery drops what does not fit
     * into that queue (it has no back pressure towards the sender), so it is sized to hold a whole
     * invocation; Harbor keeps its default limit (100,000 envelopes) and pushes back with OVERLOADED.
     */
    static Config arteryConfig(int port, int queue) {
        return ConfigFactory.parseString("""
                pekko.actor.provider = remote
                pekko.actor.allow-java-serialization = off
                pekko.remote.warn-about-direct-use = off
                pekko.remote.warn-unsafe-watch-outside-cluster = off
                pekko.coordinated-shutdown.run-by-jvm-shutdown-hook = off
                pekko.remote.artery.transport = tcp
                pekko.remote.artery.canonical.hostname = "127.0.0.1"
                pekko.remote.artery.canonical.port = %d
                pekko.remote.artery.advanced.outbound-message-queue-size = %d
                """.formatted(port, queue)).withFallback(BenchSupport.PEKKO_CONFIG);
    }

    /** A Pekko sink: counts, and acks to the sender of every {@code quota}-th message. */
    static final class ArterySink extends AbstractActor {
        private final int quota;
        private int count;
        /** The payloads' lengths, summed: every payload is read as a String. */
        private long chars;

        ArterySink(int quota) {
            this.quota = quota;
        }

        @Override
        public Receive createReceive() {
            return receiveBuilder().matchAny(m -> {
                chars += ((String) m).length();
                if (++count == quota) {
                    count = 0;
                    getSender().tell(ACK, getSelf());
                }
            }).build();
        }
    }

    private static String artery(int port, int pairs, int quota) {
        ActorSystem system = ActorSystem.create(ARTERY_SYSTEM, arteryConfig(port, CrossNodeThroughput.ARTERY_QUEUE));
        for (int i = 0; i < pairs; i++) {
            system.actorOf(Props.create(ArterySink.class, () -> new ArterySink(quota)), "sink-" + i);
        }
        return "pekko://" + ARTERY_SYSTEM + "@127.0.0.1:" + port + "/user/sink-";
    }

    // ------------------------------------------------------------------ bare gRPC

    /** Serves the bare stream, each of its calls read by the {@code sinks} made for it. */
    private static String grpc(int port, String runtime,
            Function<StreamObserver<LinkFrame>, StreamObserver<LinkFrame>> sinks) throws IOException {
        serve(port, new HarborGrpc.HarborImplBase() {
            @Override
            public StreamObserver<LinkFrame> link(StreamObserver<LinkFrame> responses) {
                return sinks.apply(responses);
            }
        }.bindService(), runtime);
        return "grpc://127.0.0.1:" + port;
    }

    /** The ack frame of each of {@code pairs} sinks of the bare stream: one envelope from the sink to its sender. */
    private static LinkFrame[] acks(int pairs) {
        LinkFrame[] acks = new LinkFrame[pairs];
        for (int i = 0; i < pairs; i++) {
            acks[i] = LinkFrame.newBuilder().setBatch(Batch.newBuilder().setPacked(new EnvelopeBatch()
                    .send(CrossNodeThroughput.grpcSender(i), CrossNodeThroughput.grpcSink(i), ACK).toByteString())).build();
        }
        return acks;
    }

    private static String raw(int port, int quota) throws IOException {
        serve(port, ServerServiceDefinition.builder(RawBytesStream.METHOD.getServiceName())
                .addMethod(RawBytesStream.METHOD, ServerCalls.asyncBidiStreamingCall(responses -> new RawSinks(responses, quota)))
                .build(), "raw");
        return "raw://127.0.0.1:" + port;
    }

    /** Serves {@code service} (counted) on {@code port} with a direct executor until the child exits. */
    private static void serve(int port, ServerServiceDefinition service, String runtime) throws IOException {
        Server server = Grpc.newServerBuilderForPort(port, InsecureServerCredentials.create()).directExecutor()
                .addService(counted(service, runtime)).build().start();
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            server.shutdownNow();
            try {
                server.awaitTermination(1, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }));
    }

    /** The sinks of the raw stream, called on gRPC's event loop one chunk at a time. */
    static final class RawSinks implements StreamObserver<List<ByteString>> {
        private static final List<ByteString> ACK_ITEM = List.of(ByteString.copyFromUtf8(ACK));
        private final StreamObserver<List<ByteString>> responses;
        private final int quota;
        private int count;
        /** The items' lengths, summed, so that every decoded String is used. */
        private long chars;

        RawSinks(StreamObserver<List<ByteString>> responses, int quota) {
            this.responses = responses;
            this.quota = quota;
        }

        @Override
        public void onNext(List<ByteString> chunk) {
            for (ByteString item : chunk) {
                chars += item.toStringUtf8().length(); // decoded to a String and read, as the other runtimes' sinks do
                if (++count == quota) {
                    count = 0;
                    responses.onNext(ACK_ITEM);
                }
            }
        }

        @Override
        public void onError(Throwable t) {
            // the parent closed the stream
        }

        @Override
        public void onCompleted() {
            responses.onCompleted();
        }
    }

    /** The sinks of one bare gRPC stream, called on gRPC's event loop one frame at a time. */
    static final class GrpcSinks implements StreamObserver<LinkFrame> {
        private final StreamObserver<LinkFrame> responses;
        private final int quota;
        private final int[] counts;
        private final LinkFrame[] acks;
        private final Payloads payloads = new Payloads();
        /** The payloads' lengths, summed, so that every decoded String is used. */
        private long chars;

        GrpcSinks(StreamObserver<LinkFrame> responses, int pairs, int quota) {
            this.responses = responses;
            this.quota = quota;
            this.counts = new int[pairs];
            this.acks = acks(pairs);
        }

        @Override
        public void onNext(LinkFrame frame) {
            EnvelopeBatch.Reader r = EnvelopeBatch.reader(frame.getBatch().getPacked());
            try {
                while (r.next()) {
                    chars += ((String) r.payload(payloads)).length(); // decoded to a String and read, as the other runtimes' sinks do
                    int sink = (int) (r.to().id() - CrossNodeThroughput.GRPC_ID_BASE);
                    if (++counts[sink] == quota) {
                        counts[sink] = 0;
                        responses.onNext(acks[sink]);
                    }
                }
            } catch (InvalidProtocolBufferException e) {
                throw new IllegalStateException("the parent sent a batch that does not parse", e);
            }
        }

        @Override
        public void onError(Throwable t) {
            // the parent closed the stream
        }

        @Override
        public void onCompleted() {
            responses.onCompleted();
        }
    }

    /**
     * The sinks of one bare stream, each reading its messages on a virtual thread of its own: the event
     * loop walks a frame, gathers each sink's payloads (a slice of the frame's bytes each, undecoded) and
     * hands each sink its share of the frame as one item of its queue, starting the sink's thread if it
     * was idle; that thread decodes each payload to a {@code String}, reads and counts it, and acks. As a
     * runtime that runs each service on its own thread delivers, with nothing else of one.
     *
     * <p>Threading: {@link #onNext} runs on gRPC's event loop, one frame at a time; a sink's count is
     * touched only by the one thread that holds its {@code running} flag; acks from several sinks'
     * threads are written under the response stream's lock.
     */
    static final class HandoffSinks implements StreamObserver<LinkFrame> {
        private final StreamObserver<LinkFrame> responses;
        private final Sink[] sinks;

        HandoffSinks(StreamObserver<LinkFrame> responses, int pairs, int quota) {
            this.responses = responses;
            LinkFrame[] acks = acks(pairs);
            sinks = new Sink[pairs];
            for (int i = 0; i < pairs; i++) {
                sinks[i] = new Sink(acks[i], quota);
            }
        }

        private final class Sink {
            private final LinkFrame ack;
            private final int quota;
            private final ConcurrentLinkedQueue<ByteBuffer[]> queue =
                    new ConcurrentLinkedQueue<>();
            /** 1 while a thread reads this sink's queue; taken from 0 by whoever finds work. */
            private final AtomicInteger running = new AtomicInteger();
            /** This frame's payloads for this sink so far: the event loop's. */
            private ByteBuffer[] gathered = new ByteBuffer[16];
            private int count;
            /** The reading thread's. */
            private int received;
            private long chars;

            Sink(LinkFrame ack, int quota) {
                this.ack = ack;
                this.quota = quota;
            }

            void gather(ByteBuffer payload) {
                if (count == gathered.length) {
                    gathered = Arrays.copyOf(gathered, count * 2);
                }
                gathered[count++] = payload;
            }

            /** The frame has ended: what was gathered goes to the sink's thread. */
            void hand() {
                if (count == 0) {
                    return;
                }
                queue.offer(Arrays.copyOf(gathered, count));
                count = 0;
                if (running.get() == 0 && running.compareAndSet(0, 1)) {
                    Thread.startVirtualThread(this::read);
                }
            }

            private void read() {
                do {
                    ByteBuffer[] items;
                    while ((items = queue.poll()) != null) {
                        for (ByteBuffer p : items) {
                            // decoded to a String and read, as the other runtimes' sinks do
                            chars += new String(p.array(), p.position(), p.remaining(), StandardCharsets.UTF_8).length();
                            if (++received == quota) {
                                received = 0;
                                synchronized (responses) {
                                    responses.onNext(ack);
                                }
                            }
                        }
                    }
                    running.set(0);
                } while (!queue.isEmpty() && running.compareAndSet(0, 1)); // an item that came after the last poll
            }
        }

        @Override
        public void onNext(LinkFrame frame) {
            EnvelopeBatch.Reader r = EnvelopeBatch.reader(frame.getBatch().getPacked());
            try {
                while (r.next()) {
                    sinks[(int) (r.to().id() - CrossNodeThroughput.GRPC_ID_BASE)].gather(r.payloadBytes());
                }
            } catch (InvalidProtocolBufferException e) {
                throw new IllegalStateException("the parent sent a batch that does not parse", e);
            }
            for (Sink s : sinks) {
                s.hand();
            }
        }

        @Override
        public void onError(Throwable t) {
            // the parent closed the stream
        }

        @Override
        public void onCompleted() {
            synchronized (responses) {
                responses.onCompleted();
            }
        }
    }
}
