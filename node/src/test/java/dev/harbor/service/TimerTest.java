package dev.harbor.service;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Call timeouts and {@link ServiceContext#after} on a node whose clock the test moves by hand
 * ({@link ManualScheduler}): nothing is due until the test advances the clock, and a task runs inside
 * {@code advance}, so what it hands a service is in the mailbox when {@code advance} returns. A call to
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

    /** Asks a {@link Clocked} service to call {@code after(delay, payload)}; the reply is the handle. */
    record After(Duration delay, Object payload) {
    }

    /** A message for {@link Clocked}: block the handler until {@code gate} completes, first completing {@code started}. */
    record Block(CompletableFuture<Void> started, CompletableFuture<Void> gate) {
    }

    /**
     * Schedules what it is told to ({@link After}), answers "log?" with every other message it got, in
     * order, each as its payload if it came from itself, else marked with its sender.
     */
    static final class Clocked implements Service {
        private final List<Object> got = new ArrayList<>();

        @Override
        public Object receive(ServiceContext ctx, Message m) {
            return switch (m.payload()) {
                case After a -> ctx.after(a.delay(), a.payload());
                case Block b -> {
                    b.started().complete(null);
                    b.gate().join();
                    yield null;
                }
                case String s when s.equals("log?") -> List.copyOf(got);
                case Object p -> {
                    got.add(ctx.self().equals(m.from()) && !m.isCall() ? p : "from " + m.from() + ": " + p);
                    yield null;
                }
            };
        }
    }

    /**
     * Calls without a call timeout: here its timer would be one more task on the test's clock, and it is
     * called off only after the reply has woken the caller, so counting pending tasks would race it.
     * The wait is still bounded ({@link NodeFixture#get}).
     */
    @Override
    protected Object call(Handle to, Object payload) {
        return get(node.call(to, payload, null));
    }

    private Cancellable after(Handle h, Duration delay, Object payload) {
        return (Cancellable) call(h, new After(delay, payload));
    }

    @SuppressWarnings("unchecked")
    private List<Object> log(Handle h) {
        return (List<Object>) call(h, "log?");
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

    // ------------------------------------------------------------------ after

    @Test
    void afterDeliversToTheServiceItselfInDueOrderAndNotBeforeItsTime() {
        Handle h = node.launch(Clocked::new);
        after(h, Duration.ofMillis(30), "c");
        after(h, Duration.ofMillis(10), "a");
        after(h, Duration.ofMillis(20), "b1");
        after(h, Duration.ofMillis(20), "b2"); // due with b1: comes after it, the order after was called
        clock.advance(Duration.ofMillis(10).minus(NS));
        assertThat(log(h)).isEmpty();
        clock.advance(NS);
        assertThat(log(h)).containsExactly("a");
        clock.advance(Duration.ofMillis(10).minus(NS));
        assertThat(log(h)).containsExactly("a");
        clock.advance(Duration.ofMillis(20));
        assertThat(log(h)).containsExactly("a", "b1", "b2", "c");
        assertThat(clock.pending()).isZero();
        assertThat(node.deadLetters()).isZero();
    }

    @Test
    void afterQueuesBehindWhatIsAlreadyInTheMailbox() throws Exception {
        Handle h = node.launch(Clocked::new);
        after(h, Duration.ofMillis(10), "timer");
        CompletableFuture<Void> started = new CompletableFuture<>();
        CompletableFuture<Void> gate = new CompletableFuture<>();
        node.send(h, new Block(started, gate));
        get(started);
        node.send(h, "before"); // queued while the handler is blocked
        clock.advance(Duration.ofMillis(10)); // "timer" queues behind it
        node.send(h, "after");
        gate.complete(null);
        assertThat(log(h)).containsExactly("from null: before", "timer", "from null: after");
    }

    @Test
    void aCancelledAfterNeverArrives() {
        Handle h = node.launch(Clocked::new);
        Cancellable x = after(h, Duration.ofMillis(10), "cancelled");
        after(h, Duration.ofMillis(20), "kept");
        assertThat(x.cancel()).isTrue();
        assertThat(x.cancel()).as("a second cancel").isFalse();
        assertThat(clock.pending()).isEqualTo(1);
        clock.advance(Duration.ofSeconds(1));
        assertThat(log(h)).containsExactly("kept");
    }

    @Test
    void anAfterCancelledWhileItWaitsInTheMailboxIsNeverHandled() {
        Handle h = node.launch(Clocked::new);
        Cancellable x = after(h, Duration.ofMillis(10), "cancelled");
        CompletableFuture<Void> started = new CompletableFuture<>();
        CompletableFuture<Void> gate = new CompletableFuture<>();
        node.send(h, new Block(started, gate));
        get(started);
        clock.advance(Duration.ofMillis(10)); // due: in the mailbox behind the blocked handler
        assertThat(x.cancel()).isTrue();
        gate.complete(null);
        assertThat(log(h)).isEmpty();
    }

    @Test
    void cancellingAnAfterThatWasHandledSaysSo() {
        Handle h = node.launch(Clocked::new);
        Cancellable x = after(h, Duration.ofMillis(10), "a");
        clock.advance(Duration.ofMillis(10));
        assertThat(log(h)).containsExactly("a");
        assertThat(x.cancel()).isFalse();
    }

    @Test
    void anAfterForAServiceThatHasEndedIsDroppedSilently() {
        Handle h = node.launch(Clocked::new);
        after(h, Duration.ofMillis(10), "never");
        assertThat(clock.pending()).isEqualTo(1);
        assertThat(node.kill(h)).isTrue();
        assertThat(clock.pending()).as("its end calls off what it scheduled").isZero();
        clock.advance(Duration.ofSeconds(1));
        assertThat(node.deadLetters()).isZero();
    }

    @Test
    void anAfterDueWhileTheServiceEndsIsDroppedSilently() {
        Handle h = node.launch(Clocked::new);
        after(h, Duration.ofMillis(10), "queued");
        CompletableFuture<Void> started = new CompletableFuture<>();
        CompletableFuture<Void> gate = new CompletableFuture<>();
        node.send(h, new Block(started, gate));
        get(started);
        clock.advance(Duration.ofMillis(10)); // in the mailbox
        assertThat(node.kill(h)).isTrue();
        gate.complete(null);
        assertThat(node.deadLetters()).isZero();
    }

    @Test
    void afterCalledForAServiceThatHasEndedSchedulesNothing() {
        CompletableFuture<ServiceContext> kept = new CompletableFuture<>();
        Handle h = node.launch(() -> new Service() {
            @Override
            public void init(ServiceContext ctx) {
                kept.complete(ctx);
            }

            @Override
            public Object receive(ServiceContext ctx, Message m) {
                return null;
            }
        });
        node.kill(h);
        Cancellable late = get(kept).after(Duration.ofMillis(10), "late"); // any thread may call after
        assertThat(clock.pending()).isZero();
        assertThat(late.cancel()).isFalse();
        clock.advance(Duration.ofSeconds(1));
        assertThat(node.deadLetters()).isZero();
    }

    @Test
    void afterScheduledDuringInitIsHandledAfterInit() {
        Handle h = node.launch(() -> new Service() {
            private final List<Object> got = new ArrayList<>();

            @Override
            public void init(ServiceContext ctx) {
                ctx.after(Duration.ZERO, "from init");
            }

            @Override
            public Object receive(ServiceContext ctx, Message m) {
                if (m.payload().equals("log?")) {
                    return List.copyOf(got);
                }
                got.add(m.payload());
                return null;
            }
        });
        clock.advance(Duration.ZERO);
        assertThat(log(h)).containsExactly("from init");
    }

    @Test
    void aStoppedNodeDropsWhatIsStillScheduled() {
        Handle h = node.launch(Clocked::new);
        after(h, Duration.ofMillis(10), "never");
        node.stop();
        assertThat(clock.pending()).isZero();
        clock.advance(Duration.ofSeconds(1));
        assertThat(node.deadLetters()).isZero();
    }
}
