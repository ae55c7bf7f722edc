package dev.harbor.service;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The scheduler does not preempt, so a service that always has mail must give its carrier thread up
 * by itself for the node's other services to run (README, "What the runtime guarantees"). With one
 * carrier per core that shows only when the cores are all taken; this test runs in a JVM of its own
 * with one carrier ({@code -Djdk.virtualThreadScheduler.parallelism=1}, the "one-carrier" execution
 * in node/pom.xml), where one busy service takes them all. A runner that never gives its carrier up
 * fails it every time; one that gives way with {@code Thread.yield()} failed it in 3 of 6 runs on
 * JDK 25 (the scheduler handed the carrier straight back to the yielding service; see
 * {@code ServiceCell.giveWay}).
 */
@Timeout(60)
class OneCarrierTest extends NodeFixture {
    /** Sends busy sends itself, each handled in {@link #TICK_NANOS}: some 400 ms of work in all, 400 time slices. */
    private static final int TICKS = 200_000;
    private static final long TICK_NANOS = 2_000;

    @BeforeAll
    static void runsOnOneCarrier() {
        assertThat(System.getProperty("jdk.virtualThreadScheduler.parallelism"))
                .as("a JVM with one carrier thread: node/pom.xml's one-carrier execution runs this test in one; alone, run"
                        + " ./mvnw -pl node test -Dtest=OneCarrierTest -DargLine=-Djdk.virtualThreadScheduler.parallelism=1")
                .isEqualTo("1");
    }

    @Test
    void aServiceWithAFullMailboxLetsAnotherServiceRunLongBeforeItHasHandledIt() {
        AtomicLong ticked = new AtomicLong();
        CompletableFuture<Void> ticking = new CompletableFuture<>();
        Handle busy = node.launch(() -> (ctx, m) -> {
            if ("fill".equals(m.payload())) {
                for (int i = 0; i < TICKS; i++) {
                    ctx.send(ctx.self(), "tick"); // its own mailbox: no other service runs while this handler does
                }
            } else {
                long end = System.nanoTime() + TICK_NANOS;
                while (System.nanoTime() < end) {
                    Thread.onSpinWait(); // a handler that computes
                }
                ticked.incrementAndGet();
                ticking.complete(null);
            }
            return null;
        });
        CompletableFuture<Long> tickedWhenOtherRan = new CompletableFuture<>();
        Handle other = node.launch(() -> (ctx, m) -> {
            tickedWhenOtherRan.complete(ticked.get());
            return null;
        });

        node.send(busy, "fill");
        get(ticking); // the fill is over: busy works through its ticks now, and has the one carrier
        node.send(other, "your turn");

        long seen = get(tickedWhenOtherRan);
        assertThat(seen).as("ticks busy had handled when the other service ran").isLessThan(TICKS / 2);
        await().atMost(WAIT).until(() -> ticked.get() == TICKS);
    }
}
