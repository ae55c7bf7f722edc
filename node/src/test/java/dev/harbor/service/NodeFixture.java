package dev.harbor.service;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;

/**
 * A fresh node with a recording monitor per test; after each test, checks the node stopped cleanly.
 * Public for the tests of services built on the runtime (the writer's).
 */
public abstract class NodeFixture {
    protected static final Duration WAIT = Duration.ofSeconds(10);

    protected RecordingMonitor monitor;
    protected Node node;

    @BeforeEach
    protected void startNode() {
        monitor = new RecordingMonitor();
        node = Node.builder().id(1).monitor(() -> monitor).build();
    }

    @AfterEach
    protected void stopNode() {
        node.stop();
        assertThat(node.isStopped()).isTrue();
        assertThat(node.activeThreads()).as("service threads left after stop").isZero();
        assertThat(node.services()).as("services left after stop").isEmpty();
    }

    /** Waits for a future a bounded time and returns its value. */
    protected static <T> T get(CompletableFuture<T> f) {
        try {
            return f.get(WAIT.toMillis(), TimeUnit.MILLISECONDS);
        } catch (InterruptedException | ExecutionException | TimeoutException e) {
            throw new AssertionError("future did not complete normally within " + WAIT + ": " + e, e);
        }
    }

    /** Waits for a future a bounded time and returns its failure's cause. */
    protected static Throwable failure(CompletableFuture<?> f) {
        try {
            Object v = f.get(WAIT.toMillis(), TimeUnit.MILLISECONDS);
            throw new AssertionError("expected a failure but got " + v);
        } catch (ExecutionException e) {
            return e.getCause();
        } catch (InterruptedException | TimeoutException e) {
            throw new AssertionError("future did not complete within " + WAIT, e);
        }
    }

    protected Object call(Handle to, Object payload) {
        return get(node.call(to, payload, WAIT));
    }

    /** A service that answers every call with its payload. */
    Handle echo() {
        return node.launch(() -> (ctx, m) -> m.payload());
    }
}
