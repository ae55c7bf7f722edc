package dev.harbor.service;

import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * The answer to a call made from outside any service: completes a future.
 *
 * <p>A platform thread that waits on it ({@link #get}, {@link #join}) spins for up to
 * {@link #SPIN_NANOS} before it parks: a local call is usually answered within that, and waking a
 * parked thread costs about as much again (the outside caller's share of a round trip). A virtual
 * thread parks at once (spinning would hold its carrier). Spinning is bounded and counts against a
 * timed wait's timeout.
 */
final class FutureReply extends CompletableFuture<Object> implements ReplyTo {
    /** How long a waiting platform thread spins before it parks. */
    static final long SPIN_NANOS = 50_000;

    @Override
    public void deliver(long session, Object value, CallException error) {
        if (error != null) {
            completeExceptionally(error);
        } else {
            complete(value);
        }
    }

    @Override
    public Object get() throws InterruptedException, ExecutionException {
        spin(SPIN_NANOS);
        return super.get();
    }

    @Override
    public Object get(long timeout, TimeUnit unit) throws InterruptedException, ExecutionException, TimeoutException {
        long start = System.nanoTime();
        long budget = unit.toNanos(timeout);
        spin(Math.min(SPIN_NANOS, budget));
        return super.get(Math.max(0, budget - (System.nanoTime() - start)), TimeUnit.NANOSECONDS);
    }

    @Override
    public Object join() {
        spin(SPIN_NANOS);
        return super.join();
    }

    private void spin(long nanos) {
        if (isDone() || Thread.currentThread().isVirtual()) {
            return;
        }
        long end = System.nanoTime() + nanos;
        while (!isDone() && end - System.nanoTime() > 0) {
            Thread.onSpinWait();
        }
    }
}
