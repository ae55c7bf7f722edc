package dev.harbor.transport;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import com.google.protobuf.ByteString;
import dev.harbor.proto.KillRequest;
import dev.harbor.service.CallException;
import dev.harbor.service.ExitEvent;
import dev.harbor.service.ExitReason;
import dev.harbor.service.Handle;
import dev.harbor.service.Message;
import dev.harbor.service.Node;
import dev.harbor.service.Service;
import dev.harbor.service.ServiceContext;
import java.time.Duration;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** Nodes linked over real gRPC streams on loopback, in one JVM. */
@Timeout(60)
class HarborTest {
    private static final Duration WAIT = Duration.ofSeconds(10);
    private final TestCluster cluster = new TestCluster();

    @AfterEach
    void close() {
        cluster.close();
    }

    private TestCluster.Member[] threeNodes() {
        cluster.plan(1, 2, 3);
        TestCluster.Member[] m = {cluster.start(1), cluster.start(2), cluster.start(3)};
        for (TestCluster.Member x : m) {
            await().atMost(WAIT).until(() -> x.harbor.connected().size() == 2);
        }
        return m;
    }

    private static Object call(Node from, Handle to, Object payload) {
        try {
            return from.call(to, payload, WAIT).get(WAIT.toMillis(), TimeUnit.MILLISECONDS);
        } catch (ExecutionException e) {
            throw (RuntimeException) e.getCause();
        } catch (Exception e) {
            throw new AssertionError(e);
        }
    }

    @Test
    void aCallChainCrossesAllThreeNodes() {
        TestCluster.Member[] m = threeNodes();
        Handle last = m[2].node.launch(() -> (ctx, msg) -> "3(" + msg.payload() + ")");
        Handle middle = m[1].node.launch(() -> (ctx, msg) -> "2(" + ctx.call(last, msg.payload(), WAIT) + ")");
        Handle first = m[0].node.launch(() -> (ctx, msg) -> "1(" + ctx.call(middle, msg.payload(), WAIT) + ")");
        assertThat(call(m[0].node, first, "x")).isEqualTo("1(2(3(x)))");
        // From outside any service, to a service of another node.
        assertThat(call(m[2].node, first, "y")).isEqualTo("1(2(3(y)))");
        // Replies carry the caller's identity across: the callee sees who called.
        Handle whoCalls = m[1].node.launch(() -> (ctx, msg) -> String.valueOf(msg.from()));
        Handle asker = m[0].node.launch(() -> (ctx, msg) -> ctx.call(whoCalls, "who?", WAIT));
        assertThat(call(m[0].node, asker, "go")).isEqualTo(asker.toString());
    }

    @Test
    void globalNamesAreSeenByEveryNode() {
        TestCluster.Member[] m = threeNodes();
        Handle counter = m[2].node.launch(() -> new Service() {
            int n;

            @Override
            public void init(ServiceContext ctx) {
                ctx.register("counter");
                ctx.register(".local-only");
            }

            @Override
            public Object receive(ServiceContext ctx, Message msg) {
                return "count " + (++n);
            }
        });
        await().atMost(WAIT).until(() -> m[0].node.whereis("counter").isPresent() && m[1].node.whereis("counter").isPresent());
        assertThat(m[0].node.whereis("counter")).contains(counter);
        assertThat(m[0].node.whereis(".local-only")).isEmpty();
        assertThat(call(m[0].node, m[0].node.whereis("counter").orElseThrow(), "+1")).isEqualTo("count 1");
        Handle viaName = m[1].node.launch(() -> (ctx, msg) -> ctx.call("counter", "+1", WAIT));
        assertThat(call(m[1].node, viaName, "go")).isEqualTo("count 2");
        // A name held on another node is taken cluster-wide.
        assertThatThrownBy(() -> m[0].node.launch(() -> new Service() {
            @Override
            public void init(ServiceContext ctx) {
                ctx.register("counter");
            }

            @Override
            public Object receive(ServiceContext ctx, Message msg) {
                return null;
            }
        })).hasMessageContaining("the name 'counter' is already taken by service " + counter);
        // Released when its holder exits.
        m[2].node.kill(counter);
        await().atMost(WAIT).until(() -> m[0].node.whereis("counter").isEmpty());
    }

    @Test
    void messagesBetweenAPairOfServicesArriveInOrder() {
        TestCluster.Member[] m = threeNodes();
        List<String> got = new CopyOnWriteArrayList<>();
        Handle sink = m[1].node.launch(() -> (ctx, msg) -> got.add((String) msg.payload()));
        long receivedBefore = m[1].harbor.received();
        int count = 20_000;
        Handle source = m[0].node.launch(() -> (ctx, msg) -> {
            for (int i = 0; i < count; i++) {
                ctx.send(sink, Integer.toString(i));
            }
            return null;
        });
        m[0].node.send(source, "go");
        await().atMost(WAIT).until(() -> got.size() == count);
        for (int i = 0; i < count; i++) {
            assertThat(got.get(i)).isEqualTo(Integer.toString(i));
        }
        // Each send is counted once, those the link's reader handed over in runs too.
        await().atMost(WAIT).untilAsserted(() -> assertThat(m[1].harbor.received() - receivedBefore).isEqualTo(count));
    }

    @Test
    void sendsMadeByAHandlerThatThenBlocksReachTheOtherNodeWhileItBlocks() throws Exception {
        TestCluster.Member[] m = threeNodes();
        List<String> got = new CopyOnWriteArrayList<>();
        Handle sink = m[1].node.launch(() -> (ctx, msg) -> got.add((String) msg.payload()));
        CountDownLatch release = new CountDownLatch(1);
        Handle source = m[0].node.launch(() -> (ctx, msg) -> {
            ctx.send(sink, "a");
            ctx.send(sink, "b");
            release.await(); // the handler neither returns nor does anything that flushes: the sweeper must
            return null;
        });
        try {
            m[0].node.send(source, "go");
            await().atMost(WAIT).until(() -> got.size() == 2);
            assertThat(got).containsExactly("a", "b");
            assertThat(release.getCount()).as("the handler still blocks").isEqualTo(1);
        } finally {
            release.countDown();
        }
    }

    @Test
    void aGlobalNameTakenInInitReachesANodeThatLinksBeforeTheInitReturns() throws Exception {
        cluster.plan(1, 2);
        TestCluster.Member a = cluster.start(1);
        CountDownLatch named = new CountDownLatch(1);
        CountDownLatch release = new CountDownLatch(1);
        CompletableFuture<Handle> launched = CompletableFuture.supplyAsync(() -> a.node.launch(() -> new Service() {
            @Override
            public void init(ServiceContext ctx) throws Exception {
                ctx.register("late-starter"); // told to the peers linked now: none
                named.countDown();
                release.await(); // still in init while node 2 links
            }

            @Override
            public Object receive(ServiceContext ctx, Message m) {
                return null;
            }
        }));
        try {
            assertThat(named.await(WAIT.toMillis(), TimeUnit.MILLISECONDS)).isTrue();
            TestCluster.Member b = cluster.start(2);
            await().atMost(WAIT).until(() -> a.harbor.connected().contains(2) && b.harbor.connected().contains(1));
            release.countDown();
            Handle h = launched.get(WAIT.toMillis(), TimeUnit.MILLISECONDS);
            await().atMost(WAIT).until(() -> b.node.whereis("late-starter").isPresent());
            assertThat(b.node.whereis("late-starter")).contains(h);
        } finally {
            release.countDown();
        }
    }

    @Test
    void protobufMessagesAndBytesCrossNodesAndOtherPayloadsAreRefused() {
        cluster.plan(1, 2);
        TestCluster.Member a = cluster.start(1, "harbor", b -> cluster.settings.apply(b)
                .payloads(new Payloads().register(KillRequest.getDefaultInstance())));
        TestCluster.Member b = cluster.start(2, "harbor", x -> cluster.settings.apply(x)
                .payloads(new Payloads().register(KillRequest.getDefaultInstance())));
        await().atMost(WAIT).until(() -> a.harbor.connected().contains(2) && b.harbor.connected().contains(1));
        Handle typeOf = b.node.launch(() -> (ctx, msg) -> msg.payload() == null ? "null" : msg.payload().getClass().getSimpleName()
                + (msg.payload() instanceof KillRequest k ? " " + k.getHandle().getId() : ""));
        KillRequest proto = KillRequest.newBuilder().setHandle(dev.harbor.proto.Handle.newBuilder().setNode(1).setId(42)).build();
        assertThat(call(a.node, typeOf, proto)).isEqualTo("KillRequest 42");
        assertThat(call(a.node, typeOf, ByteString.copyFromUtf8("raw"))).isEqualTo("LiteralByteString");
        assertThat(call(a.node, typeOf, null)).isEqualTo("null");
        assertThatThrownBy(() -> call(a.node, typeOf, List.of(1, 2)))
                .isInstanceOf(CallException.class)
                .hasMessageContaining("cannot cross nodes")
                .satisfies(e -> assertThat(((CallException) e).failure()).isEqualTo(CallException.Failure.BAD_PAYLOAD));
        Handle badReply = b.node.launch(() -> (ctx, msg) -> Set.of("not serialisable"));
        assertThatThrownBy(() -> call(a.node, badReply, "x")).isInstanceOf(CallException.class)
                .hasMessageContaining("cannot cross nodes");
    }

    @Test
    void sendsArriveWithTheirPayloadsAsTheyWereSent() {
        cluster.plan(1, 2);
        TestCluster.Member a = cluster.start(1);
        TestCluster.Member b = cluster.start(2, "harbor", x -> cluster.settings.apply(x)
                .payloads(new Payloads().register(KillRequest.getDefaultInstance())));
        await().atMost(WAIT).until(() -> a.harbor.connected().contains(2) && b.harbor.connected().contains(1));
        List<Object> got = new CopyOnWriteArrayList<>();
        Handle sink = b.node.launch(() -> (ctx, msg) -> got.add(msg.payload() == null ? "null" : msg.payload()));
        KillRequest proto = KillRequest.newBuilder().setHandle(dev.harbor.proto.Handle.newBuilder().setNode(1).setId(42)).build();
        ByteString bytes = ByteString.copyFrom(new byte[] {0, -1, 7});
        String text = "h\u00e9llo \u2713 \ud83d\udea2"; // two- three- and four-byte UTF-8
        Handle sender = a.node.launch(() -> (ctx, msg) -> {
            ctx.send(sink, text);
            ctx.send(sink, bytes);
            ctx.send(sink, proto);
            ctx.send(sink, null);
            ctx.send(sink, "");
            return null;
        });
        a.node.send(sender, "go");
        await().atMost(WAIT).until(() -> got.size() == 5);
        assertThat(got).containsExactly(text, bytes, proto, "null", "");
    }

    @Test
    void remoteErrorsKeepTheirKindAndText() {
        TestCluster.Member[] m = threeNodes();
        Handle failing = m[1].node.launch(() -> (ctx, msg) -> {
            throw new IllegalStateException("disk full");
        });
        CallException e = (CallException) catchCall(m[0].node, failing);
        assertThat(e.failure()).isEqualTo(CallException.Failure.HANDLER_FAILED);
        assertThat(e.getMessage()).contains("disk full").contains(failing.toString());
        m[1].node.kill(failing);
        CallException gone = (CallException) catchCall(m[0].node, failing);
        assertThat(gone.failure()).isEqualTo(CallException.Failure.GONE);
        assertThat(gone.exitReason()).isEqualTo(ExitReason.KILLED);
        assertThat(gone).hasMessage("service " + failing + " is gone (KILLED)");
        CallException unknownNode = (CallException) catchCall(m[0].node, Handle.of(9, 1));
        assertThat(unknownNode.failure()).isEqualTo(CallException.Failure.UNREACHABLE);
        assertThat(unknownNode.getMessage()).contains("node 9");
    }

    private static Throwable catchCall(Node from, Handle to) {
        try {
            call(from, to, "x");
            throw new AssertionError("the call to " + to + " should have failed");
        } catch (CallException e) {
            return e;
        }
    }

    @Test
    void aLostNodeFailsCallsInFlightAndEveryNodeReportsItsServicesLost() {
        TestCluster.Member[] m = threeNodes();
        Handle parked = m[1].node.launch(() -> (ctx, msg) -> {
            msg.defer(); // never answered: the call stays in flight
            return null;
        });
        Handle named = m[1].node.launch(() -> new Service() {
            @Override
            public void init(ServiceContext ctx) {
                ctx.register("on-two");
            }

            @Override
            public Object receive(ServiceContext ctx, Message msg) {
                return null;
            }
        });
        await().atMost(WAIT).until(() -> m[0].node.isAlive(parked) && m[0].node.isAlive(named)
                && m[2].node.isAlive(named) && m[0].node.whereis("on-two").isPresent());
        CompletableFuture<Object> inFlight = m[0].node.call(parked, "x", null);
        long crashedAt = System.nanoTime();

        m[1].crash();

        ExecutionException failed = org.junit.jupiter.api.Assertions.assertThrows(ExecutionException.class,
                () -> inFlight.get(WAIT.toMillis(), TimeUnit.MILLISECONDS));
        long detectedMs = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - crashedAt);
        CallException lost = (CallException) failed.getCause();
        assertThat(lost.failure()).isEqualTo(CallException.Failure.NODE_LOST);
        assertThat(lost.getMessage()).startsWith("node 2 was lost");
        // Bound: loss timeout (600 ms) + one heartbeat tick (100 ms), with slack for a loaded machine.
        assertThat(detectedMs).isLessThan(3_000);
        for (TestCluster.Member survivor : List.of(m[0], m[2])) {
            await().atMost(WAIT).until(() -> survivor.node.exits().after(0).stream()
                    .filter(e -> e.reason() == ExitReason.NODE_LOST).count() >= 3);
            List<ExitEvent> lostEvents = survivor.node.exits().after(0).stream()
                    .filter(e -> e.reason() == ExitReason.NODE_LOST).toList();
            assertThat(lostEvents).extracting(ExitEvent::handle).contains(parked, named, m[1].node.monitor());
            assertThat(lostEvents).allSatisfy(e -> assertThat(e.node()).isEqualTo(2));
            assertThat(lostEvents.stream().filter(e -> e.handle().equals(named)).findFirst().orElseThrow().names())
                    .containsExactly("on-two");
            assertThat(survivor.node.whereis("on-two")).isEmpty();
            assertThat(survivor.node.isAlive(named)).isFalse();
        }
        CallException unreachable = (CallException) catchCall(m[0].node, named);
        assertThat(unreachable.failure()).isEqualTo(CallException.Failure.UNREACHABLE);
    }

    @Test
    void aRestartedNodeRejoinsAndHandlesOfItsPreviousLifeStayDead() {
        TestCluster.Member[] m = threeNodes();
        Handle old = m[1].node.launch(() -> (ctx, msg) -> "old life");
        assertThat(call(m[0].node, old, "x")).isEqualTo("old life");
        m[1].crash();
        await().atMost(WAIT).until(() -> !m[0].harbor.connected().contains(2));
        m[1].node.stop();

        TestCluster.Member again = cluster.start(2);
        await().atMost(WAIT).until(() -> m[0].harbor.connected().contains(2) && again.harbor.connected().containsAll(List.of(1, 3)));
        Handle fresh = again.node.launch(() -> (ctx, msg) -> "new life");
        assertThat(fresh.id()).isGreaterThan(old.id());
        assertThat(call(m[0].node, fresh, "x")).isEqualTo("new life");
        CallException e = (CallException) catchCall(m[0].node, old);
        assertThat(e.failure()).isEqualTo(CallException.Failure.GONE);
        assertThat(e.getMessage()).contains("earlier life of node 2");
    }

    @Test
    void aNodeOfAnotherClusterOrWithATakenIdIsRefused() {
        cluster.plan(1, 2);
        TestCluster.Member a = cluster.start(1);
        TestCluster.Member stranger = cluster.start(2, "other-cluster", cluster.settings);
        // Give them several dial rounds: they must never link.
        await().during(Duration.ofMillis(800)).atMost(WAIT).until(() -> a.harbor.connected().isEmpty()
                && stranger.harbor.connected().isEmpty());
        // A second node claiming id 1 while the first is alive is refused by its peers.
        TestCluster.Member b = cluster.start(3);
        await().atMost(WAIT).until(() -> b.harbor.connected().contains(1));
        cluster.addresses.put(4, "127.0.0.1:" + TestCluster.freePort());
        TestCluster.Member impostor = startAs(1, cluster.addresses.get(4));
        await().during(Duration.ofMillis(800)).atMost(WAIT).until(() -> !impostor.harbor.connected().contains(3));
        assertThat(b.harbor.connected()).contains(1);
        Handle h = a.node.launch(() -> (ctx, msg) -> "the real node 1");
        assertThat(call(b.node, h, "x")).isEqualTo("the real node 1");
    }

    private TestCluster.Member startAs(int id, String address) {
        Node node = Node.builder().id(id).build();
        Harbor harbor = cluster.settings.apply(Harbor.builder(node).advertise(address)
                .peers(List.copyOf(cluster.addresses.values()))).build();
        try {
            io.grpc.Server server = io.grpc.Grpc.newServerBuilderForPort(
                    Integer.parseInt(address.substring(address.indexOf(':') + 1)), io.grpc.InsecureServerCredentials.create())
                    .directExecutor().addService(harbor.linkService()).build().start();
            harbor.start();
            TestCluster.Member member = new TestCluster.Member(node, harbor, server, address);
            cluster.members.put(100 + id, member);
            extra.add(member);
            return member;
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    private final List<TestCluster.Member> extra = new CopyOnWriteArrayList<>();

    @AfterEach
    void stopExtra() {
        extra.forEach(TestCluster.Member::stop);
    }

    @Test
    void aFullOutboundQueueIsAnExplicitError() {
        cluster.plan(1, 2);
        TestCluster.Member a = cluster.start(1, "harbor", b -> cluster.settings.apply(b).outboundLimit(1));
        TestCluster.Member b = cluster.start(2);
        await().atMost(WAIT).until(() -> a.harbor.connected().contains(2) && b.harbor.connected().contains(1));
        Handle sink = b.node.launch(() -> (ctx, msg) -> null);
        List<String> outcomes = new CopyOnWriteArrayList<>();
        Handle flooder = a.node.launch(() -> (ctx, msg) -> {
            try {
                for (int i = 0; i < 200_000; i++) {
                    ctx.send(sink, "x");
                }
                outcomes.add("all queued");
            } catch (CallException e) {
                outcomes.add(e.failure() + ": " + e.getMessage());
            }
            return null;
        });
        a.node.send(flooder, "go");
        await().atMost(WAIT).until(() -> outcomes.size() == 1);
        assertThat(outcomes.get(0)).startsWith("OVERLOADED: the queue from node 1 to node 2 is full (1 envelopes)");
    }
}
