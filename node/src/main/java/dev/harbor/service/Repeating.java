package dev.harbor.service;

import java.time.Duration;
import java.util.concurrent.RejectedExecutionException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A task run again and again on a {@link Scheduler}: see {@link Scheduler#repeat}. Each run schedules
 * the next when it ends, so runs never overlap and a slow run delays the next instead of piling up.
 *
 * <p>Threading: runs on the scheduler's thread; {@link #cancel} from any thread. {@code next} is the
 * one pending run, replaced by each run; {@code cancelled} is checked before each run and before each
 * reschedule, so a cancel between the two is not lost.
 */
final class Repeating implements Runnable, Cancellable {
    private static final Logger log = LoggerFactory.getLogger(Repeating.class);
    private final Scheduler scheduler;
    private final Runnable task;
    private final Duration delay;
    private volatile boolean cancelled;
    private volatile Cancellable next;

    Repeating(Scheduler scheduler, Runnable task, Duration delay) {
        this.scheduler = scheduler;
        this.task = task;
        this.delay = delay;
    }

    Repeating start(Duration initialDelay) {
        next = scheduler.schedule(this, initialDelay);
        return this;
    }

    @Override
    public void run() {
        if (cancelled) {
            return;
        }
        try {
            task.run();
        } catch (RuntimeException e) {
            log.warn("a repeated task failed; it runs again in {} ms: {}", delay.toMillis(), e.toString(), e);
        }
        if (cancelled) {
            return;
        }
        try {
            next = scheduler.schedule(this, delay);
        } catch (RejectedExecutionException e) {
            cancelled = true; // the scheduler shut down (its node stopped): no more runs
            return;
        }
        if (cancelled) {
            next.cancel(); // cancelled while it was being rescheduled
        }
    }

    @Override
    public boolean cancel() {
        if (cancelled) {
            return false;
        }
        cancelled = true;
        Cancellable pending = next;
        if (pending != null) {
            pending.cancel();
        }
        return true;
    }
}
