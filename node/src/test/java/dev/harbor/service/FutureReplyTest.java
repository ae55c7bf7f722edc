package dev.harbor.service;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** The future of a call from outside: a brief spin before parking changes none of a future's contract. */
@Timeout(30)
class FutureReplyTest {

    @Test
    void aTimedWaitStillEndsAtItsTimeoutWithNoReply() {
        FutureReply reply = new FutureReply();
        long start = System.nanoTime();
        assertThatThrownBy(() -> reply.get(5, TimeUnit.MILLISECONDS)).isInstanceOf(TimeoutException.class);
        assertThat(System.nanoTime() - start).as("not before its timeout").isGreaterThanOrEqualTo(TimeUnit.MILLISECONDS.toNanos(5));
        assertThatThrownBy(() -> reply.get(0, TimeUnit.NANOSECONDS)).as("a zero timeout").isInstanceOf(TimeoutException.class);
    }

    @Test
    void aReplyOrAnErrorReachesEveryKindOfWaiter() throws Exception {
        FutureReply answered = new FutureReply();
        Thread.ofPlatform().start(() -> answered.deliver(0, "pong", null));
        assertThat(answered.get()).isEqualTo("pong");
        assertThat(answered.join()).isEqualTo("pong");
        assertThat(answered.get(1, TimeUnit.SECONDS)).isEqualTo("pong");

        FutureReply failed = new FutureReply();
        CallException error = new CallException(CallException.Failure.TIMEOUT, null, "no reply", null);
        Thread.ofPlatform().start(() -> failed.deliver(0, null, error));
        assertThatThrownBy(failed::get).isInstanceOf(ExecutionException.class).hasCause(error);

        // A virtual thread waits by parking at once; the answer still reaches it.
        FutureReply late = new FutureReply();
        CompletableFuture<Object> seen = new CompletableFuture<>();
        Thread waiter = Thread.ofVirtual().start(() -> seen.complete(late.join()));
        awaitParked(waiter);
        late.deliver(0, "late", null);
        waiter.join();
        assertThat(seen.get()).isEqualTo("late");
    }

    @Test
    void anInterruptedWaiterStopsWaiting() throws Exception {
        FutureReply never = new FutureReply();
        CompletableFuture<Throwable> thrown = new CompletableFuture<>();
        Thread waiter = Thread.ofPlatform().start(() -> {
            try {
                never.get();
            } catch (Exception e) {
                thrown.complete(e);
            }
        });
        awaitParked(waiter); // past its spin
        waiter.interrupt();
        assertThat(thrown.get(5, TimeUnit.SECONDS)).isInstanceOf(InterruptedException.class);
    }

    /** Waits until {@code t} is parked, so the answer or the interrupt reaches a waiter that sleeps, not one that spins. */
    private static void awaitParked(Thread t) {
        await().atMost(Duration.ofSeconds(10)).until(() -> t.getState() == Thread.State.WAITING);
    }
}
