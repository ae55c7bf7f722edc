package dev.harbor.service;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/** {@link Scheduler#repeat} on a clock moved by hand. */
class RepeatingTest {
    private final ManualScheduler clock = new ManualScheduler();
    private final List<Long> runs = new ArrayList<>();

    private void record() {
        runs.add(clock.nanoTime() / 1_000_000);
    }

    @Test
    void runsAfterItsInitialDelayThenEveryDelayAfterEachRun() {
        clock.repeat(this::record, Duration.ofMillis(10), Duration.ofMillis(100));
        clock.advance(Duration.ofMillis(9));
        assertThat(runs).as("not before its initial delay").isEmpty();
        clock.advance(Duration.ofMillis(301));
        assertThat(runs).containsExactly(10L, 110L, 210L, 310L);
    }

    @Test
    void aLateRunDelaysTheNextRatherThanPilingUp() {
        clock.repeat(this::record, Duration.ZERO, Duration.ofMillis(100));
        clock.advance(Duration.ZERO);
        clock.stall(Duration.ofMillis(350)); // the scheduler's thread was paused past three runs
        clock.advance(Duration.ofMillis(100));
        assertThat(runs).as("one late run, then the next a full delay after it").containsExactly(0L, 350L, 450L);
    }

    @Test
    void cancelStopsTheRunsThatHaveNotStarted() {
        Cancellable handle = clock.repeat(this::record, Duration.ZERO, Duration.ofMillis(100));
        clock.advance(Duration.ofMillis(150));
        assertThat(handle.cancel()).isTrue();
        assertThat(clock.pending()).as("the pending run left the scheduler's queue").isZero();
        assertThat(handle.cancel()).as("idempotent").isFalse();
        clock.advance(Duration.ofSeconds(1));
        assertThat(runs).containsExactly(0L, 100L);
    }

    @Test
    void aRunCanCancelItsOwnRepetition() {
        Cancellable[] handle = new Cancellable[1];
        handle[0] = clock.repeat(() -> {
            record();
            if (runs.size() == 2) {
                handle[0].cancel();
            }
        }, Duration.ZERO, Duration.ofMillis(100));
        clock.advance(Duration.ofMillis(100));
        assertThat(clock.pending()).as("nothing rescheduled after the run that cancelled").isZero();
        clock.advance(Duration.ofSeconds(1));
        assertThat(runs).containsExactly(0L, 100L);
    }

    @Test
    void aRunThatThrowsDoesNotStopTheNext() {
        clock.repeat(() -> {
            record();
            throw new IllegalStateException("boom");
        }, Duration.ZERO, Duration.ofMillis(100));
        clock.advance(Duration.ofMillis(200));
        assertThat(runs).containsExactly(0L, 100L, 200L);
    }

    @Test
    void theRunsEndQuietlyWhenTheSchedulerShutsDown() {
        clock.repeat(() -> {
            record();
            if (runs.size() == 2) {
                clock.shutdown();
            }
        }, Duration.ZERO, Duration.ofMillis(100));
        clock.advance(Duration.ofSeconds(1));
        assertThat(runs).containsExactly(0L, 100L);
    }
}
