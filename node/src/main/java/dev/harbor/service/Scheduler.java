package dev.harbor.service;

import java.time.Duration;
import java.util.concurrent.RejectedExecutionException;

/**
 * A node's timer: runs short tasks after a delay. The node uses it for call timeouts and for
 * {@link ServiceContext#after}; its tasks only hand a message or an answer to a service, so they never
 * block.
 *
 * <p>The node's default ({@link Node.Builder#scheduler}) is one daemon thread and the system's
 * monotonic clock. A test can give a node one that runs on a clock it moves by hand, so that timeouts
 * come exactly when the test says.
 *
 * <p>Contract: tasks run one at a time, in the order of their due times, tasks due at the same time in
 * the order they were scheduled; none runs before its delay has passed on this scheduler's clock. A
 * scheduler serves one node, which shuts it down when it stops.
 */
public interface Scheduler {

    /**
     * Runs {@code task} once, {@code delay} from now (a zero or negative delay: as soon as possible).
     * Any thread.
     *
     * @return a handle that calls the task off if it has not run yet
     * @throws RejectedExecutionException once the scheduler is shut down
     */
    Cancellable schedule(Runnable task, Duration delay);

    /** Drops every task that has not run, and refuses new ones. Idempotent. */
    void shutdown();
}
