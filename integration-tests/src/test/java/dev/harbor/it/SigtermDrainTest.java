package dev.harbor.it;

import static dev.harbor.it.CoordinatedCluster.WAIT;
import static dev.harbor.it.CoordinatedCluster.relay;
import static dev.harbor.it.CoordinatedCluster.services;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.harbor.proto.ExitEvent;
import dev.harbor.proto.ExitReason;
import dev.harbor.service.Handle;
import dev.harbor.service.Node;
import io.grpc.health.v1.HealthCheckRequest;
import io.grpc.health.v1.HealthCheckResponse.ServingStatus;
import io.grpc.health.v1.HealthGrpc;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * SIGTERM to one node process ({@code docker stop}, a pod's deletion): the node drains its registered
 * services in role order through the coordinator, ends the rest, stops and exits 0, while the other
 * nodes go on serving.
 */
@Timeout(120)
class SigtermDrainTest {
    private CoordinatedCluster c;

    @AfterEach
    void close() {
        if (c != null) {
            c.close();
        }
    }

    @Test
    void sigtermDrainsThatNodeInRoleOrderAndItExitsZeroWhileTheOthersGoOnServing() throws Exception {
        c = new CoordinatedCluster("sigterm", 1, 2, 3);
        c.start(1, services(relay("relay-1")));
        c.start(2, services(relay("relay-2"), c.registered("gw-2", "gateway", 2_000)));
        // Listed out of order on purpose: the plan, not the launch order, decides.
        c.start(3, services(c.registered("writer-3", "writer", 2_000), c.registered("cache-3", "cache", 1_500),
                c.registered("lobby-3", "lobby", 1_500, "cache", "exit"), c.registered("gw-3", "gateway", 2_000), relay("relay-3")));
        Node driver = c.cluster.startDriver();
        await().atMost(WAIT).until(() -> driver.whereis("relay-1").isPresent() && driver.whereis("relay-2").isPresent());
        c.awaitPlan(CoordinatedCluster.planWith(3, 5));
        // SIGTERM asks the coordinator by its global name, known to node 3 once they are linked.
        c.awaitLinked(3, 1);
        Map<String, Handle> three = new TreeMap<>();
        for (String name : List.of("gw-3", "lobby-3", "cache-3", "writer-3", "relay-3")) {
            three.put(name, c.handleOf(3, name));
        }
        ExitStreamRecorder exits = ExitStreamRecorder.follow(c.cluster.adminAsync(3), 0);
        exits.awaitCaughtUp(WAIT);

        c.process(3).terminate();
        assertThat(c.process(3).awaitExit(WAIT)).as("node 3's exit code after SIGTERM").isZero();

        // Node 3's own exit stream, to its end: the registered services in role order, each exiting on its own.
        await().atMost(WAIT).until(exits::ended);
        List<ExitEvent> events = exits.exits();
        assertDrainedInRoleOrder(events);
        assertThat(events.stream().map(ProgressRecorder::handle)).containsAll(three.values());
        assertThat(c.journal.names("drain")).containsExactly("gw-3", "lobby-3", "cache-3", "writer-3");
        assertThat(c.logSays(3, "the coordinator runs this node's drain")).as("drained through the coordinator").isTrue();

        // The other nodes go on serving: nothing of theirs was drained, and calls across them work.
        assertThat(c.process(1).isAlive()).isTrue();
        assertThat(c.process(2).isAlive()).isTrue();
        assertThat(c.find(2, "gw-2")).as("node 2's gateway was not touched").isPresent();
        assertThat(c.find(1, "harbor.coordinator")).isPresent();
        Handle relay1 = driver.whereis("relay-1").orElseThrow();
        await().atMost(WAIT).ignoreExceptions().until(() -> "relay-1>relay-2>relay-1".equals(
                driver.call(relay1, "relay-2,relay-1", WAIT).get(10, TimeUnit.SECONDS)));
        c.awaitPlan(p -> p.getRefusal().isEmpty() && p.getNodesList().equals(List.of(1, 2)));
    }

    /**
     * Node 3's own exit events after SIGTERM, to the stream's end: its registered services first, in role
     * order (gw-3, lobby-3, cache-3, writer-3), each exiting on its own; relay-3 among the rest; one event
     * per service. The same for a node process and a node container ({@link ContainerSigtermTest}).
     */
    static void assertDrainedInRoleOrder(List<ExitEvent> events) {
        List<String> order = events.stream().filter(e -> e.getNamesCount() > 0).map(e -> e.getNames(0)).toList();
        assertThat(order.subList(0, 4)).containsExactly("gw-3", "lobby-3", "cache-3", "writer-3");
        assertThat(order).contains("relay-3");
        for (ExitEvent e : events.subList(0, 4)) {
            assertThat(e.getReason()).as("%s", e.getNamesList()).isEqualTo(ExitReason.EXIT);
        }
        assertThat(events.stream().map(ProgressRecorder::handle).distinct().count()).as("one exit event each")
                .isEqualTo(events.size());
    }

    @Test
    void sigtermWhileAnAdminStopIsUnderWayStillExitsZero() {
        ProcessCluster cluster = new ProcessCluster("stopterm", 1);
        try (cluster) {
            NodeProcess p = cluster.start(1, relay("relay-1"));
            // A subscriber keeps the stop busy for a moment (its stream is ended only after every event).
            ExitStreamRecorder watcher = ExitStreamRecorder.follow(cluster.adminAsync(1), 0);
            watcher.awaitCaughtUp(WAIT);
            cluster.admin(1).stop(dev.harbor.proto.StopRequest.getDefaultInstance());
            p.terminate();
            assertThat(p.awaitExit(WAIT)).as("exit code of a node stopped on request, then sent SIGTERM").isZero();
        }
    }

    @Test
    void healthSaysNotServingFromTheMomentSigtermStartsTheDrainUntilTheProcessExits() throws Exception {
        c = new CoordinatedCluster("sigterm-health", 1);
        c.start(1, services(c.registered("gw-1", "gateway", 10_000, "", "slow:3000")));
        io.grpc.ManagedChannel channel = c.cluster.channel(1);
        HealthGrpc.HealthBlockingStub health = HealthGrpc.newBlockingStub(channel).withDeadlineAfter(10, TimeUnit.SECONDS);
        assertThat(health.check(HealthCheckRequest.getDefaultInstance()).getStatus()).isEqualTo(ServingStatus.SERVING);
        HealthRecorder seen = HealthRecorder.watch(channel);
        assertThat(seen.next()).isEqualTo(ServingStatus.SERVING);

        c.process(1).terminate();
        // The gateway takes 3 s to drain: NOT_SERVING arrives while it drains, and the process is still there.
        assertThat(seen.next()).isEqualTo(ServingStatus.NOT_SERVING);
        assertThat(c.journal.names("exit")).doesNotContain("gw-1");
        assertThat(c.process(1).isAlive()).isTrue();
        assertThat(health.check(HealthCheckRequest.getDefaultInstance()).getStatus()).isEqualTo(ServingStatus.NOT_SERVING);

        assertThat(c.process(1).awaitExit(WAIT)).as("exit code after SIGTERM").isZero();
        assertThat(c.journal.names("exit")).containsExactly("gw-1");
    }
}
