package dev.harbor.transport;

import dev.harbor.proto.Batch;
import dev.harbor.proto.Envelope;
import dev.harbor.proto.LinkFrame;
import io.grpc.stub.ClientCallStreamObserver;
import io.grpc.stub.ClientResponseObserver;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * This node's one stream to one peer address: a bounded queue of envelopes, sent in batches as fast
 * as gRPC's flow control lets them go.
 *
 * <p>Threading: any thread may {@link #offer}. Writing to the gRPC stream is serialised by the
 * {@link #draining} flag: whichever thread wins it (a producer, or gRPC's on-ready callback on its
 * event loop) sends while the stream is ready, then lets go and checks again, so no envelope waits
 * for a wake-up that already happened. Responses from the peer (its Hello, a refusal) arrive on gRPC's
 * event loop and are passed to {@link LinkProtocol}; its end to {@link Dialler}.
 */
final class Outbound implements ClientResponseObserver<LinkFrame, LinkFrame> {
    private final Harbor harbor;
    final String address;
    private final int limit;
    private final int batchSize;
    private final ConcurrentLinkedQueue<Envelope> queue = new ConcurrentLinkedQueue<>();
    private final AtomicInteger queued = new AtomicInteger();
    private final AtomicInteger draining = new AtomicInteger();
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
        requestStream.setOnReadyHandler(this::drain);
    }

    /** Sends the first frame, before anything queued. Called once, by the dialer, before {@link #startDraining}. */
    void sendFirst(LinkFrame hello) {
        stream.onNext(hello);
    }

    /**
     * Sends {@code refusal} instead of any envelope (the peer's Hello was refused) and half-closes the
     * stream, which then ends when the peer ends its side. Called on gRPC's event loop before
     * {@link #startDraining}, so no drain writes to the stream meanwhile.
     */
    void refuse(LinkFrame refusal) {
        closed = true;
        try {
            stream.onNext(refusal);
            stream.onCompleted();
        } catch (RuntimeException e) {
            cancel("refused: " + e); // the stream is gone already: the peer learns from its own dial instead
        }
    }

    /** Lets queued envelopes go (after the peer's Hello came back). */
    void startDraining() {
        started = true;
        drain();
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
            harbor.routing.unsent(this, drainUnsent());
            return true;
        }
        drain();
        return true;
    }

    /** Asks for a heartbeat frame ahead of the queue. */
    void heartbeat() {
        heartbeatDue = true;
        drain();
    }

    int depth() {
        return queued.get();
    }

    private void drain() {
        while (started && !closed && draining.compareAndSet(0, 1)) {
            try {
                ClientCallStreamObserver<LinkFrame> s = stream;
                while (s.isReady()) {
                    if (heartbeatDue) {
                        heartbeatDue = false;
                        s.onNext(Codec.heartbeat());
                        continue;
                    }
                    Batch.Builder batch = null;
                    int n = 0;
                    Envelope e;
                    while (n < batchSize && (e = queue.poll()) != null) {
                        if (batch == null) {
                            batch = Batch.newBuilder();
                        }
                        batch.addEnvelopes(e);
                        n++;
                    }
                    if (n == 0) {
                        break;
                    }
                    queued.addAndGet(-n);
                    s.onNext(LinkFrame.newBuilder().setBatch(batch).build());
                }
            } catch (RuntimeException e) {
                harbor.dialler.outboundFailed(this, e);
                return;
            } finally {
                draining.set(0);
            }
            if ((queue.isEmpty() && !heartbeatDue) || !stream.isReady()) {
                return;
            }
        }
    }

    /**
     * Ends the stream from this side once everything queued has been written: what was written is
     * delivered, then the stream ends when the peer ends its side ({@link #onCompleted}). Takes the
     * {@link #draining} flag so no drain writes meanwhile; later offers are refused. Any thread.
     */
    void finish() {
        if (!started) {
            cancel("this node is leaving"); // nothing was written on it: there is nothing to deliver
            return;
        }
        while (!draining.compareAndSet(0, 1)) {
            Thread.onSpinWait(); // a drain is writing: it lets go within one batch
        }
        try {
            if (!closed && started) {
                closed = true;
                stream.onCompleted();
            }
        } catch (RuntimeException e) {
            cancel("finishing the stream failed: " + e);
        } finally {
            draining.set(0);
        }
    }

    /** Closes the stream from this side (the peer was lost or refused). */
    void cancel(String why) {
        closed = true;
        ClientCallStreamObserver<LinkFrame> s = stream;
        if (s != null) {
            s.cancel(why, null);
        }
    }

    /** Marks the stream closed and takes out what was never sent. */
    java.util.List<Envelope> close() {
        closed = true;
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
        harbor.links.fromOutbound(this, frame);
    }

    @Override
    public void onError(Throwable t) {
        harbor.dialler.outboundClosed(this, t.toString());
    }

    @Override
    public void onCompleted() {
        harbor.dialler.outboundClosed(this, "the peer ended the stream");
    }
}
