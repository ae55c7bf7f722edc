package dev.harbor.it;

import static dev.harbor.it.ContainerCluster.registered;
import static dev.harbor.it.CoordinatedCluster.relay;
import static dev.harbor.it.CoordinatedCluster.services;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.harbor.proto.ExitEvent;
import dev.harbor.proto.ExitReason;
import dev.harbor.proto.ExitStreamItem;
import dev.harbor.proto.Report;
import dev.harbor.proto.ShutdownRequest;
import dev.harbor.proto.StepFinished;
import dev.harbor.service.Handle;
import io.grpc.health.v1.HealthCheckResponse.ServingStatus;
import java.time.Duration;
import java.util.List;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AutoClose;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * A partition made with {@code docker network disconnect} for 10 s, then healed: the side without a
 * majority (node 3 alone of three) turns NOT_SERVING and declares nobody lost; the majority declares it
 * lost; on the heal node 3 learns that, ends its old life (every node agrees each of its old services
 * ended NODE_LOST, once), rejoins as a new life in the same container and serves again; and a
 * shutdown through the coordinator then stops every container, clean.
 */
@ExtendWith(DockerRequired.class)
@Timeout(300)
class ContainerPartitionTest {
    static final int BUDGET_MS = 30_000;
    static final Duration WAIT = CoordinatorClient.WAIT;
    @AutoClose
    private ContainerCluster c;

    @Test
    void theMinorityCordonsItselfAndRejoinsAsANewLifeWhenThePartitionHeals() throws Exception {
        c = new ContainerCluster("partition");
        c.coordinatorNode(1, services(relay("relay-1")));
        c.node(2, services(registered("gw-2", "gateway", 2_000, "exit"), relay("relay-2")));
        c.node(3, services(registered("writer-3", "writer", 2_000, "exit"), relay("relay-3")));
        c.start();
        // Node 1 must hold node 3's own list of its services before the cut, or its verdict has no service
        // of node 3 to publish (seen once when the cut came while node 3 was still dialling node 1 back).
        c.awaitFullyLinked();
        c.coordinator().awaitPlan(CoordinatedCluster.planWith(3, 2));
        await().atMost(WAIT).until(() -> health(3) == ServingStatus.SERVING);
        Handle relay3 = CoordinatedCluster.handle(c.find(3, "relay-3").orElseThrow());
        long seqOnThree = lastSeq(3);

        c.disconnect(3);
        long cutAt = System.nanoTime();
        // The minority side: NOT_SERVING while cut off (seen through its published port on the edge network).
        await().atMost(WAIT).until(() -> health(3) == ServingStatus.NOT_SERVING);
        // The majority side declares it lost.
        await().atMost(WAIT).until(() -> exitsAfter(1, 0).stream().anyMatch(e -> ExitStreamRecorder.handle(e).equals(relay3)
                && e.getReason() == ExitReason.NODE_LOST));
        assertThat(c.logs(3)).contains("cut off from the majority");
        // The fault lasts 10 s from the cut.
        long left = TimeUnit.SECONDS.toNanos(10) - (System.nanoTime() - cutAt);
        if (left > 0) {
            Thread.sleep(TimeUnit.NANOSECONDS.toMillis(left));
        }
        // While cut off, node 3 declared nobody lost: nothing of another node's in its exit log.
        assertThat(exitsAfter(3, seqOnThree)).as("node 3's exits while cut off").allSatisfy(e ->
                assertThat(e.getHandle().getNode()).isEqualTo(3));

        long healedAt = System.nanoTime();
        c.reconnect(3);
        await().atMost(MembershipTest.RELINKED_WITHIN).until(() -> health(3) == ServingStatus.SERVING
                && c.find(3, "relay-3").map(s -> !CoordinatedCluster.handle(s).equals(relay3)).orElse(false));
        System.out.printf("partition healed: node 3 serving its new life %d ms after docker network connect%n",
                TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - healedAt));
        assertThat(c.logs(3)).contains("starts a new life");
        assertThat(c.running(3)).as("the same container, not restarted").isTrue();

        // Every node tells the same end for node 3's old services: each once, NODE_LOST.
        Set<Handle> endedOnThree = exitsAfter(3, seqOnThree).stream().map(ExitStreamRecorder::handle).collect(Collectors.toSet());
        assertThat(endedOnThree).contains(relay3);
        for (int observer : List.of(1, 2, 3)) {
            List<ExitEvent> its = exitsAfter(observer, observer == 3 ? seqOnThree : 0).stream()
                    .filter(e -> e.getHandle().getNode() == 3 && endedOnThree.contains(ExitStreamRecorder.handle(e))).toList();
            assertThat(its).as("node %d's exits of node 3's old life", observer)
                    .allSatisfy(e -> assertThat(e.getReason()).isEqualTo(ExitReason.NODE_LOST));
            assertThat(its.stream().map(ExitStreamRecorder::handle).toList()).as("node %d: each once", observer)
                    .doesNotHaveDuplicates().containsExactlyInAnyOrderElementsOf(endedOnThree);
        }

        // The healed cluster shuts down whole: every node confirmed, every container exits 0.
        c.coordinator().awaitPlan(CoordinatedCluster.planWith(3, 2));
        ProgressRecorder run = c.coordinator().shutdown(ShutdownRequest.newBuilder().setBudgetMs(BUDGET_MS).build());
        Report report = run.awaitReport(Duration.ofMillis(BUDGET_MS));
        assertThat(report.getClean()).as("report %s", report).isTrue();
        assertThat(report.getStepsList()).allSatisfy(s -> assertThat(s.getOutcome()).as(s.getStep())
                .isEqualTo(StepFinished.Outcome.DONE));
        for (int id : c.ids()) {
            assertThat(c.awaitExit(id, Duration.ofMillis(BUDGET_MS))).as("exit code of node %d's container", id).isZero();
        }
    }

    private ServingStatus health(int id) {
        return HealthRecorder.check(c.channel(id));
    }

    private List<ExitEvent> exitsAfter(int id, long fromSeq) {
        return ExitStreamRecorder.backlog(c.adminAsync(id), fromSeq, WAIT);
    }

    private long lastSeq(int id) {
        return ExitStreamRecorder.lastSeq(c.adminAsync(id), WAIT);
    }
}
