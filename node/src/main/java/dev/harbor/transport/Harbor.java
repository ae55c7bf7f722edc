package dev.harbor.transport;

import dev.harbor.proto.HarborGrpc;
import dev.harbor.proto.Hello;
import dev.harbor.proto.LinkFrame;
import dev.harbor.service.Cancellable;
import dev.harbor.service.ExitEvent;
import dev.harbor.service.Handle;
import dev.harbor.service.InternalNode;
import dev.harbor.service.Message;
import dev.harbor.service.Node;
import dev.harbor.service.Outbox;
import dev.harbor.service.Remote;
import dev.harbor.service.Scheduler;
import io.grpc.BindableService;
import io.grpc.ChannelCredentials;
import io.grpc.InsecureChannelCredentials;
import io.grpc.MethodDescriptor;
import io.grpc.ServerServiceDefinition;
import io.grpc.ServiceDescriptor;
import io.grpc.stub.ServerCalls;
import io.grpc.stub.ServerCallStreamObserver;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The cluster transport of one node: links it to every other node over gRPC, carries messages
 * between their services, and notices when a node is lost.
 *
 * <p><b>Links.</b> This node opens one long-lived {@code Harbor.Link} stream to each peer address and
 * sends everything for that peer on it, in batches, as fast as gRPC's flow control allows; each peer
 * does the same towards this node, so there is one stream each way. The first frame each way is a
 * {@link Hello}: cluster name, node id, the node's life (incarnation), its live services and global
 * names. A peer of another cluster, a second node claiming a live node's id, and a life already
 * declared lost are refused with the reason.
 *
 * <p><b>Membership.</b> A node's members are itself and every life of another node it has linked
 * to and that has neither left nor been declared lost. Both ends of a link send heartbeats.
 * <ul>
 *   <li><b>Suspicion.</b> A peer silent for half the loss timeout is <i>suspected</i> (logged; nothing
 *       else changes, and a word from it clears it). Silent for the whole loss timeout (default 2 s,
 *       with 500 ms heartbeats: a verdict within 2.5 s), it gets a verdict.</li>
 *   <li><b>Fresh evidence only.</b> Silence counts only while this node itself ran: when its own
 *       link timer fires late by more than half the loss timeout (the process was paused, stopped or
 *       starved), every peer gets a fresh observation window instead of a verdict.</li>
 *   <li><b>One clock.</b> Every time these rules read (when a peer was last heard, how late the link
 *       timer is, when to dial again) is the node's {@linkplain Node#scheduler() scheduler}'s clock,
 *       the one the link timer runs on; a test that gives the node a scheduler on a clock it moves
 *       decides when heartbeats go, when a peer is suspected and when it is lost.</li>
 *   <li><b>Verdict by majority.</b> A node that still hears from a majority of its members (exactly
 *       half counts if that half holds the lowest member id) declares the silent peers lost: every
 *       call in flight to one fails with {@code NODE_LOST}, and each of its services gets a
 *       {@code NODE_LOST} exit event in this node's log. A node in the minority declares nobody lost:
 *       it fails calls to the silent peers ({@code UNREACHABLE}), re-dials them, refuses new global
 *       names and tells its {@link Listener} (the node process turns {@code NOT_SERVING}) until it
 *       hears from a majority again.</li>
 *   <li><b>Declared lost.</b> A lost life stays lost: peers refuse its links, saying so. A node that
 *       learns this follows its {@link LostPolicy}: {@code REJOIN} ends every service of its old life
 *       with {@code NODE_LOST} (what its peers published for them), starts a new life in the same
 *       process (new incarnation, new handles) and links again; {@code EXIT} tells the listener, which
 *       stops the process so its orchestrator restarts it.</li>
 *   <li><b>Leaving.</b> A node that stops on purpose tells its peers after its last exit event
 *       ({@link #leave}); they record that it left (not lost), drop it from their members and stop
 *       dialling it until it dials them again.</li>
 * </ul>
 *
 * <p><b>Parts.</b> This class is the facade: its settings, its public API and the {@link Remote} the
 * node routes through. The work is done by package-private parts, one per concern:
 * {@link Dialler} (which addresses to dial, channels, this node's streams out, backoff after a refusal),
 * {@link Membership} (admission, the link timer's round, suspicion, verdicts by majority, lost and left
 * lives, a new life), {@link LinkProtocol} (the frames that come in on a link, and dispatch),
 * {@link Routing} (sends, calls and replies, other nodes' services and global names), {@link Outboxes}
 * (services' sends held to reach a link a batch at a time, and the sweeper that bounds the wait), {@link Codec}
 * (wire forms) and {@link LinkWriter} (the one writer of a peer's stream to this node).
 *
 * <p><b>Threading.</b> Frames from peers are handled on gRPC's event loops (the server and channels
 * use the direct executor: handling a frame only enqueues into mailboxes and never blocks). Sends and
 * calls out come from service threads; held sends are also flushed by the outboxes' sweeper thread. The link timer (dialling, heartbeats, suspicion, verdicts) runs on the
 * node's {@link Scheduler}, whose tasks run one at a time and must not block: the timer's round sends
 * frames, fails calls and publishes exit events, all of which only enqueue; the two things it used to
 * do that can block run elsewhere: a DNS lookup of {@code dnsPeers} on a virtual thread of its own
 * ({@link Dialler}), and a new life (it waits for the new monitor's init and runs the old services'
 * exit hooks) on a platform thread of its own, started from a scheduler task so it begins after any
 * round in progress, while every round until it ends does nothing ({@link Membership}). Membership
 * changes (a peer admitted, lost or left) take the {@link Membership}'s lock; everything else is a
 * concurrent map or a volatile. Every write to a peer's stream to this node goes through its
 * {@link LinkWriter}, which serialises them.
 */
public final class Harbor implements Remote, AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(Harbor.class);

    // Settings, read by the parts.
    final Node node;
    final String cluster;
    final String advertise;
    final Duration heartbeat;
    final Duration lossTimeout;
    final int outboundLimit;
    final int batchSize;
    final Payloads payloads;
    final ChannelCredentials credentials;
    /** The node's scheduler: the link timer runs on it, and its clock is the only one membership reads. */
    final Scheduler scheduler;
    final LostPolicy lostPolicy;
    final Listener listener;

    // The parts (see the class comment).
    final Routing routing;
    final Dialler dialler;
    final Membership membership;
    final LinkProtocol links;
    final Outboxes outboxes;

    private final Consumer<ExitEvent> exitListener;
    /** Set by {@link #close}: the timer does nothing more, and links from other nodes are refused. */
    volatile boolean closed;
    /** The link timer's next round (scheduler thread and {@link #close}); null before {@link #start}. */
    private volatile Cancellable nextRound;
    /** Set by {@link #leave}: this node refuses new links, saying it leaves. */
    volatile boolean leaving;

    private Harbor(Builder b) {
        this.node = b.node;
        this.cluster = b.cluster;
        this.advertise = b.advertise;
        this.heartbeat = b.heartbeat;
        this.lossTimeout = b.lossTimeout;
        this.outboundLimit = b.outboundLimit;
        this.batchSize = b.batchSize;
        this.payloads = b.payloads;
        this.credentials = b.credentials;
        this.lostPolicy = b.lostPolicy;
        this.listener = b.listener;
        this.scheduler = b.node.scheduler();
        this.routing = new Routing(this);
        this.dialler = new Dialler(this, List.copyOf(b.peers), b.dnsPeers);
        this.membership = new Membership(this, InternalNode.firstIdOfThisLife(b.node));
        this.links = new LinkProtocol(this);
        this.outboxes = new Outboxes(this);
        this.exitListener = routing::onExit;
        InternalNode.attach(node, this);
        node.exits().subscribe(node.exits().lastSeq(), exitListener);
    }

    /** A builder for the transport of {@code node}. */
    public static Builder builder(Node node) {
        return new Builder(node);
    }

    /**
     * The gRPC service peers link to; add it to this node's server. Its frames are read by
     * {@code FrameMarshaller}, which leaves a batch's bytes where gRPC read them.
     */
    public BindableService linkService() {
        MethodDescriptor<LinkFrame, LinkFrame> link = HarborGrpc.getLinkMethod().toBuilder(FrameMarshaller.INSTANCE,
                HarborGrpc.getLinkMethod().getResponseMarshaller()).build();
        // The generated service's schema goes along, so that gRPC reflection still describes it.
        ServiceDescriptor service = ServiceDescriptor.newBuilder(HarborGrpc.SERVICE_NAME)
                .setSchemaDescriptor(HarborGrpc.getServiceDescriptor().getSchemaDescriptor()).addMethod(link).build();
        return () -> ServerServiceDefinition.builder(service)
                .addMethod(link, ServerCalls.asyncBidiStreamingCall(
                        responses -> links.accept((ServerCallStreamObserver<LinkFrame>) responses)))
                .build();
    }

    /**
     * Starts dialling the peers, and heartbeats and loss checks: the link timer's first round now, then
     * one every heartbeat interval, on the node's scheduler. Call once the server is up.
     */
    public void start() {
        schedule(this::linkTimer, Duration.ZERO);
    }

    /**
     * One round of the link timer, then the next one a heartbeat interval after this one ends (a fixed
     * delay, so a round that comes late shows as late to the next). Scheduler thread. A round that ran
     * while {@link #close} did may schedule one more, which finds the transport closed and does nothing.
     */
    private void linkTimer() {
        membership.tick();
        if (!closed) {
            nextRound = schedule(this::linkTimer, heartbeat);
        }
    }

    /** A round of the link timer now, besides the regular ones (to link back to a peer at once). Any thread. */
    void tickSoon() {
        schedule(membership::tick, Duration.ZERO);
    }

    /** Schedules {@code task} on the node's scheduler; once that is shut down (node stopped), does nothing. */
    Cancellable schedule(Runnable task, Duration delay) {
        try {
            return scheduler.schedule(task, delay);
        } catch (RejectedExecutionException e) {
            log.debug("node {}: its scheduler is shut down; the transport schedules nothing more", node.id());
            return () -> false;
        }
    }

    /** The time by the node's scheduler's clock, in nanoseconds: the only clock membership reads. */
    long nanoTime() {
        return scheduler.nanoTime();
    }

    /** The ids of the nodes this node can send to now. */
    public Set<Integer> connected() {
        return membership.connected();
    }

    /** The addresses of the nodes this node knows, by id: linked now or linked before and not lost. */
    public java.util.Map<Integer, String> peerAddresses() {
        return membership.peerAddresses();
    }

    /**
     * The addresses of the nodes this node linked to (its own dial reached them) that are not linked now
     * and were not seen to leave the cluster, by id: a life this node declared lost (a crash, a pause or
     * a partition: nothing says which), with no newer life of that node linked since; or a peer of an
     * earlier life of this node that has not linked to this life yet. A node that links again, or says
     * it leaves, drops out.
     */
    public java.util.Map<Integer, String> missingPeerAddresses() {
        return membership.missingAddresses();
    }

    /** The address other nodes reach this node at. */
    public String advertise() {
        return advertise;
    }

    /** The credentials this node's channels to other nodes use (plaintext or TLS); other clients of nodes on its behalf use them too. */
    public ChannelCredentials credentials() {
        return credentials;
    }

    /** This node's life: a number that grows with each restart of the node. */
    public long incarnation() {
        return membership.incarnation();
    }

    /** Sends dropped because their node was not connected. */
    public long undeliverable() {
        return routing.undeliverable.sum();
    }

    /**
     * Sends and calls for services of other nodes handed to this transport (those that then failed
     * included: see {@link #failed}). A service's sends held in its outbox count once the outbox hands
     * them to the link's queue, within about a millisecond.
     */
    public long sent() {
        return routing.sent.sum();
    }

    /** Sends and calls from services of other nodes that arrived for services of this node. */
    public long received() {
        return links.received.sum();
    }

    /** Messages to other nodes that failed: sends dropped and calls that got no answer from the other node (not connected, full queue, link closed, node lost). */
    public long failed() {
        return routing.undeliverable.sum() + routing.failedCalls.sum();
    }

    /** Frames and envelopes from peers that were refused or dropped as malformed (hostile or broken peers). */
    public long rejected() {
        return links.rejected.sum();
    }

    /** Whether this node hears from a majority of its cluster (see the class comment). */
    public boolean inMajority() {
        return membership.inMajority();
    }

    /** How many times this node's link timer found the node itself had been paused or starved. */
    public long pauses() {
        return membership.pauses.sum();
    }

    /** How many new lives this node has started since it was built (after being declared lost). */
    public long newLives() {
        return membership.lives.sum();
    }

    // ------------------------------------------------------------------ Remote (see Routing)

    @Override
    public void route(Handle to, Message message) {
        routing.route(to, message);
    }

    @Override
    public Outbox outbox() {
        return outboxes.create();
    }

    @Override
    public Optional<Handle> whereis(String globalName) {
        return routing.whereis(globalName);
    }

    @Override
    public boolean isAlive(Handle handle) {
        return routing.isAlive(handle);
    }

    @Override
    public void serviceLive(Handle handle) {
        routing.serviceLive(handle);
    }

    @Override
    public void globalNameBound(String name, Handle handle) {
        routing.globalNameBound(name, handle);
    }

    @Override
    public String refusesGlobalNames() {
        return membership.refusesGlobalNames();
    }

    // ------------------------------------------------------------------ leaving and closing

    /**
     * Tells every peer that this node leaves the cluster on purpose, after everything queued for it
     * (stop the node first, so its exit events go before), and waits up to {@code max} for the queues
     * to empty. Peers then record that it left rather than lost it. Call before {@link #close}.
     */
    public void leave(String why, Duration max) {
        leaving = true; // from now on, links from other nodes are refused as from a leaving node
        outboxes.flushListed(); // sends still held go before the leaving
        routing.broadcast(Codec.leaving(why));
        Set<Outbound> outbounds = dialler.outbounds();
        // Wall time, not the scheduler's clock: this waits on the caller's thread for the network to
        // carry what is queued, and a test's clock that nobody moves would never end the wait.
        long deadline = System.nanoTime() + max.toNanos();
        // The queues drain on gRPC's threads; a short park is the simplest wait for "empty" here, and
        // then for each peer to end its side of the half-closed streams (which delivers what was written).
        while (System.nanoTime() < deadline && outbounds.stream().anyMatch(o -> o.depth() > 0)) {
            java.util.concurrent.locks.LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(5));
        }
        outbounds.forEach(Outbound::finish);
        while (System.nanoTime() < deadline && !outbounds.isEmpty()) {
            java.util.concurrent.locks.LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(5));
        }
    }

    /** Closes every link. The node itself is not stopped: stop it first so its peers hear every exit. */
    @Override
    public void close() {
        closed = true;
        outboxes.close();
        Cancellable next = nextRound;
        if (next != null) {
            next.cancel();
        }
        node.exits().unsubscribe(exitListener);
        dialler.cancelAll("node " + node.id() + " is closing its links");
        for (Peer p : membership.peers()) {
            LinkWriter in = p.inbound;
            if (in != null) {
                try {
                    in.complete();
                } catch (RuntimeException e) {
                    log.debug("node {}: closing the link from node {}: {}", node.id(), p.id, e.toString());
                }
            }
        }
        dialler.closeChannels();
        InternalNode.transportClosed(node, this); // a stopped node's scheduler may shut down now
    }

    /** What a node does when it learns that its cluster declared its life lost. */
    public enum LostPolicy {
        /**
         * End the old life in the process (every service {@code NODE_LOST}, as the peers published),
         * start a new one and link again; the listener relaunches the new life's services. The default:
         * the node is back within a second or two of the heal, with no orchestrator needed.
         */
        REJOIN,
        /** Tell the listener, which stops the process (non-zero), so an orchestrator restarts it. */
        EXIT
    }

    /**
     * Hears of this node's standing in its cluster. Called on the node's scheduler thread (the link
     * timer; a change of majority) or on the transport's new-life thread (a new life, a majority regained
     * with it, declared lost): return quickly, hand long work to another thread, never block.
     */
    public interface Listener {
        /** This node now hears (true) or no longer hears (false) from a majority of its cluster. */
        default void majorityChanged(boolean inMajority) {
        }

        /**
         * Policy {@code REJOIN}: the old life has ended (every service but the monitor exited
         * {@code NODE_LOST}) and a new one has begun, linking again to {@code formerPeers}.
         */
        default void newLife(long incarnation, Set<Integer> formerPeers) {
        }

        /** Policy {@code EXIT}: the cluster declared this life lost; the host should stop the process. */
        default void declaredLost(String why) {
        }
    }

    /**
     * The most envelopes a stream message holds unless {@link Builder#batchSize} says otherwise: per
     * message costs (gRPC's framing and flow control, the hand-over to each service on the receiving
     * node) are paid once for that many. 256 carried about a fifth more than 64 between two node
     * processes on two cores (see BENCHMARKS.md).
     */
    public static final int DEFAULT_BATCH_SIZE = 256;

    /** Settings of a node's transport. */
    public static final class Builder {
        private final Node node;
        private String cluster = "harbor";
        private String advertise;
        private final List<String> peers = new ArrayList<>();
        private String dnsPeers;
        private Duration heartbeat = Duration.ofMillis(500);
        private Duration lossTimeout = Duration.ofSeconds(2);
        private int outboundLimit = 100_000;
        private int batchSize = DEFAULT_BATCH_SIZE;
        private Payloads payloads = new Payloads();
        private ChannelCredentials credentials = InsecureChannelCredentials.create();
        private LostPolicy lostPolicy = LostPolicy.REJOIN;
        private Listener listener = new Listener() { };

        private Builder(Node node) {
            this.node = Objects.requireNonNull(node, "node");
        }

        /** The cluster's name; links between nodes of different clusters are refused. Default "harbor". */
        public Builder cluster(String cluster) {
            if (cluster == null || cluster.isBlank()) {
                throw new IllegalArgumentException("the cluster name must not be empty");
            }
            this.cluster = cluster;
            return this;
        }

        /** The host:port other nodes reach this node at. Required. */
        public Builder advertise(String hostPort) {
            this.advertise = checkHostPort(hostPort, "advertised address");
            return this;
        }

        /** Peer addresses (host:port). This node's own address may be among them. */
        public Builder peers(List<String> hostPorts) {
            for (String p : hostPorts) {
                peers.add(checkHostPort(p, "peer address"));
            }
            return this;
        }

        /** A DNS name:port that resolves to the addresses of the nodes (a headless service), looked up again and again. */
        public Builder dnsPeers(String nameAndPort) {
            this.dnsPeers = checkHostPort(nameAndPort, "DNS peer name");
            return this;
        }

        /** How often to send heartbeats (default 500 ms). */
        public Builder heartbeat(Duration interval) {
            if (interval.isNegative() || interval.isZero()) {
                throw new IllegalArgumentException("the heartbeat interval must be positive, got " + interval);
            }
            this.heartbeat = interval;
            return this;
        }

        /** How long a peer may stay silent before it is lost (default 2 s; at least twice the heartbeat). */
        public Builder lossTimeout(Duration timeout) {
            this.lossTimeout = Objects.requireNonNull(timeout, "timeout");
            return this;
        }

        /**
         * How many envelopes may wait for one peer before sends fail as OVERLOADED (default 100000).
         * A service's sends held in its outbox to be handed over together are checked when its batch
         * begins, so the queue may pass this by less than one batch ({@link #batchSize}) per sending service.
         */
        public Builder outboundLimit(int envelopes) {
            if (envelopes < 1) {
                throw new IllegalArgumentException("the outbound limit must be at least 1, got " + envelopes);
            }
            this.outboundLimit = envelopes;
            return this;
        }

        /**
         * The most envelopes in one stream message (default {@value Harbor#DEFAULT_BATCH_SIZE}); a message
         * also ends at 256 KiB. A message is written as soon as the stream takes it, full or not, so a
         * larger batch adds no wait: it only lets a busy link carry more in each message.
         */
        public Builder batchSize(int envelopes) {
            if (envelopes < 1) {
                throw new IllegalArgumentException("the batch size must be at least 1, got " + envelopes);
            }
            this.batchSize = envelopes;
            return this;
        }

        /** Which protobuf types arrive as themselves rather than as {@code Any}. */
        public Builder payloads(Payloads payloads) {
            this.payloads = Objects.requireNonNull(payloads, "payloads");
            return this;
        }

        /** Credentials for links to peers (default plaintext). */
        public Builder credentials(ChannelCredentials credentials) {
            this.credentials = Objects.requireNonNull(credentials, "credentials");
            return this;
        }

        /** What this node does when it learns the cluster declared its life lost (default {@link LostPolicy#REJOIN}). */
        public Builder onLost(LostPolicy policy) {
            this.lostPolicy = Objects.requireNonNull(policy, "policy");
            return this;
        }

        /** Who hears of this node's standing in its cluster (majority, new life, declared lost). */
        public Builder listener(Listener listener) {
            this.listener = Objects.requireNonNull(listener, "listener");
            return this;
        }

        /** Makes the transport and attaches it to the node; then add {@link #linkService()} to a server and {@link #start()}. */
        public Harbor build() {
            if (advertise == null) {
                throw new IllegalStateException("node " + node.id() + " needs an advertised address (host:port) for its peers");
            }
            if (lossTimeout.compareTo(heartbeat.multipliedBy(2)) < 0) {
                throw new IllegalArgumentException("the loss timeout (" + lossTimeout.toMillis()
                        + " ms) must be at least twice the heartbeat interval (" + heartbeat.toMillis() + " ms)");
            }
            return new Harbor(this);
        }

        private static String checkHostPort(String hostPort, String what) {
            int colon = hostPort == null ? -1 : hostPort.lastIndexOf(':');
            if (colon <= 0 || colon == hostPort.length() - 1) {
                throw new IllegalArgumentException("'" + hostPort + "' is not a valid " + what + ": expected host:port");
            }
            try {
                int port = Integer.parseInt(hostPort.substring(colon + 1));
                if (port < 1 || port > 65535) {
                    throw new NumberFormatException();
                }
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException("'" + hostPort + "' is not a valid " + what + ": the port must be 1-65535");
            }
            return hostPort;
        }
    }
}
