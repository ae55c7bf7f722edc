package dev.harbor.it;

import static dev.harbor.it.ContainerCluster.LOSS_TIMEOUT_MS;
import static dev.harbor.it.ContainerCluster.registered;
import static dev.harbor.it.CoordinatedCluster.relay;
import static dev.harbor.it.CoordinatedCluster.services;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.harbor.proto.ExitReason;
import dev.harbor.proto.Report;
import dev.harbor.proto.ShutdownRequest;
import dev.harbor.proto.StepFinished;
import dev.harbor.service.Handle;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AutoClose;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * Faults in the middle of a containerised shutdown: {@code docker kill} of one node container while its
 * service drains, then {@code docker network disconnect} of another while its writer drains. The run
 * completes within its budget with those nodes' steps reported as {@code LOST}, everything else done
 * in order, and the surviving containers exit 0.
 */
@ExtendWith(DockerRequired.class)
@Timeout(300)
class ContainerFaultsTest {
    static final int BUDGET_MS = 60_000;
    /** A lost node's steps end with the loss: within the loss bound, plus the heartbeat and a margin for a loaded machine. */
    static final long LOST_WITHIN_MS = LOSS_TIMEOUT_MS + 4_000;
    @AutoClose // after each test, if the test got as far as making one
    private ContainerCluster c;

    @Test
    void aNodeKilledAndAnotherCutOffMidRunEndTheirStepsAsLostAndTheRunCompletes() {
        c = new ContainerCluster("faults");
        c.coordinatorNode(1, services(relay("relay-1")));
        // cache-2 and writer-3 drain for far longer than the test (their timeouts are 15 s): only the loss
        // of their node can end their steps early.
        c.node(2, services(registered("gw-2", "gateway", 2_000, "exit"), registered("cache-2", "cache", 15_000, "slow:60000"),
                relay("relay-2")));
        c.node(3, services(registered("writer-3", "writer", 15_000, "slow:60000"), relay("relay-3")));
        c.node(4, services(registered("writer-4", "writer", 2_000, "exit"), relay("relay-4")));
        c.start();
        // Node 1 publishes a lost node's NODE_LOST events for the services that node listed on its own link
        // to node 1: a node killed before that link is up (seen once: node 2 had not linked out 770 ms
        // after node 1 came up) leaves its steps to end at their drain timeouts instead.
        c.awaitFullyLinked();
        c.coordinator().awaitPlan(CoordinatedCluster.planWith(4, 4));
        Handle cache = handleOf(2, "cache-2");
        Handle writer3 = handleOf(3, "writer-3");
        Handle writer4 = handleOf(4, "writer-4");

        long calledAt = System.nanoTime();
        ProgressRecorder run = c.coordinator().shutdown(ShutdownRequest.newBuilder().setBudgetMs(BUDGET_MS).build());
        await().atMost(CoordinatorClient.WAIT).until(() -> run.started().contains("cache:" + cache));
        long killedAt = System.nanoTime();
        c.kill(2);
        await().atMost(CoordinatorClient.WAIT).until(() -> run.started().contains("writer:" + writer3));
        long cutAt = System.nanoTime();
        c.disconnect(3);
        Report report = run.awaitReport(Duration.ofMillis(BUDGET_MS));
        long wallMs = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - calledAt);

        assertThat(report.getClean()).as("a run with lost nodes is not clean").isFalse();
        assertThat(step(report, "cache:" + cache)).isEqualTo(StepFinished.Outcome.LOST);
        assertThat(TimeUnit.NANOSECONDS.toMillis(run.finishedAtNanos("cache:") - killedAt))
                .as("from docker kill to the cache step ending LOST (its drain timeout is 15 s)").isLessThan(LOST_WITHIN_MS);
        assertThat(step(report, "writer:" + writer3)).isEqualTo(StepFinished.Outcome.LOST);
        assertThat(TimeUnit.NANOSECONDS.toMillis(run.finishedAtNanos("writer:" + writer3) - cutAt))
                .as("from docker network disconnect to the writer-3 step ending LOST (its drain timeout is 15 s)")
                .isLessThan(LOST_WITHIN_MS);
        for (String s : List.of("stateless@2", "node@2", "stateless@3", "node@3")) {
            assertThat(step(report, s)).as(s).isEqualTo(StepFinished.Outcome.LOST);
        }
        // The run went on around them: the rest is done, in order, and within the budget.
        assertThat(step(report, "gateway:")).isEqualTo(StepFinished.Outcome.DONE);
        assertThat(step(report, "writer:" + writer4)).isEqualTo(StepFinished.Outcome.DONE);
        for (String s : List.of("stateless@1", "stateless@4", "node@4", "node@1")) {
            assertThat(step(report, s)).as(s).isEqualTo(StepFinished.Outcome.DONE);
        }
        assertThat(run.exits().get(run.exitIndex(cache)).getReason()).isEqualTo(ExitReason.NODE_LOST);
        assertThat(run.exits().get(run.exitIndex(writer3)).getReason()).isEqualTo(ExitReason.NODE_LOST);
        assertThat(run.exits().get(run.exitIndex(writer4)).getReason()).isEqualTo(ExitReason.EXIT);
        assertThat(run.exitIndex(writer4)).as("writers after the custom role").isGreaterThan(run.exitIndex(cache));
        assertThat(run.exitCounts()).allSatisfy((handle, n) -> assertThat(n).as("exit events of %s", handle).isEqualTo(1));
        assertThat(report.getTotalMs()).isLessThanOrEqualTo(BUDGET_MS);
        assertThat(wallMs).isLessThan(BUDGET_MS);

        assertThat(c.awaitExit(1, CoordinatorClient.WAIT)).as("the coordinator's container").isZero();
        assertThat(c.awaitExit(4, CoordinatorClient.WAIT)).as("node 4's container").isZero();
        assertThat(c.awaitExit(2, CoordinatorClient.WAIT)).as("node 2's container, killed (SIGKILL)").isEqualTo(137);
    }

    private static StepFinished.Outcome step(Report report, String prefix) {
        return ProgressRecorder.step(report.getStepsList(), prefix).getOutcome();
    }

    private Handle handleOf(int id, String name) {
        return CoordinatedCluster.handleOf(c.find(id, name), id, name);
    }
}
