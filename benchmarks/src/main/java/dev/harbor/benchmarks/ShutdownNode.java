package dev.harbor.benchmarks;

import dev.harbor.cli.NodeConfig;
import dev.harbor.cli.NodeProcess;
import dev.harbor.proto.Drain;
import dev.harbor.service.Handle;
import dev.harbor.service.Message;
import dev.harbor.service.Node;
import dev.harbor.service.Service;
import dev.harbor.service.ServiceContext;
import dev.harbor.shutdown.OrderedExit;
import java.io.FileOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/**
 * One node of {@link ShutdownOverhead}, run in its own JVM by {@link ChildJvm}: a real node process
 * ({@link NodeProcess}, as {@code harbor node --config FILE} runs it, with the node extensions found on
 * the class path, so the coordinator hosts itself where the config says {@code coordinator.enabled=true})
 * plus the benchmark's services.
 *
 * <pre>
 * ShutdownNode CONFIG LOG LOGGING DRAIN_MS REGISTERED STATELESS
 * </pre>
 *
 * <ul>
 *   <li>{@code CONFIG}: the node's properties file ({@link NodeConfig}; the environment is not read, so
 *       no stray {@code HARBOR_*} variable changes the set-up).</li>
 *   <li>{@code LOG}: the file the node's standard error, and so its log, is redirected to.</li>
 *   <li>{@code LOGGING}: {@code node} to log as a {@code harbor node} process does
 *       ({@code dev/harbor/cli/logback.xml}: {@code dev.harbor} at INFO, so one line per service exit
 *       from the default monitor and one per admin {@code Kill}); {@code quiet} for the benchmarks'
 *       own {@code logback.xml} (warnings only).</li>
 *   <li>{@code DRAIN_MS}: the drain timeout every registered service registers with.</li>
 *   <li>{@code REGISTERED}: how many registered services of each role of {@link ShutdownOverhead#ROLES}
 *       to launch, comma-separated in that order. Each registers from its init with
 *       {@code OrderedExit.register(ctx, role, DRAIN_MS, dependsOn...)} and, on the coordinator's
 *       {@link Drain}, calls {@code ctx.exit()} at once.</li>
 *   <li>{@code STATELESS}: how many unregistered idle services to launch (one shared handler that
 *       ignores every message); the plan's stateless step kills them.</li>
 * </ul>
 *
 * <p>Before launching anything it waits until the coordinator's global name resolves on this node and
 * the link to the coordinator's node is up, so every registration is also a call to the running
 * coordinator (not only a tag it would have to find in the node's alive list). The name alone is not
 * enough: it can arrive over the other node's link before this node's link back is up, and a
 * registration's call then fails (UNREACHABLE), which fails the service's launch. Then it prints {@code READY <services launched>} and runs until the node is
 * stopped (the coordinator's {@code Stop}), when it exits 0 as the node process does; or until its
 * standard input ends (the parent closed it or died), when it exits regardless.
 */
public final class ShutdownNode {

    /** The stateless service: ignores every message. One shared instance. */
    private static final Service IDLE = (ctx, m) -> null;

    private ShutdownNode() {
    }

    /** A registered service that drains at once: on {@link Drain} it exits. */
    static final class Drainer implements Service {
        private final String role;
        private final Duration drainTimeout;
        private final String[] dependsOn;

        Drainer(String role, Duration drainTimeout, String... dependsOn) {
            this.role = role;
            this.drainTimeout = drainTimeout;
            this.dependsOn = dependsOn;
        }

        @Override
        public void init(ServiceContext ctx) {
            OrderedExit.register(ctx, role, drainTimeout, dependsOn);
        }

        @Override
        public Object receive(ServiceContext ctx, Message m) {
            if (m.payload() instanceof Drain) {
                ctx.exit();
            }
            return null;
        }
    }

    private static boolean coordinatorReachable(NodeProcess process) {
        return process.node().whereis(OrderedExit.COORDINATOR)
                .filter(h -> h.node() == process.node().id() || process.harbor().connected().contains(h.node())).isPresent();
    }

    public static void main(String[] args) throws Exception {
        if (args.length != 6) {
            System.err.println("usage: ShutdownNode CONFIG LOG node|quiet DRAIN_MS REGISTERED(comma-separated, per role) STATELESS");
            System.exit(2);
        }
        Path config = Path.of(args[0]);
        Path logFile = Path.of(args[1]);
        boolean nodeLogging = switch (args[2]) {
            case "node" -> true;
            case "quiet" -> false;
            default -> throw new IllegalArgumentException("LOGGING must be node or quiet, not " + args[2]);
        };
        Duration drain = Duration.ofMillis(Long.parseLong(args[3]));
        String[] perRole = args[4].split(",");
        int stateless = Integer.parseInt(args[5]);
        if (perRole.length != ShutdownOverhead.ROLES.size()) {
            throw new IllegalArgumentException("expected " + ShutdownOverhead.ROLES.size() + " counts, one per role of "
                    + ShutdownOverhead.ROLES + ", got " + args[4]);
        }
        ChildJvm.exitWhenParentGoes();

        // Log into the log file (set before any logger exists), as the node process does unless quiet.
        System.setErr(new PrintStream(new FileOutputStream(logFile.toFile(), true), true, StandardCharsets.UTF_8));
        if (nodeLogging && System.getProperty("logback.configurationFile") == null) {
            System.setProperty("logback.configurationFile", "dev/harbor/cli/logback.xml");
        }

        NodeProcess process = NodeProcess.start(NodeConfig.load(config, Map.of()));
        Node node = process.node();
        long deadline = System.nanoTime() + BenchSupport.TIMEOUT.toNanos();
        // The name can resolve (it came in on the coordinator's node's link to this one) before this
        // node's own link back is up, and a registration's call would then fail UNREACHABLE and fail
        // the launch: wait for both.
        while (!coordinatorReachable(process)) {
            if (System.nanoTime() > deadline) {
                throw new IllegalStateException("node " + node.id() + ": the coordinator was not reachable by name within "
                        + BenchSupport.TIMEOUT.toSeconds() + " s");
            }
            Thread.sleep(10);
        }

        List<CompletableFuture<Handle>> launched = new ArrayList<>();
        for (int r = 0; r < perRole.length; r++) {
            ShutdownOverhead.RoleSpec role = ShutdownOverhead.ROLES.get(r);
            int count = Integer.parseInt(perRole[r].strip());
            for (int i = 0; i < count; i++) {
                launched.add(node.launchAsync(() -> new Drainer(role.name(), drain, role.dependsOn().toArray(String[]::new))));
            }
        }
        for (int i = 0; i < stateless; i++) {
            launched.add(node.launchAsync(() -> IDLE));
        }
        CompletableFuture.allOf(launched.toArray(CompletableFuture[]::new)).get(BenchSupport.TIMEOUT.toSeconds(), TimeUnit.SECONDS);

        System.out.println(ChildJvm.READY + " " + launched.size());
        System.out.flush();
        // Stopped by the coordinator (admin Stop): exit 0, as `harbor node` does. The watchdog exits
        // the JVM instead if the parent goes first.
        process.awaitStopped();
        System.exit(0);
    }
}
