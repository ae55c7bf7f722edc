package dev.harbor.transport;

import dev.harbor.service.Handle;
import dev.harbor.service.Message;
import java.util.List;
import java.util.Map;
import java.util.Queue;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicLong;

/**
 * One life (incarnation) of another node, as this node sees it.
 *
 * <p>Threading: fields are written by gRPC's event loops (frames from the peer), by service threads
 * (calls out), by the link timer on the node's scheduler (heartbeats, loss) and by a new life's
 * thread; each is a concurrent structure or a volatile. A peer, once {@link #lost}, stays lost: a
 * restarted node is a new {@code Peer}. Times are readings of the node's scheduler's clock.
 */
final class Peer {
    final int id;
    final long incarnation;
    final String address;
    /** Our stream to it; null until its Hello came back, or after the stream broke. */
    volatile Outbound out;
    /** The writer of its stream to us (the server side), to cancel on loss; null until its Hello arrived. */
    volatile LinkWriter inbound;
    volatile boolean inboundOpen;
    /**
     * This node's own dial reached this life (its Hello came back on our stream to its address). Only
     * then does it count toward the majority: a Hello on a stream to us proves only that someone who
     * knows the cluster's name connected. Set once, on gRPC's event loop; never cleared for this life.
     */
    volatile boolean confirmed;
    /** When a frame from it last arrived (or it was admitted), by the node's scheduler's clock. */
    volatile long lastHeardNanos;
    volatile boolean lost;
    /** Silent for half the loss timeout: logged once, cleared by a word from it. Link timer only. */
    volatile boolean suspected;
    /** Silent past the loss timeout while this node was in the minority: calls fail, not declared lost. */
    volatile boolean cutOff;

    /** Calls from this node to services of the peer, by session, until answered. */
    final AtomicLong sessions = new AtomicLong();
    final Map<Long, Message> outstanding = new ConcurrentHashMap<>();
    /** The peer's live services, and the global names each holds. */
    final Set<Handle> live = ConcurrentHashMap.newKeySet();
    final Map<Handle, List<String>> namesOf = new ConcurrentHashMap<>();
    /** Replies to the peer's calls made before our own stream to it was up; sent once it is. */
    final Queue<Answer> waitingForLink = new ConcurrentLinkedQueue<>();

    /** The answer to a call of the peer: its value ({@code error} null) or its error's wire form. */
    record Answer(long session, Payloads.Encoded value, byte[] error) {
        /** Queues it on {@code out}; false if that stream has closed. */
        boolean offerTo(Outbound out) {
            return out.reply(session, value, error);
        }
    }

    Peer(int id, long incarnation, String address, long nowNanos) {
        this.id = id;
        this.incarnation = incarnation;
        this.address = address;
        this.lastHeardNanos = nowNanos;
    }

    /** It was heard from at {@code nowNanos} (the node's scheduler's clock). */
    void heard(long nowNanos) {
        lastHeardNanos = nowNanos;
    }

    @Override
    public String toString() {
        return "node " + id + " at " + address;
    }
}
