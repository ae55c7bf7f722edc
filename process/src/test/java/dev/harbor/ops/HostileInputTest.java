package dev.harbor.ops;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.google.protobuf.ByteString;
import com.google.protobuf.MessageLite;
import dev.harbor.wire.Wire;
import dev.harbor.service.NamedService;
import dev.harbor.cli.NodeProcess;
import dev.harbor.proto.AbortRequest;
import dev.harbor.proto.Batch;
import dev.harbor.proto.Died;
import dev.harbor.proto.Envelope;
import dev.harbor.proto.HarborGrpc;
import dev.harbor.proto.Heartbeat;
import dev.harbor.proto.Hello;
import dev.harbor.proto.KillManyRequest;
import dev.harbor.proto.KillRequest;
import dev.harbor.proto.LinkFrame;
import dev.harbor.proto.ListServicesRequest;
import dev.harbor.proto.NameBinding;
import dev.harbor.proto.NodeGrpc;
import dev.harbor.proto.StopRequest;
import dev.harbor.proto.WatchExitsRequest;
import dev.harbor.security.BearerAuth;
import dev.harbor.security.MalformedRequests;
import dev.harbor.service.Handle;
import dev.harbor.transport.EnvelopeBatch;
import io.grpc.CallOptions;
import io.grpc.ClientCall;
import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.MethodDescriptor;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.health.v1.HealthCheckRequest;
import io.grpc.health.v1.HealthCheckResponse.ServingStatus;
import io.grpc.health.v1.HealthGrpc;
import io.grpc.stub.ClientCalls;
import io.grpc.stub.MetadataUtils;
import io.grpc.stub.StreamObserver;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

/**
 * Hostile input against a node's gRPC port: the harbor transport ({@code Harbor.Link}), the admin
 * API ({@code Node}) and raw TCP. Frames are sent as raw bytes through a pass-through marshaller, so
 * they can be random, truncated, oversized, of the wrong protobuf type, out of order, or a peer
 * claiming another node's id. After every test the node must be up and healthy, answer clear errors
 * (a gRPC status with a description, never {@code UNKNOWN}, which would mean a handler threw), and no
 * service of it may have changed: the same services alive, no exit event of its own, its peer still
 * linked, its global names as they were.
 *
 * <p>Node 1 (the target, with a token) and node 2 (a well-behaved peer) are real node processes in
 * this JVM on loopback. {@link #CASES} counts the cases run, for the record.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class HostileInputTest {
    static final String CLUSTER = "hostile";
    static final String TOKEN = "hostile-test-token-91c2";
    /** Fuzz: a fixed seed, so a failure is reproducible, and a bounded number of cases. */
    static final long SEED = 0x4841524230520L;
    static final int FUZZ_CASES = 600;
    static final int LIMIT = 256 * 1024;
    static final Duration LOSS = Duration.ofSeconds(2);
    /** Cases run so far, over every test of the class (printed at the end). */
    static final java.util.concurrent.atomic.AtomicInteger CASES = new java.util.concurrent.atomic.AtomicInteger();

    static final MethodDescriptor<byte[], byte[]> LINK = raw(HarborGrpc.getLinkMethod());
    static final MethodDescriptor<byte[], byte[]> KILL = raw(NodeGrpc.getKillMethod());
    static final MethodDescriptor<byte[], byte[]> KILL_MANY = raw(NodeGrpc.getKillManyMethod());
    static final MethodDescriptor<byte[], byte[]> STOP = raw(NodeGrpc.getStopMethod());
    static final MethodDescriptor<byte[], byte[]> ABORT = raw(NodeGrpc.getAbortMethod());
    static final MethodDescriptor<byte[], byte[]> LIST = raw(NodeGrpc.getListServicesMethod());
    static final MethodDescriptor<byte[], byte[]> WATCH = raw(NodeGrpc.getWatchExitsMethod());

    private final Nodes nodes = new Nodes(CLUSTER);
    private NodeProcess target;
    private NodeProcess peer;
    private ManagedChannel channel;
    private Handle victim;
    private Handle peerService;
    private Set<Handle> servicesBefore;

    static MethodDescriptor<byte[], byte[]> raw(MethodDescriptor<?, ?> m) {
        return MalformedRequests.rawBytes(m);
    }

    @BeforeAll
    void startNodes() throws Exception {
        peer = nodes.start(2, Map.of("HARBOR_COORDINATOR_TOKEN", TOKEN)); // every node of a cluster holds its token
        target = nodes.start(1, Map.of("HARBOR_COORDINATOR_TOKEN", TOKEN, "HARBOR_CLUSTER_PEERS", peer.advertise(),
                "HARBOR_LIMITS_MAX_MESSAGE_BYTES", Integer.toString(LIMIT), "HARBOR_HARBOR_LOSS_TIMEOUT_MS",
                Long.toString(LOSS.toMillis())));
        victim = target.node().launch(() -> new NamedService("victim"));
        peerService = peer.node().launch(() -> new NamedService("peer-service"));
        await().atMost(Duration.ofSeconds(10)).until(() -> target.harbor().connected().contains(2)
                && target.node().whereis("peer-service").isPresent() && peer.node().whereis("victim").isPresent());
        channel = nodes.channel(target);
        servicesBefore = ownServices();
    }

    @AfterAll
    void stopNodes() {
        nodes.close();
        System.out.println("HostileInputTest: " + CASES.get() + " hostile cases sent (fuzz: " + FUZZ_CASES + ", seed 0x"
                + Long.toHexString(SEED) + ")");
    }

    private Set<Handle> ownServices() {
        return target.node().services().stream().map(s -> s.handle()).collect(Collectors.toSet());
    }

    /** After each test: the target is up, serving, unchanged, and still linked to its peer. */
    @AfterEach
    void theNodeIsUpAndNothingChanged() {
        assertThat(HealthGrpc.newBlockingStub(channel).withDeadlineAfter(5, TimeUnit.SECONDS).check(HealthCheckRequest
                .getDefaultInstance()).getStatus()).isEqualTo(ServingStatus.SERVING);
        assertThat(NodeGrpc.newBlockingStub(channel).withDeadlineAfter(5, TimeUnit.SECONDS)
                .listServices(ListServicesRequest.getDefaultInstance()).getServicesList()).extracting(s -> Wire.handle(s.getHandle()))
                .containsExactlyInAnyOrderElementsOf(servicesBefore);
        assertThat(ownServices()).isEqualTo(servicesBefore);
        assertThat(target.node().exits().lastSeq()).as("exit events on the target").isZero();
        assertThat(target.isStopped()).isFalse();
        assertThat(target.harbor().connected()).contains(2);
        assertThat(target.node().whereis("peer-service")).contains(peerService);
        // The victim still answers, locally and from the peer.
        assertThat(target.node().callAndWait(victim, "still here?", Duration.ofSeconds(5))).isEqualTo("still here?");
        assertThat(peer.node().callAndWait(victim, "from the peer", Duration.ofSeconds(5))).isEqualTo("from the peer");
    }

    // ------------------------------------------------------------------ helpers

    /** What a call ended with: its status and any messages the node sent back. */
    record Outcome(Status status, List<byte[]> answers) {
        /** The refusal reason in a Refusal frame the node sent back, or "". */
        String refusal() {
            for (byte[] a : answers) {
                try {
                    LinkFrame f = LinkFrame.parseFrom(a);
                    if (f.hasRefusal()) {
                        return f.getRefusal().getReason();
                    }
                } catch (com.google.protobuf.InvalidProtocolBufferException e) {
                    throw new AssertionError("the node sent a frame that does not parse", e);
                }
            }
            return "";
        }
    }

    /** Opens a link with the cluster's token, sends {@code frames}, half-closes, and waits for the node to end the call. */
    Outcome link(List<byte[]> frames) {
        return stream(LINK, frames, true, TOKEN);
    }

    Outcome stream(MethodDescriptor<byte[], byte[]> method, List<byte[]> frames, boolean halfClose, String token) {
        CASES.incrementAndGet();
        CompletableFuture<Status> done = new CompletableFuture<>();
        List<byte[]> answers = new CopyOnWriteArrayList<>();
        ClientCall<byte[], byte[]> call = withToken(token).newCall(method, CallOptions.DEFAULT.withDeadlineAfter(5, TimeUnit.SECONDS));
        StreamObserver<byte[]> out = ClientCalls.asyncBidiStreamingCall(call, new StreamObserver<>() {
            @Override
            public void onNext(byte[] value) {
                answers.add(value);
            }

            @Override
            public void onError(Throwable t) {
                done.complete(Status.fromThrowable(t));
            }

            @Override
            public void onCompleted() {
                done.complete(Status.OK);
            }
        });
        for (byte[] f : frames) {
            out.onNext(f);
        }
        if (halfClose) {
            out.onCompleted();
        }
        return new Outcome(done.join(), answers);
    }

    private io.grpc.Channel withToken(String token) {
        if (token == null) {
            return channel;
        }
        Metadata m = new Metadata();
        m.put(BearerAuth.AUTHORIZATION, "Bearer " + token);
        return io.grpc.ClientInterceptors.intercept(channel, MetadataUtils.newAttachHeadersInterceptor(m));
    }

    /** A unary call with raw bytes. */
    Outcome unary(MethodDescriptor<byte[], byte[]> method, byte[] request, String token) {
        CASES.incrementAndGet();
        try {
            byte[] answer = ClientCalls.blockingUnaryCall(withToken(token), method, CallOptions.DEFAULT.withDeadlineAfter(5,
                    TimeUnit.SECONDS), request);
            return new Outcome(Status.OK, List.of(answer));
        } catch (StatusRuntimeException e) {
            return new Outcome(e.getStatus(), List.of());
        }
    }

    /** A server-streaming call with raw bytes: the first answer or the error, then cancelled. */
    Outcome firstOfStream(MethodDescriptor<byte[], byte[]> method, byte[] request) {
        CASES.incrementAndGet();
        ClientCall<byte[], byte[]> call = channel.newCall(method, CallOptions.DEFAULT.withDeadlineAfter(5, TimeUnit.SECONDS));
        Iterator<byte[]> it = ClientCalls.blockingServerStreamingCall(call, request);
        try {
            return new Outcome(Status.OK, List.of(it.next()));
        } catch (StatusRuntimeException e) {
            return new Outcome(e.getStatus(), List.of());
        } finally {
            call.cancel("the test has what it needs", null);
        }
    }

    static byte[] frame(LinkFrame.Builder f) {
        return f.build().toByteArray();
    }

    static LinkFrame.Builder hello(int node, long incarnation) {
        return LinkFrame.newBuilder().setHello(helloOf(node).setIncarnation(incarnation));
    }

    /** A Hello of node {@code node} of this cluster in this build's wire format. */
    static Hello.Builder helloOf(int node) {
        return Hello.newBuilder().setCluster(CLUSTER).setNode(node).setWire(EnvelopeBatch.WIRE);
    }

    static LinkFrame.Builder batch(EnvelopeBatch batch) {
        return packed(batch.toByteString());
    }

    /** A clear error: the given code, a description that says something. */
    static void assertClear(Outcome o, Status.Code code, String... words) {
        assertThat(o.status().getCode()).as("status of %s", o.status()).isEqualTo(code);
        assertThat(o.status().getDescription()).as("description").isNotBlank().contains(words);
    }

    // ------------------------------------------------------------------ the transport

    @Test
    void framesOutOfOrderAreRefusedWithTheReason() {
        Outcome batchFirst = link(List.of(frame(batch(new EnvelopeBatch().send(victim, null, "sneaky")))));
        assertClear(batchFirst, Status.Code.FAILED_PRECONDITION, "the first frame of a link must be a Hello");
        assertThat(batchFirst.refusal()).contains("the first frame of a link must be a Hello, not BATCH");

        Outcome heartbeatFirst = link(List.of(frame(LinkFrame.newBuilder().setHeartbeat(Heartbeat.newBuilder().setSentUnixNanos(1)))));
        assertClear(heartbeatFirst, Status.Code.FAILED_PRECONDITION, "Hello");

        Outcome refusalFirst = link(List.of(frame(LinkFrame.newBuilder().setRefusal(dev.harbor.proto.Refusal.newBuilder()
                .setReason("go away")))));
        assertClear(refusalFirst, Status.Code.FAILED_PRECONDITION, "Hello");

        Outcome empty = link(List.of(new byte[0])); // a frame of no kind
        assertClear(empty, Status.Code.FAILED_PRECONDITION, "KIND_NOT_SET");

        long fake = System.currentTimeMillis() << 22;
        Outcome twoHellos = link(List.of(frame(hello(77, fake)), frame(hello(77, fake))));
        assertClear(twoHellos, Status.Code.FAILED_PRECONDITION, "a HELLO frame after the Hello breaks the protocol");
    }

    @Test
    void aLinkWithoutTheClustersTokenIsUnauthenticatedBeforeItsFirstFrameIsRead() {
        long fake = System.currentTimeMillis() << 22;
        Map<String, String> refusals = new java.util.LinkedHashMap<>();
        refusals.put(null, "this call needs 'authorization: Bearer <token>' with the cluster's token");
        refusals.put("wrong", "the bearer token is not the cluster's");
        refusals.put(TOKEN + "x", "the bearer token is not the cluster's");
        refusals.forEach((token, why) -> {
            Outcome o = stream(LINK, List.of(frame(hello(83, fake))), true, token);
            assertClear(o, Status.Code.UNAUTHENTICATED, why);
            assertThat(o.answers()).as("no frame back, not even a refusal: the Hello was never read").isEmpty();
        });
        // A send on such a link is never read: the node's count of envelopes received does not move.
        long received = target.harbor().received();
        Outcome sneaky = stream(LINK, List.of(frame(hello(84, fake)),
                frame(batch(new EnvelopeBatch().send(victim, null, "drain")))), true, null);
        assertClear(sneaky, Status.Code.UNAUTHENTICATED, "authorization: Bearer <token>");
        assertThat(target.harbor().received()).isEqualTo(received);
        assertThat(target.harbor().peerAddresses()).doesNotContainKeys(83, 84);
    }

    @Test
    void aPeerClaimingAnotherNodesIdOrSpeakingForOthersIsRefused() {
        Outcome asPeer = link(List.of(frame(hello(2, peer.harbor().incarnation() + 1))));
        assertClear(asPeer, Status.Code.FAILED_PRECONDITION, "node id 2 is in use by a live node");

        Outcome asOlderPeer = link(List.of(frame(hello(2, peer.harbor().incarnation() - 1))));
        assertClear(asOlderPeer, Status.Code.FAILED_PRECONDITION, "a newer life of node 2 is linked already");

        Outcome asTarget = link(List.of(frame(hello(1, target.harbor().incarnation() + 1))));
        assertClear(asTarget, Status.Code.FAILED_PRECONDITION, "node id 1 is this node's own id");

        Outcome otherCluster = link(List.of(frame(hello(77, 5).setHello(helloOf(77).setCluster("evil")))));
        assertClear(otherCluster, Status.Code.FAILED_PRECONDITION, "cluster 'evil'");

        // A node of an earlier build (no wire format: batches of protobuf envelopes) would lose every message it got.
        Outcome olderBuild = link(List.of(frame(hello(83, 5).setHello(helloOf(83).setIncarnation(5).setWire(0)))));
        assertClear(olderBuild, Status.Code.FAILED_PRECONDITION, "speaks wire format 0, this node " + EnvelopeBatch.WIRE,
                "the same Harbor build");
        assertThat(target.harbor().peerAddresses()).doesNotContainKey(83);

        for (int id : new int[] {0, 65536, -1, Integer.MIN_VALUE}) {
            // Node ids are uint32 on the wire: 2^31 and 2^32-1 are shown as such, never as negative numbers.
            Outcome outOfRange = link(List.of(frame(hello(id, 5))));
            assertClear(outOfRange, Status.Code.FAILED_PRECONDITION, "node id " + Integer.toUnsignedString(id) + " is out of range");
        }

        // A Hello that lists the target's own service, or binds a name to the peer's service, as its own.
        Outcome listsOthers = link(List.of(frame(LinkFrame.newBuilder().setHello(helloOf(78).setIncarnation(5).addServices(Wire.handle(victim))))));
        assertClear(listsOthers, Status.Code.FAILED_PRECONDITION, "not a service of node 78");
        Outcome bindsOthers = link(List.of(frame(LinkFrame.newBuilder().setHello(helloOf(79).setIncarnation(5).addNames(NameBinding.newBuilder().setName("peer-service")
                        .setHandle(Wire.handle(peerService)))))));
        assertClear(bindsOthers, Status.Code.FAILED_PRECONDITION, "not a service of node 79");
        assertThat(target.harbor().peerAddresses()).doesNotContainKeys(78, 79);
    }

    @Test
    void anAdmittedPeerCannotSpeakForOtherNodesAndReplayedSessionsAreIgnored() {
        long before = target.harbor().rejected();
        long fake = System.currentTimeMillis() << 22;
        Handle fakeService = Handle.of(80, fake + 1);
        List<byte[]> frames = new ArrayList<>();
        frames.add(frame(hello(80, fake)));
        // It says the target's victim and the peer's service died, and announces the birth of the peer's.
        frames.add(frame(batch(new EnvelopeBatch()
                .control(Envelope.newBuilder().setDied(Died.newBuilder().setHandle(Wire.handle(victim)).addNames("victim")).build())
                .control(Envelope.newBuilder().setDied(Died.newBuilder().setHandle(Wire.handle(peerService)).addNames("peer-service")).build())
                .control(Envelope.newBuilder().setBorn(dev.harbor.proto.Born.newBuilder().setHandle(Wire.handle(peerService))).build()))));
        // Replies to sessions it was never asked, and the same ones again (replayed).
        for (int round = 0; round < 2; round++) {
            EnvelopeBatch replies = new EnvelopeBatch();
            for (long session = 1; session <= 20; session++) {
                replies.reply(session, "forged");
            }
            frames.add(frame(batch(replies)));
        }
        // The same call session twice, one payload that does not parse, a send for another node's service.
        com.google.protobuf.Any unknownType = com.google.protobuf.Any.newBuilder()
                .setTypeUrl("type.googleapis.com/no.such.Type").setValue(ByteString.copyFromUtf8("x")).build();
        frames.add(frame(batch(new EnvelopeBatch()
                .call(victim, fakeService, 7, "twice")
                .call(victim, fakeService, 7, "twice")
                .call(victim, fakeService, 8, unknownType)
                .send(peerService, null, "not yours"))));
        Outcome o = stream(LINK, frames, false, TOKEN);
        // The forged deaths and birth (3 envelopes) are dropped and counted; the link itself stays (the peer may be honest but buggy).
        await().atMost(Duration.ofSeconds(5)).until(() -> target.harbor().rejected() >= before + 3);
        assertThat(o.status().getCode()).isIn(Status.Code.OK, Status.Code.UNAVAILABLE, Status.Code.CANCELLED);
        assertThat(target.harbor().isAlive(peerService)).isTrue();
        // The fake peer goes silent and is declared lost; it had no services, so no exit event follows.
        await().atMost(LOSS.multipliedBy(3)).until(() -> !target.harbor().peerAddresses().containsKey(80));
    }

    @Test
    void packedBatchesThatLieOrBreakOffAreDroppedAndCountedAndTheLinkStays() {
        long before = target.harbor().rejected();
        long receivedBefore = target.harbor().received();
        long fake = System.currentTimeMillis() << 22;
        Handle fakeService = Handle.of(82, fake + 1);
        ByteString sends = new EnvelopeBatch().send(victim, fakeService, "one").send(victim, fakeService, "two").toByteString();
        // A service update which says the target's victim died.
        ByteString forgedDeath = new EnvelopeBatch().control(Envelope.newBuilder()
                .setDied(Died.newBuilder().setHandle(Wire.handle(victim)).addNames("victim")).build()).toByteString();
        List<byte[]> frames = new ArrayList<>();
        frames.add(frame(hello(82, fake)));
        frames.add(frame(packed(forgedDeath.concat(sends))));               // 1 rejected: the forged death
        frames.add(frame(packed(sends.substring(0, sends.size() - 3))));    // 1 rejected: cut inside the second record
        frames.add(frame(packed(ByteString.copyFrom(new byte[] {9, 1, 2})))); // 1 rejected: a kind no node writes
        frames.add(frame(packed(ByteString.copyFrom(new byte[] {1, 0, 0}))));  // 1 rejected: a send cut in its handles
        // 1 rejected: a service update whose Envelope does not parse; the sends after it are still read.
        frames.add(frame(packed(ByteString.copyFrom(new byte[] {5, 3, (byte) 0xff, (byte) 0xff, (byte) 0xff}).concat(sends))));
        Outcome o = stream(LINK, frames, false, TOKEN);
        await().atMost(Duration.ofSeconds(5)).until(() -> target.harbor().rejected() >= before + 5);
        // The sends read: two after the forged death, one before the cut, two after the broken update.
        await().atMost(Duration.ofSeconds(5)).until(() -> target.harbor().received() >= receivedBefore + 5);
        assertThat(o.status().getCode()).isIn(Status.Code.OK, Status.Code.UNAVAILABLE, Status.Code.CANCELLED);
        assertThat(target.node().isAlive(victim)).isTrue();
        await().atMost(LOSS.multipliedBy(3)).until(() -> !target.harbor().peerAddresses().containsKey(82));
    }

    static LinkFrame.Builder packed(ByteString records) {
        return LinkFrame.newBuilder().setBatch(Batch.newBuilder().setPacked(records));
    }

    @Test
    void randomTruncatedHugeAndWrongTypeFramesGetClearErrors() {
        Random random = new Random(SEED + 1);
        byte[] noise = new byte[512];
        random.nextBytes(noise);
        Outcome garbage = link(List.of(noise));
        assertThat(garbage.status().getCode()).isIn(Status.Code.INVALID_ARGUMENT, Status.Code.FAILED_PRECONDITION);
        assertThat(garbage.status().getDescription()).isNotBlank();

        byte[] hello = frame(hello(81, 5).setHello(helloOf(81).setIncarnation(5)
                .setAddress("127.0.0.1:1").addNames(NameBinding.newBuilder().setName("n").setHandle(
                        dev.harbor.proto.Handle.newBuilder().setNode(81).setId(9)))));
        for (int cut = 1; cut < hello.length; cut += 3) {
            Outcome truncated = link(List.of(java.util.Arrays.copyOf(hello, cut)));
            assertThat(truncated.status().getCode()).as("cut at %d", cut).isIn(Status.Code.INVALID_ARGUMENT, Status.Code.FAILED_PRECONDITION);
            assertThat(truncated.status().getDescription()).isNotBlank();
        }

        // Field 1 (the Hello) claims 2 GB; a few bytes follow.
        Outcome hugeLength = link(List.of(new byte[] {0x0a, (byte) 0xff, (byte) 0xff, (byte) 0xff, (byte) 0xff, 0x07, 1, 2, 3}));
        assertClear(hugeLength, Status.Code.INVALID_ARGUMENT, "not a valid protobuf message");

        Outcome oversized = link(List.of(new byte[LIMIT + 1]));
        assertClear(oversized, Status.Code.RESOURCE_EXHAUSTED, "exceeds maximum size " + LIMIT);

        // A Kill request aimed at the victim, sent where a link frame belongs.
        Outcome wrongType = link(List.of(KillRequest.newBuilder().setHandle(Wire.handle(victim)).build().toByteArray()));
        assertThat(wrongType.status().getCode()).isIn(Status.Code.INVALID_ARGUMENT, Status.Code.FAILED_PRECONDITION);
        assertThat(wrongType.status().getDescription()).isNotBlank();
    }

    @Test
    void bytesThatAreNotHttp2AreDroppedAtTheDoor() throws Exception {
        String[] host = target.advertise().split(":");
        Random random = new Random(SEED + 2);
        List<byte[]> junk = new ArrayList<>();
        junk.add("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
        junk.add(new byte[] {0x16, 0x03, 0x01, 0x00, (byte) 0xff, 0x01}); // the start of a TLS ClientHello
        byte[] noise = new byte[4096];
        random.nextBytes(noise);
        junk.add(noise);
        // The HTTP/2 preface, then a frame header that claims 16 MB of payload.
        byte[] preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".getBytes(StandardCharsets.US_ASCII);
        byte[] h2 = java.util.Arrays.copyOf(preface, preface.length + 9);
        h2[preface.length] = (byte) 0xff;
        h2[preface.length + 1] = (byte) 0xff;
        h2[preface.length + 2] = (byte) 0xff;
        junk.add(h2);
        for (byte[] j : junk) {
            CASES.incrementAndGet();
            try (Socket s = new Socket(host[0], Integer.parseInt(host[1]))) {
                s.setSoTimeout(5000);
                OutputStream out = s.getOutputStream();
                out.write(j);
                out.flush();
                InputStream in = s.getInputStream();
                // The node answers with at most a GOAWAY and closes: reading ends, it does not hang.
                byte[] buf = new byte[8192];
                int total = 0;
                int n;
                while ((n = in.read(buf)) >= 0) {
                    total += n;
                    assertThat(total).isLessThan(64 * 1024);
                }
            } catch (java.net.SocketException e) {
                // a reset is a refusal too
                assertThat(e.getMessage()).isNotBlank();
            }
        }
    }

    // ------------------------------------------------------------------ the admin API

    @Test
    void theAdminApiRefusesWhatIsMalformedOrUnauthenticated() {
        byte[] killVictim = KillRequest.newBuilder().setHandle(Wire.handle(victim)).build().toByteArray();
        assertClear(unary(KILL, killVictim, null), Status.Code.UNAUTHENTICATED, "token");
        assertClear(unary(KILL, killVictim, "Bearer-ish " + TOKEN), Status.Code.UNAUTHENTICATED, "token");
        assertClear(unary(KILL, killVictim, TOKEN + " "), Status.Code.UNAUTHENTICATED, "token");
        assertClear(unary(STOP, new byte[0], null), Status.Code.UNAUTHENTICATED, "token");
        assertClear(unary(ABORT, new byte[0], "wrong"), Status.Code.UNAUTHENTICATED, "token");
        assertClear(unary(KILL_MANY, KillManyRequest.newBuilder().addHandles(Wire.handle(victim)).build().toByteArray(), null),
                Status.Code.UNAUTHENTICATED, "token");

        assertClear(unary(KILL, new byte[0], TOKEN), Status.Code.INVALID_ARGUMENT, "names no service");
        assertClear(unary(KILL, KillRequest.newBuilder().setHandle(Wire.handle(peerService)).build().toByteArray(), TOKEN),
                Status.Code.INVALID_ARGUMENT, "belongs to node 2");
        assertClear(unary(KILL, KillRequest.newBuilder().setHandle(dev.harbor.proto.Handle.newBuilder().setNode(1)).build()
                .toByteArray(), TOKEN), Status.Code.INVALID_ARGUMENT, "local id 0");
        // uint32 node ids at or above 2^31 are named as such, not as negative numbers.
        assertClear(unary(KILL, KillRequest.newBuilder().setHandle(dev.harbor.proto.Handle.newBuilder().setNode(Integer.MIN_VALUE)
                .setId(-1L)).build().toByteArray(), TOKEN), Status.Code.INVALID_ARGUMENT, "node id 2147483648 is out of range");
        assertClear(unary(KILL, new byte[] {0x0a, (byte) 0xff, (byte) 0xff, (byte) 0xff, (byte) 0xff, 0x07}, TOKEN),
                Status.Code.INVALID_ARGUMENT, "not a valid protobuf message");
        assertClear(unary(KILL, KillRequest.newBuilder().setHandle(Wire.handle(target.node().monitor())).build().toByteArray(),
                TOKEN), Status.Code.FAILED_PRECONDITION, "monitor");
        // All or nothing: a KillMany that names the monitor kills nobody, not even the victim.
        assertClear(unary(KILL_MANY, KillManyRequest.newBuilder().addHandles(Wire.handle(victim))
                .addHandles(Wire.handle(target.node().monitor())).build().toByteArray(), TOKEN), Status.Code.FAILED_PRECONDITION,
                "monitor");
        // A link frame sent to Kill: read as a KillRequest, it names no service of this node.
        Outcome wrongType = unary(KILL, frame(hello(2, 5)), TOKEN);
        assertThat(wrongType.status().getCode()).isEqualTo(Status.Code.INVALID_ARGUMENT);
        assertThat(wrongType.status().getDescription()).isNotBlank();
        assertClear(unary(KILL, new byte[LIMIT + 1], TOKEN), Status.Code.RESOURCE_EXHAUSTED, "exceeds maximum size");

        // Exit streams from a sequence number the node never reached (or uint64's largest) are refused;
        // replaying from 0 twice gives the same start.
        long last = target.node().exits().lastSeq();
        assertClear(firstOfStream(WATCH, WatchExitsRequest.newBuilder().setFromSeq(last + 5).build().toByteArray()),
                Status.Code.INVALID_ARGUMENT, "above the newest exit event");
        assertClear(firstOfStream(WATCH, WatchExitsRequest.newBuilder().setFromSeq(-1).build().toByteArray()),
                Status.Code.INVALID_ARGUMENT, "18446744073709551615");
        Outcome first = firstOfStream(WATCH, WatchExitsRequest.getDefaultInstance().toByteArray());
        Outcome again = firstOfStream(WATCH, WatchExitsRequest.getDefaultInstance().toByteArray());
        assertThat(first.status().isOk()).isTrue();
        assertThat(again.answers().getFirst()).isEqualTo(first.answers().getFirst());

        MethodDescriptor<byte[], byte[]> nonsense = KILL.toBuilder().setFullMethodName("harbor.v1.Node/Explode").build();
        assertClear(unary(nonsense, new byte[] {1, 2, 3}, TOKEN), Status.Code.UNIMPLEMENTED, "Explode");
    }

    // ------------------------------------------------------------------ fuzz

    /** One fuzz target: how to call it, and which codes are fine answers. */
    private record Target(String name, MethodDescriptor<byte[], byte[]> method, String token, Supplier<MessageLite> valid,
            Set<Status.Code> fine) {
    }

    @Test
    void fuzzWithAFixedSeedLeavesTheNodeUpAndUnchanged() {
        Set<Status.Code> refusedOrParsed = EnumSet.of(Status.Code.INVALID_ARGUMENT, Status.Code.FAILED_PRECONDITION,
                Status.Code.RESOURCE_EXHAUSTED);
        Set<Status.Code> withOk = EnumSet.copyOf(refusedOrParsed);
        withOk.add(Status.Code.OK);
        Set<Status.Code> unauthenticated = EnumSet.of(Status.Code.UNAUTHENTICATED);
        // A handle that never existed on this node (ids of this life are far above 1). No valid message names
        // the victim: one target's message may be sent to another (with the token), and a Kill of the victim
        // with the token is not hostile, it is the admin's right.
        dev.harbor.proto.Handle nobody = dev.harbor.proto.Handle.newBuilder().setNode(1).setId(1).build();
        List<Target> targets = List.of(
                // A valid Hello: its mutations admit fake peers (ids 88 and 90 with this seed) that then fall
                // silent. They count for no majority, since this node's dial never reached them (the rule
                // ManualClockMembershipTest pins down), so this node stays in the majority and declares them lost.
                new Target("Link", LINK, TOKEN, () -> hello(90, 5).build(), withOk),
                new Target("Kill", KILL, TOKEN, () -> KillRequest.newBuilder().setHandle(nobody).build(), withOk),
                new Target("KillMany", KILL_MANY, TOKEN, () -> KillManyRequest.newBuilder().addHandles(nobody).build(), withOk),
                new Target("Kill without token", KILL, null, () -> KillRequest.newBuilder().setHandle(nobody).build(),
                        unauthenticated),
                new Target("Stop without token", STOP, null, StopRequest::getDefaultInstance, unauthenticated),
                new Target("Abort with a wrong token", ABORT, "wrong", AbortRequest::getDefaultInstance, unauthenticated),
                new Target("ListServices", LIST, null, ListServicesRequest::getDefaultInstance, withOk),
                new Target("WatchExits", WATCH, null, () -> WatchExitsRequest.newBuilder().setFromSeq(1_000_000).build(), withOk));
        Random random = new Random(SEED);
        Map<String, Integer> perTarget = new java.util.TreeMap<>();
        for (int i = 0; i < FUZZ_CASES; i++) {
            Target t = targets.get(random.nextInt(targets.size()));
            byte[] input = mutate(random, t.valid().get().toByteArray(), targets.get(random.nextInt(targets.size())).valid().get()
                    .toByteArray());
            Outcome o = switch (t.method().getType()) {
                case UNARY -> unary(t.method(), input, t.token());
                case SERVER_STREAMING -> firstOfStream(t.method(), input);
                default -> stream(t.method(), List.of(input), true, t.token());
            };
            perTarget.merge(t.name(), 1, Integer::sum);
            String what = "case " + i + " (" + t.name() + ", " + input.length + " bytes)";
            assertThat(o.status().getCode()).as(what + ": " + o.status()).isIn(t.fine());
            if (!o.status().isOk()) {
                assertThat(o.status().getDescription()).as(what + ": the error says what is wrong").isNotBlank();
            }
        }
        System.out.println("HostileInputTest fuzz: " + FUZZ_CASES + " cases by target " + perTarget);
        assertThat(perTarget.values().stream().mapToInt(Integer::intValue).sum()).isEqualTo(FUZZ_CASES);
        // The fake peers the mutations admitted are silent from now on: past twice the loss timeout they
        // have been declared lost, and this node is still in the majority (and serves, checked after each test).
        await().pollDelay(LOSS.multipliedBy(2)).atMost(LOSS.multipliedBy(5)).until(() -> target.harbor().inMajority());
    }

    /** Random bytes, a valid message with bits flipped, truncated or extended, another method's message, a huge length. */
    static byte[] mutate(Random random, byte[] valid, byte[] other) {
        switch (random.nextInt(6)) {
            case 0 -> {
                byte[] b = new byte[random.nextInt(2048)];
                random.nextBytes(b);
                return b;
            }
            case 1 -> {
                byte[] b = valid.clone();
                for (int flips = 1 + random.nextInt(4); flips > 0 && b.length > 0; flips--) {
                    b[random.nextInt(b.length)] ^= (byte) (1 << random.nextInt(8));
                }
                return b;
            }
            case 2 -> {
                return java.util.Arrays.copyOf(valid, valid.length == 0 ? 0 : random.nextInt(valid.length));
            }
            case 3 -> {
                byte[] tail = new byte[1 + random.nextInt(64)];
                random.nextBytes(tail);
                byte[] b = java.util.Arrays.copyOf(valid, valid.length + tail.length);
                System.arraycopy(tail, 0, b, valid.length, tail.length);
                return b;
            }
            case 4 -> {
                return other;
            }
            default -> {
                int field = 1 + random.nextInt(6);
                return new byte[] {(byte) (field << 3 | 2), (byte) 0xff, (byte) 0xff, (byte) 0xff, (byte) 0xff, 0x07, 0x01};
            }
        }
    }
}
