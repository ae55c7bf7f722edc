package dev.harbor.admin;

import static dev.harbor.admin.NodeAdminServiceTest.idle;
import static dev.harbor.admin.NodeAdminServiceTest.named;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import dev.harbor.service.ExitEvent;
import dev.harbor.service.ExitReason;
import dev.harbor.service.Handle;
import dev.harbor.service.InternalNode;
import dev.harbor.service.ManualScheduler;
import dev.harbor.service.Node;
import dev.harbor.service.ServiceInfo;
import io.grpc.Status;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** Following a node's exit stream through disconnects, gaps and restarts, over real gRPC. */
@Timeout(60)
class ExitSubscriberTest {
    static final Duration WAIT = Duration.ofSeconds(10);
    private final List<AutoCloseable> toClose = new ArrayList<>();

    @AfterEach
    void close() throws Exception {
        for (AutoCloseable c : toClose.reversed()) {
            c.close();
        }
    }

    private <T extends AutoCloseable> T closeLater(T c) {
        toClose.add(c);
        return c;
    }

    /** Everything a subscriber reported, in order, as readable lines. */
    static final class Recording implements ExitSubscriber.Listener {
        final List<String> log = new CopyOnWriteArrayList<>();
        final List<ExitEvent> exits = new CopyOnWriteArrayList<>();
        final List<ExitSubscriber.Gap> gaps = new CopyOnWriteArrayList<>();
        final List<ExitSubscriber.Identity> identities = new CopyOnWriteArrayList<>();
        final List<Status> disconnects = new CopyOnWriteArrayList<>();
        final List<Duration> retryIns = new CopyOnWriteArrayList<>();
        volatile Status failed;

        @Override
        public void onIdentity(ExitSubscriber.Identity identity) {
            identities.add(identity);
            log.add("identity " + identity.node() + " " + identity.incarnation());
        }

        @Override
        public void onAlive(ServiceInfo service) {
            log.add("alive " + service.handle());
        }

        @Override
        public void onExit(ExitEvent event) {
            exits.add(event);
            log.add("exit " + event.seq() + " " + event.handle() + " " + event.reason());
        }

        @Override
        public void onGap(ExitSubscriber.Gap gap) {
            gaps.add(gap);
            log.add("gap " + gap.firstMissing() + "-" + gap.lastMissing());
        }

        @Override
        public void onCaughtUp(long lastSeq) {
            log.add("caught up " + lastSeq);
        }

        @Override
        public void onDisconnected(Status status, Duration retryIn) {
            retryIns.add(retryIn);
            disconnects.add(status);
        }

        @Override
        public void onFailed(Status status) {
            failed = status;
        }

        List<Long> seqs() {
            return exits.stream().map(ExitEvent::seq).toList();
        }
    }

    private ExitSubscriber follow(AdminServer server, Recording listener) {
        return closeLater(ExitSubscriber.builder(server.target(), listener)
                .backoff(Duration.ofMillis(20), Duration.ofMillis(200)).start());
    }

    @Test
    void reportsIdentityAliveServicesBacklogAndLiveExitsInOrder() throws Exception {
        Node node = Node.builder().id(2).build();
        AdminServer server = closeLater(new AdminServer(node));
        Handle a = named(node, "a");
        Handle b = idle(node);
        node.kill(a);

        Recording r = new Recording();
        ExitSubscriber s = follow(server, r);
        assertThat(s.awaitCaughtUp(WAIT)).isTrue();
        assertThat(r.log).containsExactly("identity 2 " + InternalNode.firstIdOfThisLife(node), "alive " + node.monitor(), "alive " + b,
                "exit 1 " + a + " KILLED", "caught up 1");
        assertThat(s.alive()).extracting(ServiceInfo::handle).containsExactly(node.monitor(), b);
        assertThat(s.identity()).contains(new ExitSubscriber.Identity(2, InternalNode.firstIdOfThisLife(node), 1));

        node.kill(b);
        await().atMost(WAIT).until(() -> r.exits.size() == 2);
        assertThat(r.exits.get(1).handle()).isEqualTo(b);
        assertThat(s.lastSeq()).isEqualTo(2);
        assertThat(s.alive()).extracting(ServiceInfo::handle).containsExactly(node.monitor());
    }

    @Test
    void reconnectsAfterTheServerComesBackAndDeliversTheMissedEventsExactlyOnce() throws Exception {
        Node node = Node.builder().id(1).build();
        AdminServer server = closeLater(new AdminServer(node));
        List<Handle> services = new ArrayList<>();
        for (int i = 0; i < 6; i++) {
            services.add(idle(node));
        }
        node.kill(services.get(0));

        Recording r = new Recording();
        ExitSubscriber s = follow(server, r);
        assertThat(s.awaitCaughtUp(WAIT)).isTrue();
        assertThat(r.seqs()).containsExactly(1L);

        server.cut();
        await().atMost(WAIT).until(() -> !r.disconnects.isEmpty());
        assertThat(s.isCaughtUp()).isFalse();
        node.kill(services.get(1));
        node.kill(services.get(2));
        Handle bornWhileAway = idle(node);

        server.serve(node); // the same life of the node, on the same port
        await().atMost(WAIT).until(() -> r.seqs().size() == 3);
        assertThat(s.awaitCaughtUp(WAIT)).isTrue();
        node.kill(services.get(3));
        await().atMost(WAIT).until(() -> r.seqs().size() == 4);

        assertThat(r.seqs()).containsExactly(1L, 2L, 3L, 4L);
        assertThat(r.exits).extracting(ExitEvent::handle).containsExactly(services.get(0), services.get(1), services.get(2), services.get(3));
        assertThat(r.identities).hasSize(2).allMatch(i -> i.incarnation() == InternalNode.firstIdOfThisLife(node));
        assertThat(r.log.stream().filter(l -> l.startsWith("alive")).toList()).as("each service reported alive once")
                .doesNotHaveDuplicates().contains("alive " + bornWhileAway);
        assertThat(s.alive()).extracting(ServiceInfo::handle)
                .containsExactly(node.monitor(), services.get(4), services.get(5), bornWhileAway);
        assertThat(r.failed).isNull();
    }

    @Test
    void aRestartedNodesOldServicesAreReportedLostAndItsNewLifeIsFollowedFromItsFirstEvent() throws Exception {
        Node first = Node.builder().id(1).build();
        AdminServer server = closeLater(new AdminServer(first));
        Handle keeper = named(first, "keeper");
        Handle other = idle(first);
        for (int i = 0; i < 3; i++) {
            first.kill(idle(first));
        }
        Recording r = new Recording();
        ExitSubscriber s = follow(server, r);
        assertThat(s.awaitCaughtUp(WAIT)).isTrue();
        assertThat(s.lastSeq()).isEqualTo(3);

        // The node crashes and restarts: a new life, whose log starts again at seq 1 (below our 3).
        server.cut();
        await().atMost(WAIT).until(() -> !r.disconnects.isEmpty());
        first.stop();
        Node second = Node.builder().id(1).clock(Clock.offset(Clock.systemUTC(), Duration.ofSeconds(1))).build();
        Handle fresh = idle(second);
        second.kill(idle(second));
        server.serve(second);

        await().atMost(WAIT).until(() -> s.isCaughtUp() && s.identity().orElseThrow().incarnation() == InternalNode.firstIdOfThisLife(second));
        List<ExitEvent> lost = r.exits.stream().filter(e -> e.reason() == ExitReason.NODE_LOST).toList();
        assertThat(lost).extracting(ExitEvent::handle).containsExactlyInAnyOrder(first.monitor(), keeper, other);
        assertThat(lost).allMatch(e -> e.seq() == 0 && e.detail().contains("node 1 restarted"));
        assertThat(lost.stream().filter(e -> e.handle().equals(keeper)).findFirst().orElseThrow().names()).containsExactly("keeper");
        // Then the new life, from its first event.
        ExitEvent newLife = r.exits.getLast();
        assertThat(newLife.seq()).isEqualTo(1);
        assertThat(newLife.reason()).isEqualTo(ExitReason.KILLED);
        assertThat(r.log.indexOf("exit 1 " + newLife.handle() + " KILLED")).isGreaterThan(r.log.indexOf("exit 0 " + keeper + " NODE_LOST"));
        assertThat(s.lastSeq()).isEqualTo(1);
        assertThat(s.alive()).extracting(ServiceInfo::handle).containsExactly(second.monitor(), fresh);
        assertThat(r.failed).isNull();
        server.cut();
        second.stop();
    }

    @Test
    void aNewLifeWithMoreEventsThanTheOldIsStillFollowedFromItsFirstEvent() throws Exception {
        Node first = Node.builder().id(1).build();
        AdminServer server = closeLater(new AdminServer(first));
        Handle old = idle(first);
        first.kill(idle(first));
        Recording r = new Recording();
        ExitSubscriber s = follow(server, r);
        assertThat(s.awaitCaughtUp(WAIT)).isTrue();

        server.cut();
        await().atMost(WAIT).until(() -> !r.disconnects.isEmpty());
        first.stop();
        Node second = Node.builder().id(1).clock(Clock.offset(Clock.systemUTC(), Duration.ofSeconds(1))).build();
        for (int i = 0; i < 4; i++) { // seq 1..4 of the new life: above the 1 the subscriber resumes from
            second.kill(idle(second));
        }
        server.serve(second);

        await().atMost(WAIT).until(() -> s.isCaughtUp() && s.lastSeq() == 4
                && s.identity().orElseThrow().incarnation() == InternalNode.firstIdOfThisLife(second));
        List<Long> seqs = r.seqs();
        assertThat(seqs).containsExactly(1L, 0L, 0L, 1L, 2L, 3L, 4L);
        assertThat(r.exits.subList(1, 3)).extracting(ExitEvent::handle).containsExactlyInAnyOrder(first.monitor(), old);
        server.cut();
        second.stop();
    }

    @Test
    void eventsLostWhileAwayAreReportedAsAGapNamingTheServicesThatEndedUnseen() throws Exception {
        Node node = Node.builder().id(1).exitRetention(4).build();
        AdminServer server = closeLater(new AdminServer(node));
        List<Handle> services = new ArrayList<>();
        for (int i = 0; i < 6; i++) {
            services.add(idle(node));
        }
        Recording r = new Recording();
        ExitSubscriber s = follow(server, r);
        assertThat(s.awaitCaughtUp(WAIT)).isTrue();

        server.cut();
        await().atMost(WAIT).until(() -> !r.disconnects.isEmpty());
        services.forEach(node::kill); // seq 1..6; only 3..6 are retained
        server.serve(node);

        await().atMost(WAIT).until(() -> s.isCaughtUp() && s.lastSeq() == 6);
        assertThat(r.gaps).hasSize(1);
        ExitSubscriber.Gap gap = r.gaps.getFirst();
        assertThat(gap.firstMissing()).isEqualTo(1);
        assertThat(gap.lastMissing()).isEqualTo(2);
        assertThat(gap.endedUnseen()).extracting(ServiceInfo::handle).containsExactly(services.get(0), services.get(1));
        assertThat(r.seqs()).containsExactly(3L, 4L, 5L, 6L);
        assertThat(r.log.indexOf("gap 1-2")).isLessThan(r.log.indexOf("exit 3 " + services.get(2) + " KILLED"));
        assertThat(s.alive()).extracting(ServiceInfo::handle).containsExactly(node.monitor());
    }

    @Test
    void givesUpWithTheReasonWhenTheFirstFromSeqIsAboveTheNodesNewest() throws Exception {
        Node node = Node.builder().id(1).build();
        AdminServer server = closeLater(new AdminServer(node));
        Recording r = new Recording();
        ExitSubscriber s = closeLater(ExitSubscriber.builder(server.target(), r).fromSeq(9).start());
        assertThatThrownBy(() -> s.awaitCaughtUp(WAIT)).isInstanceOf(IllegalStateException.class).hasMessageContaining("from_seq 9");
        assertThat(r.failed.getCode()).isEqualTo(Status.Code.INVALID_ARGUMENT);
        assertThat(s.failure()).isPresent();
    }

    @Test
    void keepsRetryingWhileNoNodeListensAtTheAddress() throws Exception {
        int port = AdminServer.freePort();
        Recording r = new Recording();
        ExitSubscriber s = closeLater(ExitSubscriber.builder("127.0.0.1:" + port, r)
                .backoff(Duration.ofMillis(20), Duration.ofMillis(100)).start());
        await().atMost(WAIT).until(() -> r.disconnects.size() >= 3);
        assertThat(r.disconnects).allMatch(st -> st.getCode() == Status.Code.UNAVAILABLE);
        assertThat(s.awaitCaughtUp(Duration.ofMillis(50))).isFalse();
        assertThat(r.failed).isNull();
    }

    @Test
    void waitsOutItsBackoffOnTheGivenSchedulersClockAndLeavesThatSchedulerRunningWhenClosed() throws Exception {
        ManualScheduler clock = new ManualScheduler();
        Recording r = new Recording();
        ExitSubscriber s = ExitSubscriber.builder("127.0.0.1:" + AdminServer.freePort(), r) // nobody listens there
                .backoff(Duration.ofSeconds(1), Duration.ofSeconds(8)).scheduler(clock).start();
        try {
            await().atMost(WAIT).until(() -> r.disconnects.size() == 1);
            clock.awaitPending(1, WAIT); // the retry, 1 s +-20% on this clock

            clock.advance(Duration.ofMillis(790));
            assertThat(clock.pending()).as("not retried before 80% of the first backoff").isEqualTo(1);
            assertThat(r.disconnects).hasSize(1);

            clock.advance(Duration.ofMillis(420)); // 1.21 s: past 120% of it
            await().atMost(WAIT).until(() -> r.disconnects.size() == 2);
            clock.awaitPending(1, WAIT); // the next retry, doubled: 2 s +-20%
            // Scheduled from the clock's reading when the failed attempt reported back: somewhere between
            // that attempt's start and 1.21 s (the advance above may not have finished), so the test checks
            // the delay the subscriber chose, then moves past its largest value.
            assertThat(r.retryIns.get(1)).as("the backoff doubled").isBetween(Duration.ofMillis(1600), Duration.ofMillis(2400));
            assertThat(r.disconnects).hasSize(2);

            clock.advance(Duration.ofMillis(2410));
            await().atMost(WAIT).until(() -> r.disconnects.size() == 3);
            clock.awaitPending(1, WAIT);
        } finally {
            s.close();
        }
        clock.advance(Duration.ofSeconds(10)); // the retry scheduled before the close runs, and does nothing
        clock.schedule(() -> { }, Duration.ZERO); // the given scheduler is its owner's: not shut down by close
        assertThat(r.disconnects).hasSize(3);
        assertThat(r.failed).isNull();
    }
}
