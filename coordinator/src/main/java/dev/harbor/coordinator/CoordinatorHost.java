package dev.harbor.coordinator;

import dev.harbor.admin.ExitSubscriber;
import dev.harbor.security.BearerAuth;
import dev.harbor.wire.Wire;
import dev.harbor.service.ExitEvent;
import dev.harbor.transport.Harbor;
import dev.harbor.plan.Plan;
import dev.harbor.service.Cancellable;
import dev.harbor.service.Handle;
import dev.harbor.service.Node;
import dev.harbor.service.ServiceInfo;
import io.grpc.Grpc;
import io.grpc.ManagedChannel;
import io.grpc.ServerInterceptors;
import io.grpc.ServerServiceDefinition;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicBoolean;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Hosts the coordinator on a node: launches the coordinator service, follows the exit stream of every
 * node (this one included) and feeds it to the service, and serves the {@code Coordinator} gRPC API
 * behind the bearer-token check.
 *
 * <p>Threading: exit-stream callbacks (gRPC threads) only send messages to the coordinator service;
 * the exit streams wait out their reconnection backoff on the node's scheduler, which also looks for
 * new peers once a second; the {@code cluster.dns} lookup, which can block, runs on a virtual thread of
 * its own, one at a time, and follows what it finds from there. The maps here are concurrent.
 */
public final class CoordinatorHost implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(CoordinatorHost.class);
    /** How long an escalated step waits for the kill's exit event before it ends as lost. */
    static final Duration ESCALATION_GRACE = Duration.ofSeconds(1);

    private final Node node;
    private final Harbor harbor;
    /** The coordinator service of the node's current life: replaced by {@link #newLife}, read by any thread. */
    private volatile Handle coordinator;
    private final CoordinatorService.Settings settings;
    private final ServerServiceDefinition api;
    /** The once-a-second look for new peers on the node's scheduler; null until {@link #start}. */
    private volatile Cancellable poll;
    /** Set while a lookup of {@code dns} runs: one at a time. */
    private final AtomicBoolean looking = new AtomicBoolean();
    /** Set by {@link #close}: a lookup that ends after it follows nothing. */
    private volatile boolean closed;
    private final Map<String, ExitSubscriber> feeds = new ConcurrentHashMap<>();
    private final Map<Integer, String> addresses = new ConcurrentHashMap<>();
    private final Map<String, ManagedChannel> channels = new ConcurrentHashMap<>();
    /** Sent with the coordinator's calls to nodes' Kill, KillMany and Stop; null if the cluster has none. */
    private final String token;
    private final CoordinatorMetrics metrics = new CoordinatorMetrics();
    private final java.util.List<String> peers;
    private final String dns;

    /**
     * @param token the bearer token callers must present, or null to run open (refused unless
     *     {@code open} is true)
     * @param stateDir where the run in progress is recorded, to be finished after a restart
     */
    public CoordinatorHost(Node node, Harbor harbor, String token, boolean open, Path stateDir, Duration defaultBudget,
            Plan.Timeouts timeouts) {
        this(node, harbor, token, open, stateDir, defaultBudget, timeouts, java.util.List.of(), null);
    }

    /**
     * @param peers the cluster's configured node addresses ({@code cluster.peers}): followed whether or
     *     not the transport links them now
     * @param dns a name:port resolving to the nodes ({@code cluster.dns}), or null: each address it
     *     resolves to is followed from then on
     */
    public CoordinatorHost(Node node, Harbor harbor, String token, boolean open, Path stateDir, Duration defaultBudget,
            Plan.Timeouts timeouts, java.util.List<String> peers, String dns) {
        this.peers = java.util.List.copyOf(peers);
        this.dns = dns;
        if (token == null && !open) {
            throw new IllegalStateException("the coordinator has no token: set coordinator.token-file or HARBOR_COORDINATOR_TOKEN,"
                    + " or coordinator.open=true to let anyone who reaches it stop the cluster");
        }
        if (token == null) {
            log.warn("THE COORDINATOR RUNS OPEN: anyone who can reach node {} at {} can shut the cluster down", node.id(),
                    harbor.advertise());
        }
        this.node = node;
        this.harbor = harbor;
        this.token = token;
        this.settings = new CoordinatorService.Settings(defaultBudget, timeouts,
                ESCALATION_GRACE, stateDir == null ? null : new RunRecord(stateDir), metrics);
        this.coordinator = node.launch(this::newCoordinator);
        this.api = ServerInterceptors.intercept(new CoordinatorApi(node, () -> coordinator), BearerAuth.forToken(token));
    }

    /** A coordinator service for this host's node (launched at start, and again in each new life). */
    private CoordinatorService newCoordinator() {
        return new CoordinatorService(settings, this::admin, harbor::peerAddresses, harbor::missingPeerAddresses);
    }

    /** Serves the coordinator's meters ({@link CoordinatorMetrics}) through {@code registry} too. */
    public void bindMetrics(io.micrometer.core.instrument.MeterRegistry registry) {
        metrics.bindTo(registry);
    }

    /** The {@code Coordinator} gRPC service, behind the token check; add it to the node's server. */
    public ServerServiceDefinition api() {
        return api;
    }

    /** The coordinator service's handle. */
    public Handle coordinator() {
        return coordinator;
    }

    /**
     * The node started a new life (its cluster declared the old one lost), which ended the coordinator
     * service: launches it again, as a restarted coordinator (it finishes a recorded run in progress),
     * and follows every node's exit stream afresh so it learns the whole cluster again. The node
     * process's new-life thread.
     */
    public void newLife() {
        coordinator = node.launch(this::newCoordinator);
        log.info("coordinator: relaunched as {} in node {}'s new life", coordinator, node.id());
        List<String> followed = List.copyOf(feeds.keySet());
        List<ExitSubscriber> old = List.copyOf(feeds.values());
        feeds.clear();
        old.forEach(ExitSubscriber::close);
        // Every address followed in the old life is followed again: a node is not forgotten by a new life.
        node.scheduler().schedule(() -> {
            followed.forEach(this::follow);
            followNewNodes();
        }, Duration.ZERO);
    }

    /** Starts following the nodes' exit streams. Call once the node's server is up. */
    public void start() {
        poll = node.scheduler().repeat(this::followNewNodes, Duration.ZERO, Duration.ofSeconds(1));
    }

    /**
     * Follows every node it knows of: this one, the configured peers, the DNS name's answers and every
     * peer the transport links. An address once followed is followed for good (its subscriber retries):
     * a node the transport lost is not forgotten, it is judged by its own stream and admin API.
     */
    private void followNewNodes() {
        follow(harbor.advertise());
        peers.forEach(this::follow);
        if (dns != null && looking.compareAndSet(false, true)) {
            Thread.ofVirtual().name("harbor-coordinator-dns").start(this::lookUpDns);
        }
        harbor.peerAddresses().values().forEach(this::follow);
        // The exit streams list the services alive when they (re)connect; services launched since
        // become known from their registration message or from this poll of each node's list.
        for (Map.Entry<Integer, String> n : addresses.entrySet()) {
            int id = n.getKey();
            admin(id).list(dev.harbor.proto.ListServicesRequest.getDefaultInstance(),
                    list -> node.send(coordinator, new Feed.Listed(id, list.getServicesList())),
                    error -> log.debug("coordinator: cannot list node {}'s services: {}", id, error));
        }
    }

    /** Follows every address {@code dns} resolves to now. Its own virtual thread (a resolver can take seconds). */
    private void lookUpDns() {
        int colon = dns.lastIndexOf(':');
        try {
            for (java.net.InetAddress a : java.net.InetAddress.getAllByName(dns.substring(0, colon))) {
                String host = a.getHostAddress();
                follow((host.contains(":") ? "[" + host + "]" : host) + dns.substring(colon));
            }
        } catch (java.net.UnknownHostException e) {
            log.debug("coordinator: {} does not resolve now: {}", dns, e.toString());
        } finally {
            looking.set(false);
        }
    }

    private void follow(String address) {
        if (closed) {
            return;
        }
        feeds.computeIfAbsent(address, a -> {
            node.send(coordinator, new Feed.Known(0, a));
            return ExitSubscriber.builder(a, new Forward(a)).credentials(harbor.credentials()).scheduler(node.scheduler())
                    .backoff(Duration.ofMillis(200), Duration.ofSeconds(2)).start();
        });
    }

    private AdminClient admin(int nodeId) {
        String address = addresses.get(nodeId);
        if (address == null) {
            return AdminClient.unreachable("the coordinator has no address for node " + nodeId + ": its exit stream never connected");
        }
        ManagedChannel channel = channels.computeIfAbsent(address, a -> Grpc.newChannelBuilder(a, harbor.credentials()).build());
        // Each call is meant for now: after a node restarted, gRPC's reconnect backoff (it grows to
        // minutes while the node was down) would fail it at once without trying the node that is back.
        channel.resetConnectBackoff();
        return new AdminClient(channel, token);
    }

    private static String describe(io.grpc.Status s) {
        return s.getCode() + (s.getDescription() == null ? "" : ": " + s.getDescription());
    }

    @Override
    public void close() {
        closed = true;
        Cancellable p = poll;
        if (p != null) {
            p.cancel();
        }
        feeds.values().forEach(ExitSubscriber::close);
        channels.values().forEach(ManagedChannel::shutdownNow);
    }

    /** Hands one node's exit stream to the coordinator service as messages, in order. */
    private final class Forward implements ExitSubscriber.Listener {
        private final String address;
        private volatile int nodeId;

        Forward(String address) {
            this.address = address;
        }

        @Override
        public void onIdentity(ExitSubscriber.Identity identity) {
            nodeId = identity.node();
            addresses.put(identity.node(), address);
            node.send(coordinator, new Feed.Identity(identity.node(), identity.incarnation(), address));
        }

        @Override
        public void onAlive(ServiceInfo service) {
            node.send(coordinator, new Feed.Alive(service.handle().node(), Wire.service(service)));
        }

        @Override
        public void onExit(ExitEvent event) {
            node.send(coordinator, new Feed.Exit(nodeId, Wire.exit(event)));
        }

        @Override
        public void onCaughtUp(long lastSeq) {
            node.send(coordinator, new Feed.CaughtUp(nodeId));
        }

        @Override
        public void onDisconnected(io.grpc.Status status, Duration retryIn) {
            node.send(coordinator, new Feed.Disconnected(nodeId, address, describe(status)));
        }

        @Override
        public void onFailed(io.grpc.Status status) {
            node.send(coordinator, new Feed.Disconnected(nodeId, address, "the exit stream gave up: " + describe(status)));
        }
    }
}
