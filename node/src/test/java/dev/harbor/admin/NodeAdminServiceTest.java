package dev.harbor.admin;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import dev.harbor.proto.AbortRequest;
import dev.harbor.proto.ExitStreamItem;
import dev.harbor.proto.KillRequest;
import dev.harbor.proto.ListServicesRequest;
import dev.harbor.proto.ListServicesResponse;
import dev.harbor.proto.NodeGrpc;
import dev.harbor.proto.StopRequest;
import dev.harbor.proto.WatchExitsRequest;
import dev.harbor.service.ExitReason;
import dev.harbor.service.Handle;
import dev.harbor.service.InternalNode;
import dev.harbor.service.Node;
import dev.harbor.service.Service;
import dev.harbor.service.ServiceContext;
import dev.harbor.wire.Wire;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.ClientCallStreamObserver;
import io.grpc.stub.ClientResponseObserver;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** The node admin API over real gRPC on loopback. */
@Timeout(60)
class NodeAdminServiceTest {
    static final Duration WAIT = Duration.ofSeconds(10);
    private final List<AdminServer> servers = new ArrayList<>();

    @AfterEach
    void close() {
        servers.forEach(AdminServer::close);
    }

    private AdminServer serve(Node node) {
        AdminServer s = new AdminServer(node);
        servers.add(s);
        return s;
    }

    private AdminServer serve(Node node, int maxQueuedEvents) {
        AdminServer s = new AdminServer(node, maxQueuedEvents);
        servers.add(s);
        return s;
    }

    static Handle named(Node node, String name) {
        return node.launch(() -> new Service() {
            @Override
            public void init(ServiceContext ctx) {
                ctx.register(name);
            }

            @Override
            public Object receive(ServiceContext ctx, dev.harbor.service.Message msg) {
                return msg.payload();
            }
        });
    }

    static Handle idle(Node node) {
        return node.launch(() -> (ctx, msg) -> null);
    }

    /** Records one WatchExits stream. */
    static final class Recorder implements ClientResponseObserver<WatchExitsRequest, ExitStreamItem> {
        final LinkedBlockingQueue<ExitStreamItem> items = new LinkedBlockingQueue<>();
        final CompletableFuture<Status> end = new CompletableFuture<>();
        private final int initialRequests;
        volatile ClientCallStreamObserver<WatchExitsRequest> call;

        Recorder() {
            this(-1);
        }

        /** With {@code initialRequests} >= 0, the recorder takes only that many items until {@link #request} says more. */
        Recorder(int initialRequests) {
            this.initialRequests = initialRequests;
        }

        static Recorder watch(AdminServer server, long fromSeq) {
            return watch(server, fromSeq, new Recorder());
        }

        static Recorder watch(AdminServer server, long fromSeq, Recorder r) {
            NodeGrpc.newStub(server.channel()).watchExits(WatchExitsRequest.newBuilder().setFromSeq(fromSeq).build(), r);
            return r;
        }

        @Override
        public void beforeStart(ClientCallStreamObserver<WatchExitsRequest> requestStream) {
            call = requestStream;
            if (initialRequests >= 0) {
                requestStream.disableAutoRequestWithInitial(initialRequests);
            }
        }

        void request(int n) {
            call.request(n);
        }

        ExitStreamItem next() {
            try {
                ExitStreamItem item = items.poll(WAIT.toMillis(), TimeUnit.MILLISECONDS);
                if (item == null) {
                    throw new AssertionError("no exit stream item within " + WAIT + (end.isDone() ? "; the stream ended: " + end.join() : ""));
                }
                return item;
            } catch (InterruptedException e) {
                throw new AssertionError(e);
            }
        }

        Status awaitEnd() {
            try {
                return end.get(WAIT.toMillis(), TimeUnit.MILLISECONDS);
            } catch (InterruptedException | ExecutionException | TimeoutException e) {
                throw new AssertionError("the stream did not end within " + WAIT, e);
            }
        }

        void cancel() {
            call.cancel("test done", null);
        }

        @Override
        public void onNext(ExitStreamItem value) {
            items.add(value);
        }

        @Override
        public void onError(Throwable t) {
            end.complete(Status.fromThrowable(t));
        }

        @Override
        public void onCompleted() {
            end.complete(Status.OK);
        }
    }

    private static Handle handle(dev.harbor.proto.Handle h) {
        return Handle.of(h.getNode(), h.getId());
    }

    // ------------------------------------------------------------------ WatchExits

    @Test
    void watchExitsSendsIdentityThenAliveThenBacklogThenCaughtUpThenLiveEvents() {
        Node node = Node.builder().id(3).build();
        AdminServer server = serve(node);
        Handle a = named(node, "a");
        Handle b = idle(node);
        Handle c = named(node, "c");
        Handle d = idle(node);
        node.kill(a);
        node.kill(b);

        Recorder r = Recorder.watch(server, 0);

        ExitStreamItem first = r.next();
        assertThat(first.hasNode()).isTrue();
        assertThat(first.getNode().getNode()).isEqualTo(3);
        assertThat(first.getNode().getIncarnation()).isEqualTo(InternalNode.firstIdOfThisLife(node));
        assertThat(first.getNode().getLastSeq()).isEqualTo(2);

        Set<Handle> alive = new HashSet<>();
        for (int i = 0; i < 3; i++) {
            ExitStreamItem item = r.next();
            assertThat(item.hasAlive()).as("item %d after the identity", i + 1).isTrue();
            alive.add(handle(item.getAlive().getHandle()));
        }
        assertThat(alive).containsExactlyInAnyOrder(node.monitor(), c, d);

        ExitStreamItem e1 = r.next();
        assertThat(e1.getExit().getSeq()).isEqualTo(1);
        assertThat(handle(e1.getExit().getHandle())).isEqualTo(a);
        assertThat(e1.getExit().getNamesList()).containsExactly("a");
        assertThat(e1.getExit().getReason()).isEqualTo(dev.harbor.proto.ExitReason.KILLED);
        ExitStreamItem e2 = r.next();
        assertThat(e2.getExit().getSeq()).isEqualTo(2);
        assertThat(handle(e2.getExit().getHandle())).isEqualTo(b);
        ExitStreamItem caughtUp = r.next();
        assertThat(caughtUp.hasCaughtUp()).isTrue();
        assertThat(caughtUp.getCaughtUp().getLastSeq()).isEqualTo(2);

        node.kill(c);
        ExitStreamItem live = r.next();
        assertThat(live.getExit().getSeq()).isEqualTo(3);
        assertThat(handle(live.getExit().getHandle())).isEqualTo(c);
        assertThat(live.getExit().getNode()).isEqualTo(3);
        assertThat(live.getExit().getTimeUnixNanos()).isPositive();
        r.cancel();
        await().atMost(WAIT).until(() -> server.admin().openStreams() == 0);
    }

    @Test
    void aResumeCountedInAnEarlierProcessLifeGetsANewLifeHeadAndThisLifeFromItsFirstEvent() {
        Node first = Node.builder().id(1).build();
        AdminServer server = serve(first);
        for (int i = 0; i < 5; i++) {
            first.kill(idle(first));
        }
        Recorder before = Recorder.watch(server, 0);
        long oldLife = before.next().getNode().getIncarnation();
        before.cancel();

        // The process restarts: a new life whose exit log numbers from 1 again (3 events, below our 4).
        server.cut();
        first.stop();
        Node second = Node.builder().id(1).clock(java.time.Clock.offset(java.time.Clock.systemUTC(), Duration.ofSeconds(1))).build();
        for (int i = 0; i < 3; i++) {
            second.kill(idle(second));
        }
        server.serve(second);

        // Resuming after seq 4 of the old life: not "events after 4" of the new one (nothing, or its 5th
        // on), nor a refusal, but the new life from its first event, marked as such.
        Recorder r = new Recorder();
        NodeGrpc.newStub(server.channel()).watchExits(WatchExitsRequest.newBuilder().setFromSeq(4).setIncarnation(oldLife).build(), r);
        var head = r.next().getNode();
        assertThat(head.getNewLife()).isTrue();
        assertThat(head.getIncarnation()).isEqualTo(InternalNode.firstIdOfThisLife(second)).isNotEqualTo(oldLife);
        assertThat(r.next().hasAlive()).as("the new life's monitor").isTrue();
        assertThat(r.next().getExit().getSeq()).isEqualTo(1);
        assertThat(r.next().getExit().getSeq()).isEqualTo(2);
        assertThat(r.next().getExit().getSeq()).isEqualTo(3);
        assertThat(r.next().getCaughtUp().getLastSeq()).isEqualTo(3);
        r.cancel();

        // Resuming within the same life is as before: no marker, the events after from_seq.
        Recorder same = new Recorder();
        NodeGrpc.newStub(server.channel()).watchExits(WatchExitsRequest.newBuilder().setFromSeq(2)
                .setIncarnation(InternalNode.firstIdOfThisLife(second)).build(), same);
        assertThat(same.next().getNode().getNewLife()).isFalse();
        assertThat(same.next().hasAlive()).isTrue();
        assertThat(same.next().getExit().getSeq()).isEqualTo(3);
        same.cancel();
        server.cut();
        second.stop();
    }

    @Test
    void resumingFromASeqGetsExactlyTheEventsAfterIt() {
        Node node = Node.builder().id(1).build();
        AdminServer server = serve(node);
        for (int i = 0; i < 5; i++) {
            node.kill(idle(node));
        }
        Recorder r = Recorder.watch(server, 3);
        assertThat(r.next().getNode().getLastSeq()).isEqualTo(5);
        assertThat(r.next().hasAlive()).as("the monitor").isTrue();
        assertThat(r.next().getExit().getSeq()).isEqualTo(4);
        assertThat(r.next().getExit().getSeq()).isEqualTo(5);
        assertThat(r.next().getCaughtUp().getLastSeq()).isEqualTo(5);
        node.kill(idle(node));
        assertThat(r.next().getExit().getSeq()).isEqualTo(6);

        Recorder upToDate = Recorder.watch(server, 6);
        assertThat(upToDate.next().getNode().getLastSeq()).isEqualTo(6);
        assertThat(upToDate.next().hasAlive()).isTrue();
        assertThat(upToDate.next().getCaughtUp().getLastSeq()).isEqualTo(6);
        assertThat(upToDate.items).isEmpty();
    }

    @Test
    void aSubscriberThatStartsWhileServicesExitSeesEveryExitOnceAndInOrder() throws Exception {
        Node node = Node.builder().id(1).build();
        AdminServer server = serve(node);
        int n = 2_000;
        List<Handle> handles = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            handles.add(idle(node));
        }
        CountDownLatch go = new CountDownLatch(1);
        Thread killer = Thread.ofPlatform().start(() -> {
            try {
                go.await();
            } catch (InterruptedException e) {
                return;
            }
            handles.forEach(node::kill);
        });
        go.countDown();
        Recorder r = Recorder.watch(server, 0);
        killer.join(WAIT.toMillis());

        Set<Handle> alive = new HashSet<>();
        List<Long> seqs = new ArrayList<>();
        Set<Handle> exited = new HashSet<>();
        assertThat(r.next().hasNode()).isTrue();
        boolean caughtUp = false;
        while (seqs.size() < n) {
            ExitStreamItem item = r.next();
            switch (item.getItemCase()) {
                case ALIVE -> {
                    assertThat(seqs).as("alive items come before any exit").isEmpty();
                    alive.add(handle(item.getAlive().getHandle()));
                }
                case EXIT -> {
                    seqs.add(item.getExit().getSeq());
                    exited.add(handle(item.getExit().getHandle()));
                }
                case CAUGHT_UP -> caughtUp = true;
                default -> throw new AssertionError("unexpected " + item);
            }
        }
        if (!caughtUp) {
            assertThat(r.next().hasCaughtUp()).isTrue();
        }
        assertThat(seqs).as("every seq once, in order").isEqualTo(java.util.stream.LongStream.rangeClosed(1, n).boxed().toList());
        assertThat(exited).containsExactlyInAnyOrderElementsOf(handles);
        // Every service listed alive either is alive now or its exit was streamed.
        for (Handle h : alive) {
            assertThat(h.equals(node.monitor()) || exited.contains(h)).as("%s listed alive", h).isTrue();
        }
    }

    @Test
    void eventsNoLongerRetainedAreReportedAsOneGap() {
        Node node = Node.builder().id(1).exitRetention(4).build();
        AdminServer server = serve(node);
        for (int i = 0; i < 10; i++) {
            node.kill(idle(node));
        }
        Recorder r = Recorder.watch(server, 2);
        assertThat(r.next().getNode().getLastSeq()).isEqualTo(10);
        assertThat(r.next().hasAlive()).isTrue();
        ExitStreamItem gap = r.next();
        assertThat(gap.hasGap()).isTrue();
        assertThat(gap.getGap().getFirstMissing()).isEqualTo(3);
        assertThat(gap.getGap().getLastMissing()).isEqualTo(6);
        for (long seq = 7; seq <= 10; seq++) {
            assertThat(r.next().getExit().getSeq()).isEqualTo(seq);
        }
        assertThat(r.next().getCaughtUp().getLastSeq()).isEqualTo(10);

        Recorder fromStart = Recorder.watch(server, 0);
        fromStart.next();
        fromStart.next();
        ExitStreamItem all = fromStart.next();
        assertThat(all.getGap().getFirstMissing()).isEqualTo(1);
        assertThat(all.getGap().getLastMissing()).isEqualTo(6);
        assertThat(fromStart.next().getExit().getSeq()).isEqualTo(7);
    }

    @Test
    void aFromSeqAboveTheNewestEventIsRefusedWithTheReason() {
        Node node = Node.builder().id(1).build();
        AdminServer server = serve(node);
        node.kill(idle(node));
        Recorder r = Recorder.watch(server, 5);
        Status s = r.awaitEnd();
        assertThat(s.getCode()).isEqualTo(Status.Code.INVALID_ARGUMENT);
        assertThat(s.getDescription()).contains("from_seq 5", "newest exit event of node 1 (seq 1", "pass the last seq you received");
        assertThat(r.items).isEmpty();
    }

    @Test
    void aSubscriberTooSlowToKeepUpIsCutOffAndToldWhereToResume() {
        Node node = Node.builder().id(1).exitRetention(200_000).build();
        AdminServer server = serve(node, 100);
        Recorder slow = Recorder.watch(server, 0, new Recorder(1));
        assertThat(slow.next().hasNode()).isTrue();
        // Far more than the transport buffers (about a megabyte) plus the 100 events the node queues.
        int published = 100_000;
        for (int i = 1; i <= published; i++) {
            InternalNode.publishPeerExit(node, Handle.of(2, i), List.of(), ExitReason.NODE_LOST, "node 2 was lost");
        }
        slow.request(Integer.MAX_VALUE);
        Status end = slow.awaitEnd();
        assertThat(end.getCode()).isEqualTo(Status.Code.RESOURCE_EXHAUSTED);
        assertThat(end.getDescription()).contains("more than 100 exit events behind", "from_seq = the seq of the last exit event you received");
        List<Long> seqs = slow.items.stream().filter(ExitStreamItem::hasExit).map(i -> i.getExit().getSeq()).toList();
        assertThat(seqs).as("what arrived is a prefix of the log, without holes (possibly empty)")
                .isEqualTo(java.util.stream.LongStream.rangeClosed(1, seqs.size()).boxed().toList());
        assertThat(seqs.size()).isLessThan(published);
        await().atMost(WAIT).until(() -> server.admin().openStreams() == 0);

        // Resuming where it stopped gets the rest.
        long lastSeen = seqs.isEmpty() ? 0 : seqs.getLast();
        Recorder resumed = Recorder.watch(server, lastSeen);
        assertThat(resumed.next().hasNode()).isTrue();
        assertThat(resumed.next().hasAlive()).isTrue();
        assertThat(resumed.next().getExit().getSeq()).isEqualTo(lastSeen + 1);
        resumed.cancel();
    }

    @Test
    void closingTheServiceEndsEveryStreamAfterTheNodesLastExits() {
        Node node = Node.builder().id(1).build();
        AdminServer server = serve(node);
        Handle s = named(node, "db");
        Recorder r = Recorder.watch(server, 0);
        assertThat(r.next().hasNode()).isTrue();
        node.stop();
        server.admin().close();
        assertThat(r.awaitEnd()).isEqualTo(Status.OK);
        List<ExitStreamItem> exits = r.items.stream().filter(ExitStreamItem::hasExit).toList();
        assertThat(exits).extracting(i -> handle(i.getExit().getHandle())).containsExactly(s, node.monitor());
        assertThat(exits).allMatch(i -> i.getExit().getReason() == dev.harbor.proto.ExitReason.NODE_STOPPED);

        Recorder late = Recorder.watch(server, 0);
        assertThat(late.awaitEnd().getCode()).isEqualTo(Status.Code.UNAVAILABLE);
    }

    // ------------------------------------------------------------------ ListServices, Kill, Stop, Abort

    @Test
    void listServicesShowsEveryLiveServiceWithItsNames() {
        Node node = Node.builder().id(4).build();
        AdminServer server = serve(node);
        Handle db = named(node, "db");
        Handle gone = idle(node);
        node.kill(gone);
        ListServicesResponse answer = NodeGrpc.newBlockingStub(server.channel()).listServices(ListServicesRequest.getDefaultInstance());
        assertThat(answer.getNode()).isEqualTo(4);
        assertThat(answer.getServicesList()).extracting(s -> handle(s.getHandle())).containsExactly(node.monitor(), db);
        assertThat(answer.getServices(1).getNamesList()).containsExactly("db");
        assertThat(answer.getServices(1).getType()).isNotEmpty();
        assertThat(answer.getServices(0).getType()).isEqualTo("dev.harbor.service.LoggingMonitor");
    }

    @Test
    void killEndsTheServiceOnceAndRefusesWhatItCannotKill() {
        Node node = Node.builder().id(5).build();
        AdminServer server = serve(node);
        NodeGrpc.NodeBlockingStub stub = NodeGrpc.newBlockingStub(server.channel());
        Handle victim = idle(node);

        assertThat(stub.kill(kill(victim)).getKilled()).isTrue();
        assertThat(node.isAlive(victim)).isFalse();
        assertThat(node.exits().find(victim)).get().extracting(e -> e.reason()).isEqualTo(ExitReason.KILLED);
        assertThat(stub.kill(kill(victim)).getKilled()).as("not alive any more").isFalse();

        assertRefused(() -> stub.kill(KillRequest.getDefaultInstance()), Status.Code.INVALID_ARGUMENT, "names no service: set its handle");
        assertRefused(() -> stub.kill(KillRequest.newBuilder().setHandle(dev.harbor.proto.Handle.newBuilder().setNode(0).setId(7)).build()),
                Status.Code.INVALID_ARGUMENT, "node id 0 is out of range");
        assertRefused(() -> stub.kill(KillRequest.newBuilder().setHandle(dev.harbor.proto.Handle.newBuilder().setNode(5).setId(0)).build()),
                Status.Code.INVALID_ARGUMENT, "local id 0 names no service");
        assertRefused(() -> stub.kill(kill(Handle.of(7, 42))), Status.Code.INVALID_ARGUMENT,
                "belongs to node 7; ask that node (this is node 5)");
        assertRefused(() -> stub.kill(kill(node.monitor())), Status.Code.FAILED_PRECONDITION,
                "is the monitor of node 5 and ends only with its node");
        assertThat(node.isAlive(node.monitor())).isTrue();
    }

    private static KillRequest kill(Handle h) {
        return KillRequest.newBuilder().setHandle(Wire.handle(h)).build();
    }

    private static void assertRefused(Runnable call, Status.Code code, String text) {
        assertThatThrownBy(call::run).isInstanceOfSatisfying(StatusRuntimeException.class, e -> {
            assertThat(e.getStatus().getCode()).isEqualTo(code);
            assertThat(e.getStatus().getDescription()).contains(text);
        });
    }

    @Test
    void stopAnswersFirstThenRunsTheStopActionOnAnotherThread() throws Exception {
        Node node = Node.builder().id(1).build();
        CountDownLatch release = new CountDownLatch(1);
        CompletableFuture<Thread> ranOn = new CompletableFuture<>();
        int port = AdminServer.freePort();
        NodeAdminService admin = new NodeAdminService(node, InternalNode.firstIdOfThisLife(node), () -> {
            ranOn.complete(Thread.currentThread());
            try {
                release.await(); // a stop that takes its time must not hold up the answer
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            node.stop();
        });
        io.grpc.Server server = io.grpc.Grpc.newServerBuilderForPort(port, io.grpc.InsecureServerCredentials.create())
                .directExecutor().addService(admin).build().start();
        io.grpc.ManagedChannel channel = io.grpc.Grpc.newChannelBuilder("127.0.0.1:" + port,
                io.grpc.InsecureChannelCredentials.create()).build();
        try {
            NodeGrpc.newBlockingStub(channel).withDeadlineAfter(WAIT.toMillis(), TimeUnit.MILLISECONDS).stop(StopRequest.getDefaultInstance());
            Thread stopper = ranOn.get(WAIT.toMillis(), TimeUnit.MILLISECONDS);
            assertThat(stopper.getName()).isEqualTo("harbor-node-1-stop");
            assertThat(stopper.isDaemon()).as("keeps the process alive until stopped").isFalse();
            assertThat(node.isStopped()).isFalse();
            release.countDown();
            await().atMost(WAIT).until(node::isStopped);
        } finally {
            release.countDown();
            channel.shutdownNow();
            server.shutdownNow();
            node.stop();
        }
    }

    @Test
    void abortEndsEveryServiceButTheMonitorAndSaysHowMany() {
        Node node = Node.builder().id(1).build();
        AdminServer server = serve(node);
        List<Handle> victims = List.of(idle(node), named(node, "x"), idle(node));
        long before = node.exits().lastSeq();
        int aborted = NodeGrpc.newBlockingStub(server.channel()).abort(AbortRequest.getDefaultInstance()).getAborted();
        assertThat(aborted).isEqualTo(3);
        assertThat(node.services()).extracting(s -> s.handle()).containsExactly(node.monitor());
        assertThat(node.exits().after(before)).extracting(e -> e.handle()).containsExactlyInAnyOrderElementsOf(victims);
        assertThat(node.exits().after(before)).allMatch(e -> e.reason() == ExitReason.ABORTED);
        assertThat(NodeGrpc.newBlockingStub(server.channel()).abort(AbortRequest.getDefaultInstance()).getAborted()).isZero();
    }
}
