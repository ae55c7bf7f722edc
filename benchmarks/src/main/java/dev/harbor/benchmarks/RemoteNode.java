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
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.LongAdder;
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
            System.err.println("usage: RemoteNode harbor|artery|grpc|raw PORT PARENT_HOST:PORT|- PAIRS QUOTA");
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
            case "grpc" -> grpc(port, pairs, quota);
            case "raw" -> raw(port, quota);
            default -> throw new IllegalArgumentException("unknown runtime '" + runtime + "': use harbor, artery, grpc or raw");
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

    private static String grpc(int port, int pairs, int quota) throws IOException {
        serve(port, new HarborGrpc.HarborImplBase() {
            @Override
            public StreamObserver<LinkFrame> link(StreamObserver<LinkFrame> responses) {
                return new GrpcSinks(responses, pairs, quota);
            }
        }.bindService(), "grpc");
        return "grpc://127.0.0.1:" + port;
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
            this.acks = new LinkFrame[pairs];
            for (int i = 0; i < pairs; i++) {
                acks[i] = LinkFrame.newBuilder().setBatch(Batch.newBuilder().setPacked(new EnvelopeBatch()
                        .send(CrossNodeThroughput.grpcSender(i), CrossNodeThroughput.grpcSink(i), ACK).toByteString())).build();
            }
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
}
