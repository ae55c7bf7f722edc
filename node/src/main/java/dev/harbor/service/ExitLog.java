package dev.harbor.service;

import java.time.Clock;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.Consumer;

/**
 * A node's exit events: numbers them, keeps the most recent ones, and hands each to the listeners in
 * order.
 *
 * <p>Thread-safety: any thread may publish or read. Publication takes one lock, so sequence numbers,
 * retention and listener order agree; listeners run under that lock and must only hand the event on
 * (enqueue it), never block.
 */
public final class ExitLog {
    private final int retention;
    private final Clock clock;
    private final CopyOnWriteArrayList<Consumer<ExitEvent>> listeners = new CopyOnWriteArrayList<>();

    // Guarded by this.
    private final ExitEvent[] ring;
    private final Map<Handle, ExitEvent> byHandle = new HashMap<>();
    private long lastSeq;

    /**
     * @param node the id of the node whose exits this log numbers (checked, not stored: events carry their handle's node)
     * @param retention how many of the most recent events to keep for late readers
     */
    ExitLog(int node, int retention, Clock clock) {
        if (node < 1 || node > Handle.MAX_NODE) {
            throw new IllegalArgumentException("node id " + node + " is out of range");
        }
        if (retention < 1) {
            throw new IllegalArgumentException("exit retention must be at least 1, got " + retention);
        }
        this.retention = retention;
        this.clock = clock;
        this.ring = new ExitEvent[retention];
    }

    /**
     * Numbers, keeps and hands on the exit of {@code handle}; returns the event. The handle is this
     * log's node's own, except for the {@code NODE_LOST} events this node synthesises for a lost peer.
     * Only the node writes its log (the transport through {@link InternalNode#publishPeerExit}): whoever
     * holds a {@link Node} can read and follow its exits, not forge one.
     */
    synchronized ExitEvent publish(Handle handle, List<String> names, ExitReason reason, String detail) {
        ExitEvent event = new ExitEvent(++lastSeq, handle, names, handle.node(), reason, clock.instant(), detail);
        int slot = (int) ((event.seq() - 1) % retention);
        ExitEvent evicted = ring[slot];
        if (evicted != null) {
            byHandle.remove(evicted.handle());
        }
        ring[slot] = event;
        byHandle.put(handle, event);
        for (Consumer<ExitEvent> listener : listeners) {
            listener.accept(event);
        }
        return event;
    }

    /** How many of the most recent events this log keeps for late readers. */
    public int retention() {
        return retention;
    }

    /** The sequence number of the newest event, 0 before the first. */
    public synchronized long lastSeq() {
        return lastSeq;
    }

    /** The retained exit event of {@code handle}, if it has exited and the event is still kept. */
    public synchronized Optional<ExitEvent> find(Handle handle) {
        return Optional.ofNullable(byHandle.get(handle));
    }

    /**
     * The retained events after {@code fromSeq}, oldest first.
     *
     * @return null if some event after {@code fromSeq} is no longer retained (a gap the reader must be
     *     told about); the events otherwise, possibly none
     */
    public synchronized List<ExitEvent> after(long fromSeq) {
        long oldestKept = Math.max(1, lastSeq - retention + 1);
        if (fromSeq + 1 < oldestKept) {
            return null;
        }
        List<ExitEvent> out = new ArrayList<>((int) Math.max(0, lastSeq - fromSeq));
        for (long seq = Math.max(fromSeq + 1, oldestKept); seq <= lastSeq; seq++) {
            out.add(ring[(int) ((seq - 1) % retention)]);
        }
        return out;
    }

    /**
     * Adds a listener that gets every event published from now on, in order, under the log's lock.
     * Returns the events already published after {@code fromSeq} as {@link #after} does, atomically
     * with the subscription, so the listener misses nothing and sees nothing twice.
     */
    public synchronized List<ExitEvent> subscribe(long fromSeq, Consumer<ExitEvent> listener) {
        List<ExitEvent> backlog = after(fromSeq);
        listeners.add(listener);
        return backlog;
    }

    /** Removes a listener added by {@link #subscribe}. */
    public void unsubscribe(Consumer<ExitEvent> listener) {
        listeners.remove(listener);
    }
}
