package dev.harbor.cli;

import dev.harbor.service.NamedService;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.harbor.service.ExitReason;
import dev.harbor.service.Handle;
import dev.harbor.service.ServiceInfo;
import io.grpc.Grpc;
import io.grpc.InsecureChannelCredentials;
import io.grpc.ManagedChannel;
import io.grpc.health.v1.HealthCheckRequest;
import io.grpc.health.v1.HealthCheckResponse.ServingStatus;
import io.grpc.health.v1.HealthGrpc;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/** The command line, run in this JVM against a real node process object serving on a loopback port. */
@Timeout(60)
class MainTest {
    static final Duration WAIT = Duration.ofSeconds(10);

    @TempDir
    Path dir;

    private NodeProcess node;
    private Handle db;

    /** What one command printed, and its exit code. */
    record Run(int code, String out, String err) {
    }

    /** Runs the command line in this JVM with captured output. */
    static Run harbor(String... args) {
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        CommandLine cli = new CommandLine(new Main());
        cli.setOut(new PrintWriter(out, true));
        cli.setErr(new PrintWriter(err, true));
        int code = cli.execute(args);
        return new Run(code, out.toString(), err.toString());
    }

    @BeforeEach
    void startNode() throws Exception {
        node = NodeProcess.start(NodeConfig.load(null, Map.of(
                "HARBOR_NODE_ID", "7",
                "HARBOR_NODE_LISTEN", "127.0.0.1:0",
                "HARBOR_SERVICES", NamedService.class.getName() + "(db)")));
        db = node.node().whereis("db").orElseThrow();
    }

    @AfterEach
    void stopNode() {
        node.stop();
    }

    @Test
    void everyCommandAnswersHelpWithItsUsageAndExitsZero() {
        for (String command : Main.commandLine().getSubcommands().keySet()) {
            if (command.equals("help")) {
                continue;
            }
            Run r = harbor(command, "--help");
            assertThat(r.code()).as("harbor %s --help: %s", command, r.err()).isZero();
            assertThat(r.out()).as("harbor %s --help", command).contains("Usage: harbor " + command).contains("--help");
            assertThat(r.err()).as("harbor %s --help", command).isEmpty();
        }
    }

    @Test
    void nodeHelpListsEverySettingAndTheClasspathOption() {
        assertThat(NodeConfig.KEY_HELP).as("a line of help for every key, and for keys only").containsOnlyKeys(NodeConfig.KEYS)
                .allSatisfy((key, help) -> assertThat(help).as(key).isNotBlank());
        Run r = harbor("node", "--help");
        assertThat(r.code()).isZero();
        for (String key : NodeConfig.KEYS) {
            assertThat(r.out()).as("harbor node --help names %s", key).containsPattern("(?m)^\\s+" + java.util.regex.Pattern.quote(key) + "\\s");
        }
        assertThat(r.out()).contains("--classpath").contains("HARBOR_CLASSPATH").contains("--config");
    }

    @Test
    void servicesPrintsATableOfTheLiveServices() {
        Run r = harbor("services", "--node", node.advertise());
        assertThat(r.code()).as(r.err()).isZero();
        List<String> lines = r.out().lines().toList();
        assertThat(lines.getFirst()).isEqualTo("node 7 at " + node.advertise() + ": 2 service(s)");
        assertThat(lines.get(1)).startsWith("HANDLE").contains("TYPE", "NAMES", "TAGS", "MAILBOX", "HANDLED");
        assertThat(lines).anySatisfy(l -> assertThat(l).startsWith(db.toString()).contains(NamedService.class.getName(), " db "));
        assertThat(lines).anySatisfy(l -> assertThat(l).startsWith(node.node().monitor().toString()).contains("LoggingMonitor"));
    }

    @Test
    void killEndsTheServiceAndSaysSoAndFailsForOneNotAlive() {
        Run r = harbor("kill", "--node", node.advertise(), db.toString());
        assertThat(r.code()).as(r.err()).isZero();
        assertThat(r.out()).isEqualTo("killed " + db + System.lineSeparator());
        assertThat(node.node().exits().find(db)).get().extracting(e -> e.reason()).isEqualTo(ExitReason.KILLED);

        Run again = harbor("kill", "--node", node.advertise(), db.toString());
        assertThat(again.code()).isEqualTo(1);
        assertThat(again.err()).contains("service " + db + " was not alive", "nothing was killed");
    }

    @Test
    void killRefusesTheMonitorAndAHandleOfAnotherNode() {
        Run monitor = harbor("kill", "--node", node.advertise(), node.node().monitor().toString());
        assertThat(monitor.code()).isEqualTo(1);
        assertThat(monitor.err()).contains("is the monitor of node 7", "stop the node instead");

        Run other = harbor("kill", "--node", node.advertise(), Handle.of(3, 5).toString());
        assertThat(other.code()).isEqualTo(2);
        assertThat(other.err()).contains("belongs to node 3; ask that node");
    }

    @Test
    void aMalformedHandleIsAUsageError() {
        Run r = harbor("kill", "--node", node.advertise(), ":zz");
        assertThat(r.code()).isEqualTo(2);
        assertThat(r.err()).contains("':zz' is not a handle", "Usage: harbor kill");
        assertThat(node.node().isAlive(db)).isTrue();
    }

    @Test
    void anUnreachableNodeIsOneClearLineAndExitCodeOne() {
        int port = FreePorts.loopback();
        for (String[] args : List.of(new String[] {"services"}, new String[] {"stop"}, new String[] {"abort"}, new String[] {"cordon"},
                new String[] {"kill", db.toString()}, new String[] {"watch-exits"}, new String[] {"watch-exits", "--follow"})) {
            String[] full = new String[args.length + 2];
            full[0] = args[0];
            full[1] = "--node";
            full[2] = "127.0.0.1:" + port;
            System.arraycopy(args, 1, full, 3, args.length - 1);
            Run r = harbor(full);
            assertThat(r.code()).as(String.join(" ", full)).isEqualTo(1);
            assertThat(r.err().lines().toList()).as(String.join(" ", full)).hasSize(1)
                    .first().asString().startsWith("harbor: cannot reach the node at 127.0.0.1:" + port);
            assertThat(r.out()).isEmpty();
        }
    }

    @Test
    void aNodeAddressThatIsNotHostAndPortIsAUsageError() {
        Run r = harbor("services", "--node", "localhost");
        assertThat(r.code()).isEqualTo(2);
        assertThat(r.err()).contains("--node: expected host:port");
    }

    @Test
    void abortEndsEveryServiceButTheMonitorAndSaysHowMany() {
        node.node().launch(() -> (ctx, msg) -> null);
        Run r = harbor("abort", "--node", node.advertise());
        assertThat(r.code()).as(r.err()).isZero();
        assertThat(r.out()).contains("aborted 2 service(s)");
        assertThat(node.node().services()).extracting(ServiceInfo::handle).containsExactly(node.node().monitor());
    }

    @Test
    void cordonTurnsTheNodesHealthNotServingAndLeavesItsServicesAlone() {
        int before = node.node().services().size();
        Run r = harbor("cordon", "--node", node.advertise());
        assertThat(r.code()).as(r.err()).isZero();
        assertThat(r.out()).contains("takes no new work");
        ManagedChannel channel = Grpc.newChannelBuilder(node.advertise(), InsecureChannelCredentials.create()).build();
        try {
            assertThat(HealthGrpc.newBlockingStub(channel).withDeadlineAfter(5, TimeUnit.SECONDS)
                    .check(HealthCheckRequest.getDefaultInstance()).getStatus()).isEqualTo(ServingStatus.NOT_SERVING);
        } finally {
            channel.shutdownNow();
        }
        assertThat(node.node().services()).hasSize(before);
        assertThat(node.isStopped()).isFalse();
    }

    @Test
    void stopStopsTheNode() {
        Run r = harbor("stop", "--node", node.advertise());
        assertThat(r.code()).as(r.err()).isZero();
        assertThat(r.out()).contains("is stopping");
        await().atMost(WAIT).until(node::isStopped);
        assertThat(node.node().isStopped()).isTrue();
    }

    @Test
    void watchExitsPrintsTheAliveServicesThenTheExitsThenStopsOnceCaughtUp() {
        Handle extra = node.node().launch(() -> (ctx, msg) -> null);
        node.node().kill(db);
        Run r = harbor("watch-exits", "--node", node.advertise());
        assertThat(r.code()).as(r.err()).isZero();
        List<String> lines = r.out().lines().toList();
        assertThat(lines.getFirst()).startsWith("node 7 at " + node.advertise() + ", incarnation ").endsWith("newest exit #1");
        assertThat(lines.get(1)).isEqualTo("ALIVE (2)");
        assertThat(lines).anySatisfy(l -> assertThat(l).startsWith(extra.toString()));
        int exits = lines.indexOf("EXITS");
        assertThat(exits).isPositive();
        assertThat(lines.get(exits + 1)).startsWith("SEQ").contains("HANDLE", "NODE", "REASON", "TIME", "NAMES", "DETAIL");
        assertThat(lines.get(exits + 2)).matches("1\\s+" + db + "\\s+7\\s+KILLED\\s+\\d{4}-\\d\\d-\\d\\dT\\S+Z\\s+db\\s+killed");
        assertThat(lines.getLast()).isEqualTo("-- caught up at #1");
    }

    @Test
    void watchExitsFromASeqPrintsOnlyTheLaterEvents() {
        node.node().kill(node.node().launch(() -> (ctx, msg) -> null));
        node.node().kill(db);
        Run r = harbor("watch-exits", "--node", node.advertise(), "--from", "1");
        assertThat(r.code()).as(r.err()).isZero();
        assertThat(r.out()).doesNotContain(System.lineSeparator() + "1 ").contains(System.lineSeparator() + "2 ");
        Run tooFar = harbor("watch-exits", "--node", node.advertise(), "--from", "9");
        assertThat(tooFar.code()).isEqualTo(2);
        assertThat(tooFar.err()).contains("from_seq 9 is above the newest exit event of node 7");
    }

    @Test
    void watchExitsFromASeqOfAnEarlierProcessLifePrintsThisLifeFromItsFirstEvent() {
        node.node().kill(node.node().launch(() -> (ctx, msg) -> null));
        node.node().kill(db);
        Run current = harbor("watch-exits", "--node", node.advertise());
        String incarnation = current.out().lines().findFirst().orElseThrow().replaceAll(".*incarnation (-?\\d+),.*", "$1");
        // --from 9 counted in another life (incarnation 1): the node's new life from its first event.
        Run earlier = harbor("watch-exits", "--node", node.advertise(), "--from", "9", "--incarnation", "1");
        assertThat(earlier.code()).as(earlier.err()).isZero();
        assertThat(earlier.out()).contains(System.lineSeparator() + "1 ").contains(System.lineSeparator() + "2 ")
                .contains("-- caught up at #2");
        // Counted in this life, 9 is still above the newest.
        Run sameLife = harbor("watch-exits", "--node", node.advertise(), "--from", "9", "--incarnation", incarnation);
        assertThat(sameLife.code()).as(sameLife.out()).isEqualTo(2);
    }

    @Test
    void watchExitsFollowPrintsLiveExitsUntilInterrupted() throws Exception {
        StringWriter out = new StringWriter();
        CommandLine cli = new CommandLine(new Main());
        cli.setOut(new PrintWriter(out, true));
        cli.setErr(new PrintWriter(new StringWriter(), true));
        CompletableFuture<Integer> code = new CompletableFuture<>();
        Thread follower = Thread.ofPlatform().start(() -> code.complete(cli.execute("watch-exits", "--node", node.advertise(), "--follow")));
        await().atMost(WAIT).until(() -> out.toString().contains("-- caught up at #0; following live exits"));
        node.node().kill(db);
        await().atMost(WAIT).until(() -> out.toString().lines().anyMatch(l -> l.matches("1\\s+" + db + "\\s+7\\s+KILLED.*")));
        follower.interrupt();
        assertThat(code.get(WAIT.toMillis(), TimeUnit.MILLISECONDS)).isZero();
    }

    @Test
    void theNodeCommandRunsANodeUntilItIsToldToStop() throws Exception {
        Path config = dir.resolve("node.properties");
        Files.writeString(config, "node.id=8\nnode.listen=127.0.0.1:0\nservices=" + NamedService.class.getName() + "(cache)\n");
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        CommandLine cli = new CommandLine(new Main());
        cli.setOut(new PrintWriter(out, true));
        cli.setErr(new PrintWriter(err, true));
        CompletableFuture<Integer> code = new CompletableFuture<>();
        Thread.ofPlatform().start(() -> code.complete(cli.execute("node", "--config", config.toString())));
        await().atMost(WAIT).until(() -> out.toString().contains(System.lineSeparator()) || code.isDone());
        assertThat(err.toString()).isEmpty();
        String ready = out.toString().strip();
        assertThat(ready).matches("harbor node 8 ready on 127\\.0\\.0\\.1:\\d+");
        String address = ready.substring(ready.lastIndexOf(' ') + 1);

        Run services = harbor("services", "--node", address);
        assertThat(services.out()).contains(" cache ");
        assertThat(harbor("stop", "--node", address).code()).isZero();
        assertThat(code.get(WAIT.toMillis(), TimeUnit.MILLISECONDS)).isZero();
        assertThat(out.toString().lines()).as("exactly one line on stdout").hasSize(1);
    }

    @Test
    void theNodeCommandRefusesBadSettingsWithExitCodeTwo() throws Exception {
        Path config = dir.resolve("bad.properties");
        Files.writeString(config, "node.id=8\nharbor.heartbeat-ms=soon\n");
        Run r = harbor("node", "--config", config.toString());
        assertThat(r.code()).isEqualTo(2);
        assertThat(r.err()).contains("harbor.heartbeat-ms: expected a whole number", "got 'soon'");
        assertThat(r.out()).isEmpty();
    }

    @Test
    void theNodeCommandRefusesAServiceClassThatDoesNotExistWithExitCodeTwo() throws Exception {
        Path config = dir.resolve("node.properties");
        Files.writeString(config, "node.id=8\nnode.listen=127.0.0.1:0\nservices=com.example.Nope\n");
        Run r = harbor("node", "--config", config.toString());
        assertThat(r.code()).isEqualTo(2);
        assertThat(r.err()).contains("services: no class com.example.Nope on the class path");
    }

    @Test
    void theNodeCommandFailsWithExitCodeOneWhenAServiceFailsToLaunch() throws Exception {
        Path config = dir.resolve("node.properties");
        int port = FreePorts.loopback();
        Files.writeString(config, "node.id=8\nnode.listen=127.0.0.1:" + port + "\nservices=" + NamedService.class.getName() + "(a), "
                + FailingInitService.class.getName() + "\n");
        Run r = harbor("node", "--config", config.toString());
        assertThat(r.code()).isEqualTo(1);
        assertThat(r.err()).contains("the service " + FailingInitService.class.getName() + " (from services) failed to launch",
                "the database is not there");
        assertThat(r.out()).isEmpty();
        // Everything it started is gone again: the port is free.
        try (java.net.ServerSocket s = new java.net.ServerSocket(port)) {
            assertThat(s.getLocalPort()).isEqualTo(port);
        }
    }

    @Test
    void noCommandIsAUsageError() {
        Run r = harbor();
        assertThat(r.code()).isEqualTo(2);
        assertThat(r.err()).contains("name a command");
    }

    @Test
    void killStopAndAbortSendTheTokenFromTokenFileAndSayWhenItIsMissing() throws Exception {
        Path token = Files.writeString(dir.resolve("token"), "main-test-token\n");
        try (NodeProcess guarded = NodeProcess.start(NodeConfig.load(null, Map.of(
                "HARBOR_NODE_ID", "8",
                "HARBOR_NODE_LISTEN", "127.0.0.1:0",
                "HARBOR_COORDINATOR_TOKEN_FILE", token.toString(),
                "HARBOR_SERVICES", NamedService.class.getName() + "(guarded)")))) {
            Handle guardedDb = guarded.node().whereis("guarded").orElseThrow();
            Run refused = harbor("kill", "--node", guarded.advertise(), guardedDb.toString());
            assertThat(refused.code()).isEqualTo(1);
            assertThat(refused.err()).contains("wants the cluster's token", "--token-file").doesNotContain("main-test-token");
            assertThat(guarded.node().isAlive(guardedDb)).isTrue();

            Run killed = harbor("kill", "--node", guarded.advertise(), "--token-file", token.toString(), guardedDb.toString());
            assertThat(killed.code()).as(killed.err()).isZero();
            assertThat(guarded.node().isAlive(guardedDb)).isFalse();
        }
    }
}
