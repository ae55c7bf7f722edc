package dev.harbor.service;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Call timeouts on a node whose clock the test moves by hand
 * ({@link ManualScheduler}): nothing is due until the test advances the clock, and a task runs inside
 * {@code advance}, so what it hands a service is in its mailbox when {@code advance} returns. A call to
 * the service made after that (a probe) is handled after it, which is how these tests see what
 * happened without sleeping.
 */
@Timeout(60)
class TimerTest extends NodeFixture {
    private static final Duration NS = Duration.ofNanos(1);

    private ManualScheduler clock;

    @BeforeEach
    @Override
    protected void startNode() {
        monitor = new RecordingMonitor();
        clock = new ManualScheduler();
        node = Node.builder().id(1).monitor(() -> monitor).scheduler(clock).build();
    }

    // ------------------------------------------------------------------ call timeouts

    @Test
    void aCallFromOutsideTimesOutWhenTheClockPassesItsTimeoutAndNotBefore() {
        Handle silent = node.launch(() -> (ctx, m) -> {
            m.defer();
            return null;
        });
        CompletableFuture<Object> reply = node.call(silent, "x", Duration.ofMillis(100));
        clock.advance(Duration.ofMillis(100).minus(NS));
        assertThat(reply).isNotDone();
        clock.advance(NS);
        assertThat(reply).isCompletedExceptionally();
        CallException e = (CallException) failure(reply);
        assertThat(e.failure()).isEqualTo(CallException.Failure.TIMEOUT);
        assertThat(e).hasMessage("call to " + silent + " got no reply within 100 ms");
    }

    @Test
    void aCallFromAServiceTimesOutWhenTheClockPassesItsTimeoutAndNotBefore() throws Exception {
        Handle silent = node.launch(() -> (ctx, m) -> {
            m.defer();
            return null;
        });
        CompletableFuture<Object> outcome = new CompletableFuture<>();
        Handle caller = node.launch(() -> (ctx, m) -> {
            if (m.payload().equals("state?")) {
                return outcome.isDone() ? "done" : "waiting";
            }
            try {
                outcome.complete(ctx.call(silent, "x", Duration.ofMillis(100)));
            } catch (CallException e) {
                outcome.complete(e.failure() + ": " + e.getMessage());
            }
            return null;
        });
        node.send(caller, "go");
        clock.awaitPending(1, WAIT); // the caller's handler has made its call and waits
        clock.advance(Duration.ofMillis(100).minus(NS));
        // The caller handles other messages while it waits; had the timeout fired, its answer would
        // have been queued before this probe, and the waiting handler resumed before it.
        assertThat(call(caller, "state?")).isEqualTo("waiting");
        clock.advance(NS);
        assertThat(get(outcome)).isEqualTo("TIMEOUT: call to " + silent + " got no reply within 100 ms");
        assertThat(call(caller, "state?")).isEqualTo("done");
    }

    @Test
    void aCallAnsweredInTimeCancelsItsTimeout() {
        Handle echo = echo();
        Handle caller = node.launch(() -> (ctx, m) -> ctx.call(echo, m.payload(), Duration.ofMillis(100)));
        assertThat(call(caller, "hi")).isEqualTo("hi");
        assertThat(clock.pending()).isZero(); // the outside call had no timeout; the inner one is cancelled
    }
}
