package dev.harbor.it;

import static org.assertj.core.api.Assertions.assertThat;

import dev.harbor.demo.DemoCluster;
import dev.harbor.demo.DemoReport;
import dev.harbor.demo.DemoRun;
import dev.harbor.exit.ExitReason;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.time.Duration;
import org.junit.jupiter.api.Test;

/**
 * The demo's zero-loss check as a test: three node processes, 500 clients on two gateways writing as
 * fast as they are answered, and a shutdown through the coordinator in the middle of it; against the
 * embedded H2 database, a real PostgreSQL server, and a PostgreSQL server stopped and restarted while
 * the clients write.
 */
class DemoZeroLossTest {
    private static final int CLIENTS = 500;
    private static final Duration LOAD = Duration.ofSeconds(4);
    private static final Duration BUDGET = Duration.ofSeconds(30);

    private static Path dir(String name) throws Exception {
        Path base = Paths.get("target", "demo-runs");
        Files.createDirectories(base);
        return Files.createTempDirectory(base, name + "-");
    }

    private static DemoReport run(String name, String databaseUrl, DemoRun.Hooks hooks) throws Exception {
        DemoRun.Options options = new DemoRun.Options(CLIENTS, LOAD, BUDGET, databaseUrl, dir(name));
        DemoReport report = new DemoRun(options, line -> System.out.println("[" + name + "] " + line), hooks).run();
        StringWriter printed = new StringWriter();
        report.print(new PrintWriter(printed));
        System.out.println(printed);
        return report;
    }

    /** What every run must show, database trouble or not. */
    private static void assertAnsweredExitedAndInBudget(DemoReport r) {
        assertThat(r.sessions).as("sessions (500 clients and a probe per gateway)").isGreaterThanOrEqualTo(CLIENTS);
        assertThat(r.lost).as("acknowledged lines missing from the database").isZero();
        assertThat(r.unanswered).as("requests never answered").isZero();
        assertThat(r.answeredTwice).as("requests answered twice").isZero();
        assertThat(r.checks()).filteredOn(c -> !c.name().startsWith("acknowledged writes"))
                .allSatisfy(c -> assertThat(c.passed()).as(c.name() + ": " + c.detail()).isTrue());
        assertThat(r.exitCodes()).containsOnlyKeys(1, 2, 3).allSatisfy((node, code) -> assertThat(code).as("node " + node).isZero());
        // Both gateways and the writer drained themselves (EXIT), none was killed.
        assertThat(r.coordinatorReport().getStepsList()).filteredOn(s -> s.getStep().startsWith("gateway:") || s.getStep().startsWith("writer:"))
                .hasSize(3).allSatisfy(s -> assertThat(s.getOutcome().toString()).as(s.getStep()).isEqualTo("DONE"));
        assertThat(r.exits().get(DemoCluster.WRITER_NODE)).anySatisfy(e -> {
            assertThat(e.names()).contains("writer");
            assertThat(e.reason()).isEqualTo(ExitReason.EXIT);
        });
    }

    @Test
    void aShutdownUnderLoadLosesNothingOnH2() throws Exception {
        DemoReport r = run("h2", null, new DemoRun.Hooks() {
        });
        assertAnsweredExitedAndInBudget(r);
        assertThat(r.acked).as("lines stored under load").isGreaterThan(CLIENTS);
        assertThat(r.stored).isEqualTo(r.acked);
        assertThat(r.storedNotAcked).isZero();
        assertThat(r.passed()).isTrue();
    }

    @Test
    void aShutdownUnderLoadLosesNothingOnPostgres() throws Exception {
        try (PostgresServer pg = PostgresServer.create(dir("pg-server"))) {
            DemoReport r = run("postgres", pg.jdbcUrl(), new DemoRun.Hooks() {
            });
            assertAnsweredExitedAndInBudget(r);
            assertThat(r.acked).isGreaterThan(CLIENTS);
            assertThat(r.stored).isEqualTo(r.acked);
            assertThat(r.passed()).isTrue();
        }
    }

    @Test
    void theDatabaseStoppedMidRunLosesNothingAcknowledged() throws Exception {
        try (PostgresServer pg = PostgresServer.create(dir("pg-outage"))) {
            DemoReport r = run("pg-outage", pg.jdbcUrl(), new DemoRun.Hooks() {
                @Override
                public void loadStarted(dev.harbor.demo.DemoTarget cluster) throws Exception {
                    Thread.sleep(1000); // let some lines be stored first
                    pg.stop();
                    Thread.sleep(2000); // the writer's commits fail meanwhile; it keeps what it owes and retries
                    pg.start();
                }
            });
            // Nothing acknowledged was lost, every request had one answer; lines whose callers gave up
            // waiting (answered ERR) may have been stored after all, and are the only extra rows.
            assertAnsweredExitedAndInBudget(r);
            assertThat(r.storedNotAcked).as("stored but answered ERR").isLessThanOrEqualTo(r.refused);
            assertThat(r.stored).isEqualTo(r.acked + r.storedNotAcked);
        }
    }
}
