package dev.harbor.demo.run;

import dev.harbor.demo.ChatSession;
import dev.harbor.cli.ChildNode;
import dev.harbor.cli.FreePorts;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/**
 * The demo's three node processes on loopback, each a {@code harbor node} JVM started from this
 * program's own class path: node 1 hosts the shutdown coordinator and a gateway, node 2 a gateway,
 * node 3 the writer. Nodes 1 and 2 depend on node 3, so it stops last. Everything the run leaves
 * (configs, logs, the H2 database, the coordinator's state) is under one directory.
 *
 * <p>Not thread-safe: one thread starts and stops it.
 */
public final class DemoCluster implements DemoTarget, AutoCloseable {
    public static final int COORDINATOR_NODE = 1;
    public static final int WRITER_NODE = 3;
    private static final Duration READY = Duration.ofSeconds(60);

    private final Path dir;
    private final String token;
    private final String databaseUrl;
    private final Map<Integer, String> addresses = new LinkedHashMap<>();
    private final Map<Integer, InetSocketAddress> gateways = new LinkedHashMap<>();
    private final Map<Integer, Process> processes = new LinkedHashMap<>();

    /**
     * @param dir where configs, logs and (for H2) the database go; created if missing
     * @param databaseUrl the writer's JDBC URL, or null for an H2 file database under {@code dir}
     */
    public DemoCluster(Path dir, String databaseUrl) {
        this.dir = dir.toAbsolutePath();
        this.databaseUrl = databaseUrl != null ? databaseUrl : "jdbc:h2:file:" + this.dir.resolve("db").resolve("chat");
        byte[] secret = new byte[16];
        new SecureRandom().nextBytes(secret);
        this.token = HexFormat.of().formatHex(secret);
        for (int id = 1; id <= 3; id++) {
            addresses.put(id, "127.0.0.1:" + FreePorts.loopback());
        }
        gateways.put(1, new InetSocketAddress("127.0.0.1", FreePorts.loopback()));
        gateways.put(2, new InetSocketAddress("127.0.0.1", FreePorts.loopback()));
    }

    /** Starts the three nodes and waits until each says it is ready. */
    public void start() throws IOException {
        Files.createDirectories(dir);
        String peers = String.join(",", addresses.values());
        Map<Integer, Path> configs = new LinkedHashMap<>();
        for (int id = 1; id <= 3; id++) {
            StringBuilder config = new StringBuilder();
            config.append("node.id=").append(id).append('\n')
                    .append("node.listen=").append(addresses.get(id)).append('\n')
                    .append("cluster.name=harbor-demo\n")
                    .append("cluster.peers=").append(peers).append('\n')
                    // The cluster's token: Shutdown needs it, and so do the links, Kill, Stop and Abort on every node.
                    .append("coordinator.token=").append(token).append('\n');
            if (id == COORDINATOR_NODE) {
                config.append("coordinator.enabled=true\n")
                        .append("coordinator.state-dir=").append(dir.resolve("coordinator")).append('\n');
            }
            if (id == WRITER_NODE) {
                config.append("services=dev.harbor.writer.Writer(").append(databaseUrl).append(")\n");
            } else {
                InetSocketAddress g = gateways.get(id);
                config.append("services=dev.harbor.gateway.Gateway(").append(g.getHostString()).append(':').append(g.getPort())
                        .append(';').append(ChatSession.class.getName()).append(")\n")
                        .append("node.depends-on=").append(WRITER_NODE).append('\n');
            }
            Path file = dir.resolve("node-" + id + ".properties");
            Files.writeString(file, config.toString());
            // It holds the token: its owner's only.
            Files.setPosixFilePermissions(file, java.nio.file.attribute.PosixFilePermissions.fromString("rw-------"));
            configs.put(id, file);
        }
        // The three JVMs start side by side; each is waited for until it is ready.
        Map<Integer, CompletableFuture<Process>> starting = new LinkedHashMap<>();
        try (var threads = java.util.concurrent.Executors.newVirtualThreadPerTaskExecutor()) {
            for (var c : configs.entrySet()) {
                int id = c.getKey();
                starting.put(id, CompletableFuture.supplyAsync(() -> {
                    try {
                        return ChildNode.start(List.of("-Xmx512m", "-XX:+UseSerialGC", "--enable-native-access=ALL-UNNAMED"), id,
                                addresses.get(id), c.getValue(), log(id), READY);
                    } catch (IOException e) {
                        throw new UncheckedIOException("cannot start a JVM for node " + id + ": " + e.getMessage(), e);
                    }
                }, threads));
            }
        }
        IllegalStateException failed = null;
        for (var e : starting.entrySet()) {
            try {
                processes.put(e.getKey(), e.getValue().join());
            } catch (java.util.concurrent.CompletionException x) {
                failed = new IllegalStateException("demo " + x.getCause().getMessage(), x.getCause());
            }
        }
        if (failed != null) {
            close();
            throw failed;
        }
    }

    @Override
    public int coordinatorNode() {
        return COORDINATOR_NODE;
    }

    /** The directory of the run. */
    public Path dir() {
        return dir;
    }

    /** Where node {@code id} writes its log. */
    public Path log(int id) {
        return dir.resolve("node-" + id + ".log");
    }

    /** The coordinator's bearer token (random for each run). */
    @Override
    public String token() {
        return token;
    }

    /** The writer's JDBC URL. */
    @Override
    public String databaseUrl() {
        return databaseUrl;
    }

    /** host:port of node {@code id}'s gRPC server. */
    @Override
    public String address(int id) {
        return addresses.get(id);
    }

    /** Node ids, in order. */
    @Override
    public List<Integer> nodes() {
        return new ArrayList<>(addresses.keySet());
    }

    /** The two gateways' client addresses. */
    @Override
    public List<InetSocketAddress> gateways() {
        return List.copyOf(gateways.values());
    }

    /** The node process of {@code id}. */
    public Process process(int id) {
        return processes.get(id);
    }

    /**
     * Waits for every node process to exit.
     *
     * @return each node's exit code, or null for one still running when {@code within} ran out
     */
    @Override
    public Map<Integer, Integer> awaitExit(Duration within) throws InterruptedException {
        long deadline = System.nanoTime() + within.toNanos();
        Map<Integer, Integer> codes = new LinkedHashMap<>();
        for (var e : processes.entrySet()) {
            long left = Math.max(0, deadline - System.nanoTime());
            codes.put(e.getKey(), e.getValue().waitFor(left, TimeUnit.NANOSECONDS) ? e.getValue().exitValue() : null);
        }
        return codes;
    }

    /** Kills whatever node process is still running (kill -9): for runs that failed. */
    @Override
    public void close() {
        processes.values().forEach(p -> {
            if (p.isAlive()) {
                p.destroyForcibly();
            }
        });
    }

}
