package dev.harbor.it;

import dev.harbor.demo.ChatSession;
import dev.harbor.demo.run.DemoTarget;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import org.awaitility.core.ConditionTimeoutException;
import org.testcontainers.containers.wait.strategy.Wait;

/**
 * The demo's cluster in containers, as the compose file runs it: PostgreSQL (the project's
 * {@linkplain HarborImage#postgres() image} from Debian's package) and three nodes on the cluster's
 * internal network: node 1 hosts the coordinator and a gateway, node 2 a gateway, node 3 the writer on
 * {@code jdbc:postgresql://postgres:5432/harbor}; the gateways depend on node 3, so it stops last.
 * Seen by {@link dev.harbor.demo.run.DemoRun} as a {@link DemoTarget}: every address is a port the cluster
 * publishes on loopback (nodes' gRPC, gateways' clients, PostgreSQL for reading the rows after the run).
 *
 * <p>A test may declare more nodes on {@link #cluster()} before {@link #start()}. Threading: built and
 * started by the test's thread; {@link #awaitExit} is called by {@code DemoRun}'s thread and
 * {@link #unattended} by a hook's, so the set of unattended nodes is concurrent.
 */
final class ContainerDemo implements DemoTarget, AutoCloseable {
    static final int GATEWAY_PORT = 9000;
    static final int POSTGRES_PORT = 5432;
    static final int WRITER_NODE = 3;
    private static final String DB_PASSWORD = "it-demo-db-7c31";

    private final ContainerCluster c;
    /** Nodes a fault test has killed or cut off: {@link #awaitExit} reports them as they are, without waiting. */
    private final Set<Integer> unattended = ConcurrentHashMap.newKeySet();

    ContainerDemo(String name) {
        c = new ContainerCluster(name);
        ContainerCluster.ClusterContainer postgres = c.add("postgres", HarborImage.postgres())
                .withEnv("POSTGRES_PASSWORD", DB_PASSWORD)
                .withExposedPorts(POSTGRES_PORT)
                .waitingFor(Wait.forLogMessage(".*database system is ready to accept connections.*\\n", 1)
                        .withStartupTimeout(Duration.ofSeconds(60)));
        Map<String, String> gatewayNode = Map.of("HARBOR_NODE_DEPENDS_ON", Integer.toString(WRITER_NODE));
        c.coordinatorNode(1, gateway(), gatewayNode).addExposedPort(GATEWAY_PORT);
        c.node(2, gateway(), gatewayNode).addExposedPort(GATEWAY_PORT);
        c.node(WRITER_NODE, "dev.harbor.writer.Writer(jdbc:postgresql://postgres:" + POSTGRES_PORT + "/harbor)",
                Map.of("HARBOR_WRITER_USER", "harbor", "HARBOR_WRITER_PASSWORD", DB_PASSWORD)).dependsOn(postgres);
    }

    private static String gateway() {
        return "dev.harbor.gateway.Gateway(0.0.0.0:" + GATEWAY_PORT + ";" + ChatSession.class.getName() + ")";
    }

    ContainerCluster cluster() {
        return c;
    }

    void start() {
        c.start();
    }

    /** From now on {@link #awaitExit} does not wait for node {@code id} (killed, or cut off from its peers). */
    void unattended(int id) {
        unattended.add(id);
    }

    @Override
    public List<Integer> nodes() {
        return List.copyOf(c.ids());
    }

    @Override
    public String address(int id) {
        ContainerCluster.ClusterContainer n = c.container(id);
        return n.getHost() + ":" + n.getMappedPort(ContainerCluster.PORT);
    }

    @Override
    public int coordinatorNode() {
        return CoordinatedCluster.COORDINATOR_NODE;
    }

    @Override
    public String token() {
        return ContainerCluster.TOKEN;
    }

    @Override
    public List<InetSocketAddress> gateways() {
        return List.of(1, 2).stream().map(c::container).map(n -> new InetSocketAddress(n.getHost(), n.getMappedPort(GATEWAY_PORT))).toList();
    }

    @Override
    public String databaseUrl() {
        ContainerCluster.ClusterContainer pg = c.container("postgres");
        return "jdbc:postgresql://" + pg.getHost() + ":" + pg.getMappedPort(POSTGRES_PORT) + "/harbor?user=harbor&password=" + DB_PASSWORD;
    }

    /** Each node container's exit code; null for one still running after {@code within}, or unattended and running. */
    @Override
    public Map<Integer, Integer> awaitExit(Duration within) {
        long deadline = System.nanoTime() + within.toNanos();
        Map<Integer, Integer> codes = new TreeMap<>();
        for (int id : c.ids()) {
            if (unattended.contains(id)) {
                Long code = c.exitCode(id);
                codes.put(id, code == null ? null : code.intValue());
                continue;
            }
            try {
                codes.put(id, (int) c.awaitExit(id, Duration.ofNanos(Math.max(1, deadline - System.nanoTime()))));
            } catch (ConditionTimeoutException e) {
                codes.put(id, null); // DemoReport says "still running"; the test's assertions fail on it
            }
        }
        return codes;
    }

    @Override
    public void close() {
        c.close();
    }
}
