package dev.harbor.it;

import static dev.harbor.it.ContainerCluster.GRACE_SECONDS;
import static dev.harbor.it.ContainerCluster.pinger;
import static dev.harbor.it.ContainerCluster.registered;
import static dev.harbor.it.CoordinatedCluster.relay;
import static dev.harbor.it.CoordinatedCluster.services;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.harbor.proto.ServiceInfo;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AutoClose;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * {@code docker stop} (SIGTERM) of one node container: the JVM, PID 1 of the container, drains that
 * node's registered services in role order through the coordinator, stops, and exits 0 well within
 * docker's grace period; the other nodes go on serving calls across the cluster.
 */
@ExtendWith(DockerRequired.class)
@Timeout(300)
class ContainerSigtermTest {
    @AutoClose // after each test, if the test got as far as making one
    private ContainerCluster c;

    @Test
    void dockerStopDrainsThatNodeInRoleOrderItExitsZeroInItsGracePeriodAndTheOthersGoOnServing() {
        c = new ContainerCluster("sigterm");
        c.coordinatorNode(1, services(relay("relay-1"), pinger("pinger-1", "relay-2", "relay-4")));
        c.node(2, services(registered("gw-2", "gateway", 2_000, "exit"), relay("relay-2")));
        // Listed out of order on purpose: the plan, not the launch order, decides.
        c.node(3, services(registered("writer-3", "writer", 2_000, "exit"), registered("cache-3", "cache", 1_500, "slow:300"),
                registered("lobby-3", "lobby", 1_500, "cache", "exit"), registered("gw-3", "gateway", 2_000, "slow:300"),
                relay("relay-3")));
        c.node(4, services(relay("relay-4")));
        c.start();
        c.coordinator().awaitPlan(CoordinatedCluster.planWith(4, 5));
        ExitStreamRecorder exits = ExitStreamRecorder.follow(c.adminAsync(3), 0);
        exits.awaitCaughtUp(CoordinatorClient.WAIT);
        // The pinger on node 1 calls relay-2 and relay-4 across the cluster every 200 ms.
        await().atMost(CoordinatorClient.WAIT).until(() -> handled(2, "relay-2") > 0 && handled(4, "relay-4") > 0);

        long stopAt = System.nanoTime();
        c.stop(3);
        long stopMs = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - stopAt);
        long code = c.awaitExit(3, CoordinatorClient.WAIT);

        assertThat(code).as("node 3's container's exit code after docker stop").isZero();
        assertThat(stopMs).as("docker stop's time, SIGTERM to exit (grace period %d s)", GRACE_SECONDS).isLessThan(ContainerCluster.DRAIN_BUDGET.toMillis());
        // Node 3's own exit stream, to its end: the registered services in role order, each exiting on its own.
        await().atMost(CoordinatorClient.WAIT).until(exits::ended);
        SigtermDrainTest.assertDrainedInRoleOrder(exits.exits());
        assertThat(c.logs(3)).as("drained through the coordinator").contains("the coordinator runs this node's drain");

        // The others go on serving: running, untouched, and answering calls from across the cluster.
        for (int id : List.of(1, 2, 4)) {
            assertThat(c.running(id)).as("node %d's container", id).isTrue();
        }
        assertThat(c.find(2, "gw-2")).as("node 2's gateway was not touched").isPresent();
        long relay2 = handled(2, "relay-2");
        long relay4 = handled(4, "relay-4");
        await().atMost(CoordinatorClient.WAIT).until(() -> handled(2, "relay-2") > relay2 + 5 && handled(4, "relay-4") > relay4 + 5);
        c.coordinator().awaitPlan(p -> p.getRefusal().isEmpty() && p.getNodesList().equals(List.of(1, 2, 4)));
    }

    /** How many messages the service {@code name} of node {@code id} has handled. */
    private long handled(int id, String name) {
        return c.find(id, name).map(ServiceInfo::getMessagesHandled).orElse(0L);
    }
}
