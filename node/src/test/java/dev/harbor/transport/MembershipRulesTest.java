package dev.harbor.transport;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import dev.harbor.service.NamedService;
import dev.harbor.service.ExitEvent;
import dev.harbor.service.ExitReason;
import dev.harbor.service.CallException;
import dev.harbor.service.Handle;
import dev.harbor.service.LaunchException;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AutoClose;
import org.junit.jupiter.api.Test;

/**
 * The membership rules of {@link Harbor} with in-JVM nodes on real loopback streams (100 ms
 * heartbeats, 600 ms loss timeout): only a majority passes verdicts (of two nodes, the one with the
 * lower id), the minority takes no global name and fails calls as unreachable, and a node that leaves
 * is not lost.
 */
class MembershipRulesTest {
    private static final Duration WAIT = Duration.ofSeconds(20);

    @AutoClose
    private final TestCluster cluster = new TestCluster();

    private TestCluster.Member[] linked(int... ids) {
        cluster.plan(ids);
        TestCluster.Member[] m = new TestCluster.Member[ids.length];
        for (int i = 0; i < ids.length; i++) {
            m[i] = cluster.start(ids[i]);
        }
        for (TestCluster.Member a : m) {
            for (TestCluster.Member b : m) {
                if (a != b) {
                    await().atMost(WAIT).until(() -> a.harbor.connected().contains(b.node.id()));
                }
            }
        }
        return m;
    }

    private static List<ExitEvent> lostOf(TestCluster.Member observer, int node) {
        return observer.node.exits().after(0).stream().filter(e -> e.node() == node && e.reason() == ExitReason.NODE_LOST).toList();
    }

    @Test
    void ofTwoNodesTheOneWithTheLowerIdDeclaresTheOtherLost() {
        TestCluster.Member[] m = linked(1, 2);
        Handle two = m[1].node.launch(NamedService.class, "on-two");
        await().atMost(WAIT).until(() -> m[0].node.isAlive(two));

        m[1].crash();

        await().atMost(WAIT).until(() -> lostOf(m[0], 2).stream().anyMatch(e -> e.handle().equals(two)));
        assertThat(m[0].harbor.inMajority()).isTrue();
        assertThat(m[0].node.whereis("on-two")).isEmpty();
    }

    @Test
    void ofTwoNodesTheOneWithTheHigherIdDeclaresNobodyLostTakesNoGlobalNameAndFailsCallsAsUnreachable() throws Exception {
        TestCluster.Member[] m = linked(1, 2);
        Handle parked = m[0].node.launch(() -> (ctx, msg) -> {
            msg.defer(); // never answered: the call stays in flight until node 2 gives up on node 1
            return null;
        });
        await().atMost(WAIT).until(() -> m[1].node.isAlive(parked));
        var inFlight = m[1].node.call(parked, "x", null);

        m[0].crash();

        await().atMost(WAIT).until(() -> !m[1].harbor.inMajority());
        ExecutionException failed = org.junit.jupiter.api.Assertions.assertThrows(ExecutionException.class,
                () -> inFlight.get(WAIT.toMillis(), TimeUnit.MILLISECONDS));
        assertThat(((CallException) failed.getCause()).failure()).isEqualTo(CallException.Failure.UNREACHABLE);
        assertThat(failed.getCause().getMessage()).contains("cut off from the majority");
        assertThatThrownBy(() -> m[1].node.launch(NamedService.class, "writer")).isInstanceOf(LaunchException.class)
                .hasStackTraceContaining("the global name 'writer' cannot be taken now: node 2 is cut off from the majority");
        // Three more loss timeouts: still no verdict on node 1 from this side.
        await().pollDelay(Duration.ofMillis(1_800)).atMost(WAIT).until(() -> true);
        assertThat(lostOf(m[1], 1)).as("NODE_LOST events node 2 published for node 1's services").isEmpty();
        assertThat(m[1].node.isAlive(parked)).as("node 1's service, not declared lost").isTrue();
    }

    @Test
    void aNodeThatLeavesIsNotLostAndItsPeersStopDiallingIt() {
        TestCluster.Member[] m = linked(1, 2, 3);
        Handle three = m[2].node.launch(NamedService.class, "on-three");
        await().atMost(WAIT).until(() -> m[0].node.isAlive(three) && m[1].node.isAlive(three));

        m[2].node.stop();
        m[2].harbor.leave("a test stops it", Duration.ofSeconds(1));
        m[2].harbor.close();
        m[2].server.shutdownNow();

        for (TestCluster.Member survivor : List.of(m[0], m[1])) {
            await().atMost(WAIT).until(() -> !survivor.harbor.peerAddresses().containsKey(3) && !survivor.node.isAlive(three));
        }
        // Three loss timeouts later: nobody declared it lost, and the two left are still a majority.
        await().pollDelay(Duration.ofMillis(1_800)).atMost(WAIT).until(() -> true);
        for (TestCluster.Member survivor : List.of(m[0], m[1])) {
            assertThat(lostOf(survivor, 3)).as("node %d's NODE_LOST events for node 3", survivor.node.id()).isEmpty();
            assertThat(survivor.harbor.inMajority()).isTrue();
            assertThat(survivor.harbor.connected()).containsExactlyInAnyOrder(3 - survivor.node.id());
        }
    }
}
