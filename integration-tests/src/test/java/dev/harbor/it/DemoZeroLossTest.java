package dev.harbor.it;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.harbor.demo.run.DemoCluster;
import dev.harbor.demo.run.DemoReport;
import dev.harbor.demo.run.DemoRun;
import dev.harbor.demo.run.DemoTarget;
import dev.harbor.gateway.GatewayClient;
import dev.harbor.gateway.GatewayClient.Frame;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicReference;
import dev.harbor.service.ExitReason;
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

    /** A new directory for run {@code name} under target/demo-runs. */
    static Path dir(String name) throws Exception {
        Path base = Paths.get("target", "demo-runs");
        Files.createDirectories(base);
        return Files.createTempDirectory(base, name + "-");
    }

    private static DemoReport run(String name, String databaseUrl, DemoRun.Hooks hooks) throws Exception {
        return run(dir(name), name, databaseUrl, hooks);
    }

    private static DemoReport run(Path dir, String name, String databaseUrl, DemoRun.Hooks hooks) throws Exception {
        DemoRun.Options options = new DemoRun.Options(CLIENTS, LOAD, BUDGET, databaseUrl, dir);
        return printed(new DemoRun(options, progress(name), hooks).run());
    }

    /**
     * The ERROR and WARN lines of the run's node logs ({@code node-<id>.log} in its directory) logged
     * before {@code until} (each line starts with its ISO-8601 UTC time).
     */
    static List<String> errorsAndWarnings(Path dir, java.time.Instant until) throws java.io.IOException {
        List<String> out = new java.util.ArrayList<>();
        try (var logs = Files.list(dir)) {
            for (Path log : logs.filter(p -> p.getFileName().toString().matches("node-\\d+\\.log")).sorted().toList()) {
                for (String line : Files.readAllLines(log)) {
                    int space = line.indexOf(' ');
                    java.time.Instant at;
                    try {
                        at = java.time.Instant.parse(space > 0 ? line.substring(0, space) : line);
                    } catch (java.time.format.DateTimeParseException e) {
                        continue; // a stack trace's or a message's continuation line: its first line counted
                    }
                    if (at.isBefore(until) && (line.contains(" ERROR ") || line.contains(" WARN "))) {
                        out.add(log.getFileName() + ": " + line);
                    }
                }
            }
        }
        return out;
    }

    /** The run's progress lines, on the test's output, tagged with {@code name}. */
    static java.util.function.Consumer<String> progress(String name) {
        return line -> System.out.println("[" + name + "] " + line);
    }

    /** Prints {@code report} (timeline and checks) on the test's output; returns it. */
    static DemoReport printed(DemoReport report) {
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
        AtomicReference<GatewayClient> watcher = new AtomicReference<>();
        List<String> seen = new CopyOnWriteArrayList<>();
        Path dir = dir("h2");
        AtomicReference<java.time.Instant> shutdownAt = new AtomicReference<>();
        DemoReport r = run(dir, "h2", null, new DemoRun.Hooks() {
            @Override
            public void loadStarted(DemoTarget cluster) throws Exception {
                watcher.set(GatewayClient.connect(cluster.gateways().get(0), Duration.ofSeconds(30)));
            }

            /** A client of the draining gateway: BYE, an error frame for a late request, no new connection. */
            @Override
            public void shutdownCalled(DemoTarget cluster) throws Exception {
                shutdownAt.compareAndSet(null, java.time.Instant.now());
                try (GatewayClient c = watcher.get()) {
                    Frame bye = c.read();
                    seen.add("first frame: " + bye);
                    c.send(1, "SAY", "after the BYE");
                    seen.add("late request: " + c.read());
                    try (GatewayClient late = GatewayClient.connect(cluster.gateways().get(0), Duration.ofSeconds(5))) {
                        seen.add("new connection: accepted as " + late.session());
                    } catch (java.io.IOException e) {
                        seen.add("new connection: refused");
                    }
                    c.send(2, "QUIT", "");
                    seen.add("quit: " + c.read());
                    seen.add("then: " + c.read());
                }
            }
        });
        assertThat(seen).containsExactly("first frame: " + new Frame(0, "BYE", "server going down"),
                "late request: " + new Frame(1, "ERR", "session closing (server going down): not done"),
                "new connection: refused", "quit: " + new Frame(2, "OK", "bye"), "then: null");
        assertAnsweredExitedAndInBudget(r);
        assertThat(r.acked).as("lines stored under load").isGreaterThan(CLIENTS);
        assertThat(r.stored).isEqualTo(r.acked);
        assertThat(r.storedNotAcked).isZero();
        assertThat(r.passed()).isTrue();
        // A normal start (and the load after it) logs nothing an operator must look at: no session that
        // could not save its state before the writer was up, no Micrometer warning.
        assertThat(errorsAndWarnings(dir, shutdownAt.get())).as("ERROR and WARN lines of the nodes' logs before the Shutdown call")
                .isEmpty();
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

    private static long storedLines(String url) {
        try (var c = java.sql.DriverManager.getConnection(url); var st = c.createStatement();
                var rs = st.executeQuery("SELECT count(*) FROM harbor_records")) {
            return rs.next() ? rs.getLong(1) : 0;
        } catch (java.sql.SQLException e) {
            return 0; // the writer has not created its table yet
        }
    }

    @Test
    void theDatabaseStoppedMidRunLosesNothingAcknowledged() throws Exception {
        try (PostgresServer pg = PostgresServer.create(dir("pg-outage"))) {
            DemoReport r = run("pg-outage", pg.jdbcUrl(), new DemoRun.Hooks() {
                @Override
                public void loadStarted(DemoTarget cluster) throws Exception {
                    // Stop the database once the load has stored something, so acknowledged lines exist on both sides of the outage.
                    await().atMost(Duration.ofSeconds(30)).until(() -> storedLines(pg.jdbcUrl()) >= 100);
                    pg.stop();
                    // The outage lasts 2 s (its length, not a wait for something): commits fail meanwhile,
                    // the writer keeps what it owes and retries on fresh connections.
                    Thread.sleep(2000);
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
