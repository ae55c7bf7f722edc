package dev.harbor.it;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.harbor.proto.ExitEvent;
import dev.harbor.proto.ExitReason;
import dev.harbor.service.CallException;
import dev.harbor.service.Handle;
import dev.harbor.service.Node;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * A node lost by kill -9, or frozen by SIGSTOP with its connections open: calls in flight to it end
 * with NODE_LOST within the default bound (3 s), and the other nodes' exit streams report each of its
 * services as NODE_LOST. A killed node restarts with the same id and is reached again.
 */
@Timeout(240)
class NodeLossTest {
    /** The design's default bound for noticing a lost node. */
    private static final long BOUND_MS = 3_000;
    private static final Duration WAIT = Duration.ofSeconds(30);
    private ProcessCluster cluster;

    @AfterEach
    void stop() {
        if (cluster != null) {
            cluster.close();
        }
    }

    private Node threeNodes(String name) {
        cluster = new ProcessCluster(name, 1, 2, 3);
        for (int id = 1; id <= 3; id++) {
            cluster.start(id, "dev.harbor.it.Relay(relay-" + id + "),dev.harbor.it.Parked(parked-" + id + ")");
        }
        Node driver = cluster.startDriver();
        await().atMost(WAIT).until(() -> cluster.driverHarbor().connected().containsAll(List.of(1, 2, 3))
                && driver.whereis("parked-2").isPresent() && driver.whereis("relay-2").isPresent()
                && driver.whereis("parked-3").isPresent());
        return driver;
    }

    @Test
    void killNineFailsEveryCallInFlightWithNodeLostWithinTheBoundAndTheNodeRejoinsAfterARestart() throws Exception {
        Node driver = threeNodes("kill9");
        Handle parked = driver.whereis("parked-2").orElseThrow();
        Handle relay = driver.whereis("relay-2").orElseThrow();
        ExitStreamRecorder watcher = ExitStreamRecorder.follow(cluster.adminAsync(1), 0);
        watcher.awaitCaughtUp(WAIT);
        // A stream of calls: some parked for ever, some answered, all in flight when the node dies.
        List<CompletableFuture<Object>> inFlight = new ArrayList<>();
        for (int i = 0; i < 50; i++) {
            inFlight.add(driver.call(parked, "wait " + i, null));
        }
        for (int i = 0; i < 20; i++) {
            assertThat(driver.call(relay, "", WAIT).get(10, TimeUnit.SECONDS)).isEqualTo("relay-2");
        }

        long killedAt = System.nanoTime();
        cluster.process(2).kill9();

        for (CompletableFuture<Object> f : inFlight) {
            ExecutionException e = org.junit.jupiter.api.Assertions.assertThrows(ExecutionException.class,
                    () -> f.get(10, TimeUnit.SECONDS));
            assertThat(((CallException) e.getCause()).failure()).isEqualTo(CallException.Failure.NODE_LOST);
        }
        long detectedMs = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - killedAt);
        assertThat(detectedMs).as("time from kill -9 to the last in-flight call failing").isLessThanOrEqualTo(BOUND_MS);

        // Node 1's WatchExits subscriber sees a NODE_LOST exit for each service node 2 had.
        watcher.awaitExits(WAIT, exits -> lostOf(exits, 2).size() >= 3);
        List<ExitEvent> lost = lostOf(watcher.exits(), 2);
        assertThat(lost).extracting(e -> Handle.of(e.getHandle().getNode(), e.getHandle().getId()))
                .contains(parked, relay);
        assertThat(lost).anySatisfy(e -> assertThat(e.getNamesList()).containsExactly("relay-2"));
        assertThat(lost.stream().map(ExitEvent::getHandle).distinct().count()).as("each once").isEqualTo(lost.size());
        watcher.close();

        cluster.restart(2);
        await().atMost(WAIT).until(() -> driver.whereis("relay-2").map(h -> !h.equals(relay)).orElse(false)
                && cluster.driverHarbor().connected().contains(2));
        Handle again = driver.whereis("relay-2").orElseThrow();
        assertThat(again.id()).isGreaterThan(relay.id());
        assertThat(driver.call(again, "", WAIT).get(10, TimeUnit.SECONDS)).isEqualTo("relay-2");
        // A chain through the new life from another node, once the nodes have linked to it.
        Handle viaOne = driver.whereis("relay-1").orElseThrow();
        await().atMost(WAIT).ignoreExceptions().until(() -> "relay-1>relay-2>relay-3>relay-2".equals(
                driver.call(viaOne, "relay-2,relay-3,relay-2", WAIT).get(10, TimeUnit.SECONDS)));
        ExecutionException old = org.junit.jupiter.api.Assertions.assertThrows(ExecutionException.class,
                () -> driver.call(relay, "", WAIT).get(10, TimeUnit.SECONDS));
        assertThat(((CallException) old.getCause()).failure()).isEqualTo(CallException.Failure.GONE);
    }

    @Test
    void aFrozenNodeWithItsConnectionsOpenIsDetectedWithinTheBound() throws Exception {
        Node driver = threeNodes("sigstop");
        Handle parked = driver.whereis("parked-3").orElseThrow();
        ExitStreamRecorder watcher = ExitStreamRecorder.follow(cluster.adminAsync(1), 0);
        watcher.awaitCaughtUp(WAIT);
        CompletableFuture<Object> inFlight = driver.call(parked, "wait", null);

        long frozenAt = System.nanoTime();
        cluster.process(3).freeze();

        ExecutionException e = org.junit.jupiter.api.Assertions.assertThrows(ExecutionException.class,
                () -> inFlight.get(10, TimeUnit.SECONDS));
        long detectedMs = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - frozenAt);
        assertThat(((CallException) e.getCause()).failure()).isEqualTo(CallException.Failure.NODE_LOST);
        assertThat(detectedMs).as("time from SIGSTOP to NODE_LOST").isLessThanOrEqualTo(BOUND_MS);
        watcher.awaitExits(WAIT, exits -> lostOf(exits, 3).stream().anyMatch(x -> x.getNamesList().contains("parked-3")));
        assertThat(cluster.process(3).isAlive()).as("frozen, not dead").isTrue();
        watcher.close();
    }

    private static List<ExitEvent> lostOf(List<ExitEvent> exits, int node) {
        return exits.stream().filter(e -> e.getReason() == ExitReason.NODE_LOST && e.getNode() == node).toList();
    }
}
