package dev.harbor.transport;

import dev.harbor.proto.Batch;
import dev.harbor.proto.LinkFrame;
import dev.harbor.service.Handle;
import io.grpc.Status;
import io.grpc.stub.ClientCallStreamObserver;
import io.grpc.stub.ClientResponseObserver;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * This node's one stream to one peer address: a bounded queue of envelopes, written straight into
 * batches in their flat wire form ({@link EnvelopeBatch}) and sent as fast as gRPC's flow control lets
 * them go.
 *
 * <p>Threading: any thread may offer. An offer appends its envelope to the batch being filled, under
 * {@link #lock}, which guards the batches and the count of what they hold; a batch is sealed when it
 * holds {@code batchSize} envelopes or {@link #SEAL_BYTES}, so a producer hands its envelopes over as
 * bytes and a batch is never built twice. Encoding a payload happens before the lock, on the
 * producer's thread. Writing to the gRPC stream is serialised by the {@link #draining} flag: whichever
 * thread wins it (a producer, or gRPC's on-ready callback on its event loop) takes one batch at a time
 * (a sealed one, else the one being filled) under the lock and writes it outside the lock while the
 * stream is ready, then lets go and checks again, so no envelope waits for a wake-up that already
 * happened. Responses from the peer (its Hello, a refusal) arrive on gRPC's event loop and are passed to
 * {@link LinkProtocol}; its end to {@link Dialler}. A cancel may come from any thread (a verdict, a
 * refusal, the node closing); one that comes while the dialler is still starting the call waits for it
 * ({@link #opened}), since gRPC's calls are not thread-safe and a cancel during the start can fail
 * inside gRPC.
 */
final class Outbound implements ClientResponseObserver<LinkFrame, LinkFrame> {
    /** A batch is sealed once it takes this many bytes, whatever its count, so frames stay well under gRPC's limit. */
    static final int SEAL_BYTES = 256 * 1024;
    /**
     * The first size of a batch this queue begins (it doubles as it needs): the envelopes offered one
     * at a time here are mostly calls, replies and service updates, a few to a message, while a
     * service's many sends arrive as batches of their own ({@link #sendAll}); sizing every new batch
     * for a full one would allocate tens of KiB for each call that goes alone.
     */
    private static final int FIRST_BYTES = 4096;

    private final Harbor harbor;
    final String address;
    private final int limit;
    private final int batchSize;
    private final Object lock = new Object();
    /** Sealed batches, oldest first. Under {@link #lock}. */
    private final ArrayDeque<EnvelopeBatch> sealed = new ArrayDeque<>();
    /** The batch being filled, or null. Under {@link #lock}. */
    private EnvelopeBatch filling;
    /** Envelopes in {@link #sealed} and {@link #filling}: written under {@link #lock}, read anywhere. */
    private volatile int queued;
    private final AtomicInteger draining = new AtomicInteger();
    private volatile ClientCallStreamObserver<LinkFrame> stream;
    private volatile boolean started;
    private volatile boolean heartbeatDue;
    private volatile boolean closed;
    /**
     * The stream was found not ready: gRPC's on-ready callback drains next, so producers do not try (a
     * try costs a look at the stream's readiness, which takes a lock gRPC's event loop also takes).
     */
    private volatile boolean awaitingReady;
    /** Orders the call's start ({@link #opened}) before any {@link #cancel}: guards the two fields below. */
    private final Object opening = new Object();
    /** The call has started and its first frame is sent. Under {@link #opening}. */
    private boolean open;
    /** Why the stream was cancelled before it was open, or null. Under {@link #opening}. */
    private String cancelledWhileOpening;
    /** The peer this stream reaches, once its Hello has come back. */
    volatile Peer peer;
    /** This node's incarnation in the Hello that opened the stream; written before that Hello is sent. */
    private volatile long life;
    /**
     * How many times a node at {@link #address} had dialled this node and been admitted when this stream
     * was made ({@link Dialler#dialInsTo}): a refusal read on this stream says nothing of a node that
     * dialled in after it.
     */
    final int dialInsBefore;

    Outbound(Harbor harbor, String address, int limit, int batchSize) {
        this.harbor = harbor;
        this.address = address;
        this.limit = limit;
        this.batchSize = batchSize;
        this.dialInsBefore = harbor.dialler.dialInsTo(address);
    }

    @Override
    public void beforeStart(ClientCallStreamObserver<LinkFrame> requestStream) {
        this.stream = requestStream;
        requestStream.setOnReadyHandler(this::ready);
    }

    /** Sends the first frame, before anything queued. Called once, by the dialer, before {@link #startDraining}. */
    void sendFirst(LinkFrame hello) {
        life = hello.getHello().getIncarnation();
        stream.onNext(hello);
    }

    /** The life of this node that opened this stream (its Hello's incarnation): what a refusal on it is about. */
    long life() {
        return life;
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

    /** Queues a send; false if the queue is full or the stream has closed. */
    boolean send(Handle to, Handle from, Payloads.Encoded payload) {
        synchronized (lock) {
            if (!admit(false)) {
                return false;
            }
            filling.send(to, from, payload);
            added();
        }
        drainUnlessAnotherWill();
        return true;
    }

    /**
     * Queues every record of {@code held}, a service's sends (see {@link LinkOutbox}), in order and
     * even over the limit: their holder checked it when it took them, and holds at most one batch.
     * When no batch is being filled (the common case while services send many: the last one was
     * sealed full), {@code held} itself becomes the queue's batch, so the lock every sender to this
     * node takes is held for a few stores rather than a copy of the records; otherwise the records are
     * copied after those being filled. Either way {@code held} is the queue's on return: the caller
     * must not touch it again.
     *
     * @return false if the stream has closed
     */
    boolean sendAll(EnvelopeBatch held) {
        synchronized (lock) {
            if (closed) {
                return false;
            }
            if (filling == null) {
                filling = held;
            } else {
                filling.append(held);
            }
            added(held.count());
        }
        drainUnlessAnotherWill();
        return true;
    }

    /** Queues a call under {@code session}; false if the queue is full or the stream has closed. */
    boolean call(Handle to, Handle from, long session, Payloads.Encoded payload) {
        synchronized (lock) {
            if (!admit(false)) {
                return false;
            }
            filling.call(to, from, session, payload);
            added();
        }
        drainUnlessAnotherWill();
        return true;
    }

    /**
     * Queues the answer to a call of the peer, even over the limit (it must not be lost, and is bounded
     * by what the peer sent us): its value, or its error's wire form when {@code error} is not null.
     *
     * @return false if the stream has closed
     */
    boolean reply(long session, Payloads.Encoded value, byte[] error) {
        synchronized (lock) {
            if (!admit(true)) {
                return false;
            }
            if (error == null) {
                filling.reply(session, value);
            } else {
                filling.failure(session, error);
            }
            added();
        }
        drainUnlessAnotherWill();
        return true;
    }

    /** Queues a service update (a birth, a name, a death, our leaving), even over the limit; false if the stream has closed. */
    boolean control(byte[] envelope) {
        synchronized (lock) {
            if (!admit(true)) {
                return false;
            }
            filling.control(envelope);
            added();
        }
        drainUnlessAnotherWill();
        return true;
    }

    /**
     * After an offer, outside the lock: drains unless another thread will. While the stream is known
     * not ready, gRPC's on-ready callback drains next; while a drain holds {@link #draining}, it sees
     * this offer, since it looks at {@link #queued} again after letting go of the flag. In both cases
     * the producer neither asks the stream whether it is ready nor contends for the flag (with eight
     * producers on two cores, both showed in the sender's profile).
     */
    private void drainUnlessAnotherWill() {
        if (!awaitingReady && draining.get() == 0) {
            drain();
        }
    }

    /** Under {@link #lock}: whether one more envelope may be queued, with {@link #filling} ready for it. */
    private boolean admit(boolean force) {
        if (closed || (queued >= limit && !force)) {
            return false;
        }
        if (filling == null) {
            filling = new EnvelopeBatch(FIRST_BYTES);
        }
        return true;
    }

    /** Under {@link #lock}: one envelope was appended to {@link #filling}. */
    private void added() {
        added(1);
    }

    /** Under {@link #lock}: {@code n} envelopes were appended to {@link #filling}. */
    private void added(int n) {
        queued += n;
        if (filling.count() >= batchSize || filling.size() >= SEAL_BYTES) {
            sealed.add(filling);
            filling = null;
        }
    }

    /** The oldest batch, taken out of the queue, or null if nothing is queued. */
    private EnvelopeBatch take() {
        synchronized (lock) {
            EnvelopeBatch b = sealed.poll();
            if (b == null) {
                b = filling;
                filling = null;
            }
            if (b != null) {
                queued -= b.count();
            }
            return b;
        }
    }

    /** Asks for a heartbeat frame ahead of the queue. */
    void heartbeat() {
        heartbeatDue = true;
        drain();
    }

    int depth() {
        return queued;
    }

    /** gRPC's on-ready callback, on its event loop: the stream takes more again. */
    private void ready() {
        awaitingReady = false;
        drain();
    }

    private void drain() {
        while (started && !closed && draining.compareAndSet(0, 1)) {
            boolean blocked = false;
            try {
                ClientCallStreamObserver<LinkFrame> s = stream;
                while (true) {
                    if (!s.isReady()) {
                        blocked = true;
                        break;
                    }
                    if (heartbeatDue) {
                        heartbeatDue = false;
                        s.onNext(Codec.heartbeat());
                        continue;
                    }
                    EnvelopeBatch batch = take();
                    if (batch == null) {
                        break;
                    }
                    s.onNext(LinkFrame.newBuilder().setBatch(Batch.newBuilder().setPacked(batch.toByteString())).build());
                }
            } catch (RuntimeException e) {
                harbor.dialler.outboundFailed(this, e);
                return;
            } finally {
                draining.set(0);
            }
            if (blocked) {
                // Leave the rest to the on-ready callback, unless the stream became ready before this
                // flag was up (then that callback may have found the drain taken, and gone).
                awaitingReady = true;
                if (!stream.isReady()) {
                    return;
                }
                awaitingReady = false;
            } else if (queued == 0 && !heartbeatDue) {
                return; // a producer that queued after take() found the flag taken: it is seen here
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

    /**
     * The dialler has started the call and sent the first frame ({@link Dialler}'s open, on the link
     * timer): from now on a cancel goes to the call at once; one that came meanwhile is done now.
     */
    void opened() {
        String why;
        synchronized (opening) {
            open = true;
            why = cancelledWhileOpening;
        }
        ClientCallStreamObserver<LinkFrame> s = stream; // null if the call failed before it began
        if (why != null && s != null) {
            s.cancel(why, null);
        }
    }

    /**
     * Closes the stream from this side (the peer was lost or refused, the node closes). Any thread. While
     * the dialler is still starting the call, the cancel waits for {@link #opened}: gRPC's calls are not
     * thread-safe, and a cancel from another thread while the call starts can fail inside gRPC.
     */
    void cancel(String why) {
        closed = true;
        synchronized (opening) {
            if (!open) {
                if (cancelledWhileOpening == null) {
                    cancelledWhileOpening = why;
                }
                return;
            }
        }
        ClientCallStreamObserver<LinkFrame> s = stream;
        if (s != null) {
            s.cancel(why, null);
        }
    }

    /** Marks the stream closed and takes out what was never sent, oldest first. */
    List<EnvelopeBatch> close() {
        synchronized (lock) {
            closed = true;
            List<EnvelopeBatch> left = new ArrayList<>(sealed);
            sealed.clear();
            if (filling != null) {
                left.add(filling);
                filling = null;
            }
            queued = 0;
            return left;
        }
    }

    @Override
    public void onNext(LinkFrame frame) {
        harbor.links.fromOutbound(this, frame);
    }

    @Override
    public void onError(Throwable t) {
        Status.Code code = Status.fromThrowable(t).getCode();
        if (code == Status.Code.UNAUTHENTICATED || code == Status.Code.PERMISSION_DENIED) {
            harbor.dialler.notAuthorized(this, t.getMessage());
        }
        harbor.dialler.outboundClosed(this, t.toString());
    }

    @Override
    public void onCompleted() {
        harbor.dialler.outboundClosed(this, "the peer ended the stream");
    }
}
