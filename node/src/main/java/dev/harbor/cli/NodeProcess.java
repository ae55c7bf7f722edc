package dev.harbor.cli;

import dev.harbor.admin.NodeAdminService;
import dev.harbor.harbor.Harbor;
import dev.harbor.service.LaunchException;
import dev.harbor.service.Node;
import dev.harbor.service.Service;
import io.grpc.InsecureServerCredentials;
import io.grpc.Server;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A running node: its {@link Node}, its {@link Harbor} transport, and one gRPC server (direct
 * executor) that serves both the transport's links and the node's admin API
 * ({@link NodeAdminService}).
 *
 * <p>{@link #start} builds and starts all of it and launches the configured services; {@link #stop}
 * takes it down gracefully, in the order that lets everyone hear everything: the node first (every
 * service ends, and peers and exit-stream subscribers get each exit event), then the exit streams
 * are ended once they have sent every event, then the links, then the server.
 *
 * <p>Thread-safety: {@link #stop} may be called from any thread, any number of times (a SIGTERM hook
 * and an admin {@code Stop} may race); the first call stops, the others wait until it is done.
 */
public final class NodeProcess implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(NodeProcess.class);
    private static final long SERVER_DRAIN_SECONDS = 5;

    private final NodeConfig config;
    private final Node node;
    private final Harbor harbor;
    private final NodeAdminService admin;
    private final Server server;
    private final String advertise;
    private final List<NodeExtension> extensions;
    private final CountDownLatch stopped = new CountDownLatch(1);
    /** Guarded by this: whether a stop has begun. */
    private boolean stopping;

    /** Why a node process could not start, with the exit code the command line should use. */
    public static final class StartException extends Exception {
        private static final long serialVersionUID = 1L;
        private final int exitCode;

        StartException(String message, int exitCode, Throwable cause) {
            super(message, cause);
            this.exitCode = exitCode;
        }

        /** 2 for a setting that cannot work (a service class that does not exist), 1 for anything else. */
        public int exitCode() {
            return exitCode;
        }
    }

    private NodeProcess(NodeConfig config, Node node, Harbor harbor, NodeAdminService admin, Server server, String advertise,
            List<NodeExtension> extensions) {
        this.config = config;
        this.extensions = List.copyOf(extensions);
        this.advertise = advertise;
        this.node = node;
        this.harbor = harbor;
        this.admin = admin;
        this.server = server;
    }

    /**
     * Starts a node as {@code config} says: node, transport, server, then the configured services in
     * order. If anything fails, whatever was started is stopped again before this throws.
     *
     * @throws StartException saying what failed and what to do about it
     */
    public static NodeProcess start(NodeConfig config) throws StartException {
        List<Class<? extends Service>> types = serviceClasses(config);
        NodeConfig.Address listen = config.listen();
        NodeConfig.Address advertise = config.advertise();
        if (listen.port() == 0) {
            int port = freePort(listen);
            listen = listen.withPort(port);
            if (advertise.port() == 0) {
                advertise = advertise.withPort(port);
            }
        }

        Node node = Node.builder().id(config.nodeId()).exitRetention(config.exitRetention()).build();
        CompletableFuture<NodeProcess> self = new CompletableFuture<>();
        Harbor harbor = null;
        Server server = null;
        try {
            Harbor.Builder hb = Harbor.builder(node).cluster(config.clusterName()).advertise(advertise.toString())
                    .peers(config.peers()).heartbeat(config.heartbeat()).lossTimeout(config.lossTimeout());
            if (config.dns() != null) {
                hb.dnsPeers(config.dns());
            }
            harbor = hb.build();
            // A Stop request can arrive as soon as the server is up, before this method has made the
            // process object: the stop thread waits for it (or learns that the start failed, which
            // has stopped everything already).
            NodeAdminService admin = new NodeAdminService(node, harbor.incarnation(), () -> {
                try {
                    self.join().stop();
                } catch (CompletionException e) {
                    log.info("node {}: Stop requested while the start failed; nothing left to stop", config.nodeId());
                }
            });
            List<NodeExtension> extensions = NodeExtension.installed();
            List<io.grpc.ServerServiceDefinition> extra = new java.util.ArrayList<>();
            for (NodeExtension e : extensions) {
                try {
                    extra.addAll(e.prepare(node, harbor, config.extensionSettings()));
                } catch (IllegalArgumentException | IllegalStateException bad) {
                    throw new StartException("node " + config.nodeId() + ": " + bad.getMessage(), 2, bad);
                }
            }
            InetSocketAddress bind = listen.isWildcard() ? new InetSocketAddress(listen.port())
                    : new InetSocketAddress(listen.host(), listen.port());
            try {
                NettyServerBuilder sb = NettyServerBuilder.forAddress(bind, InsecureServerCredentials.create())
                        .directExecutor()
                        .addService(harbor.linkService())
                        .addService(admin)
                        // Exit subscribers ping every 10 s to notice half-open connections; allow it.
                        .permitKeepAliveTime(5, TimeUnit.SECONDS);
                extra.forEach(sb::addService);
                server = sb.build().start();
            } catch (IOException e) {
                throw new StartException("node " + config.nodeId() + " cannot listen on " + listen + ": " + e.getMessage()
                        + ". Is another process using that port? Set " + NodeConfig.NODE_LISTEN + " (or "
                        + NodeConfig.envName(NodeConfig.NODE_LISTEN) + ") to a free host:port", 1, e);
            }
            harbor.start();
            NodeProcess process = new NodeProcess(config, node, harbor, admin, server, advertise.toString(), extensions);
            log.info("node {} of cluster '{}' listening on {}, advertised as {}, incarnation {}", node.id(),
                    config.clusterName(), listen, advertise, harbor.incarnation());
            process.launchServices(types);
            extensions.forEach(NodeExtension::started);
            self.complete(process);
            return process;
        } catch (StartException | RuntimeException e) {
            self.completeExceptionally(e);
            node.stop();
            if (harbor != null) {
                harbor.close();
            }
            if (server != null) {
                server.shutdownNow();
            }
            if (e instanceof StartException se) {
                throw se;
            }
            throw new StartException("node " + config.nodeId() + " failed to start: " + e, 1, e);
        }
    }

    private void launchServices(List<Class<? extends Service>> types) throws StartException {
        List<NodeConfig.ServiceSpec> specs = config.services();
        for (int i = 0; i < specs.size(); i++) {
            NodeConfig.ServiceSpec spec = specs.get(i);
            try {
                var handle = node.launch(types.get(i), spec.args().toArray());
                log.info("node {}: launched {} as {}", node.id(), spec, handle);
            } catch (LaunchException e) {
                Throwable cause = e.getCause() != null ? e.getCause() : e;
                throw new StartException("node " + config.nodeId() + ": the service " + spec + " (from " + NodeConfig.SERVICES
                        + ") failed to launch: " + cause + ". Fix the service or its arguments; the node did not start", 1, e);
            }
        }
    }

    /** Resolves every configured service class before anything starts, so a typo costs no bind. */
    private static List<Class<? extends Service>> serviceClasses(NodeConfig config) throws StartException {
        List<Class<? extends Service>> out = new ArrayList<>();
        ClassLoader loader = Thread.currentThread().getContextClassLoader();
        for (NodeConfig.ServiceSpec spec : config.services()) {
            Class<?> c;
            try {
                c = Class.forName(spec.className(), false, loader != null ? loader : NodeProcess.class.getClassLoader());
            } catch (ClassNotFoundException | LinkageError e) {
                throw new StartException(NodeConfig.SERVICES + ": no class " + spec.className() + " on the class path: check"
                        + " the name, and put the jar that holds it in the node's lib/ directory", 2, e);
            }
            if (!Service.class.isAssignableFrom(c)) {
                throw new StartException(NodeConfig.SERVICES + ": " + spec.className() + " is not a service: it must implement "
                        + Service.class.getName(), 2, null);
            }
            out.add(c.asSubclass(Service.class));
        }
        return out;
    }

    private static int freePort(NodeConfig.Address listen) throws StartException {
        try (ServerSocket s = listen.isWildcard() ? new ServerSocket(0) : new ServerSocket(0, 1, InetAddress.getByName(listen.host()))) {
            return s.getLocalPort();
        } catch (IOException e) {
            throw new StartException("cannot find a free port on " + listen.host() + ": " + e.getMessage(), 1, e);
        }
    }

    /** The node. */
    public Node node() {
        return node;
    }

    /** The node's transport. */
    public Harbor harbor() {
        return harbor;
    }

    /** The host:port peers and tools reach this node at (with the real port if the config said 0). */
    public String advertise() {
        return advertise;
    }

    /** The port the server listens on. */
    public int port() {
        return server.getPort();
    }

    /**
     * Stops gracefully: the node (every service, then the monitor), the exit streams once they have
     * sent everything, the links, the server (waiting up to 5 s for calls in progress).
     *
     * @return true if this call did the stopping; false if another call had begun it (this one then
     *     waits until it is done)
     */
    public boolean stop() {
        synchronized (this) {
            if (stopping) {
                awaitQuietly();
                return false;
            }
            stopping = true;
        }
        try {
            log.info("node {}: stopping", node.id());
            node.stop();
            for (NodeExtension e : extensions) {
                e.close();
            }
            admin.close();
            harbor.close();
            server.shutdown();
            if (!server.awaitTermination(SERVER_DRAIN_SECONDS, TimeUnit.SECONDS)) {
                log.warn("node {}: calls still open {} s after the stop began; closing them", node.id(), SERVER_DRAIN_SECONDS);
                server.shutdownNow();
            }
            log.info("node {}: stopped", node.id());
        } catch (InterruptedException e) {
            log.warn("node {}: interrupted while stopping; closing the server at once", node.id());
            server.shutdownNow();
            Thread.currentThread().interrupt();
        } finally {
            stopped.countDown();
        }
        return true;
    }

    /**
     * Stops as {@link #stop} does, after letting the {@linkplain NodeExtension extensions} drain the
     * node in order within {@code budget} (SIGTERM: {@code docker stop}, a deleted pod).
     *
     * @return as {@link #stop}
     */
    public boolean drainThenStop(java.time.Duration budget) {
        synchronized (this) {
            if (stopping) {
                awaitQuietly();
                return false;
            }
        }
        log.info("node {}: told to stop; draining in order first (budget {} ms)", node.id(), budget.toMillis());
        for (NodeExtension e : extensions) {
            try {
                e.drain(budget);
            } catch (RuntimeException ex) {
                log.error("node {}: the ordered drain failed ({}); stopping directly", node.id(), ex.toString(), ex);
            }
        }
        return stop();
    }

    private void awaitQuietly() {
        try {
            stopped.await();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt(); // the caller sees the flag; the stop goes on in its own thread
        }
    }

    /** Waits until the process has been stopped (by {@link #stop}, an admin {@code Stop}, or SIGTERM). */
    public void awaitStopped() throws InterruptedException {
        stopped.await();
    }

    /** Whether a stop has finished. */
    public boolean isStopped() {
        return stopped.getCount() == 0;
    }

    @Override
    public void close() {
        stop();
    }
}
