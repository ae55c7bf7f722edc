package dev.harbor.it;

import static dev.harbor.it.CoordinatedCluster.WAIT;
import static dev.harbor.it.CoordinatedCluster.relay;
import static dev.harbor.it.CoordinatedCluster.services;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.harbor.proto.ExitEvent;
import dev.harbor.proto.ExitReason;
import dev.harbor.proto.PlanResponse;
import dev.harbor.proto.PlannedStep;
import dev.harbor.proto.Report;
import dev.harbor.proto.ShutdownRequest;
import dev.harbor.proto.StepFinished;
import dev.harbor.service.Handle;
import io.grpc.health.v1.HealthCheckResponse.ServingStatus;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AutoClose;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The shutdown coordinator across real node processes: a {@code Shutdown} over gRPC with the token
 * drains every registered service in the plan's order (each step confirmed by its exit event, in the
 * progress stream), ends the stateless services, stops every node and every process exits 0; a
 * service that ignores its drain is killed at its timeout and the run goes on.
 */
@Timeout(120)
class CoordinatedShutdownTest {
    @AutoClose // after each test, if the test got as far as making one
    private CoordinatedCluster c;

    @Test
    void aShutdownDrainsEveryRoleInPlanOrderStopsEveryNodeAndEveryProcessExitsZero() {
        c = new CoordinatedCluster("ordered", 1, 2, 3);
        drainsEveryRoleInPlanOrderAndStopsEveryNode(c);
    }

    /**
     * The ordered shutdown of a cluster of nodes 1, 2 and 3 that {@code c} has not started yet: it starts
     * them, shuts them down through the coordinator and checks the order, the report and the exit codes.
     * Shared with the same run under mutual TLS.
     */
    static void drainsEveryRoleInPlanOrderAndStopsEveryNode(CoordinatedCluster c) {
        c.start(1, services(relay("relay-1"), c.registered("gw-1", "gateway", 2_000)));
        c.start(2, services(c.registered("gw-2", "gateway", 2_000), c.registered("lobby-2", "lobby", 1_500, "matchmaker", "exit"),
                c.registered("writer-2", "writer", 2_000), relay("relay-2")));
        // Node 3 depends on node 2: it stops first.
        c.start(3, services(c.registered("match-3", "matchmaker", 1_500), c.registered("writer-3", "writer", 2_000),
                relay("relay-3")), 2);
        PlanResponse plan = c.awaitPlan(CoordinatedCluster.planWith(3, 6)
                .and(p -> CoordinatedCluster.precedes(p, "node@3", "node@2")));
        Map<String, Handle> h = new java.util.HashMap<>();
        for (var e : Map.of("gw-1", 1, "relay-1", 1, "gw-2", 2, "lobby-2", 2, "writer-2", 2, "relay-2", 2, "match-3", 3,
                "writer-3", 3, "relay-3", 3).entrySet()) {
            h.put(e.getKey(), c.handleOf(e.getValue(), e.getKey()));
        }
        Handle monitor2 = monitorOf(c, 2);
        Handle monitor3 = monitorOf(c, 3);
        // The plan as the design orders it: lobby (depends on matchmaker) before matchmaker, custom roles before writers.
        assertThat(plan.getCriticalPathMs()).isEqualTo(2_000 + 1_500 + 1_500 + 2_000 + 2_000 + 5_000 + 5_000);

        ProgressRecorder run = c.shutdown(ShutdownRequest.newBuilder().setBudgetMs(60_000).build());
        Report report = run.awaitReport(WAIT);

        assertThat(run.items.get(0).hasPlan()).as("the first item is the plan").isTrue();
        assertThat(run.items.get(0).getPlan().getStepsList()).extracting(PlannedStep::getId).isEqualTo(
                plan.getStepsList().stream().map(PlannedStep::getId).toList());
        assertThat(report.getClean()).as("report %s", report).isTrue();
        assertThat(report.getTotalMs()).isLessThanOrEqualTo(60_000);
        assertThat(report.getStepsList()).hasSize(plan.getStepsCount())
                .allSatisfy(s -> assertThat(s.getOutcome()).as(s.getStep()).isEqualTo(StepFinished.Outcome.DONE));

        // The order, from the exit events of the progress stream.
        int gw1 = run.exitIndex(h.get("gw-1"));
        int gw2 = run.exitIndex(h.get("gw-2"));
        int lobby = run.exitIndex(h.get("lobby-2"));
        int match = run.exitIndex(h.get("match-3"));
        int w2 = run.exitIndex(h.get("writer-2"));
        int w3 = run.exitIndex(h.get("writer-3"));
        assertThat(lobby).as("the lobby after both gateways").isGreaterThan(gw1).isGreaterThan(gw2);
        assertThat(match).as("the matchmaker after the lobby that depends on it").isGreaterThan(lobby);
        assertThat(Math.min(w2, w3)).as("writers after the custom roles").isGreaterThan(match);
        for (String s : List.of("relay-1", "relay-2", "relay-3")) {
            assertThat(run.exitIndex(h.get(s))).as("stateless %s after the writers", s).isGreaterThan(Math.max(w2, w3));
        }
        assertThat(run.exitIndex(monitor3)).as("node 3 (stateless gone) stops").isGreaterThan(run.exitIndex(h.get("relay-3")));
        assertThat(run.exitIndex(monitor2)).as("node 3 depends on node 2: it stops first").isGreaterThan(run.exitIndex(monitor3));
        // Drained services exit on their own (EXIT), stateless ones are ended (KILLED), the rest go with their node.
        List<ExitEvent> exits = run.exits();
        for (String s : List.of("gw-1", "gw-2", "lobby-2", "match-3", "writer-2", "writer-3")) {
            assertThat(exits.get(run.exitIndex(h.get(s))).getReason()).as(s).isEqualTo(ExitReason.EXIT);
        }
        for (String s : List.of("relay-1", "relay-2", "relay-3")) {
            assertThat(exits.get(run.exitIndex(h.get(s))).getReason()).as(s).isEqualTo(ExitReason.KILLED);
        }
        // Every service exited exactly once.
        assertThat(run.exitCounts()).allSatisfy((handle, n) -> assertThat(n).as("exit events of %s", handle).isEqualTo(1));

        // The services' own view (their journal): each drained once, in the same order.
        List<String> drained = c.journal.names("drain");
        assertThat(drained).hasSize(6);
        assertThat(drained.subList(0, 2)).containsExactlyInAnyOrder("gw-1", "gw-2");
        assertThat(drained.subList(2, 4)).containsExactly("lobby-2", "match-3");
        assertThat(drained.subList(4, 6)).containsExactlyInAnyOrder("writer-2", "writer-3");

        // Every node process exits 0, the coordinator's own node (after the report) too.
        for (int id = 1; id <= 3; id++) {
            assertThat(c.process(id).awaitExit(WAIT)).as("exit code of node %d", id).isZero();
        }
    }

    @Test
    void eachNodeTurnsNotServingWhenTheRunsFirstStepOnItStartsAndNotBefore() throws Exception {
        c = new CoordinatedCluster("cordon", 1, 2, 3);
        c.start(1, services(relay("relay-1")));
        c.start(2, services(c.registered("gw-2", "gateway", 10_000, "", "slow:3000")));
        c.start(3, services(c.registered("writer-3", "writer", 5_000)));
        c.awaitPlan(CoordinatedCluster.planWith(3, 2));
        Map<Integer, HealthRecorder> health = new java.util.HashMap<>();
        for (int id = 1; id <= 3; id++) {
            health.put(id, HealthRecorder.watch(c.cluster.channel(id)));
            assertThat(health.get(id).next()).as("node %d before the run", id).isEqualTo(ServingStatus.SERVING);
        }

        ProgressRecorder run = c.shutdown(ShutdownRequest.newBuilder().setBudgetMs(60_000).build());
        // The gateway drains for 3 s: its node says NOT_SERVING meanwhile, the writer's node (whose step
        // comes after the gateways) still says SERVING.
        assertThat(health.get(2).next()).as("node 2 once its gateway's step starts").isEqualTo(ServingStatus.NOT_SERVING);
        // The Cordon goes out as the step starts, just before the gateway's Drain.
        await().atMost(WAIT).until(() -> c.journal.names("drain").contains("gw-2"));
        assertThat(c.journal.names("exit")).doesNotContain("gw-2");
        assertThat(health.get(3).latest()).as("node 3 while the gateway drains").isEqualTo(ServingStatus.SERVING);
        assertThat(health.get(3).next()).as("node 3 once its writer's turn comes").isEqualTo(ServingStatus.NOT_SERVING);
        assertThat(c.journal.names("exit")).as("the writer's step begins after the gateway's exit").contains("gw-2");

        assertThat(run.awaitReport(WAIT).getClean()).isTrue();
        for (int id = 1; id <= 3; id++) {
            assertThat(c.process(id).awaitExit(WAIT)).as("exit code of node %d", id).isZero();
        }
    }

    @Test
    void aServiceThatIgnoresItsDrainIsKilledAtItsTimeoutAndTheRunGoesOn() {
        c = new CoordinatedCluster("escalate", 1, 2);
        c.start(1, services(relay("relay-1")));
        c.start(2, services(c.registered("gw-stubborn", "gateway", 800, "", "ignore"), c.registered("writer-2", "writer", 2_000),
                relay("relay-2")));
        c.awaitPlan(CoordinatedCluster.planWith(2, 2));
        // The Drain must reach the gateway for it to be ignored: a step's timeout runs from the step's start,
        // and a Drain waits (resent every 200 ms) until the coordinator's link to node 2 is up, which can
        // take longer than this 800 ms timeout right after node 2 joins.
        c.awaitLinked(1, 2);
        Handle stubborn = c.handleOf(2, "gw-stubborn");
        Handle writer = c.handleOf(2, "writer-2");

        ProgressRecorder run = c.shutdown(ShutdownRequest.newBuilder().setBudgetMs(60_000).build());
        Report report = run.awaitReport(WAIT);

        assertThat(report.getClean()).as("an escalated step makes the run not clean").isFalse();
        StepFinished gw = ProgressRecorder.step(report.getStepsList(), "gateway:");
        assertThat(gw.getOutcome()).isEqualTo(StepFinished.Outcome.ESCALATED);
        assertThat(gw.getDurationMs()).as("killed at its timeout, not before").isGreaterThanOrEqualTo(800).isLessThan(5_000);
        assertThat(run.exits().get(run.exitIndex(stubborn)).getReason()).isEqualTo(ExitReason.KILLED);
        // The run went on: the writer was drained after the gateway's kill, and everything else is DONE.
        assertThat(run.exitIndex(writer)).isGreaterThan(run.exitIndex(stubborn));
        assertThat(report.getStepsList()).filteredOn(s -> !s.getStep().startsWith("gateway:"))
                .allSatisfy(s -> assertThat(s.getOutcome()).as(s.getStep()).isEqualTo(StepFinished.Outcome.DONE));
        assertThat(c.journal.names("drain")).containsExactly("gw-stubborn", "writer-2");
        assertThat(c.journal.names("exit")).containsExactly("writer-2");
        assertThat(run.exitCounts()).allSatisfy((handle, n) -> assertThat(n).as("exit events of %s", handle).isEqualTo(1));
        for (int id = 1; id <= 2; id++) {
            assertThat(c.process(id).awaitExit(WAIT)).as("exit code of node %d", id).isZero();
        }
    }

    private static Handle monitorOf(CoordinatedCluster c, int node) {
        return c.services(node).stream().filter(s -> s.getTagsMap().containsKey(dev.harbor.service.Monitor.TAG))
                .map(CoordinatedCluster::handle).findFirst()
                .orElseThrow(() -> new AssertionError("node " + node + " lists no monitor"));
    }
}
