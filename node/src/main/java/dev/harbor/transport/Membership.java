package dev.harbor.transport;

import dev.harbor.proto.Hello;
import dev.harbor.proto.NameBinding;
import dev.harbor.service.CallException;
import dev.harbor.service.ExitReason;
import dev.harbor.service.Handle;
import dev.harbor.service.InternalNode;
import dev.harbor.service.Node;
import io.grpc.Status;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.LongAdder;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Who this node's members are, and this node's own life (the rules are in {@link Harbor}'s class
 * comment): admission of a peer's Hello, the link timer's round (pause detection, suspicion,
 * heartbeats, verdicts by majority, then dialling), a peer's life declared lost or left, this node
 * cut off in a minority, and a new life when its own was declared lost.
 *
 * <p>State: owns the peers (one {@link Peer} per node id: its newest admitted life), the lost and
 * left lives, the missing nodes (linked once, not now, not seen to leave), this node's incarnation,
 * whether it is in the majority, and whether it is renewing.
 *
 * <p>Time: every reading is the node's scheduler's clock ({@link Harbor#nanoTime}), never the wall
 * clock: when each peer was last heard, how late the link timer's round is, the suspicion and loss
 * windows.
 *
 * <p>Threading: the link timer's round ({@link #tick}) runs on the node's scheduler, one round at a
 * time. A new life ({@link #renew}) can block (it waits for the new monitor's init and runs the old
 * services' exit hooks), so it runs on a platform thread of its own, which a scheduler task starts:
 * it begins after any round in progress, and every round until it ends returns at once, because
 * {@link #renewing} is set first (so a new life never overlaps a round). Admission, a peer leaving and
 * a refusal saying this life was lost come from gRPC's event loops. Membership changes (a peer
 * admitted, lost or left, the peers cleared for a new life) take this object's lock; everything else
 * is a concurrent map or a volatile, or (the last round's time) touched only by the rounds and by the
 * new-life thread while no round runs, ordered by {@link #renewing}.
 */
final class Membership {
    private static final Logger log = LoggerFactory.getLogger(Harbor.class);

    private final Harbor harbor;
    private final Node node;
    private final Duration heartbeat;
    private final Duration lossTimeout;

    private final Map<Integer, Peer> peers = new ConcurrentHashMap<>();
    /** This node's life: written by {@link #renew} on the new-life thread, read anywhere. */
    private volatile long incarnation;
    /** Guarded by this: the newest life of each node id that was declared lost. */
    private final Map<Integer, Long> lostLives = new ConcurrentHashMap<>();
    /** Guarded by this: the newest life of each node id that left on purpose. */
    private final Map<Integer, Long> leftLives = new ConcurrentHashMap<>();
    /**
     * Guarded by this (read anywhere): the nodes this node linked that are not linked now and were not
     * seen to leave, with the address last known: a life declared lost with no newer one linked since,
     * or a peer dropped when this node began a new life and not linked again. Only peers this node's own
     * dial reached ({@link Peer#confirmed}): a Hello alone is a claim, and a made-up one must not leave a
     * node here for good. Unlike {@link #lostLives}, a new life of this node keeps them: nothing says
     * they stopped.
     */
    private final Map<Integer, String> missing = new ConcurrentHashMap<>();
    /**
     * When the link timer's last round ran, by the scheduler's clock, if {@link #ticked}: a late round
     * means this node itself was paused. Rounds only, and a new life's reset while no round runs.
     */
    private long lastTickNanos;
    /** Whether a round has run in this life (so {@link #lastTickNanos} holds a reading); as {@link #lastTickNanos}. */
    private boolean ticked;
    /** Whether this node hears from a majority of its members; written by the rounds and a new life. */
    private volatile boolean inMajority = true;
    /** Set while this node ends its life and starts a new one (or, under EXIT, for good). */
    private final AtomicBoolean renewing = new AtomicBoolean();
    final LongAdder pauses = new LongAdder();
    final LongAdder lives = new LongAdder();

    Membership(Harbor harbor, long incarnation) {
        this.harbor = harbor;
        this.node = harbor.node;
        this.heartbeat = harbor.heartbeat;
        this.lossTimeout = harbor.lossTimeout;
        this.incarnation = incarnation;
    }

    long incarnation() {
        return incarnation;
    }

    boolean inMajority() {
        return inMajority;
    }

    boolean renewing() {
        return renewing.get();
    }

    /** The current life of node {@code id} this node knows, or null. */
    Peer peer(int id) {
        return peers.get(id);
    }

    /** The peers this node knows now. */
    java.util.Collection<Peer> peers() {
        return peers.values();
    }

    /** The ids of the nodes this node can send to now. */
    Set<Integer> connected() {
        Set<Integer> out = new TreeSet<>();
        peers.forEach((id, p) -> {
            if (p.out != null && !p.lost) {
                out.add(id);
            }
        });
        return out;
    }

    /** The addresses of the nodes this node knows, by id. */
    java.util.Map<Integer, String> peerAddresses() {
        java.util.Map<Integer, String> out = new java.util.TreeMap<>();
        peers.forEach((id, p) -> out.put(id, p.address));
        return out;
    }

    /** The {@link #missing} nodes' addresses, by id. */
    java.util.Map<Integer, String> missingAddresses() {
        return new java.util.TreeMap<>(missing);
    }

    String refusesGlobalNames() {
        if (renewing.get()) {
            return "node " + node.id() + " is starting a new life";
        }
        return inMajority ? null : "node " + node.id() + " is cut off from the majority of its cluster";
    }

    // ------------------------------------------------------------------ the link timer

    /**
     * One round of the link timer: pauses, suspicion, heartbeats, verdicts, majority, dialling. The
     * node's scheduler thread; never blocks (it sends frames, fails calls and publishes exit events,
     * which only enqueue).
     */
    void tick() {
        if (harbor.closed || renewing.get()) {
            return;
        }
        try {
            long now = harbor.nanoTime();
            long late = ticked ? now - lastTickNanos - heartbeat.toNanos() : 0;
            lastTickNanos = now;
            ticked = true;
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
                peers.values().forEach(p -> p.heard(now));
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
                silent.forEach(p -> p.heard(now));
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
            if (!harbor.leaving) {
                // A leaving node opens no link: its peers have recorded that it left (or will, from its
                // streams still open) and refuse it, and nothing it sent on a new link would count.
                harbor.dialler.dialAll(now);
            }
        } catch (RuntimeException e) {
            log.error("node {}: the link timer failed; links may not recover until the next tick", node.id(), e);
        }
    }

    /** Heartbeats on the response stream of the peer's link to us, so the peer hears from us on its own stream too. */
    private void heartbeatBack(Peer p) {
        LinkWriter in = p.inbound;
        if (in != null && p.inboundOpen) {
            try {
                in.heartbeatIfReady();
            } catch (RuntimeException e) {
                log.debug("node {}: heartbeat to node {}: {}", node.id(), p.id, e.toString());
            }
        }
    }

    // ------------------------------------------------------------------ admission

    /** Admits the life of a node that said Hello, or refuses it with the reason. gRPC's event loop. */
    synchronized Peer admit(Hello h, String address) throws LinkRefused {
        if (!h.getCluster().equals(harbor.cluster)) {
            throw new LinkRefused("it belongs to cluster '" + h.getCluster() + "', this node to cluster '" + harbor.cluster + "'");
        }
        if (h.getWire() != EnvelopeBatch.WIRE) {
            throw new LinkRefused("it speaks wire format " + Integer.toUnsignedString(h.getWire()) + ", this node " + EnvelopeBatch.WIRE
                    + ": every node of a cluster must run the same Harbor build (messages between them would be lost)");
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
            throw LinkRefused.declaredLost("node " + node.id() + " declared this life of node " + id + " (incarnation "
                    + h.getIncarnation() + ") lost: it rejoins as a new life");
        }
        Long left = leftLives.get(id);
        if (left != null && h.getIncarnation() <= left) {
            throw new LinkRefused("this life of node " + id + " left the cluster");
        }
        Peer old = peers.get(id);
        if (old != null) {
            if (old.incarnation == h.getIncarnation()) {
                return old;
            }
            if (h.getIncarnation() < old.incarnation) {
                throw new LinkRefused("a newer life of node " + id + " is linked already");
            }
            boolean oldSilent = !old.inboundOpen || harbor.nanoTime() - old.lastHeardNanos > 2 * heartbeat.toNanos();
            if (!oldSilent) {
                throw LinkRefused.inUse("node id " + id + " is in use by a live node at " + old.address);
            }
            declareLost(old, "it restarted");
        }
        Peer p = new Peer(id, h.getIncarnation(), h.getAddress().isEmpty() ? address : h.getAddress(), harbor.nanoTime());
        peers.put(id, p);
        missing.remove(id);
        return p;
    }

    /** Refuses a Hello that speaks for a service of another node, or names no service at all. */
    private static void checkOwn(dev.harbor.proto.Handle w, int id, String what) throws LinkRefused {
        if (w.getNode() != id || w.getId() == 0) {
            throw new LinkRefused("its Hello " + what + " node " + Integer.toUnsignedString(w.getNode()) + " id "
                    + Long.toUnsignedString(w.getId()) + ", which is not a service of node " + id);
        }
    }

    // ------------------------------------------------------------------ verdicts

    /**
     * Ends a peer's life for this node: calls in flight to it fail with {@code NODE_LOST}, each of its
     * services gets a {@code NODE_LOST} exit event in this node's log, its names go.
     */
    private void declareLost(Peer p, String why) {
        if (!retire(p, false)) {
            return;
        }
        log.warn("node {}: lost node {} at {}: {}", node.id(), p.id, p.address, why);
        endPeer(p, "node " + p.id + " was declared lost: " + why, Routing.lostError(p, why), ExitReason.NODE_LOST,
                "node " + p.id + " was lost: " + why);
    }

    /**
     * Takes a peer's life out of this node's members, once, recording it among the lives that
     * {@code left} or among the lost ones, so that life is never admitted again. A lost life of a peer
     * this node's dial reached, with no newer life linked, is missing (nothing says it stopped); one
     * that left is not.
     *
     * @return false if it was out already
     */
    private synchronized boolean retire(Peer p, boolean left) {
        if (p.lost) {
            return false;
        }
        p.lost = true;
        peers.remove(p.id, p);
        (left ? leftLives : lostLives).merge(p.id, p.incarnation, Math::max);
        if (left) {
            missing.remove(p.id);
        } else if (p.confirmed && !peers.containsKey(p.id)) { // an older life, retired after a newer one came, is not missing
            missing.put(p.id, p.address);
        }
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
        closeInbound(p, why);
        harbor.routing.failCallsTo(p, failure);
        List<Handle> gone = new ArrayList<>(p.live);
        gone.sort(null);
        p.live.clear();
        for (Handle h : gone) {
            List<String> names = p.namesOf.getOrDefault(h, List.of());
            names.forEach(n -> harbor.routing.unbind(n, h));
            InternalNode.publishPeerExit(node, h, names, reason, detail);
        }
        p.namesOf.forEach((h, names) -> names.forEach(n -> harbor.routing.unbind(n, h)));
    }

    /** Ends the peer's link to this node with {@code UNAVAILABLE} and {@code why} (it may have ended already). */
    private void closeInbound(Peer p, String why) {
        LinkWriter in = p.inbound;
        if (in != null) {
            try {
                in.fail(Status.UNAVAILABLE.withDescription(why));
            } catch (RuntimeException e) {
                log.debug("node {}: closing the link from node {}: {}", node.id(), p.id, e.toString());
            }
        }
    }

    /**
     * Whether this node hears from a majority of its members (itself and every peer life it knows,
     * not lost, not left, and {@linkplain Peer#confirmed confirmed} by this node's own dial; counting
     * only those heard within half the loss timeout): more than half, or exactly half if that half
     * holds the lowest member id, so that of two equal halves exactly one goes on.
     *
     * <p>A life that only dialled in is no member yet: anyone who knows the cluster's name can say Hello
     * for made-up node ids and fall silent, and if those counted, a few of them would put this node in
     * the minority, where it passes no verdict on them, so it would stay there until restarted. Such a
     * life is still judged like any peer (declared lost when silent past the loss timeout). A real node
     * is confirmed as soon as this node's dial back reaches it (the dial back starts on its Hello).
     */
    private boolean reachesMajority(long now) {
        int members = 1;
        int reached = 1;
        int lowest = node.id();
        boolean lowestReached = true;
        for (Peer p : peers.values()) {
            if (p.lost || !p.confirmed) {
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

    /** Records whether this node is in the majority, and tells the listener when that changes. Scheduler thread. */
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
        notifyListener(() -> harbor.listener.majorityChanged(now));
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
        harbor.routing.failCallsTo(p, new CallException(CallException.Failure.UNREACHABLE, null, "node " + p.id
                + " is unreachable from node " + node.id() + ", which is cut off from the majority of its cluster", null));
    }

    /** A peer said it leaves: it is no member any more, and not lost. gRPC's event loop. */
    void left(Peer p, String why) {
        if (!retire(p, true)) {
            return;
        }
        log.info("node {}: node {} at {} left the cluster ({})", node.id(), p.id, p.address, why);
        if (!p.address.isEmpty() && !p.address.equals(harbor.advertise)) {
            harbor.dialler.forget(p.address);
        }
        // Its exit events came before its Leaving: anything still listed ended with it.
        endPeer(p, "node " + p.id + " left", new CallException(CallException.Failure.UNREACHABLE, null, "node " + p.id
                + " left the cluster", null), ExitReason.NODE_STOPPED, "node " + p.id + " left the cluster");
    }

    // ------------------------------------------------------------------ this node's own life

    /**
     * A peer refused a link of this node's life {@code life} (the incarnation in the Hello it refused)
     * because it declared that life lost. Any thread. A refusal of an earlier life is ignored: it can
     * arrive after the new life began (it was on its way, or read, while the old life's links were
     * being dropped), and that verdict is over already; taken for the current life, it would end a
     * life nobody declared lost.
     */
    void declaredLost(String address, long life, String why) {
        if (life != incarnation) {
            log.info("node {}: the node at {} refused a link of this node's earlier life (incarnation {}); this life ({})"
                    + " goes on: {}", node.id(), address, life, incarnation, why);
            return;
        }
        if (harbor.closed || !renewing.compareAndSet(false, true)) {
            return;
        }
        log.warn("node {}: the node at {} says this node's life (incarnation {}) was declared lost: {}; policy {}", node.id(),
                address, incarnation, why, harbor.lostPolicy);
        // A scheduler task, so the new life starts after the round in progress, if any (the rounds after
        // it see renewing and do nothing); the new life itself on its own thread, as it may block.
        harbor.schedule(() -> Thread.ofPlatform().name("harbor-" + node.id() + "-new-life").daemon()
                .start(() -> renew(address + ": " + why)), java.time.Duration.ZERO);
    }

    /**
     * Ends this life and starts a new one, or (policy EXIT) tells the listener. The transport's new-life
     * thread, while {@link #renewing} keeps the link timer's rounds idle; ends by asking for a round.
     */
    private void renew(String why) {
        if (harbor.closed) {
            return;
        }
        try {
            if (harbor.lostPolicy == Harbor.LostPolicy.EXIT) {
                notifyListener(() -> harbor.listener.declaredLost(why)); // renewing stays set: this life does nothing more
                return;
            }
            Set<Integer> former = new TreeSet<>(peers.keySet());
            dropLinks("node " + node.id() + " is starting a new life");
            synchronized (this) {
                peers.forEach((id, p) -> {
                    if (p.confirmed) {
                        missing.put(id, p.address); // until they link to the new life
                    }
                });
                peers.clear();
                lostLives.clear(); // the new life starts with no verdicts of its own
            }
            harbor.routing.clearNames();
            long life = InternalNode.newLife(node, ExitReason.NODE_LOST, "node " + node.id() + "'s life was declared lost by its peers ("
                    + why + ")");
            incarnation = life;
            harbor.dialler.allDueNow(); // refusals of the old life read since dropLinks may have put dials off
            lives.increment();
            ticked = false; // before renewing is cleared: the next round reads it after that
            if (!inMajority) { // a new life starts with no peers and no verdicts: it is its own majority until it links
                inMajority = true;
                notifyListener(() -> harbor.listener.majorityChanged(true));
            }
            log.info("node {}: starts a new life, incarnation {}; linking again to {}", node.id(), life, former);
            renewing.set(false);
            notifyListener(() -> harbor.listener.newLife(life, former));
        } catch (RuntimeException e) {
            renewing.set(false);
            log.error("node {}: starting a new life failed; it stays cut off: {}", node.id(), e.toString(), e);
        }
        harbor.tickSoon();
    }

    /**
     * Ends every link of this life (a new one is starting): streams both ways close, calls in flight
     * to other nodes fail, and every peer is forgotten (not lost: nothing is published for them; the
     * new life learns them again from their Hellos). New-life thread, while no round runs.
     */
    private void dropLinks(String why) {
        harbor.dialler.dropAll(why);
        CallException failure = new CallException(CallException.Failure.UNREACHABLE, null, why, null);
        for (Peer p : peers.values()) {
            p.lost = true;
            p.out = null;
            closeInbound(p, why);
            harbor.routing.failCallsTo(p, failure);
            p.waitingForLink.clear();
        }
    }

    private void notifyListener(Runnable call) {
        try {
            call.run();
        } catch (RuntimeException e) {
            log.error("node {}: the membership listener failed: {}", node.id(), e.toString(), e);
        }
    }

    /** Why a link was refused. */
    static final class LinkRefused extends Exception {
        /** The refused life was declared lost by this node: the refusal tells it so. */
        final boolean declaredLost;
        /**
         * Another life of the refused node's id is linked here and live: its own earlier life, if that
         * link has not been read closed yet, or a second node with its id. Worth trying again soon.
         */
        final boolean inUse;

        LinkRefused(String why) {
            this(why, false, false);
        }

        private LinkRefused(String why, boolean declaredLost, boolean inUse) {
            super(why);
            this.declaredLost = declaredLost;
            this.inUse = inUse;
        }

        static LinkRefused declaredLost(String why) {
            return new LinkRefused(why, true, false);
        }

        static LinkRefused inUse(String why) {
            return new LinkRefused(why, false, true);
        }
    }
}
