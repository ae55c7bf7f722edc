package dev.harbor.transport;

import dev.harbor.service.CallException;
import dev.harbor.service.Handle;
import dev.harbor.service.Message;
import dev.harbor.service.Outbox;

/**
 * One service's sends to services of other nodes, held so that they reach the link's queue a batch
 * at a time rather than one by one: a send takes this outbox's own lock, which only its service's
 * thread uses in the common case, where a send straight to the link would take the link's queue lock
 * that every sender to that node shares. It holds sends for one peer at a time, and is flushed as
 * {@link Outbox} says, when it holds a batch, when its service sends to another node, and by
 * {@link Outboxes}'s sweeper about a millisecond after it began to hold.
 *
 * <p>A send is checked when it is taken, as one going straight to the link would be: an unreachable
 * node drops it (counted), and a full queue refuses it with {@code OVERLOADED}, the queue being looked
 * at when a batch begins to be held, so that the queue may pass its limit by less than a batch for
 * each service that sends to that node. Held sends that find their stream closed when flushed are counted as
 * undeliverable, like those still queued when a stream closes.
 *
 * <p>Threading: everything here is guarded by this object's lock, taken by the service's thread for
 * each send and by whoever flushes (the service's thread, a thread that ends the service, the
 * sweeper), except that a flush first looks without it whether anything is held; the link queue's
 * lock is taken inside it, never the other way round.
 */
final class LinkOutbox implements Outbox {
    /** The first size of a hold's buffer; it doubles as a batch needs. */
    private static final int FIRST_BYTES = 512;
    /** Room to spare in a buffer sized after the full batch before it, so that the next one fits without growing. */
    private static final int SPARE_BYTES = 256;

    private final Harbor harbor;
    private final Outboxes outboxes;
    /** The stream the held sends are for. Guarded by this. */
    private Outbound out;
    /**
     * The held sends, in the order they were made; null between holds, so that a service that has
     * stopped sending keeps no buffer. A flush hands the batch itself to the stream's queue. Written
     * under this lock, when a hold begins and when it is flushed (not for each send); volatile so that
     * {@link #flush} sees without the lock that nothing is held, the common case at the end of a handler.
     */
    private volatile EnvelopeBatch held;
    /**
     * The size to begin the next hold's buffer with: after a full batch, that batch's size (the case of
     * a service in the middle of many sends, whose next batch is alike), else {@link #FIRST_BYTES}.
     * Guarded by this.
     */
    private int holdBytes = FIRST_BYTES;
    /** Whether it is on the sweeper's list. Guarded by this. */
    private boolean listed;
    /** The next outbox on the sweeper's list: written under this lock before the listing's CAS, read by the sweeper. */
    LinkOutbox nextListed;

    LinkOutbox(Harbor harbor, Outboxes outboxes) {
        this.harbor = harbor;
        this.outboxes = outboxes;
    }

    @Override
    public void send(Handle to, Message message) {
        Routing routing = harbor.routing;
        Outbound o = routing.linkTo(to, message);
        if (o == null) {
            routing.sent.increment(); // taken, and dropped as unreachable
            return;
        }
        Payloads.Encoded payload;
        try {
            payload = Payloads.encode(message.payload(), to); // on the sender's thread, outside any lock
        } catch (CallException e) {
            routing.sent.increment();
            throw e;
        }
        synchronized (this) {
            if (o != out) {
                flushHeld(false);
                out = o;
            }
            EnvelopeBatch h = held;
            if ((h == null || h.count() == 0) && o.depth() >= harbor.outboundLimit) {
                // Looked at when a batch begins, not for each send: the queue's count is written by
                // every sender to that node, and reading it each time cost more than the rest of a send.
                routing.sent.increment();
                throw routing.overloaded(to);
            }
            if (h == null) {
                held = h = new EnvelopeBatch(holdBytes);
            }
            h.send(to, message.from(), payload);
            if (h.count() >= harbor.batchSize || h.size() >= Outbound.SEAL_BYTES) {
                flushHeld(true);
            } else if (!listed) {
                listed = true;
                outboxes.list(this);
            }
        }
    }

    @Override
    public void flush() {
        if (held == null) {
            return; // a send that begins a hold now, on another thread, is not before this flush
        }
        synchronized (this) {
            flushHeld(false);
        }
    }

    /** The sweeper took it off its list: what it holds goes now. */
    synchronized void swept() {
        listed = false;
        flushHeld(false);
    }

    @Override
    public boolean open() {
        return !harbor.closed;
    }

    /**
     * Under this lock: hands the held sends, their buffer included, to their stream; {@code full} says
     * they are a full batch, so that the next hold begins with a buffer of its size.
     */
    private void flushHeld(boolean full) {
        EnvelopeBatch h = held;
        if (h == null) {
            return;
        }
        held = null;
        holdBytes = full ? h.size() + SPARE_BYTES : FIRST_BYTES;
        int n = h.count();
        if (n > 0) {
            Routing routing = harbor.routing;
            routing.sent.add(n);
            if (!out.sendAll(h)) {
                routing.undeliverable.add(n);
            }
        }
    }
}
