package dev.harbor.demo.run;

import dev.harbor.cli.DurationConverter;
import dev.harbor.writer.Writer;
import java.io.PrintWriter;
import java.net.InetSocketAddress;
import java.net.URI;
import java.sql.SQLException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

/**
 * {@code harbor demo-clients}: the demo's simulated chat clients on their own, against gateways that
 * run elsewhere (the compose file's clients container). Once a line can be stored through each
 * gateway, it connects the clients, which say line after line until the server says BYE (an operator's
 * shutdown), then prints what they saw and, with {@code --database}, checks every acknowledged line is
 * stored. Exits 0 when every request was answered exactly once and nothing acknowledged is missing,
 * 1 otherwise, 2 for bad options.
 *
 * <p>Runs on the calling thread; each client on a virtual thread of its own, read after it has ended.
 */
@Command(name = "demo-clients", mixinStandardHelpOptions = true,
        description = "Run the demo's simulated chat clients against running gateways until the cluster shuts down (BYE),"
                + " then print their totals and, with --database, check that every acknowledged line is stored.")
public final class DemoClientsCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Option(names = "--gateways", required = true, split = ",", paramLabel = "HOST:PORT",
            description = "The gateways' client addresses, comma-separated; the clients are spread over them.")
    List<String> gateways;

    @Option(names = "--clients", defaultValue = "100", description = "Simulated clients. Default: ${DEFAULT-VALUE}.")
    int clients;

    @Option(names = "--max-run", defaultValue = "10m", paramLabel = "DURATION", converter = DurationConverter.class,
            description = "A client still writing after this long quits on its own. Default: ${DEFAULT-VALUE}.")
    Duration maxRun;

    @Option(names = "--wait", defaultValue = "120s", paramLabel = "DURATION", converter = DurationConverter.class,
            description = "How long to wait for each gateway to store a first line. Default: ${DEFAULT-VALUE}.")
    Duration wait;

    @Option(names = "--database", paramLabel = "JDBC_URL",
            description = "The writer's database, to check the acknowledged lines against; its user and password may come from"
                    + " HARBOR_WRITER_USER and HARBOR_WRITER_PASSWORD, as the writer's do.")
    String database;

    @Override
    public Integer call() throws Exception {
        PrintWriter out = spec.commandLine().getOut();
        if (clients < 1 || clients > 20_000) {
            throw new ParameterException(spec.commandLine(), "--clients must be 1-20000, got " + clients);
        }
        List<InetSocketAddress> targets = new ArrayList<>();
        for (String g : gateways) {
            targets.add(address(g));
        }
        DemoClient.Tally tally = new DemoClient.Tally();
        List<DemoClient> all = new ArrayList<>();
        try {
            for (InetSocketAddress g : targets) {
                DemoRun.awaitWriterThrough(g, tally, all, wait);
            }
        } catch (IllegalStateException e) {
            spec.commandLine().getErr().println("harbor demo-clients: " + e.getMessage());
            return 1;
        }
        out.println("connecting " + clients + " clients to " + targets + "; they write until the server says BYE");
        out.flush();
        List<Thread> threads = new ArrayList<>();
        for (int i = 0; i < clients; i++) {
            DemoClient c = new DemoClient(i + 1, targets.get(i % targets.size()), tally, maxRun);
            all.add(c);
            threads.add(Thread.ofVirtual().name("demo-client-" + (i + 1)).start(c));
        }
        for (Thread t : threads) {
            t.join();
        }
        List<DemoReport.Check> checks;
        if (database == null) {
            checks = List.of(new ClientCheck(all, Map.of()).checks().get(1));
        } else {
            checks = new ClientCheck(all, rows()).checks();
        }
        out.println("Clients' check:");
        for (DemoReport.Check c : checks) {
            out.printf("  [%s] %s: %s%n", c.passed() ? "ok" : "FAILED", c.name(), c.detail());
        }
        boolean passed = checks.stream().allMatch(DemoReport.Check::passed);
        out.println(passed ? "All checks passed." : "Some checks FAILED.");
        out.flush();
        return passed ? 0 : 1;
    }

    /** The stored rows, read with the writer's own credential settings (harbor.writer.user/password, HARBOR_WRITER_USER/PASSWORD). */
    private Map<String, Set<Long>> rows() throws SQLException {
        Writer.Settings settings = Writer.Settings.of(database);
        Properties credentials = new Properties();
        if (settings.user() != null) {
            credentials.setProperty("user", settings.user());
        }
        if (settings.password() != null) {
            credentials.setProperty("password", settings.password());
        }
        return DemoRun.readRows(database, credentials);
    }

    private InetSocketAddress address(String hostPort) {
        URI u;
        try {
            u = new URI("tcp://" + hostPort.strip());
        } catch (java.net.URISyntaxException e) {
            u = null;
        }
        if (u == null || u.getHost() == null || u.getPort() < 0) {
            throw new ParameterException(spec.commandLine(), "--gateways: expected host:port, got '" + hostPort + "'");
        }
        return new InetSocketAddress(u.getHost(), u.getPort());
    }
}
