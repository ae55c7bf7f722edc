package dev.harbor.it;

import static dev.harbor.it.CoordinatedCluster.WAIT;
import static dev.harbor.it.CoordinatedCluster.relay;
import static dev.harbor.it.CoordinatedCluster.services;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.harbor.proto.PlannedStep;
import dev.harbor.proto.Report;
import dev.harbor.proto.ShutdownRequest;
import dev.harbor.proto.StepFinished;
import dev.harbor.service.Handle;
import java.util.List;
import org.junit.jupiter.api.AutoClose;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The coordinator's account of the cluster, with real processes and real kill -9: a restarted coordinator
 * counts the exits it missed, a node killed and restarted at once is taken back as its new life, and a
 * node the run did not stop (one that started during it, or one it cannot follow, linked or lost
 * beyond a partition) keeps it from ending clean.
 */
@Timeout(240)
class CoordinatorTruthTest {
    @AutoClose
    private CoordinatedCluster c;

    @Test
    void aCoordinatorKilledWhileAServiceFinishesItsDrainAndAskedAtOnceAfterItsRestartReportsClean() {
        c = new CoordinatedCluster("backlog", 1, 2, 3);
        c.start(1, services(relay("relay-1")));
        // cache-2 takes 3 s to drain: it finishes while the coordinator is down.
        c.start(2, services(c.registered("gw-2", "gateway", 1_500), c.registered("cache-2", "cache", 15_000, "", "slow:3000"),
                relay("relay-2")));
        c.start(3, services(c.registered("writer-3", "writer", 3_000), relay("relay-3")));
        c.awaitPlan(CoordinatedCluster.planWith(3, 3));
        ProgressRecorder first = c.shutdown(ShutdownRequest.newBuilder().setBudgetMs(60_000).build());
        await().atMost(WAIT).until(() -> c.journal.count("cache-2", "drain") == 1);
        c.process(1).kill9();
        first.awaitEnd(WAIT);
        await().atMost(WAIT).until(() -> c.journal.count("cache-2", "exit") == 1);

        c.cluster.restart(1);
        Report report = c.shutdown(ShutdownRequest.newBuilder().setBudgetMs(60_000).build()).awaitReport(WAIT);

        assertThat(report.getStepsList()).allSatisfy(s -> assertThat(s.getOutcome()).as("%s", s).isEqualTo(StepFinished.Outcome.DONE));
        assertThat(report.getClean()).as("report %s", report).isTrue();
        assertThat(report.getUnconfirmedList()).isEmpty();
        assertThat(c.journal.count("cache-2", "exit")).isEqualTo(1);
        for (int id = 1; id <= 3; id++) {
            assertThat(c.process(id).awaitExit(WAIT)).as("exit code of node %d", id).isZero();
        }
    }

    @Test
    void aNodeLinkedToTheClusterWhoseExitStreamNeverAnswersMakesTheRunNotCleanAndIsNamed() {
        c = new CoordinatedCluster("unwatched", 1, 2);
        c.start(1, services(relay("relay-1")));
        c.start(2, services(c.registered("gw-2", "gateway", 1_500), relay("relay-2")));
        c.awaitPlan(CoordinatedCluster.planWith(2, 1));
        // Node 99, in this JVM: it links to the cluster and serves no admin API, as a node embedded in an
        // application may, so the coordinator can neither follow its exits nor stop it.
        c.cluster.startDriver();
        await().atMost(WAIT).until(() -> c.cluster.driverHarbor().connected().containsAll(List.of(1, 2))
                && c.logSays(1, "node 1: linked to node " + ProcessCluster.DRIVER + " at"));
        assertThat(c.plan(60_000).getUnstoppableList()).as("the plan says so before the run").singleElement().asString()
                .startsWith("node " + ProcessCluster.DRIVER + " at ").contains("no plan", "UNIMPLEMENTED");

        Report report = c.shutdown(ShutdownRequest.newBuilder().setBudgetMs(60_000).build()).awaitReport(WAIT);

        assertThat(report.getStepsList()).allSatisfy(s -> assertThat(s.getOutcome()).as("%s", s).isEqualTo(StepFinished.Outcome.DONE));
        assertThat(report.getClean()).as("node 99 serves on: report %s", report).isFalse();
        assertThat(report.getUnconfirmedList()).singleElement().asString()
                .startsWith("node " + ProcessCluster.DRIVER + " at ")
                .contains("linked to this cluster, but its exit stream never answered", "UNIMPLEMENTED");
        assertThat(report.getUnansweredList()).as("its address is named once, as the node's").isEmpty();
        for (int id = 1; id <= 2; id++) {
            assertThat(c.process(id).awaitExit(WAIT)).as("exit code of node %d", id).isZero();
        }
        assertThat(c.cluster.driver.isStopped()).as("node 99 still runs").isFalse();
    }

    @Test
    void aNodeLinkedThenLostWithoutLeavingWhoseExitStreamNeverAnsweredMakesTheRunNotCleanAndIsNamed() {
        c = new CoordinatedCluster("lostunfollowed", 1, 2, 3);
        c.start(1, services(relay("relay-1")));
        c.start(2, services(c.registered("gw-2", "gateway", 1_500), relay("relay-2")));
        c.awaitPlan(CoordinatedCluster.planWith(2, 1));
        // Node 3 is an application that embeds a node (a process of its own): it links, serves no admin API.
        NodeProcess app = c.cluster.startEmbedded(3);
        await().atMost(WAIT).until(() -> c.logSays(1, "node 1: linked to node 3 at") && c.logSays(2, "node 2: linked to node 3 at"));
        await().atMost(WAIT).until(() -> c.plan(60_000).getUnstoppableList().stream()
                .anyMatch(u -> u.startsWith("node 3 at ") && u.contains("UNIMPLEMENTED")));

        // Frozen, it is a node beyond a partition to the others: silent, and it never said it leaves.
        app.freeze();
        await().atMost(WAIT).until(() -> c.logSays(1, "node 1: lost node 3 at"));
        Report report = c.shutdown(ShutdownRequest.newBuilder().setBudgetMs(60_000).build()).awaitReport(WAIT);

        assertThat(report.getStepsList()).allSatisfy(s -> assertThat(s.getOutcome()).as("%s", s).isEqualTo(StepFinished.Outcome.DONE));
        assertThat(report.getClean()).as("node 3 serves on beyond the partition: report %s", report).isFalse();
        assertThat(report.getUnconfirmedList()).singleElement().asString().startsWith("node 3 at ")
                .contains("then lost without leaving, and its exit stream never answered", "may serve on beyond a partition");
        for (int id = 1; id <= 2; id++) {
            assertThat(c.process(id).awaitExit(WAIT)).as("exit code of node %d", id).isZero();
        }
        app.thaw();
        assertThat(app.isAlive()).as("node 3 still runs").isTrue();
    }

    @Test
    void aNodeThatStartsWhileTheRunDrainsMakesTheRunNotCleanAndIsNamed() {
        c = new CoordinatedCluster("late", 1, 2, 3);
        c.start(1, services(relay("relay-1")));
        c.start(2, services(c.registered("cache-2", "cache", 30_000, "", "slow:8000"), relay("relay-2")));
        c.awaitPlan(CoordinatedCluster.planWith(2, 1));
        ProgressRecorder run = c.shutdown(ShutdownRequest.newBuilder().setBudgetMs(60_000).build());
        await().atMost(WAIT).until(() -> c.journal.count("cache-2", "drain") == 1);

        // Node 3 starts while cache-2 drains (8 s): the coordinator follows it (its address is configured),
        // but the plan was made without it.
        c.start(3, services(relay("relay-3")));
        Report report = run.awaitReport(WAIT);

        assertThat(report.getStepsList()).allSatisfy(s -> assertThat(s.getOutcome()).as("%s", s).isEqualTo(StepFinished.Outcome.DONE));
        assertThat(c.journal.count("cache-2", "exit")).as("the drain ran to its end, not cut short").isEqualTo(1);
        assertThat(report.getClean()).as("node 3 serves on: report %s", report).isFalse();
        assertThat(report.getUnconfirmedList()).singleElement().asString()
                .startsWith("node 3 at ").contains("started after the plan was made");
        for (int id = 1; id <= 2; id++) {
            assertThat(c.process(id).awaitExit(WAIT)).as("exit code of node %d", id).isZero();
        }
        assertThat(c.process(3).isAlive()).as("node 3 still runs").isTrue();
    }

    @Test
    void theWritersNodeKilledAndRestartedAtOnceTwentyTimesStartsEveryTimeAndItsWriterRegisters() {
        c = new CoordinatedCluster("restarts", 1, 2, 3);
        c.start(1, services(relay("relay-1")));
        c.start(2, services(c.registered("gw-2", "gateway", 1_500), relay("relay-2")));
        c.start(3, services(c.registered("writer-3", "writer", 2_000), relay("relay-3")));
        c.awaitPlan(CoordinatedCluster.planWith(3, 2));
        for (int round = 1; round <= 20; round++) {
            Handle before = c.handleOf(3, "writer-3");
            c.process(3).kill9();
            c.cluster.restart(3); // fails the test if the node does not start (a refused registration fails its launch)
            Handle after = c.handleOf(3, "writer-3");
            assertThat(after).as("round %d: a new life's writer", round).isNotEqualTo(before);
            int r = round;
            c.awaitPlan(p -> p.getStepsList().stream().anyMatch(s -> s.getKind() == PlannedStep.Kind.DRAIN
                    && Handle.of(s.getService().getNode(), s.getService().getId()).equals(after))
                    && p.getStepsList().stream().noneMatch(s -> s.getKind() == PlannedStep.Kind.DRAIN
                            && Handle.of(s.getService().getNode(), s.getService().getId()).equals(before)));
            assertThat(c.logSays(3, "registers after")).as("round %d: no refused registration", r).isFalse();
        }
        // The last life links (the writer's Drain travels over the link), then a shutdown accounts for every node.
        c.awaitLinked(1, 3);
        Report report = c.shutdown(ShutdownRequest.newBuilder().setBudgetMs(60_000).build()).awaitReport(WAIT);
        assertThat(report.getClean()).as("report %s", report).isTrue();
        for (int id = 1; id <= 3; id++) {
            assertThat(c.process(id).awaitExit(WAIT)).as("exit code of node %d", id).isZero();
        }
    }

    @Test
    void withTheCoordinatorsNodeDependingOnNode3NothingOfNode1ButTheCoordinatorRunsWhenNode3BeginsToStop() {
        c = new CoordinatedCluster("ownorder", 1, 2, 3);
        c.start(1, services(c.registered("gw-1", "gateway", 1_500), relay("relay-1")), 3);
        c.start(2, services(c.registered("gw-2", "gateway", 1_500), relay("relay-2")));
        c.start(3, services(c.registered("writer-3", "writer", 2_000), relay("relay-3")));
        c.awaitPlan(CoordinatedCluster.planWith(3, 3));
        assertThat(CoordinatedCluster.precedes(c.plan(60_000), "node@1", "node@3"))
                .as("node.depends-on=3 on node 1 is in the first plan").isTrue();

        ProgressRecorder run = c.shutdown(ShutdownRequest.newBuilder().setBudgetMs(60_000).build());
        Report report = run.awaitReport(WAIT);

        assertThat(report.getClean()).as("report %s", report).isTrue();
        StepFinished own = ProgressRecorder.step(report.getStepsList(), "node@1");
        assertThat(own.getDetail()).contains("node 1 itself stops 200 ms after this report");
        int node3Starts = -1;
        for (int i = 0; i < run.items.size(); i++) {
            if (run.items.get(i).hasStarted() && run.items.get(i).getStarted().getStep().equals("node@3")) {
                node3Starts = i;
            }
        }
        assertThat(node3Starts).isPositive();
        // Node 3's stop began with its Stop; the last of its services to end is its monitor.
        dev.harbor.proto.ExitEvent node3Stopped = run.exits().stream()
                .filter(e -> e.getHandle().getNode() == 3 && e.getReason() == dev.harbor.proto.ExitReason.NODE_STOPPED)
                .findFirst().orElseThrow();
        Handle coordinator = c.find(1, dev.harbor.shutdown.OrderedExit.COORDINATOR).map(CoordinatedCluster::handle).orElse(null);
        java.util.List<dev.harbor.proto.ExitEvent> node1 = run.exits().stream().filter(e -> e.getHandle().getNode() == 1).toList();
        assertThat(node1).as("gw-1, relay-1 and node 1's node-info service ended in the run").hasSizeGreaterThanOrEqualTo(3);
        for (dev.harbor.proto.ExitEvent e : node1) {
            assertThat(ProgressRecorder.handle(e)).isNotEqualTo(coordinator);
            assertThat(e.getTimeUnixNanos()).as("%s ended before node 3 stopped", e.getNamesList())
                    .isLessThan(node3Stopped.getTimeUnixNanos());
            assertThat(run.items.indexOf(run.items.stream().filter(p -> p.hasExit() && p.getExit().equals(e)).findFirst()
                    .orElseThrow())).as("%s reported before node@3 started", e.getNamesList()).isLessThan(node3Starts);
        }
        for (int id = 1; id <= 3; id++) {
            assertThat(c.process(id).awaitExit(WAIT)).as("exit code of node %d", id).isZero();
        }
    }
}
