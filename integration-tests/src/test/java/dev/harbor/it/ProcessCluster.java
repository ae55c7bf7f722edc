package dev.harbor.it;

import dev.harbor.cli.FreePorts;
import dev.harbor.transport.Harbor;
import dev.harbor.proto.NodeGrpc;
import dev.harbor.security.BearerAuth;
import dev.harbor.service.Node;
import io.grpc.ChannelCredentials;
import io.grpc.Grpc;
import io.grpc.InsecureChannelCredentials;
import io.grpc.InsecureServerCredentials;
import io.grpc.ManagedChannel;
import io.grpc.Server;
import io.grpc.util.MutableHandlerRegistry;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;

/**
 * A cluster of node processes on loopback, plus a driver: a node inside the test JVM that joins the
 * cluster so tests can send and call like any service would.
 */
final class ProcessCluster implements AutoCloseable {
    static final int DRIVER = 99;
    private static final Duration READY = Duration.ofSeconds(60);

    private final String name;
    private final Path dir;
    private final Map<Integer, String> addresses = new TreeMap<>();
    private final Map<Integer, NodeProcess> processes = new TreeMap<>();
    private final List<ManagedChannel> channels = new ArrayList<>();
    private final Map<Integer, String> services = new TreeMap<>();
    private final Map<Integer, Map<String, String>> extras = new TreeMap<>();
    /**
     * Config lines every node gets (TLS; the token comes from {@link #token}), and the credentials the
     * test's own channels use.
     */
    private Map<String, String> common = Map.of();
    private ChannelCredentials credentials = InsecureChannelCredentials.create();
    /** The cluster's token (null: none) and its file, which every node started gets ({@link #token}). */
    private String token;
    private Path tokenFile;
    Node driver;
    private Harbor driverHarbor;
    /**
     * The driver's gRPC server, listening from the start on a port the system gave it (a port picked
     * free and bound later could be taken meanwhile by an outgoing connection of the node processes);
     * its link service is added by {@link #startDriver}.
     */
    private final Server driverServer;
    private final MutableHandlerRegistry driverServices = new MutableHandlerRegistry();

    ProcessCluster(String name, int... ids) {
        this.name = name;
        try {
            Path base = Paths.get("target", "clusters");
            Files.createDirectories(base);
            this.dir = Files.createTempDirectory(base, name + "-");
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        for (int id : ids) {
            addresses.put(id, "127.0.0.1:" + FreePorts.loopback());
        }
        try {
            driverServer = Grpc.newServerBuilderForPort(0, InsecureServerCredentials.create()).directExecutor()
                    .fallbackHandlerRegistry(driverServices).build().start();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        addresses.put(DRIVER, "127.0.0.1:" + driverServer.getPort());
    }

    /**
     * From now on every node started gets {@code keys} in its config (such as {@code tls.*}), and the
     * test's channels to the nodes use {@code channelCredentials}. Call before starting nodes.
     */
    void secure(Map<String, String> keys, ChannelCredentials channelCredentials) {
        this.common = Map.copyOf(keys);
        this.credentials = channelCredentials;
    }

    /**
     * Gives every node started from now on the cluster's {@code token} (in {@code file}), as every node
     * of a real cluster has it: each node then takes links, and Kill, Stop and Abort, only with it. The
     * driver's and the embedded nodes' links and the test's admin calls carry it. Call before starting nodes.
     */
    void token(String token, Path file) {
        this.token = token;
        this.tokenFile = file;
    }

    /** Starts node {@code id} as a process that launches {@code serviceList} (the config's {@code services}). */
    NodeProcess start(int id, String serviceList) {
        return start(id, serviceList, Map.of());
    }

    /**
     * Starts node {@code id} as {@link #start(int, String)} does, with {@code extra} config lines (such as
     * the coordinator's keys) added to its properties file.
     */
    NodeProcess start(int id, String serviceList, Map<String, String> extra) {
        services.put(id, serviceList);
        extras.put(id, Map.copyOf(extra));
        List<String> extraLines = new ArrayList<>();
        Map<String, String> all = new TreeMap<>(common);
        if (token != null) {
            all.put("coordinator.token-file", tokenFile.toString());
        }
        all.putAll(extra);
        all.forEach((k, v) -> extraLines.add(k + "=" + v));
        String address = addresses.get(id);
        Path config = dir.resolve("node-" + id + ".properties");
        String peers = String.join(",", addresses.values());
        try {
            Files.writeString(config, String.join("\n",
                    "node.id=" + id,
                    "node.listen=" + address,
                    "node.advertise=" + address,
                    "cluster.name=" + name,
                    "cluster.peers=" + peers,
                    "services=" + serviceList,
                    String.join("\n", extraLines),
                    ""));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        Path log = dir.resolve("node-" + id + "-" + System.nanoTime() + ".log");
        NodeProcess p = NodeProcess.start(id, address, config, log, READY);
        processes.put(id, p);
        return p;
    }

    /**
     * Starts node {@code id} as an application that embeds a node ({@link EmbeddedNode}): it links to the
     * cluster and serves no admin API. Stopped with the cluster, like the node processes.
     */
    NodeProcess startEmbedded(int id) {
        Path log = dir.resolve("embedded-" + id + "-" + System.nanoTime() + ".log");
        NodeProcess p = NodeProcess.startEmbedded(id, addresses.get(id), name, List.copyOf(addresses.values()), token, log,
                READY);
        processes.put(id, p);
        return p;
    }

    /** Starts node {@code id} again with the services and extra config lines it had. */
    NodeProcess restart(int id) {
        return start(id, services.get(id), extras.getOrDefault(id, Map.of()));
    }

    /** This cluster's own directory (configs, logs, and whatever files a test keeps there). */
    Path dir() {
        return dir;
    }

    /** The host:port node {@code id} serves on. */
    String address(int id) {
        return addresses.get(id);
    }

    NodeProcess process(int id) {
        return processes.get(id);
    }

    /** Starts the driver node in this JVM, with default heartbeats and loss timeout. */
    Node startDriver() {
        driver = Node.builder().id(DRIVER).build();
        String address = addresses.get(DRIVER);
        driverHarbor = Harbor.builder(driver).cluster(name).advertise(address).peers(List.copyOf(addresses.values()))
                .credentials(BearerAuth.withToken(InsecureChannelCredentials.create(), token)).build();
        driverServices.addService(driverHarbor.linkService());
        driverHarbor.start();
        return driver;
    }

    Harbor driverHarbor() {
        return driverHarbor;
    }

    /** The admin API of node {@code id}. */
    NodeGrpc.NodeBlockingStub admin(int id) {
        NodeGrpc.NodeBlockingStub stub = NodeGrpc.newBlockingStub(channel(id));
        return token == null ? stub : stub.withCallCredentials(BearerAuth.credentials(token));
    }

    NodeGrpc.NodeStub adminAsync(int id) {
        NodeGrpc.NodeStub stub = NodeGrpc.newStub(channel(id));
        return token == null ? stub : stub.withCallCredentials(BearerAuth.credentials(token));
    }

    ManagedChannel channel(int id) {
        ManagedChannel c = Grpc.newChannelBuilder(addresses.get(id), credentials).build();
        channels.add(c);
        return c;
    }


    @Override
    public void close() {
        for (ManagedChannel c : channels) {
            c.shutdownNow();
        }
        for (NodeProcess p : processes.values()) {
            p.destroy();
        }
        if (driver != null) {
            driver.stop();
            driverHarbor.close();
        }
        driverServer.shutdownNow();
        try {
            driverServer.awaitTermination(5, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
