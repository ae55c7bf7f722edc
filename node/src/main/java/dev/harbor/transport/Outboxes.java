package dev.harbor.transport;

import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.locks.LockSupport;

/**
 * The outboxes of this node's services ({@link LinkOutbox}) and their sweeper: a daemon thread that,
 * while any outbox holds sends, wakes every {@value #SWEEP_MICROS} microseconds and flushes every
 * outbox that began to hold since its last round, so no send is held much longer than that however
 * its service's handler goes on. With nothing held it sleeps until an outbox is listed.
 *
 * <p>Threading: outboxes list themselves from their services' threads, with a CAS on the head of a
 * list that the sweeper takes whole; the listing thread wakes the sweeper only when it sleeps. The
 * sweeper starts with the first listing and ends at {@link #close}, which flushes what is listed.
 */
final class Outboxes {
    /** How long a send may wait in an outbox, about: the sweeper's round. */
    static final long SWEEP_MICROS = 1000;

    private final Harbor harbor;
    /** Outboxes that began to hold since the last round, newest first, linked through {@link LinkOutbox#nextListed}. */
    private final AtomicReference<LinkOutbox> listed = new AtomicReference<>();
    /** The sweeper, once started. Written under this object's lock, read anywhere. */
    private volatile Thread sweeper;
    /** The sweeper sleeps with nothing listed (or is about to): a listing must wake it. */
    private volatile boolean sweeperIdle;
    private volatile boolean closed;

    Outboxes(Harbor harbor) {
        this.harbor = harbor;
    }

    LinkOutbox create() {
        return new LinkOutbox(harbor, this);
    }

    /** {@code o} began to hold sends; called under its lock, once until it is swept. */
    void list(LinkOutbox o) {
        LinkOutbox head;
        do {
            head = listed.get();
            o.nextListed = head;
        } while (!listed.compareAndSet(head, o));
        Thread t = sweeper;
        if (t == null) {
            startSweeper();
        } else if (sweeperIdle) {
            LockSupport.unpark(t);
        }
    }

    private synchronized void startSweeper() {
        if (sweeper != null || closed) {
            return;
        }
        sweeper = Thread.ofPlatform().daemon().name("harbor-node-" + harbor.node.id() + "-outboxes").start(this::sweep);
    }

    private void sweep() {
        while (!closed) {
            if (listed.get() == null) {
                sweeperIdle = true;
                if (listed.get() == null && !closed) { // looked at again after the flag is up: a listing now sees it
                    LockSupport.park(this);
                }
                sweeperIdle = false;
                continue;
            }
            LockSupport.parkNanos(this, TimeUnit.MICROSECONDS.toNanos(SWEEP_MICROS));
            flushListed();
        }
    }

    /** Flushes every outbox listed now. Any thread: each listing is taken by one caller. */
    void flushListed() {
        LinkOutbox o = listed.getAndSet(null);
        while (o != null) {
            LinkOutbox next = o.nextListed; // read before swept(): from then on the outbox may be listed again
            o.nextListed = null;
            o.swept();
            o = next;
        }
    }

    /** Stops the sweeper and flushes what is listed (to streams that may have closed: then counted as undeliverable). */
    void close() {
        closed = true;
        Thread t;
        synchronized (this) {
            t = sweeper;
        }
        if (t != null) {
            LockSupport.unpark(t);
        }
        flushListed();
    }
}
