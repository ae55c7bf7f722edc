package dev.harbor.cli;

import io.grpc.ForwardingServerCall;
import io.grpc.ForwardingServerCallListener;
import io.grpc.Metadata;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.Status;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Keeps the calls of the services it intercepts that are still open, so that a stopping node can end
 * them itself ({@link #endAll}) instead of waiting for clients that never end them (a
 * {@code grpc.health.v1.Health/Watch} from a load balancer or a probe).
 *
 * <p><b>Threads.</b> The set of open calls is concurrent. Each call is wrapped so that the service's
 * own writes and closes and {@link #endAll}'s close (from the stopping thread) are serialised on the
 * call, and a call is closed at most once; after that, the service's writes are dropped.
 */
final class EndableStreams implements ServerInterceptor {
    private final Set<Guarded<?, ?>> open = ConcurrentHashMap.newKeySet();

    @Override
    public <Q, R> ServerCall.Listener<Q> interceptCall(ServerCall<Q, R> call, Metadata headers, ServerCallHandler<Q, R> next) {
        Guarded<Q, R> guarded = new Guarded<>(call);
        open.add(guarded);
        return new ForwardingServerCallListener.SimpleForwardingServerCallListener<>(next.startCall(guarded, headers)) {
            @Override
            public void onComplete() {
                open.remove(guarded);
                super.onComplete();
            }

            @Override
            public void onCancel() {
                open.remove(guarded);
                super.onCancel();
            }
        };
    }

    /** Closes every call still open with {@code status}; any thread. */
    void endAll(Status status) {
        for (Guarded<?, ?> g : open) {
            g.end(status);
            open.remove(g);
        }
    }

    private static final class Guarded<Q, R> extends ForwardingServerCall.SimpleForwardingServerCall<Q, R> {
        /** Guarded by this. */
        private boolean closed;

        Guarded(ServerCall<Q, R> call) {
            super(call);
        }

        @Override
        public synchronized void sendHeaders(Metadata headers) {
            if (!closed) {
                super.sendHeaders(headers);
            }
        }

        @Override
        public synchronized void sendMessage(R message) {
            if (!closed) {
                super.sendMessage(message);
            }
        }

        @Override
        public synchronized void close(Status status, Metadata trailers) {
            if (!closed) {
                closed = true;
                super.close(status, trailers);
            }
        }

        void end(Status status) {
            close(status, new Metadata());
        }
    }
}
