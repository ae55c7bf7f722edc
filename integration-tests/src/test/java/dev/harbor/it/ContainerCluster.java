package dev.harbor.it;

import static org.awaitility.Awaitility.await;

import com.github.dockerjava.api.DockerClient;
import com.github.dockerjava.api.command.InspectContainerResponse;
import dev.harbor.proto.ListServicesRequest;
import dev.harbor.proto.NodeGrpc;
import dev.harbor.proto.ServiceInfo;
import io.grpc.Grpc;
import io.grpc.InsecureChannelCredentials;
import io.grpc.ManagedChannel;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.testcontainers.DockerClientFactory;
import org.testcontainers.containers.GenericContainer;
import org.testcontainers.containers.Network;
import org.testcontainers.containers.output.Slf4jLogConsumer;
import org.testcontainers.containers.wait.strategy.Wait;
import org.testcontainers.lifecycle.Startables;
import org.testcontainers.utility.DockerImageName;
import org.testcontainers.utility.MountableFile;

/**
 * A Harbor cluster in containers, the Testcontainers equivalent of the root {@code docker-compose.yml}:
 * node containers from the project's {@linkplain HarborImage image} (node 1 hosts the coordinator) and
 * any other container a test adds, on one <b>internal</b> Docker network ({@link #network}), where each
 * container is reached by its alias ({@code node1}, {@code node2}..., or the alias given to
 * {@link #add}). The internal network has no route off this machine.
 *
 * <p>Docker publishes no port of a container that has only internal networks, so each container is
 * also attached to a second bridge network of its own ({@code edge}), used only for the ports it
 * publishes: the test reaches each node's gRPC port (admin API, coordinator API) at
 * {@code localhost:<mapped>}. The nodes know each other only by their aliases on the internal network,
 * so all cluster traffic, and what {@link #disconnect} cuts, is there; nothing sends anything
 * through {@code edge} but the test.
 *
 * <p>Usage: declare the containers ({@link #coordinatorNode}, {@link #node}, {@link #add}), then
 * {@link #start()} starts them all at once; {@link #close()} removes them and the networks.
 *
 * <p>Threading: built and used by the test's thread; the containers' logs are forwarded by
 * Testcontainers' own threads.
 */
final class ContainerCluster implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(ContainerCluster.class);
    static final int PORT = 7700;
    static final String TOKEN = "it-container-secret-41d9";
    /** How long a node's SIGTERM drain may take: the node's own constant (NodeCommand.DRAIN_BUDGET), read from it. */
    static final Duration DRAIN_BUDGET = nodeDrainBudget();
    /** What docker stop waits before SIGKILL: the SIGTERM drain's budget and a margin, as in the compose file. */
    static final int GRACE_SECONDS = 30;
    /** After this much silence a node is lost (harbor.loss-timeout-ms). */
    static final long LOSS_TIMEOUT_MS = 5_000;

    final String name;
    /** The internal network the cluster lives on. */
    final Network network;
    private final Network edge;
    private final Map<Integer, ClusterContainer> nodes = new TreeMap<>();
    /** Every container, nodes included, by alias. */
    private final Map<String, ClusterContainer> containers = new LinkedHashMap<>();
    private final List<ManagedChannel> channels = new ArrayList<>();
    private ManagedChannel coordinatorChannel;

    ContainerCluster(String name) {
        this.name = name;
        this.network = Network.builder().createNetworkCmdModifier(cmd -> cmd.withName("harbor-it-" + name + "-" + System.nanoTime())
                .withInternal(true)).build();
        this.edge = Network.newNetwork();
    }

    /** A {@link Registered} service's spec (no journal: a container cannot write the test's files); {@code mode} as there. */
    static String registered(String serviceName, String role, long drainTimeoutMs, String mode) {
        return registered(serviceName, role, drainTimeoutMs, "", mode);
    }

    /** As {@link #registered(String, String, long, String)}, depending on the roles {@code dependsOn} (joined by '+'). */
    static String registered(String serviceName, String role, long drainTimeoutMs, String dependsOn, String mode) {
        return "dev.harbor.it.Registered(" + String.join(";", serviceName, role, Long.toString(drainTimeoutMs), dependsOn, mode) + ")";
    }

    /** A {@link Pinger}'s spec: it calls each of {@code targets} every 200 ms. */
    static String pinger(String serviceName, String... targets) {
        return "dev.harbor.it.Pinger(" + serviceName + ";" + String.join("+", targets) + ";200)";
    }

    private static Duration nodeDrainBudget() {
        try {
            java.lang.reflect.Field f = Class.forName("dev.harbor.cli.NodeCommand").getDeclaredField("DRAIN_BUDGET");
            f.setAccessible(true);
            return (Duration) f.get(null);
        } catch (ReflectiveOperationException e) {
            throw new IllegalStateException("the node's SIGTERM drain budget (NodeCommand.DRAIN_BUDGET) is gone: update the tests", e);
        }
    }

    static String alias(int id) {
        return "node" + id;
    }

    /** Declares node {@code id}, hosting the coordinator, launching {@code services}. Every node holds {@link #TOKEN}. */
    ClusterContainer coordinatorNode(int id, String services) {
        return coordinatorNode(id, services, Map.of());
    }

    /** As {@link #coordinatorNode(int, String)}, with more {@code HARBOR_*} settings in {@code env}. */
    ClusterContainer coordinatorNode(int id, String services, Map<String, String> env) {
        Map<String, String> all = new LinkedHashMap<>(env);
        all.put("HARBOR_COORDINATOR_ENABLED", "true");
        return node(id, services, all);
    }

    ClusterContainer node(int id, String services) {
        return node(id, services, Map.of());
    }

    /**
     * Declares node {@code id} launching {@code services} (the config's {@code services}, may use the
     * test services), with more {@code HARBOR_*} settings in {@code env}. Its peers are every node
     * declared by {@link #start()}.
     */
    ClusterContainer node(int id, String services, Map<String, String> env) {
        ClusterContainer c = add(alias(id), HarborImage.name())
                .withEnv("HARBOR_NODE_ID", Integer.toString(id))
                .withEnv("HARBOR_NODE_ADVERTISE", alias(id) + ":" + PORT)
                .withEnv("HARBOR_CLUSTER_NAME", "it-" + name)
                .withEnv("HARBOR_SERVICES", services)
                // The cluster's token on every node: the coordinator's, and links, Kill, Stop and Abort on each node take it.
                .withEnv("HARBOR_COORDINATOR_TOKEN", TOKEN)
                // Four JVMs starting at once on a shared 2-core machine can starve a link's heartbeats for
                // seconds: a loss bound of 5 s (not 2 s) keeps start-up from declaring live nodes lost; and
                // a JVM that compiles less and collects with one thread leaves the cores to the nodes' work.
                .withEnv("HARBOR_HARBOR_LOSS_TIMEOUT_MS", Long.toString(LOSS_TIMEOUT_MS))
                .withEnv("HARBOR_JAVA_OPTS", "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC")
                .withEnv(env)
                .withCopyFileToContainer(MountableFile.forHostPath(HarborImage.servicesJar(), 0644), HarborImage.SERVICES_DIR + "it-services.jar")
                .withExposedPorts(PORT)
                .waitingFor(Wait.forLogMessage(".*harbor node " + id + " ready on .*\\n", 1).withStartupTimeout(Duration.ofSeconds(90)));
        nodes.put(id, c);
        return c;
    }

    /**
     * Declares a container of {@code image} (built locally: it is never pulled) on the cluster's internal
     * network under {@code alias}, started with the nodes by {@link #start()}: a database, a client
     * driver, another role. Configure its environment, exposed ports (published on loopback) and wait
     * strategy on the returned container.
     */
    ClusterContainer add(String alias, String image) {
        if (containers.containsKey(alias)) {
            throw new IllegalArgumentException("cluster " + name + " already has a container " + alias);
        }
        ClusterContainer c = new ClusterContainer(image, edge)
                .withImagePullPolicy(i -> false)
                .withNetwork(network)
                .withNetworkAliases(alias)
                .withLogConsumer(new Slf4jLogConsumer(LoggerFactory.getLogger("container." + alias)))
                .withLabel("dev.harbor.it.cluster", name)
                .withLabel("dev.harbor.it.alias", alias)
                .withCreateContainerCmdModifier(cmd -> cmd.withName("harbor-it-" + name + "-" + alias + "-" + Long.toHexString(System.nanoTime())));
        containers.put(alias, c);
        return c;
    }

    /** Starts every declared container at once and waits until each is ready (a node: it says so). */
    void start() {
        String peers = nodes.keySet().stream().map(id -> alias(id) + ":" + PORT).collect(Collectors.joining(","));
        nodes.values().forEach(c -> c.withEnv("HARBOR_CLUSTER_PEERS", peers));
        Startables.deepStart(containers.values()).join();
        log.info("cluster {}: started {}", name, containers.keySet());
    }

    /** The container declared under {@code alias}. */
    ClusterContainer container(String alias) {
        ClusterContainer c = containers.get(alias);
        if (c == null) {
            throw new IllegalArgumentException("no container " + alias + " in cluster " + name + ": there are " + containers.keySet());
        }
        return c;
    }

    ClusterContainer container(int id) {
        ClusterContainer c = nodes.get(id);
        if (c == null) {
            throw new IllegalArgumentException("no node " + id + " in cluster " + name + ": nodes are " + nodes.keySet());
        }
        return c;
    }

    private DockerClient docker() {
        return DockerClientFactory.instance().client();
    }

    /** A gRPC channel to node {@code id}'s published port, closed with the cluster. */
    ManagedChannel channel(int id) {
        ClusterContainer c = container(id);
        ManagedChannel ch = Grpc.newChannelBuilder(c.getHost() + ":" + c.getMappedPort(PORT), InsecureChannelCredentials.create()).build();
        channels.add(ch);
        return ch;
    }

    NodeGrpc.NodeBlockingStub admin(int id) {
        return NodeGrpc.newBlockingStub(channel(id));
    }

    NodeGrpc.NodeStub adminAsync(int id) {
        return NodeGrpc.newStub(channel(id));
    }

    /** The coordinator's API on node 1's published port, with {@link #TOKEN}. */
    synchronized CoordinatorClient coordinator() {
        if (coordinatorChannel == null) {
            coordinatorChannel = channel(CoordinatedCluster.COORDINATOR_NODE);
        }
        return new CoordinatorClient(coordinatorChannel, TOKEN);
    }

    List<ServiceInfo> services(int id) {
        return admin(id).withDeadlineAfter(10, TimeUnit.SECONDS).listServices(ListServicesRequest.getDefaultInstance()).getServicesList();
    }

    Optional<ServiceInfo> find(int id, String serviceName) {
        return services(id).stream().filter(s -> s.getNamesList().contains(serviceName)).findFirst();
    }

    /** {@code docker kill}: SIGKILL to node {@code id}'s JVM, no drain. */
    void kill(int id) {
        docker().killContainerCmd(container(id).getContainerId()).exec();
    }

    /** {@code docker stop -t GRACE_SECONDS}: SIGTERM, then SIGKILL if still running after the grace period. Returns when stopped. */
    void stop(int id) {
        docker().stopContainerCmd(container(id).getContainerId()).withTimeout(GRACE_SECONDS).exec();
    }

    /** {@code docker network disconnect}: cuts node {@code id} off the cluster's network; the test still reaches it on edge. */
    void disconnect(int id) {
        docker().disconnectFromNetworkCmd().withNetworkId(network.getId()).withContainerId(container(id).getContainerId()).exec();
    }

    /** {@code docker network connect}: puts node {@code id} back on the cluster's network, under its alias: the partition heals. */
    void reconnect(int id) {
        docker().connectToNetworkCmd().withNetworkId(network.getId()).withContainerId(container(id).getContainerId())
                .withContainerNetwork(new com.github.dockerjava.api.model.ContainerNetwork().withAliases(alias(id))).exec();
    }

    private InspectContainerResponse.ContainerState state(int id) {
        return docker().inspectContainerCmd(container(id).getContainerId()).exec().getState();
    }

    boolean running(int id) {
        return Boolean.TRUE.equals(state(id).getRunning());
    }

    /** Node {@code id}'s container's exit code, or null while it runs. */
    Long exitCode(int id) {
        InspectContainerResponse.ContainerState s = state(id);
        return Boolean.TRUE.equals(s.getRunning()) ? null : s.getExitCodeLong();
    }

    /** Waits until node {@code id}'s container has exited; returns its exit code. */
    long awaitExit(int id, Duration within) {
        await().atMost(within).pollInterval(Duration.ofMillis(100)).until(() -> !running(id));
        return state(id).getExitCodeLong();
    }

    /** Node {@code id}'s container's logs (stdout and stderr) so far. */
    String logs(int id) {
        return container(id).getLogs();
    }

    /**
     * Waits until every node has linked to every other (each logged "linked to node N"): only then has
     * each node every other node's own list of its services (a node learns a peer's services from the
     * Hello on the peer's link to it), so a verdict on one publishes an exit event for each of them.
     */
    void awaitFullyLinked() {
        await().atMost(Duration.ofSeconds(30)).until(() -> ids().stream().allMatch(a -> ids().stream()
                .allMatch(b -> a.equals(b) || logs(a).contains("node " + a + ": linked to node " + b + " at"))));
    }

    java.util.Set<Integer> ids() {
        return nodes.keySet();
    }

    @Override
    public void close() {
        channels.forEach(ManagedChannel::shutdownNow);
        containers.values().forEach(GenericContainer::stop);
        network.close();
        edge.close();
    }

    /**
     * A container of the cluster. Docker creates a container on one network only, and publishes its
     * ports only if a non-internal network is connected before it starts: so it is created on the
     * internal network with its alias, and connected to {@code edge} between create and start.
     */
    static final class ClusterContainer extends GenericContainer<ClusterContainer> {
        private final Network edge;

        ClusterContainer(String image, Network edge) {
            super(DockerImageName.parse(image));
            this.edge = edge;
        }

        @Override
        protected void containerIsCreated(String containerId) {
            DockerClientFactory.instance().client().connectToNetworkCmd().withNetworkId(edge.getId()).withContainerId(containerId).exec();
        }
    }
}
