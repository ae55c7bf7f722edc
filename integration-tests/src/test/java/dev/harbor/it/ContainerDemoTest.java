package dev.harbor.it;

import static dev.harbor.it.ContainerCluster.registered;
import static dev.harbor.it.CoordinatedCluster.services;
import static org.assertj.core.api.Assertions.assertThat;

import dev.harbor.demo.run.DemoReport;
import dev.harbor.demo.run.DemoRun;
import dev.harbor.demo.run.DemoTarget;
import dev.harbor.proto.StepFinished;
import dev.harbor.service.ExitEvent;
import dev.harbor.service.ExitReason;
import java.time.Duration;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * The demo in containers ({@link ContainerDemo}: PostgreSQL from Debian's package, the coordinator and
 * a gateway on node 1, a gateway on node 2, the writer on node 3), with simulated clients writing
 * continuously through the gateways' published ports and {@code Shutdown} called through the
 * coordinator's published port in the middle of it: the demo's zero-loss check holds; and with a node
 * killed ({@code docker kill}) and another cut off ({@code docker network disconnect}) during the
 * shutdown, nothing acknowledged is lost and the run completes with those nodes' steps {@code LOST}.
 */
@ExtendWith(DockerRequired.class)
@Timeout(300)
class ContainerDemoTest {
    private static final int CLIENTS = 200;
    private static final Duration LOAD = Duration.ofSeconds(4);
    private ContainerDemo demo;

    @AfterEach
    void close() {
        if (demo != null) {
            demo.close();
        }
    }

    private static DemoReport run(String name, Duration budget, DemoTarget target, DemoRun.Hooks hooks) throws Exception {
        DemoRun.Options options = new DemoRun.Options(CLIENTS, LOAD, budget, null, DemoZeroLossTest.dir(name));
        return DemoZeroLossTest.printed(new DemoRun(options, DemoZeroLossTest.progress(name), hooks).runOn(target));
    }

    @Test
    void aShutdownUnderLoadThroughThePublishedPortLosesNothingAndEveryContainerExitsZero() throws Exception {
        demo = new ContainerDemo("demo");
        demo.start();
        DemoReport r = run("containers", Duration.ofSeconds(30), demo, new DemoRun.Hooks() {
        });

        assertThat(r.checks()).allSatisfy(c -> assertThat(c.passed()).as(c.name() + ": " + c.detail()).isTrue());
        assertThat(r.passed()).isTrue();
        assertThat(r.sessions).as("sessions (the clients and a probe per gateway)").isGreaterThanOrEqualTo(CLIENTS);
        assertThat(r.acked).as("lines stored under load").isGreaterThan(CLIENTS);
        assertThat(r.stored).as("rows in PostgreSQL").isEqualTo(r.acked);
        assertThat(r.lost).isZero();
        assertThat(r.storedNotAcked).isZero();
        assertThat(r.unanswered).isZero();
        assertThat(r.answeredTwice).isZero();
        assertThat(r.exitCodes()).containsOnlyKeys(1, 2, 3).allSatisfy((node, code) -> assertThat(code).as("node %d's container", node).isZero());
        assertThat(r.coordinatorReport().getStepsList()).filteredOn(s -> s.getStep().startsWith("gateway:") || s.getStep().startsWith("writer:"))
                .hasSize(3).allSatisfy(s -> assertThat(s.getOutcome()).as(s.getStep()).isEqualTo(StepFinished.Outcome.DONE));
        assertThat(r.exits().get(ContainerDemo.WRITER_NODE)).anySatisfy(e -> {
            assertThat(e.names()).contains("writer");
            assertThat(e.reason()).isEqualTo(ExitReason.EXIT);
        });
    }

    @Test
    void aNodeKilledAndAnotherCutOffDuringTheShutdownUnderLoadLoseNothingAcknowledged() throws Exception {
        demo = new ContainerDemo("demo-faults");
        // Node 4's cache drains far longer than its 8 s timeout: only its node's loss ends its step early.
        demo.cluster().node(4, services(registered("cache-4", "cache", 8_000, "slow:60000")));
        demo.start();
        ContainerCluster c = demo.cluster();
        DemoReport r = run("container-faults", Duration.ofSeconds(45), demo, new DemoRun.Hooks() {
            @Override
            public void shutdownCalled(DemoTarget cluster) {
                demo.unattended(2);
                c.kill(2); // a gateway's node, its clients mid-write
                demo.unattended(4);
                c.disconnect(4); // still running, but its peers and the coordinator lose it
            }
        });

        // Nothing acknowledged is lost, nothing answered twice. The killed gateway's clients lose their
        // connection with at most one request in flight each (one client in two, and its probe); a line
        // committed just before the kill, whose answer died with node 2, is the only kind stored unacknowledged.
        assertThat(r.acked).as("lines stored under load").isGreaterThan(CLIENTS);
        assertThat(r.lost).as("acknowledged lines missing from PostgreSQL").isZero();
        assertThat(r.answeredTwice).isZero();
        assertThat(r.unanswered).as("requests unanswered (only on the killed gateway)").isLessThanOrEqualTo(CLIENTS / 2 + 1);
        assertThat(r.storedNotAcked).as("stored but not acknowledged").isLessThanOrEqualTo(r.unanswered + r.refused);
        assertThat(r.stored).isEqualTo(r.acked + r.storedNotAcked);

        // The run completed around the faults: the lost nodes' steps LOST, the rest DONE, within the budget.
        List<StepFinished> steps = r.coordinatorReport().getStepsList();
        assertThat(r.coordinatorReport().getClean()).as("a run with lost nodes is not clean").isFalse();
        assertThat(steps).extracting(StepFinished::getStep).as("the lost nodes' steps")
                .contains("node@2", "node@4").anyMatch(s -> s.startsWith("gateway::0002")).anyMatch(s -> s.startsWith("cache::0004"));
        assertThat(steps).allSatisfy(s -> assertThat(s.getOutcome()).as(s.getStep())
                .isEqualTo(onLostNode(s.getStep()) ? StepFinished.Outcome.LOST : StepFinished.Outcome.DONE));
        assertThat(steps).extracting(StepFinished::getStep).as("the surviving nodes' steps")
                .contains("node@1", "node@3").anyMatch(s -> s.startsWith("gateway::0001")).anyMatch(s -> s.startsWith("writer::0003"));
        assertThat(r.checks()).filteredOn(k -> k.name().startsWith("the shutdown fit its budget"))
                .singleElement().satisfies(k -> assertThat(k.passed()).as(k.detail()).isTrue());

        // The surviving nodes: every service exited exactly once, the writer by draining, the containers with 0.
        for (int id : List.of(1, ContainerDemo.WRITER_NODE)) {
            Set<String> seen = new HashSet<>();
            for (ExitEvent e : r.exits().get(id)) {
                assertThat(seen.add(e.handle().toString())).as("%s exited once on node %d", e.handle(), id).isTrue();
            }
        }
        assertThat(r.exits().get(ContainerDemo.WRITER_NODE)).anySatisfy(e -> {
            assertThat(e.names()).contains("writer");
            assertThat(e.reason()).isEqualTo(ExitReason.EXIT);
        });
        assertThat(r.exitCodes()).containsEntry(1, 0).containsEntry(ContainerDemo.WRITER_NODE, 0).containsEntry(2, 137);
    }

    /** A step of node 2 or 4 (a service's step names its handle, ":" then the node in 4 hex digits; a node's step "@id"). */
    private static boolean onLostNode(String step) {
        return step.endsWith("@2") || step.endsWith("@4") || step.contains("::0002") || step.contains("::0004");
    }
}
