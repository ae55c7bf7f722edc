package dev.harbor.it;

import io.grpc.stub.StreamObserver;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;

/**
 * A gRPC stream observer that keeps every item and how the stream ended, for assertions. gRPC calls it
 * from its threads while the test reads it: the list is copy-on-write and the end fields are volatile.
 */
abstract class StreamRecorder<T> implements StreamObserver<T> {
    final List<T> items = new CopyOnWriteArrayList<>();
    volatile Throwable error;
    volatile boolean completed;

    @Override
    public void onNext(T item) {
        items.add(item);
    }

    @Override
    public void onError(Throwable t) {
        error = t;
    }

    @Override
    public void onCompleted() {
        completed = true;
    }

    /** Whether the stream has ended, either way. */
    boolean ended() {
        return completed || error != null;
    }
}
