package dev.harbor.it;

import static dev.harbor.it.CoordinatedCluster.WAIT;
import static dev.harbor.it.CoordinatedCluster.relay;
import static dev.harbor.it.CoordinatedCluster.services;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.harbor.proto.ExitEvent;
import dev.harbor.proto.ExitReason;
import dev.harbor.proto.Report;
import dev.harbor.proto.ShutdownRequest;
import dev.harbor.proto.StepFinished;
import dev.harbor.service.Handle;
import java.io.IOException;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AutoClose;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Faults in the middle of a shutdown run, with real processes: a node killed with kill -9 while one of
 * its services drains, and the coordinator's own node killed with kill -9 and restarted with the same
 * config and state directory (a Shutdown then joins the recorded run, also one that comes before the
 * restarted coordinator has resumed it). The run completes either way, and nothing is done twice.
 */
@Timeout(150)
class ShutdownFaultsTest {
    @AutoClose // after each test, if the test got as far as making one
    private CoordinatedCluster c;

    @Test
    void aNodeKilledWhileItsServiceDrainsEndsItsStepsAsLostAtOnceAndTheRunCompletes() {
        c = new CoordinatedCluster("nodekill", 1, 2, 3);
        c.start(1, services(relay("relay-1")));
        // cache-2 drains for far longer than the test (its drain timeout is 15 s): only the loss of its
        // node can end its step early.
        c.start(2, services(c.registered("gw-2", "gateway", 1_500), c.registered("cache-2", "cache", 15_000, "", "slow:60000"),
                relay("relay-2")));
        c.start(3, services(c.registered("writer-3", "writer", 2_000), relay("relay-3")));
        c.awaitPlan(CoordinatedCluster.planWith(3, 3));
        Handle cache = c.handleOf(2, "cache-2");

        ProgressRecorder run = c.shutdown(ShutdownRequest.newBuilder().setBudgetMs(60_000).build());
        await().atMost(WAIT).until(() -> c.journal.count("cache-2", "drain") == 1);
        long killedAt = System.nanoTime();
        c.process(2).kill9();
        Report report = run.awaitReport(WAIT);

        assertThat(ProgressRecorder.step(report.getStepsList(), "cache:").getOutcome()).isEqualTo(StepFinished.Outcome.LOST);
        // The loss bound is 3 s; the step ends with the NODE_LOST event of its service (give it 3 s more).
        assertThat(TimeUnit.NANOSECONDS.toMillis(run.finishedAtNanos("cache:") - killedAt))
                .as("from kill -9 to the cache step ending LOST (its drain timeout is 15 s)").isLessThan(6_000);
        assertThat(run.exits()).as("the progress stream reports the lost service's exit")
                .anySatisfy(e -> {
                    assertThat(ProgressRecorder.handle(e)).isEqualTo(cache);
                    assertThat(e.getReason()).isEqualTo(ExitReason.NODE_LOST);
                });
        assertThat(ProgressRecorder.step(report.getStepsList(), "gateway:").getOutcome()).isEqualTo(StepFinished.Outcome.DONE);
        assertThat(ProgressRecorder.step(report.getStepsList(), "stateless@2").getOutcome()).isEqualTo(StepFinished.Outcome.LOST);
        assertThat(ProgressRecorder.step(report.getStepsList(), "node@2").getOutcome()).isEqualTo(StepFinished.Outcome.LOST);
        assertThat(report.getClean()).isFalse();
        // The run went on: the writer on node 3 was drained after the cache step ended, and nodes 1 and 3 stopped.
        assertThat(ProgressRecorder.step(report.getStepsList(), "writer:").getOutcome()).isEqualTo(StepFinished.Outcome.DONE);
        assertThat(run.finishedAtNanos("writer:")).isGreaterThan(run.finishedAtNanos("cache:"));
        for (String s : List.of("stateless@1", "stateless@3", "node@1", "node@3")) {
            assertThat(ProgressRecorder.step(report.getStepsList(), s).getOutcome()).as(s).isEqualTo(StepFinished.Outcome.DONE);
        }
        // Nothing twice: one drain each, one exit event per service.
        assertThat(c.journal.names("drain")).containsExactly("gw-2", "cache-2", "writer-3");
        assertThat(c.journal.names("exit")).containsExactly("gw-2", "writer-3");
        assertThat(run.exitCounts()).allSatisfy((handle, n) -> assertThat(n).as("exit events of %s", handle).isEqualTo(1));
        assertThat(c.process(1).awaitExit(WAIT)).isZero();
        assertThat(c.process(3).awaitExit(WAIT)).isZero();
    }

    @Test
    void aCoordinatorKilledMidRunAndRestartedFinishesTheRecordedRunWithoutRedoingFinishedSteps() throws IOException {
        c = new CoordinatedCluster("coordkill", 1, 2, 3);
        c.start(1, services(c.registered("gw-1", "gateway", 1_500), relay("relay-1")));
        // cache-2 takes 8 s to drain: the coordinator dies while it drains, and is back before it is done.
        c.start(2, services(c.registered("gw-2", "gateway", 1_500), c.registered("cache-2", "cache", 15_000, "", "slow:8000"),
                relay("relay-2")));
        c.start(3, services(c.registered("writer-3", "writer", 3_000), relay("relay-3")));
        c.awaitPlan(CoordinatedCluster.planWith(3, 4));

        long calledAt = System.nanoTime();
        ProgressRecorder first = c.shutdown(ShutdownRequest.newBuilder().setBudgetMs(60_000).build());
        await().atMost(WAIT).until(() -> c.journal.count("cache-2", "drain") == 1);
        c.process(1).kill9();
        first.awaitEnd(WAIT);
        assertThat(first.error).as("the first stream is cut by the kill").isNotNull();
        // What the coordinator recorded before it died: the run, and both gateway steps finished.
        List<String> record = Files.readAllLines(c.stateDir.resolve("run.current"));
        String runId = record.get(0).split(" ")[1];
        assertThat(record).filteredOn(l -> l.startsWith("done gateway:")).hasSize(2);

        c.cluster.restart(1);
        await().atMost(WAIT).until(() -> c.logSays(1, "coordinator: resuming run " + runId));
        ProgressRecorder second = c.shutdown(ShutdownRequest.newBuilder().setBudgetMs(60_000).build());
        Report report = second.awaitReport(WAIT);
        long wallMs = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - calledAt);

        assertThat(report.getRunId()).as("the second call joins the recorded run").isEqualTo(runId);
        assertThat(second.items.get(0).getPlan().getStepsList()).isEqualTo(first.items.get(0).getPlan().getStepsList());
        for (StepFinished gw : report.getStepsList().stream().filter(s -> s.getStep().startsWith("gateway:")).toList()) {
            assertThat(gw.getOutcome()).isEqualTo(StepFinished.Outcome.DONE);
            assertThat(gw.getDetail()).isEqualTo("finished before the coordinator restarted");
        }
        assertThat(report.getStepsList()).allSatisfy(s -> assertThat(s.getOutcome()).as(s.getStep()).isEqualTo(StepFinished.Outcome.DONE));
        // The report counts from the run's start, before the restart (the run started just after the call).
        assertThat(report.getTotalMs()).as("total_ms; %d ms from the first call to the report", wallMs)
                .isGreaterThan(wallMs - 2_000).isLessThanOrEqualTo(wallMs);
        // Nothing twice: every service drained at most once and exited once, finished steps not started again.
        assertThat(c.journal.count("gw-1", "drain")).isEqualTo(1);
        assertThat(c.journal.count("gw-2", "drain")).isEqualTo(1);
        // The step in progress when the coordinator died is not finished in the record, so the resumed run
        // starts it again: a second Drain if the service is still draining (harmless), none if it has exited.
        assertThat(c.journal.count("cache-2", "drain")).isBetween(1L, 2L);
        assertThat(c.journal.count("cache-2", "exit")).isEqualTo(1);
        assertThat(c.journal.count("writer-3", "drain")).isEqualTo(1);
        assertThat(c.journal.count("writer-3", "exit")).as("the writer flushed and exited on its own").isEqualTo(1);
        assertThat(second.started()).noneMatch(s -> s.startsWith("gateway:"));
        List<ExitEvent> all = new ArrayList<>(first.exits());
        all.addAll(second.exits());
        assertThat(ProgressRecorder.countExits(all)).allSatisfy((h, n) -> assertThat(n).as("exit events of %s", h).isEqualTo(1));
        assertThat(Files.exists(c.stateDir.resolve("run.current"))).as("the record is closed").isFalse();
        assertThat(Files.exists(c.stateDir.resolve("run-" + runId + ".done"))).isTrue();
        // Every process exits 0: nodes 2 and 3, and node 1's second life after the report. (gw-1's second
        // life, launched again from node 1's config, is not in the recorded plan: it ends with its node.)
        for (int id = 1; id <= 3; id++) {
            assertThat(c.process(id).awaitExit(WAIT)).as("exit code of node %d", id).isZero();
        }
    }

    @Test
    void aShutdownCalledOnARestartedCoordinatorBeforeItResumesJoinsTheRecordedRun() throws IOException {
        c = new CoordinatedCluster("earlyjoin", 1, 2, 3);
        c.start(1, services(relay("relay-1")));
        c.start(2, services(c.registered("gw-2", "gateway", 1_500), c.registered("cache-2", "cache", 20_000, "", "slow:6000"),
                relay("relay-2")));
        c.start(3, services(c.registered("writer-3", "writer", 2_000), relay("relay-3")));
        c.awaitPlan(CoordinatedCluster.planWith(3, 3));
        ProgressRecorder first = c.shutdown(ShutdownRequest.newBuilder().setBudgetMs(60_000).build());
        await().atMost(WAIT).until(() -> c.journal.count("cache-2", "drain") == 1);
        c.process(1).kill9();
        String runId = Files.readAllLines(c.stateDir.resolve("run.current")).get(0).split(" ")[1];
        // Node 3 cannot answer for a while: the restarted coordinator would wait for its exit stream (up to
        // 10 s) before it resumes the recorded run. A Shutdown that comes meanwhile joins that run.
        c.process(3).freeze();
        try {
            c.cluster.restart(1);
            c.awaitPlan(p -> p.getNodesList().contains(1) && p.getNodesList().contains(2));
            assertThat(c.logSays(1, "coordinator: resuming run")).as("not resumed yet").isFalse();
            ProgressRecorder second = c.shutdown(ShutdownRequest.newBuilder().setBudgetMs(60_000).build());
            await().atMost(WAIT).until(() -> !second.items.isEmpty() || second.ended());
            c.process(3).thaw();
            assertThat(second.items.get(0).getPlan().getStepsList()).as("the recorded plan")
                    .isEqualTo(first.items.get(0).getPlan().getStepsList());
            Report report = second.awaitReport(WAIT);
            assertThat(report.getRunId()).isEqualTo(runId);
        } finally {
            c.process(3).thaw();
        }
        // One run only: every Drain any service got was the recorded run's.
        assertThat(c.journal.entries()).filteredOn(e -> e.what().equals("drain"))
                .allSatisfy(e -> assertThat(e.detail()).as("%s's drain", e.name()).isEqualTo(runId));
        assertThat(c.journal.count("gw-2", "drain")).isEqualTo(1);
        assertThat(c.journal.count("cache-2", "exit")).isEqualTo(1);
    }

    @Test
    void aRestartedCoordinatorThatCannotSeeANodeDoesNotReportItsStepsDone() throws IOException {
        c = new CoordinatedCluster("unseen", 1, 2, 3);
        c.start(1, services(relay("relay-1")));
        c.start(2, services(c.registered("gw-2", "gateway", 1_500), c.registered("cache-2", "cache", 20_000, "", "slow:4000"),
                relay("relay-2")));
        c.start(3, services(c.registered("writer-3", "writer", 2_000), relay("relay-3")));
        c.awaitPlan(CoordinatedCluster.planWith(3, 3));
        c.shutdown(ShutdownRequest.newBuilder().setBudgetMs(60_000).build());
        await().atMost(WAIT).until(() -> c.journal.count("cache-2", "drain") == 1);
        c.process(1).kill9();
        // Node 3 cannot answer while the restarted coordinator takes the run over and finishes it.
        c.process(3).freeze();
        Report report;
        try {
            c.cluster.restart(1);
            c.awaitPlan(p -> p.getNodesList().contains(1) && p.getNodesList().contains(2));
            report = c.shutdown(ShutdownRequest.newBuilder().setBudgetMs(60_000).build()).awaitReport(WAIT);
        } finally {
            c.process(3).thaw();
        }
        // The coordinator never saw node 3 since its restart: it cannot know that writer-3 exited or that node
        // 3 stopped, and they did not. Such steps must not be reported DONE, nor the run clean.
        assertThat(c.journal.count("writer-3", "drain")).as("writer-3 was never told to drain").isZero();
        assertThat(c.process(3).isAlive()).as("node 3 was never stopped").isTrue();
        assertThat(ProgressRecorder.step(report.getStepsList(), "writer:").getOutcome()).as("%s", report)
                .isNotEqualTo(StepFinished.Outcome.DONE);
        assertThat(ProgressRecorder.step(report.getStepsList(), "node@3").getOutcome()).isNotEqualTo(StepFinished.Outcome.DONE);
        assertThat(report.getClean()).isFalse();
    }
}
