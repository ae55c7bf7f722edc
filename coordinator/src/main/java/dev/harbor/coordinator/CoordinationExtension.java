package dev.harbor.coordinator;

import dev.harbor.cli.NodeConfig;
import dev.harbor.cli.NodeExtension;
import dev.harbor.transport.Harbor;
import dev.harbor.plan.Plan;
import dev.harbor.proto.RegisterNode;
import dev.harbor.service.Cancellable;
import dev.harbor.service.Node;
import dev.harbor.shutdown.OrderedExit;
import io.grpc.ServerServiceDefinition;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The coordinator's part of every node process: on the node whose config says
 * {@code coordinator.enabled=true} it hosts the coordinator; on every node it tells the coordinator
 * which nodes this one depends on ({@code node.depends-on}), and on SIGTERM it drains the node in
 * order ({@link LocalDrain}). It also adds {@code plan} and {@code shutdown} to the command line.
 *
 * <p>Threading: called on the node process's start and stop threads; the node-registration loop runs
 * on its own timer thread and only sends calls.
 */
public final class CoordinationExtension implements NodeExtension {
    private static final Logger log = LoggerFactory.getLogger(CoordinationExtension.class);
    public static final String ENABLED = "coordinator.enabled";
    /** The cluster's token: a node key ({@link NodeConfig#TOKEN}), handed to this extension resolved from its file. */
    public static final String TOKEN = NodeConfig.TOKEN;
    public static final String OPEN = "coordinator.open";
    public static final String STATE_DIR = "coordinator.state-dir";
    public static final String BUDGET_MS = "coordinator.budget-ms";
    public static final String DEPENDS_ON = "node.depends-on";

    private Node node;
    private CoordinatorHost host;
    private List<Integer> dependsOn = List.of();
    /** Tells the coordinator this node's dependencies every few seconds; null if it has none. */
    private Cancellable registrar;

    @Override
    public List<String> keys() {
        return List.of(ENABLED, OPEN, STATE_DIR, BUDGET_MS, DEPENDS_ON);
    }

    @Override
    public Map<String, String> keyHelp() {
        return Map.of(ENABLED, "true to host the shutdown coordinator on this node (default false)",
                OPEN, "true to serve the coordinator's API without a token (default false: a token is required)",
                STATE_DIR, "where the coordinator keeps its run record (default harbor-coordinator-<node.id>, in the working directory)",
                BUDGET_MS, "the budget of a Shutdown or Plan call that names none, in ms (default 30000)",
                DEPENDS_ON, "comma-separated ids of the nodes this node depends on: it stops before them");
    }

    @Override
    public List<ServerServiceDefinition> prepare(Node node, Harbor harbor, Map<String, String> s) {
        this.node = node;
        this.dependsOn = nodeIds(s.getOrDefault(DEPENDS_ON, ""));
        if (!dependsOn.isEmpty()) {
            // Launched before the node serves: the list of services every exit stream starts with carries
            // the dependencies, so a coordinator knows them as soon as it sees the node.
            String deps = String.join(",", dependsOn.stream().map(String::valueOf).toList());
            node.launch(() -> new dev.harbor.service.Service() {
                @Override
                public void init(dev.harbor.service.ServiceContext ctx) {
                    ctx.tag(ClusterView.NODE_DEPENDS_ON_TAG, deps);
                }

                @Override
                public Object receive(dev.harbor.service.ServiceContext ctx, dev.harbor.service.Message m) {
                    return null;
                }
            });
        }
        if (!bool(s, ENABLED)) {
            return List.of();
        }
        String token = s.get(TOKEN); // read from coordinator.token-file by the node's config, if that is set
        Duration budget = Duration.ofMillis(number(s, BUDGET_MS, 30_000));
        Path state = Path.of(s.getOrDefault(STATE_DIR, "harbor-coordinator-" + node.id()));
        List<String> peers = List.of(s.getOrDefault(NodeConfig.CLUSTER_PEERS, "").split(",")).stream()
                .map(String::strip).filter(p -> !p.isEmpty()).toList();
        host = new CoordinatorHost(node, harbor, token, bool(s, OPEN), state, budget, Plan.Timeouts.DEFAULT, peers,
                s.get(NodeConfig.CLUSTER_DNS));
        return List.of(host.api());
    }

    @Override
    public void bindMetrics(io.micrometer.core.instrument.MeterRegistry registry) {
        if (host != null) {
            host.bindMetrics(registry);
        }
    }

    @Override
    public void started() {
        if (host != null) {
            host.start();
        }
        if (!dependsOn.isEmpty()) {
            // Also told to the coordinator directly (the node-info service's tag says it to any coordinator
            // that reads this node's stream), and again every few seconds. The node's scheduler: the call
            // is only started there, never waited for.
            registrar = node.scheduler().repeat(this::tellCoordinator, Duration.ZERO, Duration.ofSeconds(3));
        }
    }

    private void tellCoordinator() {
        if (node.whereis(OrderedExit.COORDINATOR).isEmpty()) {
            return;
        }
        node.call(OrderedExit.COORDINATOR, RegisterNode.newBuilder().setNode(node.id()).addAllDependsOn(dependsOn).build(),
                Duration.ofSeconds(5)).whenComplete((ok, error) -> {
                    if (error != null) {
                        log.debug("node {}: the coordinator did not take this node's dependencies yet: {}", node.id(), error.toString());
                    }
                });
    }

    @Override
    public void newLife() {
        if (host != null) {
            host.newLife();
        }
    }

    @Override
    public void drain(Duration budget) {
        if (node != null) {
            LocalDrain.drain(node, budget);
        }
    }

    @Override
    public void close() {
        if (registrar != null) {
            registrar.cancel();
        }
        if (host != null) {
            host.close();
        }
    }

    @Override
    public List<Object> commands() {
        return List.of(new PlanCommand(), new ShutdownCommand());
    }

    private static boolean bool(Map<String, String> s, String key) {
        String v = s.getOrDefault(key, "false");
        return switch (v) {
            case "true" -> true;
            case "false" -> false;
            default -> throw new IllegalArgumentException(key + " must be true or false, not '" + v + "'");
        };
    }

    private static long number(Map<String, String> s, String key, long fallback) {
        String v = s.get(key);
        if (v == null) {
            return fallback;
        }
        try {
            long n = Long.parseLong(v);
            if (n <= 0 || n > 0xFFFF_FFFFL) {
                throw new NumberFormatException();
            }
            return n;
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException(key + " must be a number of milliseconds from 1 to 4294967295 (a budget on the"
                    + " wire is a uint32), not '" + v + "'");
        }
    }

    private static List<Integer> nodeIds(String list) {
        List<Integer> out = new ArrayList<>();
        for (String part : list.split(",")) {
            if (part.isBlank()) {
                continue;
            }
            try {
                int id = Integer.parseInt(part.strip());
                if (id < 1 || id > 65535) {
                    throw new NumberFormatException();
                }
                out.add(id);
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException(DEPENDS_ON + " must list node ids 1-65535 separated by commas, not '" + list + "'");
            }
        }
        return List.copyOf(out);
    }
}
