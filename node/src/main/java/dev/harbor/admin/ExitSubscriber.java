package dev.harbor.admin;

import dev.harbor.proto.ExitStreamItem;
import dev.harbor.proto.NodeGrpc;
import dev.harbor.proto.WatchExitsRequest;
import dev.harbor.service.ExitEvent;
import dev.harbor.service.ExitReason;
import dev.harbor.service.Handle;
import dev.harbor.service.Scheduler;
import dev.harbor.service.ServiceInfo;
import dev.harbor.wire.Wire;
import io.grpc.ChannelCredentials;
import io.grpc.Grpc;
import io.grpc.InsecureChannelCredentials;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.stub.ClientCallStreamObserver;
import io.grpc.stub.ClientResponseObserver;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Follows one node's exit stream ({@code WatchExits}) for as long as it is open, across
 * disconnects and node restarts.
 *
 * <p><b>What the listener is told.</b>
 * <ul>
 *   <li>{@link Listener#onIdentity} on every (re)connection: which node and which life of it answers.</li>
 *   <li>{@link Listener#onAlive} once for each service the subscriber learns is alive (from the alive
 *       list each connection starts with); not again on a reconnect for a service it already knew.</li>
 *   <li>{@link Listener#onExit} <b>exactly once for every exit event</b> of the node's life, in
 *       sequence order. After a disconnect the subscriber reconnects with {@code from_seq} = the last
 *       seq it delivered, so nothing is lost and nothing is repeated.</li>
 *   <li>{@link Listener#onGap} when the node no longer retains some events the subscriber missed: the
 *       range, and the services the subscriber believed alive that ended inside it (their exit
 *       events are the lost ones). Never a silent skip.</li>
 *   <li>{@link Listener#onCaughtUp} when a connection has delivered its backlog; live events follow.</li>
 *   <li>When a reconnection finds a <b>new life</b> of the node (a new incarnation: the node
 *       restarted), every service still believed alive from the old life is reported through
 *       {@code onExit} as {@link ExitReason#NODE_LOST}, synthesised by this subscriber with
 *       {@code seq} 0 (they are not events of the node's log), before anything of the new life. The
 *       new life is then followed from its first event (seq 1).</li>
 *   <li>{@link Listener#onDisconnected} when a connection ends (the subscriber retries with a backoff
 *       of {@code initial} doubling up to {@code max}, reset once a connection catches up), and
 *       {@link Listener#onFailed} when it gives up for good: the target is not a harbor node, refused
 *       the caller, or the first connection's {@code from_seq} is above the node's newest event.</li>
 * </ul>
 *
 * <p><b>Threads.</b> Callbacks run one at a time, in stream order, on gRPC's callback threads. A slow
 * listener slows the stream through gRPC's flow control; one too slow for the node makes it close the
 * stream, and the subscriber resumes from its last seq (nothing is lost). The subscriber's state is
 * written only by those callbacks (one at a time: each connection starts from the end of the
 * previous one) and read by any thread through volatiles and a concurrent map. A reconnection waits
 * out its backoff on a {@link Scheduler} ({@link Builder#scheduler}: the node's, inside a node; by
 * default one daemon thread of the subscriber's own, shut down by {@link #close}); the task only
 * starts the next call, which never blocks, and the backoff is measured on that scheduler's clock.
 */
public final class ExitSubscriber implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(ExitSubscriber.class);

    /** What an {@link ExitSubscriber} reports. Only {@link #onExit} must be implemented. */
    public interface Listener {
        /** A connection reached the node: who it is, which life, and its newest seq at that moment. */
        default void onIdentity(Identity identity) {
        }

        /** A service the subscriber did not know of is alive. */
        default void onAlive(ServiceInfo service) {
        }

        /**
         * A service ended: an event of the node's log (seq 1, 2, 3... of its life, each exactly once), or
         * a {@link ExitReason#NODE_LOST} synthesised for a service of a previous life (seq 0).
         */
        void onExit(ExitEvent event);

        /** Events the subscriber missed are no longer retained by the node. */
        default void onGap(Gap gap) {
        }

        /** The connection has delivered everything up to {@code lastSeq}; what follows is live. */
        default void onCaughtUp(long lastSeq) {
        }

        /** The connection ended; the subscriber tries again in {@code retryIn}. */
        default void onDisconnected(Status status, Duration retryIn) {
        }

        /** The subscriber gave up for good, for the reason {@code status} gives. No callback follows. */
        default void onFailed(Status status) {
        }
    }

    /**
     * The node a connection reached.
     *
     * @param node its id
     * @param incarnation its life: a new number each time the node restarts
     * @param lastSeq the seq of its newest exit event when the connection started
     */
    public record Identity(int node, long incarnation, long lastSeq) {
    }

    /**
     * Exit events that the node no longer retains.
     *
     * @param firstMissing the first missing seq
     * @param lastMissing the last missing seq
     * @param endedUnseen the services the subscriber believed alive that ended within the gap (so their
     *     exit events are among the missing ones); they are no longer in {@link #alive()}
     */
    public record Gap(long firstMissing, long lastMissing, List<ServiceInfo> endedUnseen) {
        public Gap {
            endedUnseen = List.copyOf(endedUnseen);
        }
    }

    private final String target;
    private final Listener listener;
    private final Duration initialBackoff;
    private final Duration maxBackoff;
    private final ManagedChannel channel;
    private final NodeGrpc.NodeStub stub;
    /** Where reconnections wait out their backoff. */
    private final Scheduler scheduler;
    /** Whether {@link #scheduler} is this subscriber's own (shut down by {@link #close}) or its owner's. */
    private final boolean ownsScheduler;

    // Written by the stream callbacks (one at a time), read by anyone.
    private volatile long lastSeq;
    private volatile Identity identity;
    private final Map<Handle, ServiceInfo> alive = new ConcurrentHashMap<>();
    private volatile CompletableFuture<Long> caughtUp = new CompletableFuture<>();
    private volatile Status failure;
    private volatile Attempt current;
    private volatile boolean closed;
    // Stream callbacks only.
    private int failuresInARow;
    /** The incarnation the builder's from_seq was counted in (0: unknown); used until an identity arrives. */
    private final long fromIncarnation;

    private ExitSubscriber(Builder b) {
        this.target = b.target;
        this.listener = b.listener;
        this.initialBackoff = b.initialBackoff;
        this.maxBackoff = b.maxBackoff;
        this.lastSeq = b.fromSeq;
        this.fromIncarnation = b.fromIncarnation;
        // Keepalive pings notice a node that vanished without closing its connections (half-open).
        this.channel = Grpc.newChannelBuilder(target, b.credentials)
                .keepAliveTime(10, TimeUnit.SECONDS).keepAliveTimeout(5, TimeUnit.SECONDS).build();
        this.stub = NodeGrpc.newStub(channel);
        this.ownsScheduler = b.scheduler == null;
        this.scheduler = ownsScheduler ? Scheduler.ofDaemonThread("harbor-exit-subscriber-" + target) : b.scheduler;
    }

    /** A subscriber to the node at {@code target} (host:port) that reports to {@code listener}. */
    public static Builder builder(String target, Listener listener) {
        return new Builder(target, listener);
    }

    /** The node being followed. */
    public String target() {
        return target;
    }

    /**
     * The seq of the last event delivered from the node's current life (or the starting point given
     * to the builder); a reconnection resumes after it. 0 at the start of a new life.
     */
    public long lastSeq() {
        return lastSeq;
    }

    /** The node and life last reached, if any connection has reached it yet. */
    public Optional<Identity> identity() {
        return Optional.ofNullable(identity);
    }

    /**
     * The services believed alive: those learnt from alive lists, less those seen to exit. A service
     * started after the current connection began is not known until a later connection lists it.
     */
    public List<ServiceInfo> alive() {
        List<ServiceInfo> out = new ArrayList<>(alive.values());
        out.sort((a, b) -> a.handle().compareTo(b.handle()));
        return out;
    }

    /** Whether the current connection has delivered its backlog (and has not ended since). */
    public boolean isCaughtUp() {
        return caughtUp.isDone() && !caughtUp.isCompletedExceptionally();
    }

    /**
     * Waits until the current connection has delivered its backlog.
     *
     * @return true once caught up; false if {@code timeout} passed first or the subscriber was closed
     * @throws IllegalStateException if the subscriber gave up for good, saying why
     */
    public boolean awaitCaughtUp(Duration timeout) throws InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (true) {
            CompletableFuture<Long> f = caughtUp;
            try {
                f.get(Math.max(0, deadline - System.nanoTime()), TimeUnit.NANOSECONDS);
                return true;
            } catch (TimeoutException e) {
                if (caughtUp != f) {
                    continue; // a new connection started meanwhile: wait for it
                }
                return false;
            } catch (CancellationException e) {
                return false;
            } catch (ExecutionException e) {
                throw new IllegalStateException("the exit subscriber of " + target + " gave up: " + e.getCause().getMessage(),
                        e.getCause());
            }
        }
    }

    /** Why the subscriber gave up, if it did. */
    public Optional<Status> failure() {
        return Optional.ofNullable(failure);
    }

    /**
     * Stops following: cancels the stream and releases the channel, and shuts down the subscriber's own
     * scheduler (not one given to {@link Builder#scheduler}: a reconnection scheduled there finds the
     * subscriber closed and does nothing). No callback follows once it returns (bar one in progress).
     */
    @Override
    public void close() {
        closed = true;
        Attempt a = current;
        if (a != null) {
            a.cancel("the subscriber was closed");
        }
        if (ownsScheduler) {
            scheduler.shutdown();
        }
        channel.shutdownNow();
        caughtUp.cancel(false);
    }

    private ExitSubscriber start() {
        connect(lastSeq);
        return this;
    }

    /** Opens a new connection (starts a call: never blocks). On the caller's thread (start), a callback thread, or the scheduler's. */
    private void connect(long fromSeq) {
        if (closed) {
            return;
        }
        // A channel that failed to connect waits out its own backoff (up to minutes) before it tries
        // again; ours is the one that counts, so cut the channel's short.
        channel.resetConnectBackoff();
        Attempt a = new Attempt(fromSeq);
        current = a;
        try {
            // The incarnation our from_seq was counted in: a node whose process restarted since starts
            // its new life from the first event at once (new_life), instead of our seq of the old one.
            Identity known = identity;
            stub.watchExits(WatchExitsRequest.newBuilder().setFromSeq(fromSeq)
                    .setIncarnation(fromSeq == 0 ? 0 : known != null ? known.incarnation() : fromIncarnation).build(), a);
        } catch (RuntimeException e) { // the channel was shut down by close() meanwhile
            log.debug("exit subscriber of {}: not connecting: {}", target, e.toString());
        }
    }

    private void retryLater(Status status) {
        long base = Math.min(maxBackoff.toNanos(), initialBackoff.toNanos() << Math.min(failuresInARow, 20));
        failuresInARow++;
        long delay = (long) (base * (0.8 + 0.4 * ThreadLocalRandom.current().nextDouble()));
        Duration retryIn = Duration.ofNanos(delay);
        log.debug("exit subscriber of {}: disconnected ({}); retrying in {} ms", target, status, retryIn.toMillis());
        tell(() -> listener.onDisconnected(status, retryIn), "onDisconnected");
        try {
            scheduler.schedule(() -> connect(lastSeq), retryIn);
        } catch (RejectedExecutionException e) {
            // Closed (its own scheduler), or the node whose scheduler it was given has stopped.
            log.debug("exit subscriber of {}: its scheduler is shut down; not retrying", target);
        }
    }

    private void giveUp(Status status) {
        failure = status;
        log.warn("exit subscriber of {}: giving up: {}", target, status);
        caughtUp.completeExceptionally(status.asRuntimeException());
        tell(() -> listener.onFailed(status), "onFailed");
    }

    /** Runs a listener callback; a listener that throws is logged, and the event still counts as delivered. */
    private void tell(Runnable callback, String what) {
        try {
            callback.run();
        } catch (RuntimeException e) {
            log.error("exit subscriber of {}: the listener threw in {}; carrying on with the next item", target, what, e);
        }
    }

    // ------------------------------------------------------------------ one connection

    /** One WatchExits call. Its callbacks run one at a time; it owns the fields below. */
    private final class Attempt implements ClientResponseObserver<WatchExitsRequest, ExitStreamItem> {
        private final long requestedFrom;
        private ClientCallStreamObserver<WatchExitsRequest> call;
        private final Map<Handle, ServiceInfo> listed = new HashMap<>();
        private dev.harbor.proto.Gap gap;
        /** Events after a gap, held until caught_up tells which believed-alive services ended inside the gap. */
        private List<ExitEvent> afterGap;
        /** This call was abandoned to start the new life from seq 0. */
        private boolean restartFromZero;
        private volatile boolean ended;

        Attempt(long requestedFrom) {
            this.requestedFrom = requestedFrom;
        }

        @Override
        public void beforeStart(ClientCallStreamObserver<WatchExitsRequest> requestStream) {
            this.call = requestStream;
        }

        void cancel(String why) {
            ended = true;
            ClientCallStreamObserver<WatchExitsRequest> c = call;
            if (c != null) {
                c.cancel(why, null);
            }
        }

        @Override
        public void onNext(ExitStreamItem item) {
            if (closed || ended) {
                return;
            }
            try {
                switch (item.getItemCase()) {
                    case NODE -> identity(item.getNode());
                    case ALIVE -> listedAlive(Wire.service(item.getAlive()));
                    case GAP -> {
                        gap = item.getGap();
                        afterGap = new ArrayList<>();
                    }
                    case EXIT -> {
                        ExitEvent e = Wire.exit(item.getExit());
                        if (afterGap != null) {
                            afterGap.add(e);
                        } else {
                            deliver(e);
                        }
                    }
                    case CAUGHT_UP -> caughtUp();
                    case ITEM_NOT_SET -> throw new IllegalArgumentException("an exit stream item of no kind");
                }
            } catch (IllegalArgumentException e) {
                // A node this runtime does not understand (newer protocol, or not a harbor node).
                ended = true;
                call.cancel("unreadable exit stream item", e);
                giveUp(Status.INTERNAL.withDescription("the node at " + target + " sent an exit stream item this"
                        + " subscriber cannot read (" + e.getMessage() + "): are both ends the same Harbor version?"));
            }
        }

        private void identity(dev.harbor.proto.NodeIdentity wire) {
            Identity now = new Identity(wire.getNode(), wire.getIncarnation(), wire.getLastSeq());
            Identity before = identity;
            if (before != null && (before.node() != now.node() || before.incarnation() != now.incarnation())) {
                newLife(before, now);
                if (requestedFrom > 0 && !wire.getNewLife()) {
                    // A node that does not read the request's incarnation (an older one) took our seq of
                    // the old life as one of its own: ask it again from 0.
                    identity = now;
                    restartFromZero = true;
                    cancel("a new life of the node answered; restarting from its first event");
                    return;
                }
            }
            if (before == null && wire.getNewLife()) {
                // Our first stream, resuming a seq of a life we never saw (the builder's): this life counts from 1.
                log.info("exit subscriber of {}: node {} has restarted since the given seq's incarnation {}; following its"
                        + " new life (incarnation {}) from its first event", target, now.node(), fromIncarnation, now.incarnation());
                lastSeq = 0;
            }
            identity = now;
            tell(() -> listener.onIdentity(now), "onIdentity");
        }

        /** The node restarted (or another node answers at the address): the old life's services are gone. */
        private void newLife(Identity before, Identity now) {
            String why = before.node() != now.node()
                    ? "node " + now.node() + " now answers at " + target + " where node " + before.node() + " was"
                    : "node " + now.node() + " restarted (incarnation " + before.incarnation() + ", now " + now.incarnation() + ")";
            log.info("exit subscriber of {}: {}; {} service(s) of the previous life reported NODE_LOST", target, why, alive.size());
            Instant when = Instant.now();
            for (ServiceInfo s : ExitSubscriber.this.alive()) {
                alive.remove(s.handle());
                ExitEvent lost = new ExitEvent(0, s.handle(), s.names(), s.handle().node(), ExitReason.NODE_LOST, when,
                        why + ": this service of the previous life was alive when last seen and its exit was never reported");
                tell(() -> listener.onExit(lost), "onExit");
            }
            lastSeq = 0;
        }

        private void listedAlive(ServiceInfo s) {
            listed.put(s.handle(), s);
            if (alive.put(s.handle(), s) == null) {
                tell(() -> listener.onAlive(s), "onAlive");
            }
        }

        private void caughtUp() {
            if (gap != null) {
                Set<Handle> exitedAfterGap = new HashSet<>();
                for (ExitEvent e : afterGap) {
                    exitedAfterGap.add(e.handle());
                }
                List<ServiceInfo> endedUnseen = new ArrayList<>();
                for (ServiceInfo s : ExitSubscriber.this.alive()) {
                    if (!listed.containsKey(s.handle()) && !exitedAfterGap.contains(s.handle())) {
                        endedUnseen.add(s);
                        alive.remove(s.handle());
                    }
                }
                Gap g = new Gap(gap.getFirstMissing(), gap.getLastMissing(), endedUnseen);
                lastSeq = Math.max(lastSeq, g.lastMissing());
                log.warn("exit subscriber of {}: exit events {} to {} are no longer retained by the node", target,
                        g.firstMissing(), g.lastMissing());
                tell(() -> listener.onGap(g), "onGap");
                List<ExitEvent> held = afterGap;
                gap = null;
                afterGap = null;
                for (ExitEvent e : held) {
                    deliver(e);
                }
            }
            failuresInARow = 0;
            long seq = lastSeq;
            tell(() -> listener.onCaughtUp(seq), "onCaughtUp");
            caughtUp.complete(seq); // after the listener: whoever awaits it finds the listener up to date
        }

        private void deliver(ExitEvent e) {
            long last = lastSeq;
            if (e.seq() <= last) {
                log.debug("exit subscriber of {}: skipping event #{}, delivered before", target, e.seq());
                return;
            }
            if (e.seq() > last + 1) { // the node never does this; if one did, say so rather than skip silently
                Gap g = new Gap(last + 1, e.seq() - 1, List.of());
                log.warn("exit subscriber of {}: the node skipped exit events {} to {} without a gap item", target,
                        g.firstMissing(), g.lastMissing());
                tell(() -> listener.onGap(g), "onGap");
            }
            lastSeq = e.seq();
            alive.remove(e.handle());
            tell(() -> listener.onExit(e), "onExit");
        }

        @Override
        public void onError(Throwable t) {
            ended(Status.fromThrowable(t));
        }

        @Override
        public void onCompleted() {
            ended(Status.UNAVAILABLE.withDescription("node at " + target + " ended the exit stream (it is stopping)"));
        }

        private void ended(Status status) {
            ended = true;
            if (closed || failure != null) {
                return;
            }
            if (caughtUp.isDone()) {
                caughtUp = new CompletableFuture<>();
            }
            if (restartFromZero) {
                connect(0);
                return;
            }
            switch (status.getCode()) {
                case UNIMPLEMENTED, UNAUTHENTICATED, PERMISSION_DENIED -> giveUp(status);
                case INVALID_ARGUMENT -> {
                    if (identity != null && requestedFrom > 0) {
                        // from_seq is above the newest seq of the node that answers: it is a new life
                        // (or another node). Ask it from its start; its identity tells which.
                        connect(0);
                    } else {
                        giveUp(status);
                    }
                }
                default -> retryLater(status);
            }
        }
    }

    /** Settings of an {@link ExitSubscriber}. */
    public static final class Builder {
        private final String target;
        private final Listener listener;
        private long fromSeq;
        private long fromIncarnation;
        private Duration initialBackoff = Duration.ofMillis(100);
        private Duration maxBackoff = Duration.ofSeconds(5);
        private ChannelCredentials credentials = InsecureChannelCredentials.create();
        private Scheduler scheduler;

        private Builder(String target, Listener listener) {
            this.target = Objects.requireNonNull(target, "target");
            this.listener = Objects.requireNonNull(listener, "listener");
        }

        /** Start after this seq of the node's current life (default 0: everything retained). */
        public Builder fromSeq(long seq) {
            if (seq < 0) {
                throw new IllegalArgumentException("from seq must be 0 or more, got " + seq);
            }
            this.fromSeq = seq;
            return this;
        }

        /**
         * Start after {@code seq} of the node's process life {@code incarnation} (as an earlier stream's
         * identity said): if the node's process has restarted since, it starts from the new life's first
         * event instead (the stream says new_life).
         */
        public Builder fromSeq(long seq, long incarnation) {
            fromSeq(seq);
            this.fromIncarnation = incarnation;
            return this;
        }

        /** Reconnection delays: {@code initial}, doubling up to {@code max} (defaults 100 ms and 5 s). */
        public Builder backoff(Duration initial, Duration max) {
            if (initial.isNegative() || initial.isZero() || max.compareTo(initial) < 0) {
                throw new IllegalArgumentException("backoff needs 0 < initial <= max, got " + initial + " and " + max);
            }
            this.initialBackoff = initial;
            this.maxBackoff = max;
            return this;
        }

        /** Credentials for the connection (default plaintext). */
        public Builder credentials(ChannelCredentials credentials) {
            this.credentials = Objects.requireNonNull(credentials, "credentials");
            return this;
        }

        /**
         * Where reconnections wait out their backoff, and the clock that measures it: inside a node, the
         * node's ({@code Node.scheduler()}), so they share its timer thread (and a test's clock). The
         * subscriber does not shut it down. By default the subscriber has a daemon thread of its own,
         * which {@link ExitSubscriber#close} shuts down.
         */
        public Builder scheduler(Scheduler scheduler) {
            this.scheduler = Objects.requireNonNull(scheduler, "scheduler");
            return this;
        }

        /** Starts following the node. */
        public ExitSubscriber start() {
            return new ExitSubscriber(this).start();
        }
    }
}
