package dev.harbor.transport;

import dev.harbor.proto.LinkFrame;
import io.grpc.Status;
import io.grpc.stub.ServerCallStreamObserver;

/**
 * The one owner of writes to the response stream of a peer's link to this node (the server side of
 * {@code Harbor.Link}): our Hello back, heartbeats, a refusal, and the stream's end.
 *
 * <p><b>The rule:</b> a gRPC {@code StreamObserver} is not thread-safe, and this stream is written
 * from several threads: gRPC's event loops (the Hello, a refusal, the end when the peer completes, a
 * newer link replacing it, a verdict or a leaving handled there), the link timer on the node's
 * scheduler thread (heartbeats, a verdict), a new life's thread and whichever thread closes the
 * transport. So
 * nothing writes to it but this class, and every write here ({@code onNext}, {@code onError},
 * {@code onCompleted}, and the frame-plus-end pairs) holds this object's lock for its whole length.
 * Exceptions from the stream (it may be cancelled already) go to the caller, which logs them.
 *
 * <p>This node's own streams to its peers ({@link Outbound}) serialise their writes differently: by
 * their draining flag.
 */
final class LinkWriter {
    private final ServerCallStreamObserver<LinkFrame> stream;

    LinkWriter(ServerCallStreamObserver<LinkFrame> stream) {
        this.stream = stream;
    }

    /** Writes one frame. */
    synchronized void next(LinkFrame frame) {
        stream.onNext(frame);
    }

    /** Writes one last frame and completes the stream. */
    synchronized void last(LinkFrame frame) {
        stream.onNext(frame);
        stream.onCompleted();
    }

    /** Writes a refusal and ends the stream with {@code FAILED_PRECONDITION} and {@code why}. */
    synchronized void refuse(LinkFrame refusal, String why) {
        stream.onNext(refusal);
        stream.onError(Status.FAILED_PRECONDITION.withDescription(why).asRuntimeException());
    }

    /** Writes a heartbeat if the stream is ready for more (a heartbeat never queues behind flow control). */
    synchronized void heartbeatIfReady() {
        if (stream.isReady()) {
            stream.onNext(Codec.heartbeat());
        }
    }

    /** Ends the stream with {@code status}. */
    synchronized void fail(Status status) {
        stream.onError(status.asRuntimeException());
    }

    /** Completes the stream. */
    synchronized void complete() {
        stream.onCompleted();
    }
}
