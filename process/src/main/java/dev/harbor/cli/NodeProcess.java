package dev.harbor.cli;

import dev.harbor.admin.NodeAdminService;
import dev.harbor.transport.Harbor;
import dev.harbor.service.LaunchException;
import dev.harbor.service.Node;
import dev.harbor.service.Service;
import dev.harbor.metrics.MetricsEndpoint;
import dev.harbor.metrics.NodeMetrics;
import dev.harbor.proto.NodeGrpc;
import dev.harbor.security.BearerAuth;
import dev.harbor.security.MalformedRequests;
import io.grpc.Server;
import io.grpc.ServerInterceptors;
import io.grpc.health.v1.HealthCheckResponse.ServingStatus;
import io.grpc.protobuf.services.HealthStatusManager;
import io.grpc.protobuf.services.ProtoReflectionServiceV1;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
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
 * executor) that serves the transport's links (behind the cluster's token, if it has one), the node's
 * admin API ({@link NodeAdminService}, its {@code Kill}, {@code KillMany}, {@code Stop}, {@code Abort}
 * and {@code Cordon} behind the token), the
 * extensions' services, the standard {@code grpc.health.v1.Health} service and server reflection;
 * plaintext or TLS as {@link NodeConfig#tls()} says. With {@code metrics.listen} set it also serves
 * its metrics ({@link NodeMetrics}) on {@code GET /metrics}.
 *
 * <p><b>Health.</b> {@code SERVING} (for the whole server, {@code ""}, and each of its services) once
 * the node has started and launched its services, while it hears from a majority of its cluster;
 * {@code NOT_SERVING} while it is cut off from the majority or starting a new life, and from the
 * moment it begins to drain or stop (a {@code Cordon}, which the coordinator sends when a run's first
 * step on this node starts; SIGTERM; {@code Stop}) for good, so load balancers and readiness probes
 * send no new work.
 *
 * <p><b>Membership</b> ({@link Harbor}): when the cluster declared this node's life lost, under
 * {@code membership.on-lost=rejoin} (the default) the transport ends the old life's services and
 * starts a new life; this process then waits until it is linked again to a majority of the nodes it
 * knew (at most {@link #RELINK_WAIT}, so a global name such as the writer's is checked against the
 * cluster's before it is taken again), relaunches the configured services and tells the extensions;
 * a node already cordoned or stopping relaunches nothing (it is being shut down).
 * Under {@code exit} it stops and {@link #exitCode()} is 3, for an orchestrator to restart it.
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
    /** How long a new life waits to be linked again to a majority of its former peers before relaunching its services anyway. */
    static final java.time.Duration RELINK_WAIT = java.time.Duration.ofSeconds(10);
    /** How long a new life keeps trying to relaunch a configured service that fails (a port still held, say). */
    static final java.time.Duration RELAUNCH_WAIT = java.time.Duration.ofSeconds(5);
    /** How long a stopping node waits for its Leaving notice to reach its peers. */
    private static final java.time.Duration LEAVE_WAIT = java.time.Duration.ofSeconds(1);
    /** The process's exit code when it stopped because the cluster declared its life lost (policy exit). */
    public static final int EXIT_DECLARED_LOST = 3;

    private final NodeConfig config;
    private final Node node;
    private final Harbor harbor;
    private final NodeAdminService admin;
    private final Server server;
    private final String advertise;
    private final List<NodeExtension> extensions;
    private final Health health;
    private final PrometheusMeterRegistry registry;
    private final NodeMetrics metrics;
    private final MetricsEndpoint metricsEndpoint;
    private final CountDownLatch stopped = new CountDownLatch(1);
    /** Guarded by this: whether a stop has begun. */
    private boolean stopping;
    private volatile int exitCode;

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
            List<NodeExtension> extensions, Health health, PrometheusMeterRegistry registry, NodeMetrics metrics,
            MetricsEndpoint metricsEndpoint) {
        this.health = health;
        this.registry = registry;
        this.metrics = metrics;
        this.metricsEndpoint = metricsEndpoint;
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
        MetricsEndpoint endpoint = null;
        NodeMetrics metrics = null;
        try {
            // The listener's calls come from the node's scheduler thread (the transport's link timer) or the
            // transport's new-life thread, once this process exists.
            Harbor.Listener membership = new Harbor.Listener() {
                @Override
                public void majorityChanged(boolean inMajority) {
                    self.thenAccept(p -> p.health.majority(inMajority));
                }

                @Override
                public void newLife(long incarnation, java.util.Set<Integer> formerPeers) {
                    self.thenAccept(p -> p.startNewLife(incarnation, formerPeers));
                }

                @Override
                public void declaredLost(String why) {
                    self.thenAccept(p -> p.exitDeclaredLost(why));
                }
            };
            Harbor.Builder hb = Harbor.builder(node).cluster(config.clusterName()).advertise(advertise.toString())
                    .peers(config.peers()).heartbeat(config.heartbeat()).lossTimeout(config.lossTimeout())
                    .onLost(config.onLost()).listener(membership)
                    .credentials(linkCredentials(config));
            if (config.dns() != null) {
                hb.dnsPeers(config.dns());
            }
            harbor = hb.build();
            // A Stop request can arrive as soon as the server is up, before this method has made the
            // process object: the stop thread waits for it (or learns that the start failed, which
            // has stopped everything already).
            // NOT_SERVING until the node has started; a Cordon may end it for good before that.
            Health health = new Health();
            // Exit streams announce the process's first life: the exit log and its numbering outlive a new
            // life in the process (see NodeAdminService#newLife).
            NodeAdminService admin = new NodeAdminService(node, harbor.incarnation(), new NodeAdminService.Host() {
                @Override
                public void stop() {
                    try {
                        self.join().stop();
                    } catch (CompletionException e) {
                        log.info("node {}: Stop requested while the start failed; nothing left to stop", config.nodeId());
                    }
                }

                @Override
                public void cordon() {
                    health.stopServing(); // later setStatus calls (the start's SERVING) are ignored
                }
            }, NodeAdminService.DEFAULT_MAX_QUEUED_EVENTS, config.limits().maxExitStreams());
            PrometheusMeterRegistry registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
            registry.config().commonTags("node", Integer.toString(config.nodeId()));
            metrics = new NodeMetrics(registry, node, harbor);
            List<NodeExtension> extensions = NodeExtension.installed();
            List<io.grpc.ServerServiceDefinition> extra = new java.util.ArrayList<>();
            java.util.Map<String, String> settings = new java.util.HashMap<>(config.extensionSettings());
            if (config.token() != null) {
                settings.put(NodeConfig.TOKEN, config.token()); // resolved from the token file, for the coordinator
            }
            // The cluster's configured members, for the coordinator to follow whether or not they are linked now.
            settings.put(NodeConfig.CLUSTER_PEERS, String.join(",", config.peers()));
            if (config.dns() != null) {
                settings.put(NodeConfig.CLUSTER_DNS, config.dns());
            }
            for (NodeExtension e : extensions) {
                try {
                    extra.addAll(e.prepare(node, harbor, java.util.Map.copyOf(settings)));
                    e.bindMetrics(registry);
                } catch (IllegalArgumentException | IllegalStateException bad) {
                    throw new StartException("node " + config.nodeId() + ": " + bad.getMessage(), 2, bad);
                }
            }
            BearerAuth auth = BearerAuth.forToken(config.token());
            if (auth.isOpen()) {
                log.warn("node {}: no token is configured ({} or {}): anyone who can reach {} can kill its"
                        + " services or stop it, or link to it as a node and send to its services",
                        config.nodeId(), NodeConfig.TOKEN_FILE, NodeConfig.envName(NodeConfig.TOKEN), advertise);
            }
            InetSocketAddress bind = listen.isWildcard() ? new InetSocketAddress(listen.port())
                    : new InetSocketAddress(listen.host(), listen.port());
            try {
                NettyServerBuilder sb = NettyServerBuilder.forAddress(bind, config.tls().serverCredentials())
                        .directExecutor()
                        // With a token, links too: a link can send to any service, a Drain among them.
                        .addService(MalformedRequests.guard(ServerInterceptors.intercept(harbor.linkService(), auth)))
                        .addService(MalformedRequests.guard(ServerInterceptors.intercept(admin, auth.only(List.of(
                                NodeGrpc.getKillMethod(), NodeGrpc.getKillManyMethod(), NodeGrpc.getStopMethod(),
                                NodeGrpc.getAbortMethod(), NodeGrpc.getCordonMethod())))))
                        .addService(ServerInterceptors.intercept(health.manager.getHealthService(), health.watches))
                        .addService(ProtoReflectionServiceV1.newInstance())
                        .addService(reflectionV1alpha())
                        .maxInboundMessageSize(config.limits().maxMessageBytes())
                        .maxConcurrentCallsPerConnection(config.limits().maxStreams())
                        // Exit subscribers ping every 10 s to notice half-open connections; allow it.
                        .permitKeepAliveTime(5, TimeUnit.SECONDS);
                extra.forEach(d -> sb.addService(MalformedRequests.guard(d)));
                server = sb.build().start();
            } catch (IOException e) {
                throw new StartException("node " + config.nodeId() + " cannot listen on " + listen + ": " + e.getMessage()
                        + ". Is another process using that port? Set " + NodeConfig.NODE_LISTEN + " (or "
                        + NodeConfig.envName(NodeConfig.NODE_LISTEN) + ") to a free host:port", 1, e);
            }
            if (config.metricsListen() != null) {
                NodeConfig.Address m = config.metricsListen();
                NodeMetrics sampled = metrics;
                try {
                    endpoint = MetricsEndpoint.start(m.isWildcard() ? new InetSocketAddress(m.port())
                            : new InetSocketAddress(m.host(), m.port()), registry, List.of(sampled::sample), new MetricsEndpoint.Probes() {
                                @Override
                                public boolean alive() {
                                    return !node.isStopped();
                                }

                                @Override
                                public boolean ready() {
                                    return serving(health.manager);
                                }
                            });
                } catch (IOException e) {
                    throw new StartException("node " + config.nodeId() + " cannot serve metrics on " + m + ": " + e.getMessage()
                            + ". Set " + NodeConfig.METRICS_LISTEN + " to a free host:port", 1, e);
                }
                log.info("node {}: metrics on http://{}:{}/metrics", config.nodeId(), m.host(), endpoint.port());
            }
            harbor.start();
            NodeProcess process = new NodeProcess(config, node, harbor, admin, server, advertise.toString(), extensions, health,
                    registry, metrics, endpoint);
            log.info("node {} of cluster '{}' listening on {}, advertised as {}, incarnation {}", node.id(),
                    config.clusterName(), listen, advertise, harbor.incarnation());
            process.launchServices(types);
            extensions.forEach(NodeExtension::started);
            health.started(server.getServices().stream().map(d -> d.getServiceDescriptor().getName()).toList());
            self.complete(process);
            return process;
        } catch (StartException | RuntimeException e) {
            self.completeExceptionally(e);
            node.stop();
            if (endpoint != null) {
                endpoint.close();
            }
            if (metrics != null) {
                metrics.close();
            }
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

    /**
     * The transport has started a new life (the old one's services have ended): once linked again to
     * a majority of the former peers, or after {@link #RELINK_WAIT}, relaunch the configured services
     * and tell the extensions. Runs on a thread of its own, so the transport's link timer goes on linking.
     */
    private void startNewLife(long incarnation, java.util.Set<Integer> formerPeers) {
        health.renewing(true);
        admin.newLife();
        Thread.ofVirtual().name("harbor-node-" + node.id() + "-new-life").start(() -> {
            long deadline = System.nanoTime() + RELINK_WAIT.toNanos();
            int needed = formerPeers.size() / 2 + 1; // a majority of the members counting this node
            // Polls the transport's view every 50 ms: a new life is rare, and a wait bounded by RELINK_WAIT.
            while (!isStopped() && harbor.connected().stream().filter(formerPeers::contains).count() + 1 < needed
                    && System.nanoTime() < deadline) {
                java.util.concurrent.locks.LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(50));
            }
            if (isStopped() || harbor.incarnation() != incarnation) {
                return; // stopped meanwhile, or yet another life began: that one relaunches
            }
            // The extensions first, as at start (the coordinator, which the services register with).
            for (NodeExtension e : extensions) {
                try {
                    e.newLife();
                } catch (RuntimeException ex) {
                    log.error("node {}: an extension failed to start its part of the new life: {}", node.id(), ex.toString(), ex);
                }
            }
            if (health.hasEnded()) {
                // Cordoned or stopping (a coordinator's run reached this node, or SIGTERM): the new life
                // launches none of the configured services, so the run shutting it down finds nothing new
                // to stop; the extensions have started theirs (the coordinator, to finish its run).
                log.info("node {}: new life {}: the node is cordoned or stopping; its configured services stay ended",
                        node.id(), incarnation);
                boolean hostsCoordinator = node.whereis(dev.harbor.shutdown.OrderedExit.COORDINATOR)
                        .map(h -> h.node() == node.id()).orElse(false);
                if (!hostsCoordinator) {
                    // The run shutting it down wrote its old life off while it was away: nobody is going to
                    // stop this one, so it finishes its own stop (exit 0), as it was being told to.
                    log.info("node {}: it was being shut down when its life was declared lost; it stops now", node.id());
                    Thread.ofPlatform().name("harbor-node-" + node.id() + "-stop-after-loss").start(this::stop);
                    return;
                }
            } else {
                log.info("node {}: new life {}: linked to {}; relaunching its services", node.id(), incarnation, harbor.connected());
                relaunchServices();
            }
            health.renewing(false);
        });
    }

    /** Policy exit: the cluster declared this life lost; stop, and exit with {@link #EXIT_DECLARED_LOST}. */
    private void exitDeclaredLost(String why) {
        log.error("node {}: the cluster declared this node's life lost ({}); {}=exit: stopping, exit code {}, for the"
                + " orchestrator to restart it", node.id(), why, NodeConfig.ON_LOST, EXIT_DECLARED_LOST);
        exitCode = EXIT_DECLARED_LOST;
        Thread.ofPlatform().name("harbor-node-" + node.id() + "-declared-lost").start(this::stop);
    }

    /** The exit code the process should end with: 0, or {@link #EXIT_DECLARED_LOST}. */
    public int exitCode() {
        return exitCode;
    }

    /**
     * Launches the configured services again in a new life, in order. What the old life held may take a
     * moment to let go (a gateway's listening port closes as its service ends), so a service that
     * fails to launch is tried again every 200 ms for up to {@link #RELAUNCH_WAIT}; then the failure is
     * logged and the next service launched. New-life thread.
     */
    private void relaunchServices() {
        List<Class<? extends Service>> types;
        try {
            types = serviceClasses(config);
        } catch (StartException e) {
            log.error("node {}: its new life cannot relaunch its services: {}", node.id(), e.getMessage());
            return;
        }
        List<NodeConfig.ServiceSpec> specs = config.services();
        for (int i = 0; i < specs.size(); i++) {
            long deadline = System.nanoTime() + RELAUNCH_WAIT.toNanos();
            while (true) {
                try {
                    log.info("node {}: relaunched {} as {}", node.id(), specs.get(i), node.launch(types.get(i), specs.get(i).args().toArray()));
                    break;
                } catch (LaunchException e) {
                    if (isStopped() || System.nanoTime() > deadline) {
                        log.error("node {}: its new life could not relaunch {} within {} s: {}", node.id(), specs.get(i),
                                RELAUNCH_WAIT.toSeconds(), e.getCause() != null ? e.getCause() : e);
                        break;
                    }
                    java.util.concurrent.locks.LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(200)); // then try again
                }
            }
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
                        + " the name, and add the jar that holds it: 'harbor node --classpath JAR_OR_FOLDER' (or HARBOR_CLASSPATH),"
                        + " or in the container image, a jar in /opt/harbor/services", 2, e);
            }
            if (!Service.class.isAssignableFrom(c)) {
                throw new StartException(NodeConfig.SERVICES + ": " + spec.className() + " is not a service: it must implement "
                        + Service.class.getName(), 2, null);
            }
            out.add(c.asSubclass(Service.class));
        }
        return out;
    }

    /**
     * The port for a listen address with port 0. It must be known before the server binds it (the
     * transport advertises it, and the server serves the transport), so it is not left to the bind:
     * {@link FreePorts} says why it is not an ephemeral one.
     */
    private static int freePort(NodeConfig.Address listen) throws StartException {
        try {
            return FreePorts.on(listen.isWildcard() ? null : InetAddress.getByName(listen.host()));
        } catch (IOException | IllegalStateException e) {
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

    /** The port of the metrics endpoint, or -1 if {@code metrics.listen} is not set. */
    public int metricsPort() {
        return metricsEndpoint == null ? -1 : metricsEndpoint.port();
    }

    /** The node's meters (served on {@code /metrics} if {@code metrics.listen} is set). */
    public PrometheusMeterRegistry registry() {
        return registry;
    }

    /**
     * Marks the node {@code NOT_SERVING} on its health service, for good: it is about to drain or stop
     * and wants no new work. Idempotent; any thread.
     */
    public void stopServing() {
        health.stopServing();
    }

    /**
     * The node's health service: {@code SERVING} once started, while in the majority and not starting a
     * new life; {@code NOT_SERVING} for good once {@link #stopServing} (ended once, since grpc's manager
     * logs a warning with a stack trace when told twice: a Cordon, then a Stop). Any thread: the state
     * is guarded by this object's lock, which also orders the manager's updates.
     */
    private static final class Health {
        /** Its open calls: a stopping node ends the Watch streams once they have heard NOT_SERVING. */
        final EndableStreams watches = new EndableStreams();
        final HealthStatusManager manager = new HealthStatusManager();
        private List<String> services = List.of();
        private boolean started;
        private boolean inMajority = true;
        private boolean renewing;
        private boolean ended;

        Health() {
            manager.setStatus(HealthStatusManager.SERVICE_NAME_ALL_SERVICES, ServingStatus.NOT_SERVING);
        }

        synchronized void started(List<String> serviceNames) {
            services = List.copyOf(serviceNames);
            started = true;
            apply();
        }

        synchronized void majority(boolean now) {
            inMajority = now;
            apply();
        }

        synchronized void renewing(boolean now) {
            renewing = now;
            apply();
        }

        synchronized boolean hasEnded() {
            return ended;
        }

        synchronized void stopServing() {
            if (!ended) {
                ended = true;
                manager.enterTerminalState();
            }
        }

        private void apply() {
            if (ended || !started) {
                return;
            }
            ServingStatus status = inMajority && !renewing ? ServingStatus.SERVING : ServingStatus.NOT_SERVING;
            for (String name : services) {
                manager.setStatus(name, status);
            }
            manager.setStatus(HealthStatusManager.SERVICE_NAME_ALL_SERVICES, status);
        }
    }

    /**
     * Whether the node's {@code grpc.health.v1} says SERVING for {@code ""}, asked of the health service
     * itself (it answers {@code Check} at once, on the calling thread), so HTTP and gRPC probes agree.
     */
    private static boolean serving(HealthStatusManager manager) {
        java.util.concurrent.atomic.AtomicReference<ServingStatus> status = new java.util.concurrent.atomic.AtomicReference<>();
        ((io.grpc.health.v1.HealthGrpc.HealthImplBase) manager.getHealthService()).check(
                io.grpc.health.v1.HealthCheckRequest.getDefaultInstance(), new io.grpc.stub.StreamObserver<>() {
                    @Override
                    public void onNext(io.grpc.health.v1.HealthCheckResponse r) {
                        status.set(r.getStatus());
                    }

                    @Override
                    public void onError(Throwable t) {
                        status.set(ServingStatus.UNKNOWN); // not known: not ready
                    }

                    @Override
                    public void onCompleted() {
                    }
                });
        return status.get() == ServingStatus.SERVING;
    }

    /**
     * Reflection as {@code grpc.reflection.v1alpha}, which older grpcurl and many tools still ask for
     * (grpc-java deprecates the class in favour of v1, which the node serves too).
     */
    @SuppressWarnings("deprecation")
    private static io.grpc.BindableService reflectionV1alpha() {
        return io.grpc.protobuf.services.ProtoReflectionService.newInstance();
    }

    /**
     * The credentials of this node's links to its peers: TLS as configured, and the cluster's token
     * when it has one (a node with a token takes links only with it).
     */
    private static io.grpc.ChannelCredentials linkCredentials(NodeConfig config) throws StartException {
        io.grpc.ChannelCredentials tls;
        try {
            tls = config.tls().channelCredentials();
        } catch (IllegalArgumentException e) {
            throw new StartException("node " + config.nodeId() + ": " + e.getMessage(), 2, e);
        }
        return BearerAuth.withToken(tls, config.token());
    }

    /** The port the server listens on. */
    public int port() {
        return server.getPort();
    }

    /**
     * Stops gracefully: the node (every service, then the monitor), the exit streams once they have
     * sent everything, the links, the health Watch streams (which heard NOT_SERVING at the start), the
     * server (waiting up to 5 s for calls still in progress).
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
            stopServing();
            node.stop();
            for (NodeExtension e : extensions) {
                e.close();
            }
            admin.close();
            harbor.leave("node " + node.id() + " stopped", LEAVE_WAIT);
            harbor.close();
            metrics.close();
            if (metricsEndpoint != null) {
                metricsEndpoint.close();
            }
            // Health Watch streams (load balancers, probes) never end on their own: they heard
            // NOT_SERVING when the stop began; end them, so the server need not wait for them.
            health.watches.endAll(io.grpc.Status.UNAVAILABLE.withDescription("node " + node.id() + " stopped"));
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
        stopServing();
        log.info("node {}: told to stop; draining in order first (budget {} ms); health says NOT_SERVING", node.id(),
                budget.toMillis());
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
