package dev.harbor.admin;

import dev.harbor.proto.CaughtUp;
import dev.harbor.proto.ExitStreamItem;
import dev.harbor.proto.Gap;
import dev.harbor.proto.NodeIdentity;
import dev.harbor.service.ExitEvent;
import dev.harbor.service.ExitLog;
import dev.harbor.service.Node;
import dev.harbor.service.ServiceInfo;
import dev.harbor.wire.Wire;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.ServerCallStreamObserver;
import java.util.Iterator;
import java.util.List;
import java.util.Queue;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.Executor;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Consumer;
import java.util.stream.Stream;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One {@code WatchExits} call: the head (identity, alive services, gap, backlog, caught_up), then
 * the node's exit events live, as fast as the subscriber takes them.
 *
 * <p><b>Threads and ownership.</b> Three kinds of thread touch this object:
 * <ul>
 *   <li>whichever thread publishes an exit event calls {@link #accept} under the exit log's lock: it
 *       only appends to {@link #live} and schedules a drain, never touches the gRPC observer;</li>
 *   <li>gRPC's thread for the call (the server uses the direct executor) runs {@link #open}, the
 *       on-ready and on-cancel handlers: they set flags and schedule drains;</li>
 *   <li>the drain runs on the service's drain executor (virtual threads), at most one at a time for
 *       this stream: {@link #wip} counts drain requests, and only the caller that raises it from
 *       zero starts a drain, which loops until it has absorbed every request. The drain is the only
 *       code that calls the observer (gRPC observers are not thread-safe), and it owns
 *       {@link #head} and {@link #finished}.</li>
 * </ul>
 * Memory is bounded: the live queue holds at most {@code limit} events; one more and the stream
 * fails with {@code RESOURCE_EXHAUSTED}, telling the subscriber to resume from the last seq it saw.
 */
final class ExitStream implements Consumer<ExitEvent> {
    private static final Logger log = LoggerFactory.getLogger(ExitStream.class);

    private final Node node;
    private final ServerCallStreamObserver<ExitStreamItem> out;
    private final int limit;
    private final Executor drainer;
    private final Consumer<ExitStream> onFinished;

    /** Events published since the subscription; appended under the exit log's lock, polled by the drain. */
    private final Queue<ExitEvent> live = new ConcurrentLinkedQueue<>();
    /** Size of {@link #live}: a queue's own size() is O(n) and not exact under concurrency. */
    private final AtomicInteger queued = new AtomicInteger();
    private final AtomicInteger wip = new AtomicInteger();

    /** Written once by {@link #open} before {@link #started} is set; then read by the drain only. */
    private Iterator<ExitStreamItem> head;
    /** The newest seq the head carries; live events up to it are already in the head. Same ownership as head. */
    private long headLastSeq;
    private volatile boolean started;

    /** Set once, by the thread that found the live queue over its limit. */
    private volatile Status overflow;
    /** Set by {@link #close}: complete the stream once everything queued is sent. */
    private volatile boolean closing;
    /** How the stream ends once closing: null for a normal end, else this status (a new life). Written before {@link #closing}. */
    private volatile Status closingWith;
    /** Set by gRPC's cancel handler (client gone, or the server shutting down). */
    private volatile boolean cancelled;
    /** Drain only: the observer has been completed or failed; nothing more may be sent. */
    private boolean finished;

    ExitStream(Node node, ServerCallStreamObserver<ExitStreamItem> out, int limit, Executor drainer,
            Consumer<ExitStream> onFinished) {
        this.node = node;
        this.out = out;
        this.limit = limit;
        this.drainer = drainer;
        this.onFinished = onFinished;
    }

    /**
     * Subscribes to the exit log, then lists the services alive, and starts the stream. Runs on gRPC's
     * thread for the call, before the handler returns (the handlers must be set by then). Subscribing
     * before listing means a service that exits meanwhile is either listed alive and then seen to exit,
     * or not listed and seen to exit: never missed.
     */
    void open(long fromSeq, long incarnation, boolean newLife) {
        out.setOnCancelHandler(() -> {
            cancelled = true;
            node.exits().unsubscribe(this);
            schedule();
        });
        out.setOnReadyHandler(this::schedule);

        ExitLog exits = node.exits();
        List<ExitEvent> backlog = exits.subscribe(fromSeq, this);
        Gap gap = null;
        while (backlog == null) {
            // Some events after fromSeq are gone. Start again from the oldest retained one, atomically
            // with the subscription as before; if events were published between the two calls and
            // evicted more, the subscribe says so (null) and we look again.
            exits.unsubscribe(this);
            long resumeAfter = Math.max(fromSeq, exits.lastSeq() - exits.retention());
            backlog = exits.subscribe(resumeAfter, this);
            if (backlog != null && resumeAfter > fromSeq) {
                gap = Gap.newBuilder().setFirstMissing(fromSeq + 1).setLastMissing(resumeAfter).build();
            }
        }
        if (cancelled) {
            // The client left while we subscribed: the cancel handler's unsubscribe may have run first.
            exits.unsubscribe(this);
        }
        long lastSeq = backlog.isEmpty() ? (gap != null ? gap.getLastMissing() : fromSeq) : backlog.getLast().seq();
        List<ServiceInfo> alive = node.services();

        NodeIdentity identity = NodeIdentity.newBuilder().setNode(node.id()).setIncarnation(incarnation)
                .setLastSeq(lastSeq).setNewLife(newLife).build();
        Stream<ExitStreamItem> items = Stream.concat(
                Stream.of(ExitStreamItem.newBuilder().setNode(identity).build()),
                alive.stream().map(s -> ExitStreamItem.newBuilder().setAlive(Wire.service(s)).build()));
        if (gap != null) {
            items = Stream.concat(items, Stream.of(ExitStreamItem.newBuilder().setGap(gap).build()));
        }
        items = Stream.concat(items, backlog.stream().map(ExitStream::exitItem));
        items = Stream.concat(items, Stream.of(ExitStreamItem.newBuilder()
                .setCaughtUp(CaughtUp.newBuilder().setLastSeq(lastSeq)).build()));
        head = items.iterator();
        headLastSeq = lastSeq;
        started = true; // publishes head to the drain
        schedule();
    }

    /** The exit log hands on a new event. Under the log's lock, on the publishing thread: enqueue only. */
    @Override
    public void accept(ExitEvent event) {
        if (overflow != null || cancelled) {
            return;
        }
        if (queued.incrementAndGet() > limit) {
            overflow = Status.RESOURCE_EXHAUSTED.withDescription("node " + node.id() + ": this WatchExits subscriber fell more than "
                    + limit + " exit events behind (it reads slower than the node publishes); the stream is closed."
                    + " Call WatchExits again with from_seq = the seq of the last exit event you received to resume without loss");
            // Removing a listener while the log iterates its listeners is safe: it iterates a copy.
            node.exits().unsubscribe(this);
        } else {
            live.offer(event);
        }
        schedule();
    }

    /** Ends the stream once everything queued for it has been sent (the node has stopped). Any thread. */
    void close() {
        closing = true;
        schedule();
    }

    /**
     * Ends the stream with {@code status} once everything queued for it has been sent: the node has
     * started a new life, and the subscriber should resume (from the last seq it saw) to learn the
     * new identity. Any thread.
     */
    void close(Status status) {
        closingWith = status;
        closing = true;
        schedule();
    }

    private void schedule() {
        if (wip.getAndIncrement() == 0) {
            drainer.execute(this::drain);
        }
    }

    private void drain() {
        int missed = 1;
        while (true) {
            if (started && !finished) {
                try {
                    step();
                } catch (StatusRuntimeException e) {
                    // The call ended under us (cancelled between our check and the send): stop sending.
                    log.debug("node {}: an exit stream ended while sending: {}", node.id(), e.getStatus());
                    finish();
                } catch (RuntimeException e) {
                    log.error("node {}: an exit stream failed; closing it so the subscriber reconnects", node.id(), e);
                    failQuietly(Status.INTERNAL.withDescription("node " + node.id() + " failed to send its exit stream: " + e
                            + "; reconnect with from_seq = the last seq you received").withCause(e));
                }
            }
            missed = wip.addAndGet(-missed);
            if (missed == 0) {
                return;
            }
        }
    }

    /** Sends what the subscriber can take now. Drain only. */
    private void step() {
        if (cancelled) {
            finish();
            return;
        }
        while (overflow == null && out.isReady()) {
            if (head.hasNext()) {
                out.onNext(head.next());
                continue;
            }
            ExitEvent e = live.poll();
            if (e == null) {
                break;
            }
            queued.decrementAndGet();
            if (e.seq() > headLastSeq) { // defensive: the subscription's backlog and the live events never overlap
                out.onNext(exitItem(e));
            }
        }
        Status failed = overflow;
        if (failed != null) {
            log.warn("node {}: closing a WatchExits stream: {}", node.id(), failed.getDescription());
            failQuietly(failed);
        } else if (closing && !head.hasNext() && live.isEmpty()) {
            Status with = closingWith;
            if (with != null) {
                failQuietly(with);
            } else {
                out.onCompleted();
                finish();
            }
        }
    }

    private void failQuietly(Status status) {
        try {
            out.onError(status.asRuntimeException());
        } catch (RuntimeException e) {
            log.debug("node {}: the exit stream had already ended when failing it with {}: {}", node.id(), status.getCode(), e.toString());
        }
        finish();
    }

    private void finish() {
        finished = true;
        node.exits().unsubscribe(this);
        live.clear();
        onFinished.accept(this);
    }

    private static ExitStreamItem exitItem(ExitEvent e) {
        return ExitStreamItem.newBuilder().setExit(Wire.exit(e)).build();
    }
}
