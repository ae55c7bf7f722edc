package dev.harbor.service;

import java.time.Duration;
import java.util.PriorityQueue;
import java.util.concurrent.RejectedExecutionException;

/**
 * A {@link Scheduler} whose clock moves only when the test says: {@link #advance} runs, on the
 * calling thread, every task that falls due, in order (due time, then the order scheduled), with the
 * clock set to each task's due time while it runs. A task scheduled by a task that runs is run in the
 * same advance if it falls due within it. {@link #stall} moves the clock without running anything, as
 * if the scheduler's thread had been paused: what fell due meanwhile runs late, at the next advance,
 * with the clock at its new reading. Any thread may schedule and read the clock; one thread moves it.
 */
public final class ManualScheduler implements Scheduler {
    private final PriorityQueue<Task> queue = new PriorityQueue<>();
    private long now;
    private long seq;
    private boolean shut;

    private static final class Task implements Comparable<Task> {
        final long due;
        final long seq;
        final Runnable body;
        boolean cancelled;
        boolean ran;

        Task(long due, long seq, Runnable body) {
            this.due = due;
            this.seq = seq;
            this.body = body;
        }

        @Override
        public int compareTo(Task o) {
            int c = Long.compare(due, o.due);
            return c != 0 ? c : Long.compare(seq, o.seq);
        }
    }

    @Override
    public synchronized Cancellable schedule(Runnable task, Duration delay) {
        if (shut) {
            throw new RejectedExecutionException("the manual scheduler is shut down");
        }
        long d = Math.max(0, delay.toNanos());
        Task t = new Task(now + d, seq++, task);
        queue.add(t);
        notifyAll();
        return () -> {
            synchronized (ManualScheduler.this) {
                if (t.ran || t.cancelled) {
                    return false;
                }
                t.cancelled = true;
                queue.remove(t);
                ManualScheduler.this.notifyAll();
                return true;
            }
        };
    }

    /** Moves the clock {@code by} forward, running each task that falls due on the way, in order. */
    public void advance(Duration by) {
        long target;
        synchronized (this) {
            target = now + by.toNanos();
        }
        for (;;) {
            Task next;
            synchronized (this) {
                next = queue.peek();
                if (next == null || next.due > target) {
                    now = target;
                    return;
                }
                queue.poll();
                now = Math.max(now, next.due); // a task overdue after a stall runs late, at the current reading
                next.ran = true;
            }
            next.body.run(); // outside the lock: a task may schedule or cancel others
        }
    }

    /**
     * Moves the clock {@code by} forward and runs nothing: this scheduler's thread was paused (a
     * stopped process, a long GC). Tasks due meanwhile run at the next {@link #advance}, late.
     */
    public synchronized void stall(Duration by) {
        now += by.toNanos();
    }

    /** The clock's reading: nanoseconds since this scheduler was made (0 at first). */
    @Override
    public synchronized long nanoTime() {
        return now;
    }

    /** Tasks scheduled and neither run nor cancelled. */
    public synchronized int pending() {
        return queue.size();
    }

    /**
     * Waits until {@code n} tasks are pending (a service's thread schedules them), at most {@code max}.
     *
     * @throws AssertionError if they are not
     */
    public synchronized void awaitPending(int n, Duration max) throws InterruptedException {
        long end = System.nanoTime() + max.toNanos();
        while (queue.size() != n) {
            long left = end - System.nanoTime();
            if (left <= 0) {
                throw new AssertionError("expected " + n + " pending task(s), found " + queue.size() + " after " + max);
            }
            wait(Math.max(1, left / 1_000_000));
        }
    }

    @Override
    public synchronized void shutdown() {
        shut = true;
        queue.clear();
    }
}
