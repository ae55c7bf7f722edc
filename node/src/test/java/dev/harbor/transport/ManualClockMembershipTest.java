package dev.harbor.transport;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.AppenderBase;
import dev.harbor.proto.Hello;
import dev.harbor.proto.LinkFrame;
import dev.harbor.proto.Refusal;
import dev.harbor.service.NamedService;
import dev.harbor.service.ExitEvent;
import dev.harbor.service.ExitReason;
import dev.harbor.service.Handle;
import dev.harbor.service.ManualScheduler;
import dev.harbor.service.Message;
import dev.harbor.service.Service;
import dev.harbor.service.ServiceContext;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.AutoClose;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.slf4j.LoggerFactory;

/**
 * Membership timing on clocks the test moves: two in-JVM nodes linked over real loopback streams, each
 * on its own {@link ManualScheduler} with the default settings (500 ms heartbeats, 2 s loss timeout).
 * A node's link timer runs only when the test advances its clock, so a node whose clock stays put
 * sends nothing: a silent peer, with no wall time involved. The link timer's rounds fall on multiples
 * of 500 ms of its node's clock; a verdict comes at the first round past the window.
 *
 * <p>Only the observer's clock moves after the nodes have linked (the silent node's stays at 0), except
 * where a test says otherwise. The only waits are for the loopback network to deliver the Hellos that
 * link the nodes; after that the silent node sends nothing more (it runs no round), so nothing from it
 * is in flight while the observer's clock moves.
 */
@Timeout(60)
class ManualClockMembershipTest {
    private static final Duration WAIT = Duration.ofSeconds(20);
    private static final Duration HEARTBEAT = Duration.ofMillis(500);

    @AutoClose
    private final TestCluster cluster = new TestCluster(b -> b); // the defaults: 500 ms heartbeats, 2 s loss timeout

    private final ManualScheduler clock1 = new ManualScheduler();
    private final ManualScheduler clock2 = new ManualScheduler();
    private TestCluster.Member one;
    private TestCluster.Member two;
    private Handle onTwo;

    /**
     * Starts nodes 1 and 2 and a service on node 2, and links them both ways with both clocks at 0.
     * {@code silent} dials first: its first round finds no peer (no heartbeat to send); the other node
     * learns of it and its services from its Hello. Then the other node's rounds at 0 dial back, and
     * {@code silent} answers with its Hello, the last frame it sends while its clock stays at 0.
     */
    private void link(int silent) {
        cluster.plan(1, 2);
        one = cluster.start(1, clock1);
        two = cluster.start(2, clock2);
        onTwo = two.node.launch(NamedService.class, "on-two");
        TestCluster.Member quiet = silent == 1 ? one : two;
        TestCluster.Member observer = silent == 1 ? two : one;
        (silent == 1 ? clock1 : clock2).advance(Duration.ZERO);
        await().atMost(WAIT).until(() -> quiet.harbor.connected().contains(observer.node.id()));
        (silent == 1 ? clock2 : clock1).advance(Duration.ZERO);
        await().atMost(WAIT).until(() -> observer.harbor.connected().contains(quiet.node.id()));
        assertThat(observer.harbor.membership.peer(quiet.node.id()).lastHeardNanos).isZero();
    }

    private static List<ExitEvent> lost(TestCluster.Member observer, int node) {
        return observer.node.exits().after(0).stream().filter(e -> e.node() == node && e.reason() == ExitReason.NODE_LOST).toList();
    }

    /**
     * Waits until {@code done}, running at each poll what is due on {@code clock} at its reading (the
     * clock does not move): for a round that another thread asks for at a moment the test cannot see.
     */
    private static void awaitRunningWhatIsDue(ManualScheduler clock, Callable<Boolean> done) {
        await().atMost(WAIT).until(() -> {
            clock.advance(Duration.ZERO);
            return done.call();
        });
    }

    private Peer twoAsSeenByOne() {
        return one.harbor.membership.peer(2);
    }

    @Test
    void aSilentPeerIsSuspectedAtHalfTheLossTimeoutAndLostAtTheLossTimeoutOfTheObserversClock() {
        link(2);

        clock1.advance(Duration.ofMillis(1000)); // rounds at 500 and 1000: silent for 1 s, not more than half
        assertThat(twoAsSeenByOne().suspected).as("suspected at 1000 ms").isFalse();

        clock1.advance(HEARTBEAT); // 1500 ms
        assertThat(twoAsSeenByOne().suspected).as("suspected at 1500 ms").isTrue();
        assertThat(one.harbor.connected()).contains(2);

        clock1.advance(HEARTBEAT); // 2000 ms: silent for exactly the loss timeout, not more
        assertThat(one.harbor.connected()).as("still a member at 2000 ms").contains(2);
        assertThat(lost(one, 2)).isEmpty();
        assertThat(one.harbor.inMajority()).isTrue();
        assertThat(one.harbor.missingPeerAddresses()).isEmpty();

        clock1.advance(HEARTBEAT); // 2500 ms: the first round past it
        assertThat(lost(one, 2)).as("NODE_LOST for node 2's services at 2500 ms").extracting(ExitEvent::handle).containsExactly(two.node.monitor(), onTwo);
        assertThat(one.harbor.connected()).doesNotContain(2);
        assertThat(one.harbor.membership.peer(2)).isNull();
        assertThat(one.harbor.missingPeerAddresses()).as("lost, so nothing says it stopped").containsOnlyKeys(2);
        assertThat(one.harbor.pauses()).isZero();
        assertThat(clock2.nanoTime()).as("node 2's clock never moved").isZero();
    }

    @Test
    void aRefusalOfAnEarlierLifeEndsNothingWhileOneOfTheCurrentLifeStartsANewOne() {
        link(2);
        long life = one.harbor.membership.incarnation();
        Handle monitor = one.node.monitor();
        // A verdict on a life before this one, read after this one began (as when two peers refuse the
        // old life's dials and the second refusal comes in after the first started the new life).
        one.harbor.membership.declaredLost("127.0.0.1:1", life - 1, "node 2 declared an earlier life of node 1 lost");
        clock1.advance(Duration.ZERO); // a new life would start from a task on the node's scheduler
        assertThat(one.harbor.membership.incarnation()).as("the same life goes on").isEqualTo(life);
        assertThat(one.node.monitor()).isEqualTo(monitor);
        assertThat(lost(one, 1)).as("none of its own services ended").isEmpty();

        one.harbor.membership.declaredLost("127.0.0.1:1", life, "node 2 declared this life of node 1 lost");
        clock1.advance(Duration.ZERO);
        await().atMost(WAIT).until(() -> one.harbor.membership.incarnation() != life);
        await().atMost(WAIT).until(() -> lost(one, 1).stream().anyMatch(e -> e.handle().equals(monitor)));
        // The life ended for the verdict on itself: had the earlier refusal been taken, its new life would
        // have begun first (the second refusal then finding a new life under way), with that reason.
        assertThat(lost(one, 1)).filteredOn(e -> e.handle().equals(monitor)).singleElement()
                .satisfies(e -> assertThat(e.detail()).contains("declared this life of node 1 lost")
                        .doesNotContain("earlier life"));
    }

    @Test
    void aRefusalOfAnEarlierLifePutsOffNoDialOfThisOne() {
        link(2);
        Outbound current = twoAsSeenByOne().out;
        // A refusal of node 1's earlier life, read on a stream of that life (this one never sent a Hello,
        // so its life is none of node 1's), as when a peer's verdict on the old life arrives after the
        // new one began.
        Outbound earlier = new Outbound(one.harbor, current.address, 10, 10);
        one.harbor.links.fromOutbound(earlier, LinkFrame.newBuilder().setRefusal(Refusal.newBuilder().setDeclaredLost(true)
                .setReason("node 2 declared an earlier life of node 1 lost")).build());
        assertThat(one.harbor.connected()).as("it ended nothing").contains(2);

        // Node 1's link to node 2 ends (as a cut would): its next round dials again, not 5 s later.
        current.cancel("cut by the test");
        await().atMost(WAIT).until(() -> twoAsSeenByOne().out == null);
        clock1.advance(HEARTBEAT);
        await().atMost(WAIT).until(() -> twoAsSeenByOne().out != null);
    }

    @Test
    void aRefusalOfTheOldLifeReadWhileTheNewOneStartsPutsOffNoDialOfIt() {
        link(2);
        Outbound oldLink = twoAsSeenByOne().out;
        LinkFrame refusal = LinkFrame.newBuilder().setRefusal(Refusal.newBuilder().setDeclaredLost(true)
                .setReason("node 2 declared this life of node 1 lost")).build();
        // A service of the old life whose end, on the new-life thread while the new life is being set up,
        // is the moment a second peer's refusal of the old life is read on one of the old life's links.
        one.node.launch(() -> new Service() {
            @Override
            public Object receive(ServiceContext context, Message message) {
                return null;
            }

            @Override
            public void onEnd(ServiceContext context, ExitReason reason) {
                one.harbor.links.fromOutbound(oldLink, refusal);
            }
        });
        long life = one.harbor.membership.incarnation();
        one.harbor.membership.declaredLost(oldLink.address, life, "node 3 declared this life of node 1 lost");
        clock1.advance(Duration.ZERO);
        await().atMost(WAIT).until(() -> one.harbor.membership.incarnation() != life && !one.harbor.membership.renewing());
        assertThat(one.harbor.missingPeerAddresses()).as("a peer of the old life, not linked to this one yet").containsOnlyKeys(2);

        // The round the new life asked for dials node 2 again, not 5 s later. It is asked for as the new
        // life's thread ends, which may be after the wait above.
        awaitRunningWhatIsDue(clock1, () -> one.harbor.connected().contains(2));
        assertThat(one.harbor.missingPeerAddresses()).as("linked again").isEmpty();
    }

    /**
     * Node 2's life is declared lost (as by a third node) and it starts a new one, which dials node 1;
     * node 1 admits it (the old one lost: it restarted), its own stream to the old life closed, and is
     * to dial the new life back at its next round. Returns the new life's incarnation.
     */
    private long twoRenewsAndDialsIn(String address, long oldLife) {
        Peer oldPeer = twoAsSeenByOne();
        two.harbor.membership.declaredLost(address, oldLife, "node 3 declared this life of node 2 lost");
        clock2.advance(Duration.ZERO);
        await().atMost(WAIT).until(() -> two.harbor.membership.incarnation() != oldLife && !two.harbor.membership.renewing());
        await().atMost(WAIT).until(() -> !oldPeer.inboundOpen && oldPeer.out == null); // node 1 saw both links end
        long newLife = two.harbor.membership.incarnation();
        awaitRunningWhatIsDue(clock2, () -> { // the round the new life asks for as its thread ends
            Peer p = one.harbor.membership.peer(2);
            return p != null && p.incarnation == newLife;
        });
        await().atMost(WAIT).until(() -> one.harbor.dialler.outbounds().isEmpty()); // its stream to the old life closed
        assertThat(one.harbor.connected()).doesNotContain(2);
        assertThat(one.harbor.missingPeerAddresses()).as("the old life lost, a newer one linked").isEmpty();
        return newLife;
    }

    /** Node 1's next round dials node 2's new life, not 5 s later (its clock never reaches 5 s here). */
    private void oneLinksTo(long newLife) {
        awaitRunningWhatIsDue(clock1, () -> one.harbor.connected().contains(2));
        assertThat(one.harbor.membership.peer(2).incarnation).isEqualTo(newLife);
        assertThat(clock1.nanoTime()).isZero();
        assertThat(one.harbor.missingPeerAddresses()).isEmpty();
    }

    @Test
    void theOldLifesHelloReadAfterItsNewLifeDialledInPutsOffNoDialOfTheNewOne() {
        link(2);
        Hello oldHello = two.harbor.links.hello(false);
        String address = twoAsSeenByOne().out.address;
        Outbound early = new Outbound(one.harbor, address, 10, 10); // a stream node 1 made before the new life
        long newLife = twoRenewsAndDialsIn(address, oldHello.getIncarnation());

        // The early stream reads the old life's Hello only now, and refuses it (a life declared lost).
        one.harbor.links.fromOutbound(early, LinkFrame.newBuilder().setHello(oldHello).build());
        oneLinksTo(newLife);
    }

    @Test
    void aRefusalByTheRenewingNodeReadAfterItsNewLifeDialledInPutsOffNoDialOfTheNewOne() {
        link(2);
        String address = twoAsSeenByOne().out.address;
        long oldLife = two.harbor.membership.incarnation();
        Outbound early = new Outbound(one.harbor, address, 10, 10); // a stream node 1 made before the new life
        long newLife = twoRenewsAndDialsIn(address, oldLife);

        // The early stream reads only now what node 2 answered while its new life was starting.
        one.harbor.links.fromOutbound(early, LinkFrame.newBuilder().setRefusal(Refusal.newBuilder().setRenewing(true)
                .setReason("node 2 is starting a new life; it dials back when it has")).build());
        oneLinksTo(newLife);
    }

    @Test
    void aStreamThatWasOpenWhenANodeAtItsAddressDialledInAsksForADialWhenItEnds() {
        link(2);
        Outbound open = twoAsSeenByOne().out;
        // A node at node 2's address dials node 1 and is admitted (as Inbound records it) while node 1's
        // stream there is still open, as a refused stream is until the peer ends its side: the round
        // asked for to dial it back finds the stream and dials nothing.
        one.harbor.dialler.dialledFrom(open.address);
        clock1.advance(Duration.ZERO);
        assertThat(twoAsSeenByOne().out).isSameAs(open);

        // The stream ends: node 1 dials again at once, not at its next round.
        open.cancel("ended by the test");
        awaitRunningWhatIsDue(clock1, () -> twoAsSeenByOne().out != null && twoAsSeenByOne().out != open);
        assertThat(clock1.nanoTime()).isZero();
    }

    /** What the transport logs from INFO up while a test runs (the tests' own config logs only WARN up). */
    private static final class TransportLog extends AppenderBase<ILoggingEvent> implements AutoCloseable {
        private final Logger logger = (Logger) LoggerFactory.getLogger(Harbor.class);
        private final Level before = logger.getLevel();
        private final List<ILoggingEvent> events = new CopyOnWriteArrayList<>(); // appended on gRPC's event loops

        TransportLog() {
            start();
            logger.setLevel(Level.INFO);
            logger.addAppender(this);
        }

        @Override
        protected void append(ILoggingEvent event) {
            events.add(event);
        }

        /** The refusals of this node's links that it logged, in order. */
        List<ILoggingEvent> refusals() {
            return events.stream().filter(e -> e.getFormattedMessage().contains("refused this node's link")).toList();
        }

        List<ILoggingEvent> errors() {
            return events.stream().filter(e -> e.getLevel() == Level.ERROR).toList();
        }

        @Override
        public void close() {
            logger.detachAppender(this);
            logger.setLevel(before);
            stop();
        }
    }

    /**
     * Starts another node with node 1's id and a later life, at an address of its own (the planned one is
     * node 1's), on {@code clock}. Node 1 goes on: to node 2 this is node 1 restarted while node 2 still
     * holds the earlier life's link (node 2's clock stays at 0, so it heard that life within two
     * heartbeats), or a second node with node 1's id.
     */
    private TestCluster.Member anotherNodeOne(ManualScheduler clock) {
        cluster.addresses.remove(1);
        TestCluster.Member other = cluster.start(1, clock);
        assertThat(other.harbor.incarnation()).as("a later life").isGreaterThan(one.harbor.incarnation());
        return other;
    }

    @Test
    void aNewLifeRefusedAsInUseWhileItsEarlierLifesLinkIsOpenThereDialsAgainAfterTwoHeartbeatsAndSaysNoError() {
        link(2);
        ManualScheduler clock3 = new ManualScheduler();
        try (TransportLog log = new TransportLog()) {
            TestCluster.Member renewed = anotherNodeOne(clock3);
            clock3.advance(Duration.ZERO); // its first round dials node 2
            await().atMost(WAIT).until(() -> log.refusals().size() == 1);
            assertThat(log.refusals().getFirst()).satisfies(e -> {
                assertThat(e.getLevel()).isEqualTo(Level.INFO);
                assertThat(e.getFormattedMessage()).contains("node id 1 is in use by a live node at " + one.address)
                        .contains("dialling again in 1000 ms");
            });

            one.crash(); // the earlier life ends, and node 2 reads its link closed
            await().atMost(WAIT).until(() -> !two.harbor.membership.peer(1).inboundOpen);
            clock3.advance(HEARTBEAT); // 500 ms: not due yet
            clock3.advance(HEARTBEAT); // 1000 ms: two heartbeats after the refusal (a refused dial's usual wait is 5 s)
            await().atMost(WAIT).until(() -> renewed.harbor.connected().contains(2));
            assertThat(two.harbor.membership.peer(1).incarnation).isEqualTo(renewed.harbor.incarnation());
            assertThat(log.errors()).isEmpty();
        }
    }

    @Test
    void aNodeThatRefusesANewLifesHelloOnItsOwnDialWhileTheEarlierLifesLinkIsOpenDialsAgainAfterTwoHeartbeats() {
        link(2);
        ManualScheduler clock3 = new ManualScheduler(); // never moves: the new life dials nobody
        try (TransportLog log = new TransportLog()) {
            TestCluster.Member renewed = anotherNodeOne(clock3);
            two.harbor.dialler.dialledFrom(renewed.address); // node 2 learns the new life's address (as from a dial-in)
            two.harbor.tickSoon();
            clock2.advance(Duration.ZERO); // node 2 dials it, and refuses the Hello it answers with
            await().atMost(WAIT).until(() -> log.events.stream().anyMatch(e -> e.getFormattedMessage()
                    .startsWith("node 2: not linking to " + renewed.address + ": node id 1 is in use by a live node")));

            one.crash(); // the earlier life ends, and node 2 reads its link closed
            await().atMost(WAIT).until(() -> !two.harbor.membership.peer(1).inboundOpen);
            clock2.advance(HEARTBEAT); // 500 ms
            clock2.advance(HEARTBEAT); // 1000 ms: two heartbeats after the refusal (a refused dial's usual wait is 5 s)
            await().atMost(WAIT).until(() -> two.harbor.membership.peer(1) != null
                    && two.harbor.membership.peer(1).incarnation == renewed.harbor.incarnation());
            assertThat(two.harbor.connected()).contains(1);
            assertThat(clock2.nanoTime()).isEqualTo(2 * HEARTBEAT.toNanos());
        }
    }

    @Test
    void refusalsAsInUseForLongerThanTheLossTimeoutAndTwoHeartbeatsAreAnIdClashSaidAtError() {
        link(2);
        ManualScheduler clock3 = new ManualScheduler();
        try (TransportLog log = new TransportLog()) {
            TestCluster.Member second = anotherNodeOne(clock3); // node 1 stays live: the ids clash
            clock3.advance(Duration.ZERO); // its first round dials node 2
            for (int n = 1; n <= 5; n++) { // dials at 0, 1000, 2000, 3000 and 4000 ms, each refused
                if (n > 1) {
                    clock3.advance(HEARTBEAT);
                    clock3.advance(HEARTBEAT);
                }
                int refused = n;
                await().atMost(WAIT).until(() -> log.refusals().size() == refused);
            }
            assertThat(log.refusals()).extracting(ILoggingEvent::getLevel).as("at 4000 ms refused for longer than 2 s + 2 x 500 ms")
                    .containsExactly(Level.INFO, Level.INFO, Level.INFO, Level.INFO, Level.ERROR);
            assertThat(log.refusals().getLast().getFormattedMessage()).contains("refused this node's link for 4000 ms")
                    .contains("node id 1 is in use by a live node").contains("node ids must be unique in a cluster");

            for (int t = 4500; t < 9000; t += 500) { // from now on, a refused dial's usual wait: 5 s
                clock3.advance(HEARTBEAT);
                assertThat(second.harbor.dialler.outbounds()).as("a stream opened by the round at %d ms", t).isEmpty();
            }
            clock3.advance(HEARTBEAT); // 9000 ms
            await().atMost(WAIT).until(() -> log.refusals().size() == 6);
            assertThat(log.refusals().getLast().getLevel()).isEqualTo(Level.ERROR);
            assertThat(one.harbor.connected()).as("node 1 went on").contains(2);
        }
    }

    @Test
    void aLeavingNodeOpensNoLinkAtItsLaterRounds() {
        link(1);
        one.harbor.leave("a test stops it", Duration.ofSeconds(10)); // its stream to node 2 ends here
        assertThat(one.harbor.dialler.outbounds()).isEmpty();
        await().atMost(WAIT).until(() -> !two.harbor.peerAddresses().containsKey(1)); // node 2 recorded that it left
        assertThat(two.harbor.missingPeerAddresses()).as("it left: not missing").isEmpty();

        clock1.advance(HEARTBEAT); // a round after the leave, before the node closes
        assertThat(one.harbor.dialler.outbounds()).as("streams node 1 opened after it left").isEmpty();
    }

    @Test
    void hellosOfLivesThisNodesDialNeverReachedCountForNoMajorityAndEndAsSilentPeers() throws Exception {
        link(2);
        // Someone who knows the cluster's name says Hello for two made-up nodes (no address to dial back),
        // as a stream to node 1 does, then falls silent. Counted as members, they would put node 1 (with
        // node 2 silent too) at 1 of 4: the minority, where it passes no verdict on them, for good.
        for (int fake : new int[] {91, 92}) {
            one.harbor.membership.admit(Hello.newBuilder().setCluster("harbor").setNode(fake).setIncarnation(5)
                    .setWire(EnvelopeBatch.WIRE).build(), "");
        }
        assertThat(twoAsSeenByOne().confirmed).as("node 1's dial reached node 2").isTrue();
        assertThat(one.harbor.membership.peer(91).confirmed).isFalse();

        clock1.advance(Duration.ofMillis(1500)); // everyone silent for more than half the loss timeout
        assertThat(twoAsSeenByOne().suspected).isTrue();
        assertThat(one.harbor.inMajority()).as("node 1 and node 2, node 1 the lowest id: an equal half that goes on").isTrue();

        clock1.advance(Duration.ofMillis(1000)); // 2500 ms: past the loss timeout
        assertThat(one.harbor.membership.peer(91)).as("declared lost like any silent peer").isNull();
        assertThat(one.harbor.membership.peer(92)).isNull();
        assertThat(one.harbor.missingPeerAddresses()).as("a Hello alone is a claim: only node 2 is missing").containsOnlyKeys(2);
        assertThat(lost(one, 2)).extracting(ExitEvent::handle).containsExactly(two.node.monitor(), onTwo);
        assertThat(one.harbor.inMajority()).isTrue();
        assertThat(one.harbor.refusesGlobalNames()).isNull();
    }

    @Test
    void aRoundLateByMoreThanHalfTheLossTimeoutGivesEveryPeerAFreshWindowInsteadOfAVerdict() {
        link(2);
        clock1.advance(HEARTBEAT); // a round at 500 ms, on time

        clock1.stall(Duration.ofSeconds(3)); // node 1 is paused: its clock reads 3500 ms, the round due at 1000 has not run
        clock1.advance(Duration.ZERO); // it runs now, 2500 ms late; node 2 has been silent for 3.5 s by this clock
        assertThat(one.harbor.pauses()).isEqualTo(1);
        assertThat(lost(one, 2)).as("no verdict on silence while node 1 itself was paused").isEmpty();
        assertThat(one.harbor.connected()).contains(2);
        assertThat(twoAsSeenByOne().suspected).isFalse();
        assertThat(twoAsSeenByOne().lastHeardNanos).as("the fresh window starts at the late round").isEqualTo(clock1.nanoTime());

        // From 3500 ms, node 2 is judged by the same windows as anyone, on rounds at 4000, 4500...
        clock1.advance(Duration.ofMillis(1000)); // 4500 ms: 1 s since the fresh window began
        assertThat(twoAsSeenByOne().suspected).isFalse();
        clock1.advance(HEARTBEAT); // 5000 ms
        assertThat(twoAsSeenByOne().suspected).isTrue();
        clock1.advance(HEARTBEAT); // 5500 ms: exactly the loss timeout
        assertThat(lost(one, 2)).isEmpty();
        clock1.advance(HEARTBEAT); // 6000 ms
        assertThat(lost(one, 2)).extracting(ExitEvent::handle).containsExactly(two.node.monitor(), onTwo);
        assertThat(one.harbor.pauses()).as("the rounds after the pause were on time").isEqualTo(1);
    }

    @Test
    void aRoundLateByHalfTheLossTimeoutOrLessIsNoPauseAndTheSilenceKeepsCounting() {
        link(2);
        clock1.advance(HEARTBEAT); // 500 ms

        clock1.stall(Duration.ofMillis(1500)); // the round due at 1000 runs at 2000: 1000 ms late, exactly half the loss timeout
        clock1.advance(Duration.ZERO);
        assertThat(one.harbor.pauses()).isZero();
        assertThat(twoAsSeenByOne().suspected).as("silent 2 s by this clock").isTrue();
        assertThat(lost(one, 2)).isEmpty();

        clock1.advance(HEARTBEAT); // 2500 ms
        assertThat(lost(one, 2)).extracting(ExitEvent::handle).containsExactly(two.node.monitor(), onTwo);
    }

    @Test
    void ofTwoNodesTheHigherIdFindsItselfCutOffAtTheLossTimeoutAndDeclaresNobodyLost() {
        link(1); // node 1's clock stays put: it is the silent one

        clock2.advance(Duration.ofMillis(1000));
        assertThat(two.harbor.inMajority()).isTrue();
        clock2.advance(HEARTBEAT); // 1500 ms: node 1 suspected; node 2 alone is no majority (node 1 holds the lowest id)
        assertThat(two.harbor.membership.peer(1).suspected).isTrue();
        assertThat(two.harbor.inMajority()).isFalse();
        assertThat(two.node.exits().lastSeq()).isZero();

        clock2.advance(Duration.ofMillis(1000)); // 2500 ms: past the loss timeout
        Peer p = two.harbor.membership.peer(1);
        assertThat(p).as("not declared lost from the minority").isNotNull();
        assertThat(p.lost).isFalse();
        assertThat(p.cutOff).isTrue();
        // (Whether node 2 is connected to node 1 now is a race: the cut-off dropped its link, and the same
        // round dials node 1 again, whose event loops answer although its clock stands still.)
        assertThat(lost(two, 1)).isEmpty();
        assertThat(two.harbor.refusesGlobalNames()).contains("cut off from the majority");
    }

    @Test
    void peersWhoseClocksMoveTogetherHearEachOthersHeartbeatsAndStayMembers() {
        link(2);

        for (int round = 1; round <= 20; round++) { // 10 s by both clocks
            // Both clocks move to the next round's time first, then each node runs its round (on time:
            // it was due at that reading), so each node's heartbeats reach a node whose clock reads it.
            clock1.stall(HEARTBEAT);
            clock2.stall(HEARTBEAT);
            clock1.advance(Duration.ZERO);
            clock2.advance(Duration.ZERO);
            long now = clock1.nanoTime();
            assertThat(clock2.nanoTime()).isEqualTo(now);
            await().atMost(WAIT).until(() -> twoAsSeenByOne().lastHeardNanos == now
                    && two.harbor.membership.peer(1).lastHeardNanos == now);
        }
        assertThat(one.harbor.connected()).contains(2);
        assertThat(two.harbor.connected()).contains(1);
        assertThat(twoAsSeenByOne().suspected).isFalse();
        assertThat(two.harbor.membership.peer(1).suspected).isFalse();
        assertThat(lost(one, 2)).isEmpty();
        assertThat(lost(two, 1)).isEmpty();
        assertThat(one.harbor.pauses() + two.harbor.pauses()).isZero();
    }
}
