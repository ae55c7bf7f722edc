package dev.harbor.admin;

import java.util.List;
import java.util.ArrayList;
import io.grpc.StatusRuntimeException;
import dev.harbor.proto.KillManyResponse;
import dev.harbor.proto.KillManyRequest;
import dev.harbor.service.ExitEvent;
import dev.harbor.service.ExitReason;
import dev.harbor.proto.AbortRequest;
import dev.harbor.proto.AbortResponse;
import dev.harbor.proto.CordonRequest;
import dev.harbor.proto.CordonResponse;
import dev.harbor.proto.ExitStreamItem;
import dev.harbor.proto.KillRequest;
import dev.harbor.proto.KillResponse;
import dev.harbor.proto.ListServicesRequest;
import dev.harbor.proto.ListServicesResponse;
import dev.harbor.proto.NodeGrpc;
import dev.harbor.proto.StopRequest;
import dev.harbor.proto.StopResponse;
import dev.harbor.proto.WatchExitsRequest;
import dev.harbor.service.Handle;
import dev.harbor.service.Node;
import dev.harbor.service.ServiceInfo;
import dev.harbor.wire.Wire;
import io.grpc.Status;
import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.StreamObserver;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executor;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A node's admin API over gRPC ({@code harbor.v1.Node}): its exit stream, its service list, kill,
 * stop, abort and cordon.
 *
 * <p><b>WatchExits</b> sends, in this order: the node's identity (id, incarnation, the newest seq at
 * the start, and {@code new_life} if the request's {@code incarnation} is another life's, whose
 * {@code from_seq} is then ignored), one {@code alive} item per live service, the retained exit events after
 * {@code from_seq} (preceded by one {@code gap} item if some of them are no longer retained),
 * {@code caught_up}, and then every new exit event as it happens, until the client cancels or the
 * node stops ({@link #close}). No event is skipped without a gap item and none is sent twice. A
 * subscriber that falls more than {@code maxQueuedEvents} behind is cut off with
 * {@code RESOURCE_EXHAUSTED} and should resume from the last seq it received.
 *
 * <p><b>Threads.</b> The server runs handlers on its transport threads (direct executor), so no
 * handler blocks: Kill, ListServices and Cordon do their (short, non-blocking) work inline; Abort, which ends
 * every service, runs on a virtual thread and answers from there; Stop answers, then runs the
 * process's stop action on a new thread; each exit stream is drained on virtual threads (see
 * {@link ExitStream}). The only state this object owns is the set of open exit streams (a concurrent
 * set: streams add themselves on open and remove themselves when they end) and the closed flag.
 */
public final class NodeAdminService extends NodeGrpc.NodeImplBase implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(NodeAdminService.class);

    /** What the admin API asks of the process that hosts the node. */
    @FunctionalInterface
    public interface Host {
        /**
         * Stops the node and lets the process exit ({@code Stop}, after it has been answered). Runs on a
         * new non-daemon platform thread for each request, so it must be idempotent.
         */
        void stop();

        /**
         * Takes no new work from now on, for good: the process's health says {@code NOT_SERVING}
         * ({@code Cordon}). Runs on a gRPC transport thread, so it must not block; idempotent. The
         * default does nothing, for a host that reports no health.
         */
        default void cordon() {
        }
    }
    /** How many exit events may wait for one slow subscriber before its stream is closed. */
    public static final int DEFAULT_MAX_QUEUED_EVENTS = 100_000;
    /** How many exit streams a node serves at once by default. */
    public static final int DEFAULT_MAX_STREAMS = 1024;

    private final Node node;
    /** The life of the node's process and exit log, announced by every stream (NodeIdentity.incarnation). */
    private final long incarnation;
    private final Host host;
    private final int maxQueuedEvents;
    private final int maxStreams;
    private final Set<ExitStream> streams = ConcurrentHashMap.newKeySet();
    private final Executor drainer;
    private volatile boolean closed;

    /**
     * @param node the node to serve
     * @param incarnation the node's life, as its transport announces it ({@code Harbor.incarnation()},
     *     which is {@link dev.harbor.service.InternalNode#firstIdOfThisLife})
     * @param host what {@code Stop} and {@code Cordon} do to the process that hosts the node
     */
    public NodeAdminService(Node node, long incarnation, Host host) {
        this(node, incarnation, host, DEFAULT_MAX_QUEUED_EVENTS);
    }

    /** As {@link #NodeAdminService(Node, long, Host)}, with a limit on the events queued for one subscriber. */
    public NodeAdminService(Node node, long incarnation, Host host, int maxQueuedEvents) {
        this(node, incarnation, host, maxQueuedEvents, DEFAULT_MAX_STREAMS);
    }

    /**
     * As {@link #NodeAdminService(Node, long, Host, int)}, with a limit on the exit streams served at
     * once; a stream over it is refused with {@code RESOURCE_EXHAUSTED}. (The count is checked, then the
     * stream added, so two streams opening at the same moment may both pass at the limit: a bound on
     * resources, not an exact quota.)
     */
    public NodeAdminService(Node node, long incarnation, Host host, int maxQueuedEvents, int maxStreams) {
        if (maxStreams < 1) {
            throw new IllegalArgumentException("maxStreams must be at least 1, got " + maxStreams);
        }
        this.maxStreams = maxStreams;
        this.node = Objects.requireNonNull(node, "node");
        this.incarnation = incarnation;
        this.host = Objects.requireNonNull(host, "host");
        if (maxQueuedEvents < 1) {
            throw new IllegalArgumentException("maxQueuedEvents must be at least 1, got " + maxQueuedEvents);
        }
        this.maxQueuedEvents = maxQueuedEvents;
        this.drainer = task -> Thread.ofVirtual().name("harbor-node-" + node.id() + "-exit-stream").start(task);
    }

    @Override
    public void watchExits(WatchExitsRequest request, StreamObserver<ExitStreamItem> responses) {
        // A from_seq counted in another process life of this node means nothing here: start this life
        // from its first event, and say so in the stream's head (new_life).
        boolean newLife = request.getIncarnation() != 0 && request.getIncarnation() != incarnation;
        long fromSeq = newLife ? 0 : request.getFromSeq();
        long lastSeq = node.exits().lastSeq();
        if (fromSeq < 0 || fromSeq > lastSeq) { // uint64 above Long.MAX_VALUE reads as negative
            responses.onError(Status.INVALID_ARGUMENT.withDescription("from_seq " + Long.toUnsignedString(fromSeq)
                    + " is above the newest exit event of node " + node.id() + " (seq " + lastSeq + ", incarnation "
                    + incarnation + "): pass the last seq you received from this node, or 0 for everything retained."
                    + " If the node restarted, its new life numbers its exits from 1 again").asRuntimeException());
            return;
        }
        if (closed) {
            responses.onError(stopping().asRuntimeException());
            return;
        }
        if (streams.size() >= maxStreams) {
            responses.onError(Status.RESOURCE_EXHAUSTED.withDescription("node " + node.id() + " already serves " + streams.size()
                    + " exit streams, its limit (limits.max-exit-streams): close a stream you no longer need, or raise the limit")
                    .asRuntimeException());
            return;
        }
        ExitStream stream = new ExitStream(node, (ServerCallStreamObserver<ExitStreamItem>) responses, maxQueuedEvents,
                drainer, streams::remove);
        streams.add(stream);
        stream.open(fromSeq, incarnation, newLife);
        if (closed) { // close() ran between the check above and the add: it may not have seen this stream
            stream.close();
        }
    }

    @Override
    public void listServices(ListServicesRequest request, StreamObserver<ListServicesResponse> responses) {
        ListServicesResponse.Builder out = ListServicesResponse.newBuilder().setNode(node.id());
        for (ServiceInfo s : node.services()) {
            out.addServices(Wire.service(s));
        }
        responses.onNext(out.build());
        responses.onCompleted();
    }

    @Override
    public void kill(KillRequest request, StreamObserver<KillResponse> responses) {
        if (!request.hasHandle()) {
            responses.onError(Status.INVALID_ARGUMENT.withDescription("the Kill request names no service: set its handle"
                    + " (node and id), as ListServices shows them").asRuntimeException());
            return;
        }
        Handle target;
        try {
            target = ownHandle(request.getHandle());
        } catch (StatusRuntimeException e) {
            responses.onError(e);
            return;
        }
        boolean killed;
        try {
            // Non-blocking: the service's exit event is published and its callers answered before this returns.
            killed = node.kill(target);
        } catch (IllegalArgumentException e) { // the monitor
            responses.onError(Status.FAILED_PRECONDITION.withDescription(e.getMessage()).asRuntimeException());
            return;
        }
        log.info("node {}: Kill {} over the admin API: {}", node.id(), target, killed ? "killed" : "it was not alive");
        responses.onNext(KillResponse.newBuilder().setKilled(killed).build());
        responses.onCompleted();
    }

    @Override
    public void stop(StopRequest request, StreamObserver<StopResponse> responses) {
        log.info("node {}: Stop requested over the admin API", node.id());
        responses.onNext(StopResponse.getDefaultInstance());
        responses.onCompleted();
        // Stopping waits for the services and the monitor, so it must not run on this transport
        // thread; a platform non-daemon thread keeps the process alive until the stop is done.
        Thread.ofPlatform().daemon(false).name("harbor-node-" + node.id() + "-stop").start(host::stop);
    }

    @Override
    public void cordon(CordonRequest request, StreamObserver<CordonResponse> responses) {
        log.info("node {}: Cordon requested over the admin API: this node takes no new work", node.id());
        host.cordon();
        responses.onNext(CordonResponse.getDefaultInstance());
        responses.onCompleted();
    }

    /** A handle of a service of this node, or INVALID_ARGUMENT saying what is wrong with it. */
    private Handle ownHandle(dev.harbor.proto.Handle wire) {
        Handle target;
        try {
            target = Wire.handle(wire);
        } catch (IllegalArgumentException e) {
            throw Status.INVALID_ARGUMENT.withDescription("the request's handle names no service: " + e.getMessage())
                    .asRuntimeException();
        }
        if (target.node() != node.id()) {
            throw Status.INVALID_ARGUMENT.withDescription("service " + target + " belongs to node " + target.node()
                    + "; ask that node (this is node " + node.id() + ")").asRuntimeException();
        }
        return target;
    }

    @Override
    public void killMany(KillManyRequest request, StreamObserver<KillManyResponse> responses) {
        List<Handle> targets = new ArrayList<>();
        try {
            for (dev.harbor.proto.Handle h : request.getHandlesList()) {
                Handle target = ownHandle(h);
                if (target.equals(node.monitor())) {
                    throw Status.FAILED_PRECONDITION.withDescription("service " + target + " is the monitor of node "
                            + node.id() + " and ends only with its node").asRuntimeException();
                }
                targets.add(target);
            }
        } catch (StatusRuntimeException e) {
            responses.onError(e);
            return;
        }
        // Many kills are long work for a big node: keep them off the transport thread.
        Thread.ofVirtual().name("harbor-node-" + node.id() + "-kill-many").start(() -> {
            int killed = 0;
            for (Handle t : targets) {
                killed += node.kill(t) ? 1 : 0;
            }
            log.info("node {}: KillMany over the admin API: {} of {} killed", node.id(), killed, targets.size());
            responses.onNext(KillManyResponse.newBuilder().setKilled(killed).build());
            responses.onCompleted();
        });
    }

    @Override
    public void abort(AbortRequest request, StreamObserver<AbortResponse> responses) {
        log.info("node {}: Abort requested over the admin API", node.id());
        // Ending every service is long work for a big node: keep it off the transport thread.
        Thread.ofVirtual().name("harbor-node-" + node.id() + "-abort").start(() -> {
            AtomicInteger aborted = new AtomicInteger();
            // Counts the ABORTED exits published while node.abort() runs (under the exit log's lock: only counts).
            Consumer<ExitEvent> counter = e -> {
                if (e.node() == node.id() && e.reason() == ExitReason.ABORTED) {
                    aborted.incrementAndGet();
                }
            };
            node.exits().subscribe(node.exits().lastSeq(), counter);
            try {
                node.abort();
            } catch (RuntimeException e) {
                log.error("node {}: Abort failed", node.id(), e);
                responses.onError(Status.INTERNAL.withDescription("node " + node.id() + " failed to abort every service: " + e
                        + "; ListServices shows what is left").asRuntimeException());
                return;
            } finally {
                node.exits().unsubscribe(counter);
            }
            responses.onNext(AbortResponse.newBuilder().setAborted(aborted.get()).build());
            responses.onCompleted();
        });
    }

    /**
     * Ends every exit stream once it has sent what is queued for it, and refuses new ones. Call after
     * the node has stopped (so subscribers get every exit event) and before shutting the server down
     * (so a graceful shutdown does not wait for streams that would never end).
     */
    @Override
    public void close() {
        closed = true;
        for (ExitStream s : streams) {
            s.close();
        }
    }

    /**
     * The node has started a new life in this process (its cluster declared the old one lost): every
     * open exit stream ends, after what is queued for it (the old life's {@code NODE_LOST} exits among
     * it), with {@code UNAVAILABLE}, so its subscriber resumes from the last seq it saw and gets the
     * services alive now. The stream's identity and the numbering of the exit log stay the same: a new
     * life in the process is not a restart.
     */
    public void newLife() {
        Status status = Status.UNAVAILABLE.withDescription("node " + node.id() + " started a new life in its process:"
                + " resume from the last seq you received");
        for (ExitStream s : streams) {
            s.close(status);
        }
    }

    /** The exit streams open now (for tests and metrics). */
    int openStreams() {
        return streams.size();
    }

    private Status stopping() {
        return Status.UNAVAILABLE.withDescription("node " + node.id() + " is stopping and serves no new exit streams;"
                + " watch it again once it has restarted");
    }
}
