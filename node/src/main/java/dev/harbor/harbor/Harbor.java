package dev.harbor.harbor;

import com.google.protobuf.InvalidProtocolBufferException;
import dev.harbor.exit.ExitEvent;
import dev.harbor.exit.ExitReason;
import dev.harbor.admin.Wire;
import dev.harbor.proto.Batch;
import dev.harbor.proto.Born;
import dev.harbor.proto.Call;
import dev.harbor.proto.CallError;
import dev.harbor.proto.Died;
import dev.harbor.proto.Envelope;
import dev.harbor.proto.HarborGrpc;
import dev.harbor.proto.Heartbeat;
import dev.harbor.proto.Hello;
import dev.harbor.proto.Leaving;
import dev.harbor.proto.LinkFrame;
import dev.harbor.proto.NameBinding;
import dev.harbor.proto.Refusal;
import dev.harbor.proto.Reply;
import dev.harbor.proto.Send;
import dev.harbor.service.CallException;
import dev.harbor.service.Handle;
import dev.harbor.service.Message;
import dev.harbor.service.Node;
import dev.harbor.service.Remote;
import dev.harbor.service.ReplyTo;
import dev.harbor.service.ServiceInfo;
import io.grpc.BindableService;
import io.grpc.ChannelCredentials;
import io.grpc.Grpc;
import io.grpc.InsecureChannelCredentials;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.StreamObserver;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.LongAdder;
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
 * <p><b>Threading.</b> Frames from peers are handled on gRPC's event loops (the server and channels
 * use the direct executor: handling a frame only enqueues into mailboxes and never blocks). Calls out
 * come from service threads. Dialling, heartbeats, verdicts and a new life run on one timer thread
 * (so a new life never overlaps a tick). Membership changes (a peer admitted, lost or left) take this
 * object's lock; everything else is a concurrent map or a volatile.
 */
public final class Harbor implements Remote, AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(Harbor.class);
    private static final long REFUSED_RETRY_NANOS = TimeUnit.SECONDS.toNanos(5);

    private final Node node;
    private final String cluster;
    private final String advertise;
    /** This node's life: written by {@link #renew} on the timer thread, read anywhere. */
    private volatile long incarnation;
    private final List<String> staticPeers;
    private final String dnsPeers;
    private final Duration heartbeat;
    private final Duration lossTimeout;
    private final int outboundLimit;
    private final int batchSize;
    private final Payloads payloads;
    private final ChannelCredentials credentials;
    private final ScheduledExecutorService timer;
    private final LostPolicy lostPolicy;
    private final Listener listener;

    private final Map<Integer, Peer> peers = new ConcurrentHashMap<>();
    private final Map<String, Dial> dials = new ConcurrentHashMap<>();
    private final Set<Outbound> outbounds = ConcurrentHashMap.newKeySet();
    private final Map<String, Handle> remoteNames = new ConcurrentHashMap<>();
    private final Set<String> learnedAddresses = ConcurrentHashMap.newKeySet();
    private final Set<String> selfAddresses = ConcurrentHashMap.newKeySet();
    /** Guarded by this: the newest life of each node id that was declared lost. */
    private final Map<Integer, Long> lostLives = new ConcurrentHashMap<>();
    /** Guarded by this: the newest life of each node id that left on purpose. */
    private final Map<Integer, Long> leftLives = new ConcurrentHashMap<>();
    /** Addresses of nodes that left: not dialled until a node there dials this one. */
    private final Set<String> leftAddresses = ConcurrentHashMap.newKeySet();
    /** When the link timer last ran (timer thread only): a late tick means this node itself was paused. */
    private long lastTickNanos;
    /** Whether this node hears from a majority of its members; written on the timer thread. */
    private volatile boolean inMajority = true;
    /** Set while this node ends its life and starts a new one (or, under EXIT, for good). */
    private final java.util.concurrent.atomic.AtomicBoolean renewing = new java.util.concurrent.atomic.AtomicBoolean();
    private final LongAdder pauses = new LongAdder();
    private final LongAdder lives = new LongAdder();
    private final LongAdder undeliverable = new LongAdder();
    /** Traffic counters, for metrics: added to by service threads (sent) and gRPC's event loops (the rest). */
    private final LongAdder sent = new LongAdder();
    private final LongAdder received = new LongAdder();
    private final LongAdder failedCalls = new LongAdder();
    private final LongAdder rejected = new LongAdder();
    private final Consumer<ExitEvent> exitListener = this::onExit;
    private volatile boolean closed;
    /** Set by {@link #leave}: this node refuses new links, saying it leaves. */
    private volatile boolean leaving;

    private Harbor(Builder b) {
        this.node = b.node;
        this.cluster = b.cluster;
        this.advertise = b.advertise;
        this.incarnation = b.node.firstIdOfThisLife();
        this.staticPeers = List.copyOf(b.peers);
        this.dnsPeers = b.dnsPeers;
        this.heartbeat = b.heartbeat;
        this.lossTimeout = b.lossTimeout;
        this.outboundLimit = b.outboundLimit;
        this.batchSize = b.batchSize;
        this.payloads = b.payloads;
        this.credentials = b.credentials;
        this.lostPolicy = b.lostPolicy;
        this.listener = b.listener;
        this.timer = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "harbor-" + node.id() + "-links");
            t.setDaemon(true);
            return t;
        });
        node.attach(this);
        node.exits().subscribe(node.exits().lastSeq(), exitListener);
    }

    /** A builder for the transport of {@code node}. */
    public static Builder builder(Node node) {
        return new Builder(node);
    }

    /** The gRPC service peers link to; add it to this node's server. */
    public BindableService linkService() {
        return new HarborGrpc.HarborImplBase() {
            @Override
            public StreamObserver<LinkFrame> link(StreamObserver<LinkFrame> responses) {
                return new Inbound((ServerCallStreamObserver<LinkFrame>) responses);
            }
        };
    }

    /** Starts dialling the peers, and heartbeats and loss checks. Call once the server is up. */
    public void start() {
        long period = heartbeat.toNanos();
        timer.scheduleWithFixedDelay(this::tick, 0, period, TimeUnit.NANOSECONDS);
    }

    /** The ids of the nodes this node can send to now. */
    public Set<Integer> connected() {
        Set<Integer> out = new TreeSet<>();
        peers.forEach((id, p) -> {
            if (p.out != null && !p.lost) {
                out.add(id);
            }
        });
        return out;
    }

    /** The addresses of the nodes this node knows, by id: linked now or linked before and not lost. */
    public java.util.Map<Integer, String> peerAddresses() {
        java.util.Map<Integer, String> out = new java.util.TreeMap<>();
        peers.forEach((id, p) -> out.put(id, p.address));
        return out;
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
        return incarnation;
    }

    /** Sends dropped because their node was not connected. */
    public long undeliverable() {
        return undeliverable.sum();
    }

    /** Sends and calls for services of other nodes handed to this transport (those that then failed included: see {@link #failed}). */
    public long sent() {
        return sent.sum();
    }

    /** Sends and calls from services of other nodes that arrived for services of this node. */
    public long received() {
        return received.sum();
    }

    /** Messages to other nodes that failed: sends dropped and calls that got no answer from the other node (not connected, full queue, link closed, node lost). */
    public long failed() {
        return undeliverable.sum() + failedCalls.sum();
    }

    /** Frames and envelopes from peers that were refused or dropped as malformed (hostile or broken peers). */
    public long rejected() {
        return rejected.sum();
    }

    // ------------------------------------------------------------------ Remote: messages out

    @Override
    public void route(Handle to, Message message) {
        sent.increment();
        Peer p = peers.get(to.node());
        Outbound out = p == null ? null : p.out;
        if (out == null || p.lost) {
            CallException e = new CallException(CallException.Failure.UNREACHABLE, to,
                    "node " + to.node() + " of service " + to + " is not connected to node " + node.id(), null);
            if (message.isCall()) {
                failedCalls.increment();
                message.defer().fail(e);
            } else {
                undeliverable.increment();
                log.debug("node {}: dropped a send to {}: {}", node.id(), to, e.getMessage());
            }
            return;
        }
        dev.harbor.proto.Payload payload;
        try {
            payload = payloads.encode(message.payload(), to);
        } catch (CallException e) {
            if (message.isCall()) {
                message.defer().fail(e);
                return;
            }
            throw e;
        }
        if (!message.isCall()) {
            Send.Builder send = Send.newBuilder().setTo(Wire.handle(to)).setPayload(payload);
            if (message.from() != null) {
                send.setFrom(Wire.handle(message.from()));
            }
            if (!out.offer(Envelope.newBuilder().setSend(send).build(), false)) {
                throw overloaded(to);
            }
            return;
        }
        long session = p.sessions.incrementAndGet();
        p.outstanding.put(session, message);
        if (p.lost) { // lost meanwhile: the loss may have failed the outstanding calls before this one was added
            failOutstanding(p, session, lostError(p, "it was lost"));
            return;
        }
        Call.Builder call = Call.newBuilder().setTo(Wire.handle(to)).setSession(session).setPayload(payload);
        if (message.from() != null) {
            call.setFrom(Wire.handle(message.from()));
        }
        if (!out.offer(Envelope.newBuilder().setCall(call).build(), false)) {
            failOutstanding(p, session, overloaded(to));
        }
    }

    private CallException overloaded(Handle to) {
        return new CallException(CallException.Failure.OVERLOADED, to, "the queue from node " + node.id() + " to node "
                + to.node() + " is full (" + outboundLimit + " envelopes): that node or the link is slower than its senders", null);
    }

    private void failOutstanding(Peer p, long session, CallException e) {
        Message m = p.outstanding.remove(session);
        if (m != null) {
            failedCalls.increment();
            m.defer().fail(e);
        }
    }

    @Override
    public Optional<Handle> whereis(String globalName) {
        return Optional.ofNullable(remoteNames.get(globalName));
    }

    @Override
    public boolean isAlive(Handle handle) {
        Peer p = peers.get(handle.node());
        return p != null && !p.lost && p.live.contains(handle);
    }

    @Override
    public void serviceLive(Handle handle) {
        broadcast(Envelope.newBuilder().setBorn(Born.newBuilder().setHandle(Wire.handle(handle))).build());
    }

    @Override
    public void globalNameBound(String name, Handle handle) {
        broadcast(Envelope.newBuilder().setBound(NameBinding.newBuilder().setName(name).setHandle(Wire.handle(handle))).build());
    }

    /** Called by the exit log (under its lock: only enqueues) for every exit event of this node. */
    private void onExit(ExitEvent event) {
        if (event.node() != node.id() || event.reason() == ExitReason.NODE_LOST) {
            return;
        }
        broadcast(Envelope.newBuilder().setDied(Died.newBuilder().setHandle(Wire.handle(event.handle()))
                .setReason(dev.harbor.proto.ExitReason.forNumber(event.reason().ordinal() + 1))
                .addAllNames(event.names())).build());
    }

    private void broadcast(Envelope envelope) {
        for (Outbound out : outbounds) {
            out.offer(envelope, true);
        }
    }

    // ------------------------------------------------------------------ dialling

    private void tick() {
        if (closed || renewing.get()) {
            return;
        }
        try {
            long now = System.nanoTime();
            long late = lastTickNanos == 0 ? 0 : now - lastTickNanos - heartbeat.toNanos();
            lastTickNanos = now;
            if (late > lossTimeout.toNanos() / 2) {
                // This node itself was stopped, paused or starved: its peers' silence meanwhile says
                // nothing about them (their frames may be waiting unread). Judge by what comes next.
                pauses.increment();
                // A warning only when the pause outlasted the loss timeout (its peers may have declared it
                // lost): a busy start or a GC often delays the timer by a second, and that is routine.
                String what = "node {}: its link timer ran {} ms late (the process was paused or starved); it judges its"
                        + " peers only by what it hears from now on";
                if (late > lossTimeout.toNanos()) {
                    log.warn(what, node.id(), TimeUnit.NANOSECONDS.toMillis(late));
                } else {
                    log.info(what, node.id(), TimeUnit.NANOSECONDS.toMillis(late));
                }
                peers.values().forEach(Peer::heard);
            }
            List<Peer> silent = new ArrayList<>();
            for (Peer p : peers.values()) {
                long quiet = now - p.lastHeardNanos;
                if (quiet > lossTimeout.toNanos()) {
                    silent.add(p);
                    continue;
                }
                if (quiet > lossTimeout.toNanos() / 2) {
                    if (!p.suspected) {
                        p.suspected = true;
                        log.info("node {}: suspects node {}: no word from it for {} ms", node.id(), p.id,
                                TimeUnit.NANOSECONDS.toMillis(quiet));
                    }
                } else if (p.suspected) {
                    p.suspected = false;
                    p.cutOff = false;
                    log.info("node {}: hears from node {} again", node.id(), p.id);
                }
                Outbound out = p.out;
                if (out != null) {
                    out.heartbeat();
                }
                heartbeatBack(p);
            }
            boolean majority = reachesMajority(now);
            if (majority && !inMajority) {
                // Back in the majority after a split: the peers still silent were silent while this node
                // could pass no verdict (and may have passed one on it, which it is about to learn from
                // their refusals). They get a fresh window rather than a verdict on stale silence.
                silent.forEach(Peer::heard);
                silent.clear();
            }
            for (Peer p : silent) {
                String why = "no word from it for " + TimeUnit.NANOSECONDS.toMillis(now - p.lastHeardNanos) + " ms";
                if (majority) {
                    declareLost(p, why);
                } else {
                    cutOff(p, why);
                }
            }
            majority(majority);
            for (String address : addresses()) {
                if (selfAddresses.contains(address) || address.equals(advertise) || leftAddresses.contains(address)) {
                    continue;
                }
                Dial dial = dials.computeIfAbsent(address, a -> new Dial(a, Grpc.newChannelBuilder(a, credentials)
                        .directExecutor().build()));
                if (dial.current == null && now >= dial.retryAtNanos) {
                    open(dial);
                }
            }
        } catch (RuntimeException e) {
            log.error("node {}: the link timer failed; links may not recover until the next tick", node.id(), e);
        }
    }

    private Set<String> addresses() {
        Set<String> out = new LinkedHashSet<>(staticPeers);
        out.addAll(learnedAddresses);
        if (dnsPeers != null) {
            int colon = dnsPeers.lastIndexOf(':');
            String host = dnsPeers.substring(0, colon);
            String port = dnsPeers.substring(colon + 1);
            try {
                for (InetAddress a : InetAddress.getAllByName(host)) {
                    out.add(a.getHostAddress() + ":" + port);
                }
            } catch (UnknownHostException e) {
                log.debug("node {}: {} does not resolve yet: {}", node.id(), host, e.getMessage());
            }
        }
        return out;
    }

    private void open(Dial dial) {
        Outbound out = new Outbound(this, dial.address, outboundLimit, batchSize);
        dial.current = out;
        outbounds.add(out); // before the snapshot in the Hello: later births and deaths queue behind it
        // This node re-dials on its own clock (each tick): gRPC's own reconnect backoff, which grows to
        // minutes, would keep a healed link down long after the network came back.
        dial.channel.resetConnectBackoff();
        try {
            HarborGrpc.newStub(dial.channel).link(out);
            out.sendFirst(LinkFrame.newBuilder().setHello(hello(true)).build());
        } catch (RuntimeException e) {
            log.debug("node {}: could not open a link to {}: {}", node.id(), dial.address, e.toString());
            outboundClosed(out, e.toString());
        }
    }

    private Hello hello(boolean withSnapshot) {
        Hello.Builder h = Hello.newBuilder().setCluster(cluster).setNode(node.id()).setIncarnation(incarnation)
                .setAddress(advertise);
        if (withSnapshot) {
            for (ServiceInfo s : node.services()) {
                h.addServices(Wire.handle(s.handle()));
                for (String name : s.names()) {
                    if (!name.startsWith(".")) {
                        h.addNames(NameBinding.newBuilder().setName(name).setHandle(Wire.handle(s.handle())));
                    }
                }
            }
        }
        return h.build();
    }

    /** A frame on the response stream of one of our links: the peer's Hello, a refusal, or a heartbeat. */
    void fromOutbound(Outbound out, LinkFrame frame) {
        switch (frame.getKindCase()) {
            case HELLO -> {
                Hello h = frame.getHello();
                if (h.getNode() == node.id()) {
                    if (h.getIncarnation() == incarnation) {
                        selfAddresses.add(out.address);
                        out.cancel("this address is this node itself");
                    } else {
                        log.error("node {}: the node at {} also calls itself node {}: node ids must be unique in a cluster",
                                node.id(), out.address, h.getNode());
                        refusedBy(out, "node id clash");
                    }
                    return;
                }
                Peer p;
                try {
                    p = admit(h, out.address);
                } catch (LinkRefused e) {
                    log.warn("node {}: not linking to {}: {}", node.id(), out.address, e.getMessage());
                    if (e.declaredLost) {
                        // It took our Hello before we saw its own: tell it, on this stream, that its life is
                        // over here (a cancel could drop the frame; a half-close sends it, then the stream ends).
                        Dial dial = dials.get(out.address);
                        if (dial != null) {
                            dial.retryAtNanos = System.nanoTime() + REFUSED_RETRY_NANOS;
                        }
                        out.refuse(LinkFrame.newBuilder().setRefusal(Refusal.newBuilder().setReason(e.getMessage())
                                .setDeclaredLost(true)).build());
                    } else {
                        refusedBy(out, e.getMessage());
                    }
                    return;
                }
                p.heard();
                out.peer = p;
                p.out = out;
                flushWaiting(p, out);
                out.startDraining();
                log.info("node {}: linked to node {} at {}", node.id(), p.id, out.address);
            }
            case REFUSAL -> {
                Refusal r = frame.getRefusal();
                refusedBy(out, r.getReason());
                if (r.getDeclaredLost()) {
                    declaredLost(out.address, r.getReason());
                } else if (r.getLeaving()) {
                    log.info("node {}: not dialling {} again until it dials this node: {}", node.id(), out.address, r.getReason());
                    leftAddresses.add(out.address);
                } else {
                    log.error("node {}: the node at {} refused this node's link: {}", node.id(), out.address, r.getReason());
                }
            }
            case HEARTBEAT -> {
                Peer p = out.peer;
                if (p != null) {
                    p.heard();
                }
            }
            default -> log.warn("node {}: unexpected {} frame from {} on this node's own link", node.id(),
                    frame.getKindCase(), out.address);
        }
    }

    private void refusedBy(Outbound out, String why) {
        Dial dial = dials.get(out.address);
        if (dial != null) {
            dial.retryAtNanos = System.nanoTime() + REFUSED_RETRY_NANOS;
        }
        out.cancel(why);
    }

    void outboundClosed(Outbound out, String why) {
        outbounds.remove(out);
        Dial dial = dials.get(out.address);
        if (dial != null && dial.current == out) {
            dial.current = null;
        }
        Peer p = out.peer;
        if (p != null && p.out == out) {
            p.out = null;
            log.info("node {}: the link to node {} closed: {}", node.id(), p.id, why);
        }
        unsent(out, out.close());
    }

    void outboundFailed(Outbound out, RuntimeException e) {
        log.warn("node {}: writing to {} failed: {}", node.id(), out.address, e.toString());
        out.cancel(e.toString());
    }

    /** Envelopes that never left: their calls fail now, rather than at the loss timeout. */
    void unsent(Outbound out, List<Envelope> left) {
        Peer p = out.peer;
        for (Envelope e : left) {
            if (e.hasCall() && p != null) {
                failOutstanding(p, e.getCall().getSession(), new CallException(CallException.Failure.UNREACHABLE,
                        Wire.handle(e.getCall().getTo()), "the link to node " + p.id + " closed before the call was sent", null));
            } else if (e.hasSend()) {
                undeliverable.increment();
            }
        }
    }

    // ------------------------------------------------------------------ membership

    /** Admits the life of a node that said Hello, or refuses it with the reason. */
    private synchronized Peer admit(Hello h, String address) throws LinkRefused {
        if (!h.getCluster().equals(cluster)) {
            throw new LinkRefused("it belongs to cluster '" + h.getCluster() + "', this node to cluster '" + cluster + "'");
        }
        int id = h.getNode();
        if (id < 1 || id > Handle.MAX_NODE) {
            throw new LinkRefused("node id " + Integer.toUnsignedString(id) + " is out of range 1-" + Handle.MAX_NODE);
        }
        if (id == node.id()) {
            throw new LinkRefused("node id " + id + " is this node's own id: node ids must be unique in a cluster");
        }
        for (dev.harbor.proto.Handle w : h.getServicesList()) {
            checkOwn(w, id, "lists service");
        }
        for (NameBinding b : h.getNamesList()) {
            checkOwn(b.getHandle(), id, "binds name '" + b.getName() + "' to");
        }
        Long lost = lostLives.get(id);
        if (lost != null && h.getIncarnation() <= lost) {
            throw new LinkRefused("node " + node.id() + " declared this life of node " + id + " (incarnation "
                    + h.getIncarnation() + ") lost: it rejoins as a new life", true);
        }
        Long left = leftLives.get(id);
        if (left != null && h.getIncarnation() <= left) {
            throw new LinkRefused("this life of node " + id + " left the cluster", false);
        }
        Peer old = peers.get(id);
        if (old != null) {
            if (old.incarnation == h.getIncarnation()) {
                return old;
            }
            if (h.getIncarnation() < old.incarnation) {
                throw new LinkRefused("a newer life of node " + id + " is linked already");
            }
            boolean oldSilent = !old.inboundOpen || System.nanoTime() - old.lastHeardNanos > 2 * heartbeat.toNanos();
            if (!oldSilent) {
                throw new LinkRefused("node id " + id + " is in use by a live node at " + old.address);
            }
            declareLost(old, "it restarted");
        }
        Peer p = new Peer(id, h.getIncarnation(), h.getAddress().isEmpty() ? address : h.getAddress());
        peers.put(id, p);
        return p;
    }

    /** Refuses a Hello that speaks for a service of another node, or names no service at all. */
    private static void checkOwn(dev.harbor.proto.Handle w, int id, String what) throws LinkRefused {
        if (w.getNode() != id || w.getId() == 0) {
            throw new LinkRefused("its Hello " + what + " node " + Integer.toUnsignedString(w.getNode()) + " id "
                    + Long.toUnsignedString(w.getId()) + ", which is not a service of node " + id);
        }
    }

    /**
     * Ends a peer's life for this node: calls in flight to it fail with {@code NODE_LOST}, each of its
     * services gets a {@code NODE_LOST} exit event in this node's log, its names go.
     */
    private void declareLost(Peer p, String why) {
        if (!retire(p, lostLives)) {
            return;
        }
        log.warn("node {}: lost node {} at {}: {}", node.id(), p.id, p.address, why);
        endPeer(p, "node " + p.id + " was declared lost: " + why, lostError(p, why), ExitReason.NODE_LOST,
                "node " + p.id + " was lost: " + why);
    }

    /**
     * Takes a peer's life out of this node's members, once, recording it in {@code verdicts} (the lost
     * lives, or those that left), so that life is never admitted again.
     *
     * @return false if it was out already
     */
    private synchronized boolean retire(Peer p, Map<Integer, Long> verdicts) {
        if (p.lost) {
            return false;
        }
        p.lost = true;
        peers.remove(p.id, p);
        verdicts.merge(p.id, p.incarnation, Math::max);
        return true;
    }

    /**
     * Ends what this node has of a retired peer's life: both links close ({@code why}), calls in flight
     * to it fail with {@code failure}, each of its services still listed gets one exit event with
     * {@code reason} in this node's log, and its global names go.
     */
    private void endPeer(Peer p, String why, CallException failure, ExitReason reason, String detail) {
        Outbound out = p.out;
        p.out = null;
        if (out != null) {
            out.cancel(why);
        }
        StreamObserver<LinkFrame> in = p.inbound;
        if (in != null) {
            synchronized (in) {
                try {
                    in.onError(Status.UNAVAILABLE.withDescription(why).asRuntimeException());
                } catch (RuntimeException e) {
                    log.debug("node {}: closing the link from node {}: {}", node.id(), p.id, e.toString());
                }
            }
        }
        failCallsTo(p, failure);
        List<Handle> gone = new ArrayList<>(p.live);
        gone.sort(null);
        p.live.clear();
        for (Handle h : gone) {
            List<String> names = p.namesOf.getOrDefault(h, List.of());
            names.forEach(n -> remoteNames.remove(n, h));
            node.exits().publish(h, names, reason, detail);
        }
        p.namesOf.forEach((h, names) -> names.forEach(n -> remoteNames.remove(n, h)));
    }

    /** Fails every call in flight from this node to {@code p} with {@code e}. */
    private void failCallsTo(Peer p, CallException e) {
        for (Long session : new ArrayList<>(p.outstanding.keySet())) {
            failOutstanding(p, session, e);
        }
    }

    /**
     * Whether this node hears from a majority of its members (itself and every peer life it knows,
     * not lost, not left, counting only those heard within half the loss timeout): more than half, or
     * exactly half if that half holds the lowest member id, so that of two equal halves exactly one
     * goes on.
     */
    private boolean reachesMajority(long now) {
        int members = 1;
        int reached = 1;
        int lowest = node.id();
        boolean lowestReached = true;
        for (Peer p : peers.values()) {
            if (p.lost) {
                continue;
            }
            members++;
            // Heard lately: not even suspected. A peer that has gone quiet but is not yet past the loss
            // timeout does not count, or the first of two peers cut off together would be judged by a
            // "majority" that holds the second.
            boolean heard = now - p.lastHeardNanos <= lossTimeout.toNanos() / 2;
            if (heard) {
                reached++;
            }
            if (p.id < lowest) {
                lowest = p.id;
                lowestReached = heard;
            }
        }
        return 2 * reached > members || (2 * reached == members && lowestReached);
    }

    /** Records whether this node is in the majority, and tells the listener when that changes. Timer thread. */
    private void majority(boolean now) {
        if (now == inMajority) {
            return;
        }
        inMajority = now;
        if (now) {
            log.info("node {}: hears from a majority of its cluster again ({}); it serves again", node.id(), connected());
        } else {
            log.warn("node {}: is cut off from the majority of its cluster (hears from {} of {} other nodes): it declares"
                    + " nobody lost, takes no global name and serves nothing until it hears from a majority again",
                    node.id(), connected().size(), peers.size());
        }
        notifyListener(() -> listener.majorityChanged(now));
    }

    /**
     * A silent peer, seen from the minority side of a split: not declared lost (the majority decides
     * that), but calls to it fail now and its link is dialled afresh.
     */
    private void cutOff(Peer p, String why) {
        if (!p.cutOff) {
            p.cutOff = true;
            log.warn("node {}: cannot reach node {} at {} ({}); in the minority, it does not declare it lost", node.id(),
                    p.id, p.address, why);
        }
        Outbound out = p.out;
        p.out = null;
        if (out != null) {
            out.cancel("node " + p.id + " is unreachable");
        }
        failCallsTo(p, new CallException(CallException.Failure.UNREACHABLE, null, "node " + p.id + " is unreachable from node "
                + node.id() + ", which is cut off from the majority of its cluster", null));
    }

    /** A peer refused this node's link because it declared this life lost. Any thread. */
    private void declaredLost(String address, String why) {
        if (closed || !renewing.compareAndSet(false, true)) {
            return;
        }
        log.warn("node {}: the node at {} says this node's life (incarnation {}) was declared lost: {}; policy {}", node.id(),
                address, incarnation, why, lostPolicy);
        timer.execute(() -> renew(address + ": " + why));
    }

    /** Ends this life and starts a new one, or (policy EXIT) tells the listener. Timer thread. */
    private void renew(String why) {
        if (closed) {
            return;
        }
        try {
            if (lostPolicy == LostPolicy.EXIT) {
                notifyListener(() -> listener.declaredLost(why)); // renewing stays set: this life does nothing more
                return;
            }
            Set<Integer> former = new TreeSet<>(peers.keySet());
            dropLinks("node " + node.id() + " is starting a new life");
            synchronized (this) {
                peers.clear();
                lostLives.clear(); // the new life starts with no verdicts of its own
            }
            remoteNames.clear();
            long life = node.newLife(ExitReason.NODE_LOST, "node " + node.id() + "'s life was declared lost by its peers ("
                    + why + ")");
            incarnation = life;
            lives.increment();
            lastTickNanos = 0;
            if (!inMajority) { // a new life starts with no peers and no verdicts: it is its own majority until it links
                inMajority = true;
                notifyListener(() -> listener.majorityChanged(true));
            }
            log.info("node {}: starts a new life, incarnation {}; linking again to {}", node.id(), life, former);
            renewing.set(false);
            notifyListener(() -> listener.newLife(life, former));
        } catch (RuntimeException e) {
            renewing.set(false);
            log.error("node {}: starting a new life failed; it stays cut off: {}", node.id(), e.toString(), e);
        }
        tick();
    }

    private void notifyListener(Runnable call) {
        try {
            call.run();
        } catch (RuntimeException e) {
            log.error("node {}: the membership listener failed: {}", node.id(), e.toString(), e);
        }
    }

    /**
     * Tells every peer that this node leaves the cluster on purpose, after everything queued for it
     * (stop the node first, so its exit events go before), and waits up to {@code max} for the queues
     * to empty. Peers then record that it left rather than lost it. Call before {@link #close}.
     */
    public void leave(String why, Duration max) {
        leaving = true; // from now on, links from other nodes are refused as from a leaving node
        broadcast(Envelope.newBuilder().setLeaving(Leaving.newBuilder().setReason(why)).build());
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

    /** A peer said it leaves: it is no member any more, and not lost. gRPC's event loop. */
    private void left(Peer p, String why) {
        if (!retire(p, leftLives)) {
            return;
        }
        log.info("node {}: node {} at {} left the cluster ({})", node.id(), p.id, p.address, why);
        if (!p.address.isEmpty() && !p.address.equals(advertise)) {
            leftAddresses.add(p.address);
            Dial d = dials.remove(p.address);
            if (d != null) {
                d.channel.shutdown();
            }
        }
        // Its exit events came before its Leaving: anything still listed ended with it.
        endPeer(p, "node " + p.id + " left", new CallException(CallException.Failure.UNREACHABLE, null, "node " + p.id
                + " left the cluster", null), ExitReason.NODE_STOPPED, "node " + p.id + " left the cluster");
    }

    /** Whether this node hears from a majority of its cluster (see the class comment). */
    public boolean inMajority() {
        return inMajority;
    }

    /** How many times this node's link timer found the node itself had been paused or starved. */
    public long pauses() {
        return pauses.sum();
    }

    /** How many new lives this node has started since it was built (after being declared lost). */
    public long newLives() {
        return lives.sum();
    }

    @Override
    public String refusesGlobalNames() {
        if (renewing.get()) {
            return "node " + node.id() + " is starting a new life";
        }
        return inMajority ? null : "node " + node.id() + " is cut off from the majority of its cluster";
    }

    private static CallException lostError(Peer p, String why) {
        return new CallException(CallException.Failure.NODE_LOST, null, "node " + p.id + " was lost: " + why, null);
    }

    /** Heartbeats on the response stream of the peer's link to us, so the peer hears from us on its own stream too. */
    private void heartbeatBack(Peer p) {
        StreamObserver<LinkFrame> in = p.inbound;
        if (in instanceof ServerCallStreamObserver<LinkFrame> s && p.inboundOpen) {
            synchronized (in) {
                try {
                    if (s.isReady()) {
                        s.onNext(LinkFrame.newBuilder().setHeartbeat(Heartbeat.newBuilder().setSentUnixNanos(System.nanoTime())).build());
                    }
                } catch (RuntimeException e) {
                    log.debug("node {}: heartbeat to node {}: {}", node.id(), p.id, e.toString());
                }
            }
        }
    }

    // ------------------------------------------------------------------ messages in

    /** The server side of a peer's link to this node. Frames arrive one at a time on gRPC's event loop. */
    private final class Inbound implements StreamObserver<LinkFrame> {
        private final ServerCallStreamObserver<LinkFrame> responses;
        private Peer peer;
        private boolean self;
        private boolean refused;
        private ReplyTo replyTo;

        Inbound(ServerCallStreamObserver<LinkFrame> responses) {
            this.responses = responses;
        }

        @Override
        public void onNext(LinkFrame frame) {
            if (refused || self) {
                return;
            }
            if (peer == null) {
                hello(frame);
                return;
            }
            if (frame.hasRefusal()) { // the dialler would not take our Hello: it declared this life lost
                if (frame.getRefusal().getDeclaredLost()) {
                    declaredLost(peer.address, frame.getRefusal().getReason());
                }
                return;
            }
            if (peer.lost) {
                return;
            }
            peer.heard();
            switch (frame.getKindCase()) {
                case BATCH -> batch(frame.getBatch());
                case HEARTBEAT -> { }
                default -> refuse("a " + frame.getKindCase() + " frame after the Hello breaks the protocol");
            }
        }

        private void hello(LinkFrame frame) {
            if (!frame.hasHello()) {
                refuse("the first frame of a link must be a Hello, not " + frame.getKindCase());
                return;
            }
            Hello h = frame.getHello();
            if (closed || leaving) {
                refuse(LinkFrame.newBuilder().setRefusal(Refusal.newBuilder().setLeaving(true)
                        .setReason("node " + node.id() + " is leaving the cluster")).build());
                return;
            }
            if (renewing.get()) {
                refuse("node " + node.id() + " is starting a new life; it dials back when it has");
                return;
            }
            if (h.getNode() == node.id() && h.getIncarnation() == incarnation) {
                self = true; // this node dialled itself through one of its peer addresses
                synchronized (responses) {
                    responses.onNext(LinkFrame.newBuilder().setHello(Harbor.this.hello(false)).build());
                    responses.onCompleted();
                }
                return;
            }
            Peer p;
            try {
                p = admit(h, h.getAddress());
            } catch (LinkRefused e) {
                log.warn("node {}: refused a link from {}: {}", node.id(), h.getAddress(), e.getMessage());
                refuse(e.getMessage(), e.declaredLost);
                return;
            }
            StreamObserver<LinkFrame> previous = p.inbound;
            if (p.inboundOpen && previous != null) {
                // The same life opened a new stream: it gave up on the old one (which may not have told
                // us yet). The new one replaces it rather than being refused for a while.
                log.info("node {}: node {} opened a new link; closing its previous one", node.id(), p.id);
                synchronized (previous) {
                    try {
                        previous.onError(Status.ABORTED.withDescription("replaced by a newer link from the same node")
                                .asRuntimeException());
                    } catch (RuntimeException e) {
                        log.debug("node {}: closing the replaced link from node {}: {}", node.id(), p.id, e.toString());
                    }
                }
            }
            for (dev.harbor.proto.Handle s : h.getServicesList()) {
                p.live.add(Wire.handle(s));
            }
            for (NameBinding b : h.getNamesList()) {
                bound(p, b);
            }
            p.inbound = responses;
            p.inboundOpen = true;
            p.heard();
            peer = p;
            Peer answering = p;
            replyTo = (session, value, error) -> reply(answering, session, value, error);
            synchronized (responses) {
                responses.onNext(LinkFrame.newBuilder().setHello(Harbor.this.hello(false)).build());
            }
            if (!p.address.isEmpty()) {
                learnedAddresses.add(p.address); // dial back a node that was not in our peer list
                leftAddresses.remove(p.address); // a node that left is back
                Dial d = dials.get(p.address);
                if (d != null) {
                    d.retryAtNanos = 0; // an earlier refusal (a lost or renewing life) says nothing of this one
                }
            }
            if (p.out == null && !closed) {
                timer.execute(Harbor.this::tick); // link back now rather than at the next tick
            }
        }

        private void batch(Batch batch) {
            int messages = 0;
            for (Envelope e : batch.getEnvelopesList()) {
                if (e.hasSend() || e.hasCall()) {
                    messages++;
                }
                try {
                    envelope(e);
                } catch (RuntimeException ex) {
                    rejected.increment();
                    log.warn("node {}: dropped a malformed envelope from node {}: {}", node.id(), peer.id, ex.toString());
                }
            }
            received.add(messages);
        }

        private void envelope(Envelope e) {
            switch (e.getKindCase()) {
                case SEND -> {
                    Send s = e.getSend();
                    Object payload;
                    try {
                        payload = payloads.decode(s.getPayload());
                    } catch (InvalidProtocolBufferException ex) {
                        rejected.increment();
                        log.warn("node {}: dropped a send from {} with a payload that does not parse: {}", node.id(),
                                Wire.handle(s.getFrom()), ex.getMessage());
                        return;
                    }
                    node.deliverFromRemote(s.hasFrom() ? Wire.handle(s.getFrom()) : null, Wire.handle(s.getTo()), payload);
                }
                case CALL -> {
                    Call c = e.getCall();
                    Object payload;
                    try {
                        payload = payloads.decode(c.getPayload());
                    } catch (InvalidProtocolBufferException ex) {
                        rejected.increment();
                        replyTo.deliver(c.getSession(), null, new CallException(CallException.Failure.BAD_PAYLOAD,
                                Wire.handle(c.getTo()), "the call's payload does not parse: " + ex.getMessage(), null));
                        return;
                    }
                    node.callFromRemote(c.hasFrom() ? Wire.handle(c.getFrom()) : null, Wire.handle(c.getTo()), payload, replyTo,
                            c.getSession());
                }
                case REPLY -> answer(peer, e.getReply());
                case BORN -> {
                    Handle h = Wire.handle(e.getBorn().getHandle());
                    if (h.node() != peer.id) {
                        throw new IllegalArgumentException("node " + peer.id + " announced the birth of " + h + ", a service of node " + h.node());
                    }
                    peer.live.add(h);
                }
                case DIED -> {
                    Handle h = Wire.handle(e.getDied().getHandle());
                    if (h.node() != peer.id) { // a peer speaks for its own services only
                        throw new IllegalArgumentException("node " + peer.id + " announced the death of " + h + ", a service of node " + h.node());
                    }
                    peer.live.remove(h);
                    peer.namesOf.remove(h);
                    for (String n : e.getDied().getNamesList()) {
                        remoteNames.remove(n, h);
                    }
                }
                case BOUND -> bound(peer, e.getBound());
                case LEAVING -> left(peer, e.getLeaving().getReason());
                case KIND_NOT_SET -> throw new IllegalArgumentException("an envelope of no kind");
            }
        }

        private void refuse(String why) {
            refuse(why, false);
        }

        private void refuse(String why, boolean declaredLost) {
            rejected.increment();
            refuse(LinkFrame.newBuilder().setRefusal(Refusal.newBuilder().setReason(why).setDeclaredLost(declaredLost)).build());
        }

        private void refuse(LinkFrame refusal) {
            refused = true;
            String why = refusal.getRefusal().getReason();
            synchronized (responses) {
                try {
                    responses.onNext(refusal);
                    responses.onError(Status.FAILED_PRECONDITION.withDescription(why).asRuntimeException());
                } catch (RuntimeException e) {
                    log.debug("node {}: refusing a link: {}", node.id(), e.toString());
                }
            }
        }

        @Override
        public void onError(Throwable t) {
            closedByPeer();
        }

        @Override
        public void onCompleted() {
            closedByPeer();
            synchronized (responses) {
                try {
                    responses.onCompleted();
                } catch (RuntimeException e) {
                    log.debug("node {}: completing a link: {}", node.id(), e.toString());
                }
            }
        }

        private void closedByPeer() {
            Peer p = peer;
            if (p != null && p.inbound == responses) { // not if a newer stream has replaced this one
                p.inboundOpen = false;
            }
        }
    }

    private void bound(Peer p, NameBinding b) {
        Handle h = Wire.handle(b.getHandle());
        if (h.node() != p.id) {
            log.warn("node {}: node {} announced name '{}' for {}, a service of another node; ignored", node.id(), p.id,
                    b.getName(), h);
            return;
        }
        Handle previous = remoteNames.putIfAbsent(b.getName(), h);
        if (previous != null && !previous.equals(h)) {
            log.warn("node {}: the global name '{}' is claimed by both {} and {}; it stays with {}", node.id(),
                    b.getName(), previous, h, previous);
            return;
        }
        p.namesOf.merge(h, List.of(b.getName()), (a, c) -> {
            List<String> all = new ArrayList<>(a);
            all.addAll(c);
            return List.copyOf(all);
        });
    }

    /** Sends the answer to a call that came from {@code p} back to it. */
    private void reply(Peer p, long session, Object value, CallException error) {
        if (p.lost) {
            log.debug("node {}: dropped the reply to session {} of lost node {}", node.id(), session, p.id);
            return;
        }
        Reply.Builder r = Reply.newBuilder().setSession(session);
        if (error == null) {
            try {
                r.setValue(payloads.encode(value, null));
            } catch (CallException e) {
                error = new CallException(CallException.Failure.BAD_PAYLOAD, null, "the reply " + e.getMessage(), null);
            }
        }
        if (error != null) {
            r.setError(wire(error));
        }
        Envelope envelope = Envelope.newBuilder().setReply(r).build();
        Outbound out = p.out;
        if (out != null && out.offer(envelope, true)) {
            return;
        }
        // Our stream to the caller's node is not up (yet, or again): keep the reply until it is.
        p.waitingForLink.add(envelope);
        out = p.out;
        if (out != null) {
            flushWaiting(p, out);
        }
    }

    private static void flushWaiting(Peer p, Outbound out) {
        dev.harbor.proto.Envelope e;
        while ((e = p.waitingForLink.poll()) != null) {
            if (!out.offer(e, true)) {
                p.waitingForLink.add(e);
                return;
            }
        }
    }

    private void answer(Peer p, Reply r) {
        Message m = p.outstanding.remove(r.getSession());
        if (m == null) {
            return; // timed out before, or never ours
        }
        if (r.hasError()) {
            m.defer().fail(callException(r.getError()));
            return;
        }
        try {
            m.defer().reply(payloads.decode(r.getValue()));
        } catch (InvalidProtocolBufferException e) {
            m.defer().fail(new CallException(CallException.Failure.BAD_PAYLOAD, null,
                    "the reply from node " + p.id + " does not parse: " + e.getMessage(), null));
        }
    }

    // ------------------------------------------------------------------ wire forms

    private static CallError wire(CallException e) {
        CallError.Builder b = CallError.newBuilder()
                .setFailure(CallError.Failure.forNumber(e.failure().ordinal() + 1))
                .setMessage(Objects.requireNonNullElse(e.getMessage(), ""));
        if (e.exitReason() != null) {
            b.setExitReason(dev.harbor.proto.ExitReason.forNumber(e.exitReason().ordinal() + 1));
        }
        if (e.target() != null) {
            b.setTarget(Wire.handle(e.target()));
        }
        return b.build();
    }

    private static CallException callException(CallError e) {
        CallException.Failure failure = e.getFailureValue() >= 1 && e.getFailureValue() <= CallException.Failure.values().length
                ? CallException.Failure.values()[e.getFailureValue() - 1] : CallException.Failure.HANDLER_FAILED;
        ExitReason reason = e.getExitReasonValue() >= 1 && e.getExitReasonValue() <= ExitReason.values().length
                ? ExitReason.values()[e.getExitReasonValue() - 1] : null;
        Handle target = e.hasTarget() && e.getTarget().getNode() >= 1 && e.getTarget().getId() >= 1 ? Wire.handle(e.getTarget()) : null;
        return new CallException(failure, target, reason, e.getMessage(), null);
    }

    // ------------------------------------------------------------------ closing

    /** Closes every link. The node itself is not stopped: stop it first so its peers hear every exit. */
    @Override
    public void close() {
        closed = true;
        timer.shutdownNow();
        node.exits().unsubscribe(exitListener);
        for (Outbound out : outbounds) {
            out.cancel("node " + node.id() + " is closing its links");
        }
        for (Peer p : peers.values()) {
            StreamObserver<LinkFrame> in = p.inbound;
            if (in != null) {
                synchronized (in) {
                    try {
                        in.onCompleted();
                    } catch (RuntimeException e) {
                        log.debug("node {}: closing the link from node {}: {}", node.id(), p.id, e.toString());
                    }
                }
            }
        }
        closeChannels();
    }

    /**
     * Ends every link of this life (a new one is starting): streams both ways close, calls in flight
     * to other nodes fail, and every peer is forgotten (not lost: nothing is published for them; the
     * new life learns them again from their Hellos). Timer thread.
     */
    private void dropLinks(String why) {
        for (Outbound out : outbounds) {
            out.cancel(why);
        }
        for (Dial d : dials.values()) {
            d.current = null;
            d.retryAtNanos = 0;
        }
        CallException failure = new CallException(CallException.Failure.UNREACHABLE, null, why, null);
        for (Peer p : peers.values()) {
            p.lost = true;
            p.out = null;
            StreamObserver<LinkFrame> in = p.inbound;
            if (in != null) {
                synchronized (in) {
                    try {
                        in.onError(Status.UNAVAILABLE.withDescription(why).asRuntimeException());
                    } catch (RuntimeException e) {
                        log.debug("node {}: closing the link from node {}: {}", node.id(), p.id, e.toString());
                    }
                }
            }
            failCallsTo(p, failure);
            p.waitingForLink.clear();
        }
    }

    private void closeChannels() {
        for (Dial d : dials.values()) {
            d.channel.shutdownNow();
        }
        for (Dial d : dials.values()) {
            try {
                d.channel.awaitTermination(2, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return;
            }
        }
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
     * Hears of this node's standing in its cluster. Called on the transport's timer thread: return
     * quickly, hand long work to another thread.
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

    /** One peer address this node dials, and its current stream. */
    private static final class Dial {
        final String address;
        final ManagedChannel channel;
        volatile Outbound current;
        volatile long retryAtNanos;

        Dial(String address, ManagedChannel channel) {
            this.address = address;
            this.channel = channel;
        }
    }

    /** Why a link was refused. */
    private static final class LinkRefused extends Exception {
        /** The refused life was declared lost by this node: the refusal tells it so. */
        final boolean declaredLost;

        LinkRefused(String why) {
            this(why, false);
        }

        LinkRefused(String why, boolean declaredLost) {
            super(why);
            this.declaredLost = declaredLost;
        }
    }

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
        private int batchSize = 64;
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

        /** How many envelopes may wait for one peer before sends fail as OVERLOADED (default 100000). */
        public Builder outboundLimit(int envelopes) {
            if (envelopes < 1) {
                throw new IllegalArgumentException("the outbound limit must be at least 1, got " + envelopes);
            }
            this.outboundLimit = envelopes;
            return this;
        }

        /** Envelopes per stream message (default 64). */
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
