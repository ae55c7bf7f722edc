package dev.harbor.transport;

import dev.harbor.proto.HarborGrpc;
import dev.harbor.proto.LinkFrame;
import dev.harbor.service.Node;
import io.grpc.ChannelCredentials;
import io.grpc.Grpc;
import io.grpc.ManagedChannel;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * This node's streams to its peers: which addresses to dial (the static peers, the addresses learned
 * from nodes that dialled this one, a DNS name looked up again each tick; less this node's own
 * addresses and those of nodes that left), one gRPC channel per address, one {@link Outbound} stream
 * at a time on each, and when to dial again after a refusal (this node's own backoff, not gRPC's).
 *
 * <p>State: owns the dials (address, channel, current stream, retry time by the node's scheduler's
 * clock, how many nodes at the address dialled in and were admitted, since when the node there has
 * refused this node's id as in use), the set of open streams (which {@link Routing#broadcast} writes
 * to), the learned, self and left address sets, and the addresses the DNS name last resolved to.
 *
 * <p>Threading: dialling runs on the link timer, on the node's scheduler ({@link #dialAll}, from
 * {@link Membership#tick}), and never blocks: opening a stream only starts a call. The DNS lookup can
 * block (a slow resolver), so it runs on a virtual thread of its own, one at a time, started by a
 * round that finds none running; the round dials what the last lookup found, and a lookup that finds
 * new addresses asks for a round at once ({@link Harbor#tickSoon}). A stream's close and refusals
 * arrive on gRPC's event loops; a new life's reset ({@link #dropAll}) on its own thread while no round
 * runs. Everything is a concurrent map or set, or a volatile field: no lock.
 */
final class Dialler {
    private static final Logger log = LoggerFactory.getLogger(Harbor.class);
    private static final long REFUSED_RETRY_NANOS = TimeUnit.SECONDS.toNanos(5);
    /** {@link Dial#inUseSince} when no refusal as in use came since the last link (no clock reading in practice). */
    private static final long NOT_REFUSED_IN_USE = Long.MIN_VALUE;

    private final Harbor harbor;
    private final Node node;
    private final String advertise;
    private final List<String> staticPeers;
    private final String dnsPeers;
    private final ChannelCredentials credentials;

    private final Map<String, Dial> dials = new ConcurrentHashMap<>();
    private final Set<Outbound> outbounds = ConcurrentHashMap.newKeySet();
    private final Set<String> learnedAddresses = ConcurrentHashMap.newKeySet();
    private final Set<String> selfAddresses = ConcurrentHashMap.newKeySet();
    /** Addresses of nodes that left: not dialled until a node there dials this one. */
    private final Set<String> leftAddresses = ConcurrentHashMap.newKeySet();
    /** What {@code dnsPeers} resolved to at the last lookup (empty until one ends, or when it failed). */
    private volatile Set<String> dnsAddresses = Set.of();
    /** Set while a lookup of {@code dnsPeers} runs (its own thread): one at a time. */
    private final AtomicBoolean resolving = new AtomicBoolean();

    Dialler(Harbor harbor, List<String> staticPeers, String dnsPeers) {
        this.harbor = harbor;
        this.node = harbor.node;
        this.advertise = harbor.advertise;
        this.staticPeers = staticPeers;
        this.dnsPeers = dnsPeers;
        this.credentials = harbor.credentials;
    }

    /** This node's open streams to its peers. */
    Set<Outbound> outbounds() {
        return outbounds;
    }

    /** Dials every peer address that has no stream and is due at {@code now} (the scheduler's clock). Link timer. */
    void dialAll(long now) {
        for (String address : addresses()) {
            if (selfAddresses.contains(address) || address.equals(advertise) || leftAddresses.contains(address)) {
                continue;
            }
            Dial dial = dials.computeIfAbsent(address, a -> new Dial(a, Grpc.newChannelBuilder(a, credentials)
                    .directExecutor().build(), now));
            if (dial.current == null && now - dial.retryAtNanos >= 0) {
                open(dial);
            }
        }
    }

    private Set<String> addresses() {
        Set<String> out = new LinkedHashSet<>(staticPeers);
        out.addAll(learnedAddresses);
        if (dnsPeers != null) {
            out.addAll(dnsAddresses);
            lookUpDns();
        }
        return out;
    }

    /**
     * Looks {@code dnsPeers} up again, on a virtual thread (a resolver can take seconds, and the link
     * timer must not wait), unless a lookup is running. New addresses found: a round at once, to dial them.
     */
    private void lookUpDns() {
        if (!resolving.compareAndSet(false, true)) {
            return;
        }
        int colon = dnsPeers.lastIndexOf(':');
        String host = dnsPeers.substring(0, colon);
        String port = dnsPeers.substring(colon + 1);
        Thread.ofVirtual().name("harbor-" + node.id() + "-dns").start(() -> {
            try {
                Set<String> found = new LinkedHashSet<>();
                try {
                    for (InetAddress a : InetAddress.getAllByName(host)) {
                        found.add(a.getHostAddress() + ":" + port);
                    }
                } catch (UnknownHostException e) {
                    log.debug("node {}: {} does not resolve yet: {}", node.id(), host, e.getMessage());
                }
                boolean grew = !dnsAddresses.containsAll(found);
                dnsAddresses = Set.copyOf(found);
                if (grew && !harbor.closed) {
                    harbor.tickSoon();
                }
            } finally {
                resolving.set(false);
            }
        });
    }

    private void open(Dial dial) {
        Outbound out = new Outbound(harbor, dial.address, harbor.outboundLimit, harbor.batchSize);
        dial.current = out;
        outbounds.add(out); // before the snapshot in the Hello: later births and deaths queue behind it
        // This node re-dials on its own clock (each tick): gRPC's own reconnect backoff, which grows to
        // minutes, would keep a healed link down long after the network came back.
        dial.channel.resetConnectBackoff();
        try {
            HarborGrpc.newStub(dial.channel).link(out);
            out.sendFirst(LinkFrame.newBuilder().setHello(harbor.links.hello(true)).build());
        } catch (RuntimeException e) {
            log.debug("node {}: could not open a link to {}: {}", node.id(), dial.address, e.toString());
            outboundClosed(out, e.toString());
        }
        out.opened(); // a cancel while it started (the node closing) goes to the call now
    }

    /**
     * The node at {@code out}'s address refused {@code out}: dial it again only after a while, unless a
     * node at that address dialled this node and was admitted after {@code out} was made. Whatever
     * refused that stream (an old life of the node, or the node while it started a new life) is then
     * over, and the node that dialled in is to be dialled back now, as {@link #dialledFrom} asked: a
     * refusal can be read after that, when it was on its way or its event loop ran late.
     */
    void retryLater(Outbound out) {
        retryAfter(out, REFUSED_RETRY_NANOS);
    }

    /** {@link #retryLater}, after {@code delayNanos} instead of the refused dial's usual wait. */
    private void retryAfter(Outbound out, long delayNanos) {
        Dial dial = dials.get(out.address);
        if (dial == null) {
            return;
        }
        dial.retryAtNanos = harbor.nanoTime() + delayNanos;
        // Read after the backoff is written, where dialledFrom counts before it makes the address due
        // (all volatile): a dial-in this read misses makes the address due after the backoff was written.
        if (dial.dialledInSince(out)) {
            dial.retryAtNanos = harbor.nanoTime();
        }
    }

    /** How many times a node at {@code address} dialled this node and was admitted since this node began dialling it (0 before). */
    int dialInsTo(String address) {
        Dial dial = dials.get(address);
        return dial == null ? 0 : dial.dialIns.get();
    }

    /** {@code address} may be dialled now, whatever refused it before. */
    void dueNow(String address) {
        Dial dial = dials.get(address);
        if (dial != null) {
            dial.retryAtNanos = harbor.nanoTime();
        }
    }

    /** The node at {@code out}'s address refused it ({@code why}): close it, dial again after a while. */
    void refusedBy(Outbound out, String why) {
        retryLater(out);
        out.cancel(why);
    }

    /**
     * {@code out} was refused, or this node refused the node that answered it, because another life of
     * that node's id is linked and live at the refusing end ({@link Membership.LinkRefused#inUse}):
     * close it, and dial again after two heartbeats. By then the refusing end has read that other
     * life's link closed, or found it silent for two heartbeats, if the other life is over (a node that
     * restarted while its peer was paused or slow); if it is not, the ids clash, and the refusal comes
     * again.
     */
    void refusedInUse(Outbound out, String why) {
        retryAfter(out, 2 * harbor.heartbeat.toNanos());
        out.cancel(why);
    }

    /**
     * The node at {@code out}'s address refused {@code out} because this node's id is in use there by
     * a live node: dial again soon ({@link #refusedInUse}) while that can be this node's own earlier
     * life, not read closed yet; once the refusals have gone on for longer than the loss timeout and
     * two heartbeats (by then any peer has let a life that is over go), a second node has this id: say
     * so at ERROR, and dial again only after the refused dial's usual wait. Event loop of {@code out}'s
     * stream; a dial has one stream at a time.
     */
    void refusedAsInUse(Outbound out, String why) {
        Dial dial = dials.get(out.address);
        long now = harbor.nanoTime();
        if (dial != null && dial.inUseSince == NOT_REFUSED_IN_USE) {
            dial.inUseSince = now;
        }
        long refusedFor = dial == null ? 0 : now - dial.inUseSince;
        if (refusedFor > harbor.lossTimeout.plus(harbor.heartbeat.multipliedBy(2)).toNanos()) {
            log.error("node {}: the node at {} refused this node's link for {} ms: {}: node ids must be unique in a cluster",
                    node.id(), out.address, TimeUnit.NANOSECONDS.toMillis(refusedFor), why);
            refusedBy(out, why);
        } else {
            log.info("node {}: the node at {} refused this node's link: {}; an earlier life of this node may still be"
                    + " linked there, not read closed yet: dialling again in {} ms", node.id(), out.address, why,
                    harbor.heartbeat.multipliedBy(2).toMillis());
            refusedInUse(out, why);
        }
    }

    /**
     * The server at {@code out}'s address refused the call itself ({@code why}: unauthenticated, or
     * not permitted), before any Hello: this node lacks a credential that node requires, such as the
     * cluster's token. Said at ERROR, and dialled again after the refused dial's usual wait, not at
     * every round. gRPC's event loop.
     */
    void notAuthorized(Outbound out, String why) {
        log.error("node {}: the node at {} refused this node's link: {}: every node of a cluster needs the same"
                + " credentials for its links (the cluster's token, TLS)", node.id(), out.address, why);
        retryLater(out);
    }

    /** {@code out} linked: a refusal that came before it says nothing any more. */
    void linked(Outbound out) {
        Dial dial = dials.get(out.address);
        if (dial != null) {
            dial.inUseSince = NOT_REFUSED_IN_USE;
        }
    }

    /** {@code address} reaches this node itself: never dialled again. */
    void isSelf(String address) {
        selfAddresses.add(address);
    }

    /** The node at {@code address} left: not dialled again until a node there dials this one. */
    void notUntilDialled(String address) {
        leftAddresses.add(address);
    }

    /** The node at {@code address} left: not dialled again until a node there dials this one, and its channel goes. */
    void forget(String address) {
        leftAddresses.add(address);
        Dial d = dials.remove(address);
        if (d != null) {
            d.channel.shutdown();
        }
    }

    /** A node at {@code address} dialled this node: dial it back (now, whatever refused it before). */
    void dialledFrom(String address) {
        learnedAddresses.add(address); // dial back a node that was not in our peer list
        leftAddresses.remove(address); // a node that left is back
        Dial dial = dials.get(address);
        if (dial != null) {
            dial.dialIns.incrementAndGet(); // before it is made due: see retryLater
        }
        dueNow(address); // an earlier refusal (a lost or renewing life) says nothing of this one
    }

    /** A stream of ours ended ({@code why}): its dial and peer let go of it, and what it never sent fails. */
    void outboundClosed(Outbound out, String why) {
        outbounds.remove(out);
        Dial dial = dials.get(out.address);
        if (dial != null && dial.current == out) {
            dial.current = null;
            if (dial.dialledInSince(out) && !harbor.closed) {
                // A node at this address dialled in and was admitted while this stream was open: the
                // round asked for to dial it back found this stream still open (a refused stream ends
                // only when the peer ends its side) and dialled nothing. Dial now, not at the next
                // round. At most once per dial-in: a stream made after it does not ask again.
                harbor.tickSoon();
            }
        }
        Peer p = out.peer;
        if (p != null && p.out == out) {
            p.out = null;
            log.info("node {}: the link to node {} closed: {}", node.id(), p.id, why);
        }
        harbor.routing.unsent(out, out.close());
    }

    void outboundFailed(Outbound out, RuntimeException e) {
        log.warn("node {}: writing to {} failed: {}", node.id(), out.address, e.toString());
        out.cancel(e.toString());
    }

    /** Cancels every stream of ours. */
    void cancelAll(String why) {
        for (Outbound out : outbounds) {
            out.cancel(why);
        }
    }

    /** Cancels every stream of ours and makes every address due for dialling (a new life starts). New-life thread. */
    void dropAll(String why) {
        cancelAll(why);
        for (Dial d : dials.values()) {
            d.current = null;
        }
        allDueNow();
    }

    /**
     * Makes every address due for dialling now, whatever refused it before. At a new life's start, and
     * again once it has begun: a refusal of the old life read while it was being replaced put its
     * address off, and the new life must not wait for a verdict on the old one. New-life thread.
     */
    void allDueNow() {
        for (String address : dials.keySet()) {
            dueNow(address);
        }
    }

    void closeChannels() {
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

    /** One peer address this node dials, and its current stream. */
    private static final class Dial {
        final String address;
        final ManagedChannel channel;
        volatile Outbound current;
        /** When it may be dialled again, by the node's scheduler's clock (compared by subtraction). */
        volatile long retryAtNanos;
        /** Counts the nodes at this address that dialled this node and were admitted ({@link #dialledFrom}). */
        final AtomicInteger dialIns = new AtomicInteger();
        /**
         * When the node at this address first refused this node's link as in use by a live node, in the
         * refusals since the last link, by the scheduler's clock; {@link #NOT_REFUSED_IN_USE} if none.
         */
        volatile long inUseSince = NOT_REFUSED_IN_USE;

        Dial(String address, ManagedChannel channel, long nowNanos) {
            this.address = address;
            this.channel = channel;
            this.retryAtNanos = nowNanos; // due at once
        }

        /** Whether a node at this address dialled in and was admitted after {@code out} was made. */
        boolean dialledInSince(Outbound out) {
            return dialIns.get() != out.dialInsBefore;
        }
    }
}
