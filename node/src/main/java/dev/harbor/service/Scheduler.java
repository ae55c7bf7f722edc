package dev.harbor.service;

import java.time.Duration;
import java.util.concurrent.RejectedExecutionException;

/**
 * A node's timer and clock: runs short tasks after a delay, and tells the time they are measured by.
 * The node uses it for call timeouts and for {@link ServiceContext#after}; the cluster transport
 * attached to the node ({@code dev.harbor.transport.Harbor}) runs its link timer on it (heartbeats,
 * suspicion, verdicts, dialling) and reads every time it judges peers by from {@link #nanoTime}. Tasks
 * only hand a message or an answer on, send a frame or start a call, so they never block; work that
 * can block (a DNS lookup, ending a life) is handed to another thread.
 *
 * <p>The node's default ({@link Node.Builder#scheduler}) is one daemon thread and the system's
 * monotonic clock ({@link #ofDaemonThread}). A test can give a node one that runs on a clock it moves
 * by hand, so that timeouts, suspicion and verdicts come exactly when the test says.
 *
 * <p>Contract: tasks run one at a time, in the order of their due times, tasks due at the same time in
 * the order they were scheduled; none runs before its delay has passed on this scheduler's clock
 * ({@link #nanoTime}). A task may run late (the thread was busy, paused or starved); it then runs with
 * the clock at its late reading, never at its due time, so a task can tell how late it is. A scheduler
 * serves one node, which shuts it down when it stops (once its transport, if any, has closed).
 */
public interface Scheduler {

    /**
     * A scheduler on one new daemon thread named {@code threadName}, over the system's monotonic clock
     * ({@link System#nanoTime}). Its owner shuts it down.
     */
    static Scheduler ofDaemonThread(String threadName) {
        return new ThreadScheduler(threadName);
    }

    /**
     * This scheduler's clock, in nanoseconds: the time its delays are measured on. Any thread; never
     * blocks.
     *
     * <p>Only the difference between two readings of the same scheduler means anything: the origin is
     * arbitrary (it may be negative, and differs between schedulers), and it is not the time of day.
     * Compare readings by subtraction ({@code a - b > 0}), as with {@link System#nanoTime}. Readings
     * never decrease. A task scheduled with delay {@code d} when the clock read {@code t} runs when the
     * clock reads {@code t + d} or later, and a reading taken inside it is at least {@code t + d}. The
     * clock goes on after {@link #shutdown}.
     */
    long nanoTime();

    /**
     * Runs {@code task} once, {@code delay} from now (a zero or negative delay: as soon as possible).
     * Any thread.
     *
     * @return a handle that calls the task off if it has not run yet
     * @throws RejectedExecutionException once the scheduler is shut down
     */
    Cancellable schedule(Runnable task, Duration delay);

    /**
     * Runs {@code task} {@code initialDelay} from now, then again {@code delay} after each run ends,
     * until the returned handle is cancelled or this scheduler shuts down (then quietly no more). A
     * run that throws is logged and does not stop the next. Any thread.
     *
     * @return a handle that calls off the runs that have not started
     * @throws RejectedExecutionException if the scheduler is shut down already
     */
    default Cancellable repeat(Runnable task, Duration initialDelay, Duration delay) {
        return new Repeating(this, task, delay).start(initialDelay);
    }

    /** Drops every task that has not run, and refuses new ones. Idempotent. */
    void shutdown();
}
