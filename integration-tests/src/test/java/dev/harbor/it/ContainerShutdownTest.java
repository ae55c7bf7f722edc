package dev.harbor.it;

import static dev.harbor.it.ContainerCluster.pinger;
import static dev.harbor.it.ContainerCluster.registered;
import static dev.harbor.it.CoordinatedCluster.relay;
import static dev.harbor.it.CoordinatedCluster.services;
import static org.assertj.core.api.Assertions.assertThat;

import dev.harbor.proto.ExitEvent;
import dev.harbor.proto.ExitReason;
import dev.harbor.proto.PlanResponse;
import dev.harbor.proto.Report;
import dev.harbor.proto.ServiceInfo;
import dev.harbor.proto.ShutdownRequest;
import dev.harbor.proto.StepFinished;
import dev.harbor.service.Handle;
import dev.harbor.service.Monitor;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AutoClose;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * The containerised cluster (the coordinator's node and three nodes from the project's image, on an
 * internal network) shut down by {@code Shutdown} through the coordinator's published port: every
 * role drains in plan order, every service exits exactly once, every container exits 0, all within the
 * budget.
 */
@ExtendWith(DockerRequired.class)
@Timeout(300)
class ContainerShutdownTest {
    static final int BUDGET_MS = 30_000;
    @AutoClose // after each test, if the test got as far as making one
    private ContainerCluster c;

    @Test
    void shutdownThroughThePublishedPortDrainsInOrderAndEveryContainerExitsZeroWithinTheBudget() {
        c = new ContainerCluster("shutdown");
        c.coordinatorNode(1, services(relay("relay-1"), pinger("pinger-1", "relay-2", "relay-3", "relay-4")));
        c.node(2, services(registered("gw-2", "gateway", 2_000, "exit"), relay("relay-2")));
        c.node(3, services(registered("cache-3", "cache", 2_000, "slow:500"), relay("relay-3")));
        c.node(4, services(registered("writer-4", "writer", 2_000, "exit"), relay("relay-4")));
        c.start();

        PlanResponse plan = c.coordinator().awaitPlan(CoordinatedCluster.planWith(4, 3));
        assertThat(plan.getWorstCaseMs()).as("the plan fits the budget: its worst case, what the check uses").isLessThanOrEqualTo(BUDGET_MS);
        // Every service alive before the shutdown, from each node's admin API (over its published port).
        Map<Handle, String> alive = new HashMap<>();
        Handle monitor1 = null;
        for (int id : c.ids()) {
            for (ServiceInfo s : c.services(id)) {
                if (id == 1 && s.getTagsMap().containsKey(Monitor.TAG)) {
                    monitor1 = CoordinatedCluster.handle(s);
                }
                alive.put(CoordinatedCluster.handle(s), s.getNamesList().isEmpty() ? s.getType() : s.getNames(0));
            }
        }
        Map<String, Handle> h = new HashMap<>();
        alive.forEach((handle, n) -> h.put(n, handle));
        assertThat(h).containsKeys("gw-2", "cache-3", "writer-4", "relay-1", "relay-2", "relay-3", "relay-4", "pinger-1",
                "harbor.coordinator");

        long calledAt = System.nanoTime();
        ProgressRecorder run = c.coordinator().shutdown(ShutdownRequest.newBuilder().setBudgetMs(BUDGET_MS).build());
        Report report = run.awaitReport(Duration.ofMillis(BUDGET_MS));
        for (int id : c.ids()) {
            assertThat(c.awaitExit(id, Duration.ofMillis(BUDGET_MS))).as("exit code of node %d's container", id).isZero();
        }
        long wallMs = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - calledAt);

        assertThat(report.getClean()).as("report %s", report).isTrue();
        assertThat(report.getStepsList()).hasSize(plan.getStepsCount())
                .allSatisfy(s -> assertThat(s.getOutcome()).as(s.getStep()).isEqualTo(StepFinished.Outcome.DONE));
        assertThat(report.getTotalMs()).isLessThanOrEqualTo(BUDGET_MS);
        assertThat(wallMs).as("from the Shutdown call to the last container's exit").isLessThan(BUDGET_MS);

        // The roles in plan order, each exiting on its own; the stateless after them, ended by the coordinator.
        List<ExitEvent> exits = run.exits();
        int gw = run.exitIndex(h.get("gw-2"));
        int cache = run.exitIndex(h.get("cache-3"));
        int writer = run.exitIndex(h.get("writer-4"));
        assertThat(cache).as("the custom role after the gateway").isGreaterThan(gw);
        assertThat(writer).as("the writer after the custom role").isGreaterThan(cache);
        for (String s : List.of("gw-2", "cache-3", "writer-4")) {
            assertThat(exits.get(run.exitIndex(h.get(s))).getReason()).as(s).isEqualTo(ExitReason.EXIT);
        }
        for (String s : List.of("relay-1", "relay-2", "relay-3", "relay-4", "pinger-1")) {
            assertThat(run.exitIndex(h.get(s))).as("stateless %s after the writer", s).isGreaterThan(writer);
        }
        // Every service that was alive exited, each exactly once; but for the coordinator and its node's
        // monitor, which go after the report, with node 1 (whose container exited 0).
        Map<Handle, String> reported = new HashMap<>(alive);
        reported.remove(h.get("harbor.coordinator"));
        reported.remove(monitor1);
        assertThat(run.exitCounts().keySet()).containsAll(reported.keySet());
        assertThat(run.exitCounts()).allSatisfy((handle, n) -> assertThat(n).as("exit events of %s", handle).isEqualTo(1));
    }
}
