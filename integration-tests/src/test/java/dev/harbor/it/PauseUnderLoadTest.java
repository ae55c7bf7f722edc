package dev.harbor.it;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.harbor.demo.run.DemoCluster;
import dev.harbor.demo.run.DemoReport;
import dev.harbor.demo.run.DemoRun;
import dev.harbor.demo.run.DemoTarget;
import dev.harbor.proto.CoordinatorGrpc;
import dev.harbor.proto.PlanRequest;
import dev.harbor.proto.PlanResponse;
import dev.harbor.proto.PlannedStep;
import dev.harbor.security.BearerAuth;
import io.grpc.Grpc;
import io.grpc.InsecureChannelCredentials;
import io.grpc.ManagedChannel;
import io.grpc.health.v1.HealthCheckResponse.ServingStatus;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * The demo's cluster under load (three node processes: the coordinator and a gateway on node 1, a
 * gateway on node 2, the writer on node 3; simulated clients writing through both gateways), with one
 * node stopped by SIGSTOP for 3 s or 8 s, before or during the shutdown. Whatever was paused: the
 * cluster relinks by itself (before: it serves whole again within {@link MembershipTest#RELINKED_WITHIN}),
 * the shutdown stops every process (exit 0), every acknowledged write is in the database, and no
 * request is answered twice. Requests in flight on a gateway whose node was declared lost are
 * answered by the connection closing, not by a reply: such a run does not claim "every request
 * answered", and a run in which a node was lost mid-shutdown is not reported clean.
 */
@Timeout(300)
class PauseUnderLoadTest {
    private static final int CLIENTS = 200;
    private static final Duration LOAD = Duration.ofSeconds(3);
    private static final Duration BUDGET = Duration.ofSeconds(30);

    @ParameterizedTest(name = "node {0} paused {1} ms")
    @CsvSource({"1, 3000", "1, 8000", "2, 3000", "2, 8000", "3, 3000", "3, 8000"})
    void aNodePausedUnderLoadBeforeTheShutdownRejoinsAndTheShutdownIsCleanAndLosesNothing(int node, int pauseMs) throws Exception {
        DemoReport r = run("pause-" + node + "-" + pauseMs + "-before", new DemoRun.Hooks() {
            @Override
            public void loadStarted(DemoTarget cluster) throws Exception {
                pauseAndAwaitWhole(cluster, node, pauseMs);
            }
        });
        assertNothingAcknowledgedLostAndEveryProcessExitedZero(r);
        assertThat(r.coordinatorReport()).as("the coordinator's final report").isNotNull();
        assertThat(r.coordinatorReport().getClean()).as("a shutdown of the healed cluster: %s", r.coordinatorReport()).isTrue();
    }

    @ParameterizedTest(name = "node {0} paused {1} ms")
    @CsvSource({"1, 3000", "1, 8000", "2, 3000", "2, 8000", "3, 3000", "3, 8000"})
    void aNodePausedDuringTheShutdownLosesNothingAcknowledgedAndEveryProcessExitsZero(int node, int pauseMs) throws Exception {
        java.util.concurrent.atomic.AtomicReference<java.nio.file.Path> coordinatorLog = new java.util.concurrent.atomic.AtomicReference<>();
        DemoReport r = run("pause-" + node + "-" + pauseMs + "-during", new DemoRun.Hooks() {
            @Override
            public void shutdownCalled(DemoTarget cluster) throws Exception {
                coordinatorLog.set(((DemoCluster) cluster).log(cluster.coordinatorNode()));
                freezeFor((DemoCluster) cluster, node, pauseMs);
            }
        });
        if (node == DemoCluster.COORDINATOR_NODE && r.coordinatorReport() == null) {
            // The caller's stream broke with the coordinator's old life, and the relaunched coordinator
            // finished the run and stopped its node before the caller could join it again: the run's end
            // is in the coordinator's log instead.
            assertThat(java.nio.file.Files.readString(coordinatorLog.get())).as("node 1's log").containsPattern(
                    "coordinator: shutdown run \\S+ ended in \\d+ ms");
        } else {
            assertThat(r.coordinatorReport()).as("the coordinator's final report").isNotNull();
        }
        assertNothingAcknowledgedLostAndEveryProcessExitedZero(r);
    }

    private static DemoReport run(String name, DemoRun.Hooks hooks) throws Exception {
        DemoRun.Options options = new DemoRun.Options(CLIENTS, LOAD, BUDGET, null, DemoZeroLossTest.dir(name));
        return DemoZeroLossTest.printed(new DemoRun(options, DemoZeroLossTest.progress(name), hooks).run());
    }

    private static void assertNothingAcknowledgedLostAndEveryProcessExitedZero(DemoReport r) {
        assertThat(r.lost).as("acknowledged lines missing from the database").isZero();
        assertThat(r.answeredTwice).as("requests answered twice").isZero();
        assertThat(r.storedNotAcked).as("stored but answered ERR or not at all").isLessThanOrEqualTo(r.refused + r.unanswered);
        assertThat(r.exitCodes()).containsOnlyKeys(1, 2, 3)
                .allSatisfy((id, code) -> assertThat(code).as("exit code of node %d", id).isZero());
    }

    /** SIGSTOP on {@code node} for {@code pauseMs}, then SIGCONT; waits until every node serves and the plan is whole again. */
    private static void pauseAndAwaitWhole(DemoTarget target, int node, int pauseMs) throws Exception {
        DemoCluster cluster = (DemoCluster) target;
        await().pollDelay(Duration.ofSeconds(1)).until(() -> true); // let the clients write first
        freezeFor(cluster, node, pauseMs);
        await().atMost(MembershipTest.RELINKED_WITHIN).until(() -> cluster.nodes().stream()
                .allMatch(id -> health(cluster, id) == ServingStatus.SERVING));
        // ...and the coordinator plans over every node again, with both gateways and the writer of now.
        ManagedChannel ch = Grpc.newChannelBuilder(cluster.address(cluster.coordinatorNode()), InsecureChannelCredentials.create()).build();
        try {
            var coordinator = CoordinatorGrpc.newBlockingStub(ch).withCallCredentials(BearerAuth.credentials(cluster.token()));
            await().atMost(MembershipTest.RELINKED_WITHIN).ignoreExceptions().until(() -> {
                PlanResponse p = coordinator.withDeadlineAfter(5, TimeUnit.SECONDS).plan(PlanRequest.newBuilder()
                        .setBudgetMs((int) BUDGET.toMillis()).build());
                return p.getNodesCount() == 3 && p.getStepsList().stream().filter(s -> s.getKind() == PlannedStep.Kind.DRAIN).count() == 3;
            });
        } finally {
            ch.shutdownNow();
        }
    }

    private static void freezeFor(DemoCluster cluster, int node, int pauseMs) throws Exception {
        long pid = cluster.process(node).pid();
        signal(pid, "STOP");
        try {
            Thread.sleep(pauseMs); // the fault itself: how long the process stays stopped
        } finally {
            signal(pid, "CONT");
        }
    }

    private static ServingStatus health(DemoTarget cluster, int id) {
        ManagedChannel ch = Grpc.newChannelBuilder(cluster.address(id), InsecureChannelCredentials.create()).build();
        try {
            return HealthRecorder.check(ch);
        } finally {
            ch.shutdownNow();
        }
    }

    private static void signal(long pid, String name) throws Exception {
        Process kill = new ProcessBuilder("kill", "-" + name, Long.toString(pid)).inheritIO().start();
        assertThat(kill.waitFor(10, TimeUnit.SECONDS) && kill.exitValue() == 0).as("kill -%s %d", name, pid).isTrue();
    }
}
