package dev.harbor.harbor;

import dev.harbor.proto.Batch;
import dev.harbor.proto.Envelope;
import dev.harbor.proto.Heartbeat;
import dev.harbor.proto.LinkFrame;
import io.grpc.stub.ClientCallStreamObserver;
import io.grpc.stub.ClientResponseObserver;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.LockSupport;

/**
 * This node's one stream to one peer address: a bounded queue of envelopes, sent in batches as fast
 * as gRPC's flow control lets them go.
 *
 * <p>Threading: any thread may {@link #offer}. One writer (a virtual thread per stream, started once
 * the peer's Hello is back) is the only one to write to the gRPC stream: it takes whatever has queued
 * up, up to a batch per stream message, while the stream is ready, then parks. Producers and gRPC's
 * on-ready callback wake it through {@link #signal}; whoever sets it from 0 to 1 unparks the writer,
 * and the writer clears it before it looks at the queue, so no wake-up is lost. Letting one writer
 * send, rather than the producer that queued last, fills batches while a send is in flight instead of
 * sending each envelope alone. Responses from the peer (its Hello, a refusal) arrive on gRPC's event
 * loop and are passed to {@link Harbor}.
 */
final class Outbound implements ClientResponseObserver<LinkFrame, LinkFrame> {
    private final Harbor harbor;
    final String address;
    private final int limit;
    private final int batchSize;
    private final ConcurrentLinkedQueue<Envelope> queue = new ConcurrentLinkedQueue<>();
    private final AtomicInteger queued = new AtomicInteger();
    /** 1 when there may be something for the writer to do; see the class comment. */
    private final AtomicInteger signal = new AtomicInteger();
    private volatile Thread writer;
    private volatile ClientCallStreamObserver<LinkFrame> stream;
    private volatile boolean started;
    private volatile boolean heartbeatDue;
    private volatile boolean closed;
    /** The peer this stream reaches, once its Hello has come back. */
    volatile Peer peer;

    Outbound(Harbor harbor, String address, int limit, int batchSize) {
        this.harbor = harbor;
        this.address = address;
        this.limit = limit;
        this.batchSize = batchSize;
    }

    @Override
    public void beforeStart(ClientCallStreamObserver<LinkFrame> requestStream) {
        this.stream = requestStream;
        requestStream.setOnReadyHandler(this::wake);
    }

    /** Sends the first frame, before anything queued. Called once, by the dialer, before {@link #startDraining}. */
    void sendFirst(LinkFrame hello) {
        stream.onNext(hello);
    }

    /** Lets queued envelopes go (after the peer's Hello came back): starts the writer. */
    void startDraining() {
        started = true;
        // Publish the thread before it runs: a producer that sets the signal must find it to unpark,
        // or the writer could park for good with the signal already set.
        Thread t = Thread.ofVirtual().name("harbor-link-" + address).unstarted(this::writeLoop);
        writer = t;
        t.start();
    }

    /**
     * Queues an envelope.
     *
     * @param force take it even over the limit: for replies and service updates, which must not be
     *     lost and are bounded by what the peer sent us
     * @return false if the queue is full (or the stream has closed)
     */
    boolean offer(Envelope envelope, boolean force) {
        if (closed) {
            return false;
        }
        if (queued.incrementAndGet() > limit && !force) {
            queued.decrementAndGet();
            return false;
        }
        queue.offer(envelope);
        if (closed) {
            harbor.unsent(this, drainUnsent());
            return true;
        }
        wake();
        return true;
    }

    /** Asks for a heartbeat frame ahead of the queue. */
    void heartbeat() {
        heartbeatDue = true;
        wake();
    }

    int depth() {
        return queued.get();
    }

    private void wake() {
        if (signal.getAndSet(1) == 0) {
            Thread w = writer;
            if (w != null) {
                LockSupport.unpark(w);
            }
        }
    }

    private void writeLoop() {
        try {
            while (!closed) {
                signal.set(0);
                write();
                if (signal.get() == 0 && !closed) {
                    LockSupport.park(this);
                }
            }
        } catch (RuntimeException e) {
            harbor.outboundFailed(this, e);
        }
    }

    /** Sends what is queued while the stream is ready. Writer thread only. */
    private void write() {
        ClientCallStreamObserver<LinkFrame> s = stream;
        boolean lingered = false;
        while (!closed && s.isReady()) {
            if (heartbeatDue) {
                heartbeatDue = false;
                s.onNext(LinkFrame.newBuilder().setHeartbeat(Heartbeat.newBuilder().setSentUnixNanos(System.nanoTime())).build());
                continue;
            }
            int waiting = queued.get();
            if (waiting == 0) {
                return;
            }
            if (waiting < batchSize && !lingered) {
                lingered = true;
                Thread.yield(); // once: let the producers on this carrier add to a batch that is not full yet
                continue;
            }
            Batch.Builder batch = Batch.newBuilder();
            int n = 0;
            Envelope e;
            while (n < batchSize && (e = queue.poll()) != null) {
                batch.addEnvelopes(e);
                n++;
            }
            if (n == 0) {
                return;
            }
            queued.addAndGet(-n);
            s.onNext(LinkFrame.newBuilder().setBatch(batch).build());
        }
    }

    /** Closes the stream from this side (the peer was lost or refused). */
    void cancel(String why) {
        closed = true;
        wake();
        ClientCallStreamObserver<LinkFrame> s = stream;
        if (s != null) {
            s.cancel(why, null);
        }
    }

    /** Marks the stream closed and takes out what was never sent. */
    java.util.List<Envelope> close() {
        closed = true;
        wake();
        return drainUnsent();
    }

    private java.util.List<Envelope> drainUnsent() {
        java.util.List<Envelope> left = new java.util.ArrayList<>();
        Envelope e;
        while ((e = queue.poll()) != null) {
            left.add(e);
            queued.decrementAndGet();
        }
        return left;
    }

    @Override
    public void onNext(LinkFrame frame) {
        harbor.fromOutbound(this, frame);
    }

    @Override
    public void onError(Throwable t) {
        harbor.outboundClosed(this, t.toString());
    }

    @Override
    public void onCompleted() {
        harbor.outboundClosed(this, "the peer ended the stream");
    }
}
