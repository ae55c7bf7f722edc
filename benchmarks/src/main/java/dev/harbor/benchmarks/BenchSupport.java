package dev.harbor.benchmarks;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import java.time.Duration;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.apache.pekko.actor.typed.ActorSystem;
import org.slf4j.LoggerFactory;

/**
 * What every benchmark shares: the Pekko configuration, and waits that never hang.
 *
 * <p>Every wait of a benchmark has a limit ({@link #TIMEOUT}); past it the benchmark fails with an
 * exception that says what it waited for, so a lost message ends the run instead of stalling it.
 */
final class BenchSupport {

    /** The longest any single wait may take; far beyond any healthy operation. */
    static final Duration TIMEOUT = Duration.ofSeconds(60);

    /**
     * Pekko's settings: its defaults ({@code reference.conf}, merged into the shaded jar), with only
     * the logging turned down. The default dispatcher is left as shipped: a fork-join pool of
     * {@code parallelism-min = 8}, {@code parallelism-factor = 1.0} (so 8 threads on a 2-core machine),
     * {@code throughput = 5} messages per actor per turn, unbounded mailboxes.
     */
    static final Config PEKKO_CONFIG = ConfigFactory.parseString("""
            pekko.loglevel = WARNING
            pekko.stdout-loglevel = WARNING
            pekko.log-dead-letters = off
            pekko.log-dead-letters-during-shutdown = off
            """).withFallback(ConfigFactory.load());

    static {
        // Start SLF4J before any runtime does: when Pekko's threads log while SLF4J is still starting,
        // SLF4J replays those calls and prints a warning about it into the benchmark output.
        LoggerFactory.getILoggerFactory();
    }

    private BenchSupport() {
    }

    /** Waits for {@code latch}, or fails naming {@code what} and how much was left. */
    static void await(CountDownLatch latch, String what) {
        try {
            if (!latch.await(TIMEOUT.toMillis(), TimeUnit.MILLISECONDS)) {
                throw new IllegalStateException(what + " did not finish within " + TIMEOUT.toSeconds() + " s ("
                        + latch.getCount() + " still outstanding)");
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while waiting for " + what, e);
        }
    }

    /** The value of {@code future}, or a failure naming {@code what}. */
    static <T> T get(Future<T> future, String what) {
        try {
            return future.get(TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
        } catch (TimeoutException e) {
            future.cancel(true);
            throw new IllegalStateException(what + " did not finish within " + TIMEOUT.toSeconds() + " s", e);
        } catch (ExecutionException e) {
            throw new IllegalStateException(what + " failed: " + e.getCause(), e.getCause());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while waiting for " + what, e);
        }
    }

    /** Terminates {@code system} and waits until it has. */
    static void terminate(ActorSystem<?> system) {
        system.terminate();
        get(system.getWhenTerminated().toCompletableFuture(), "termination of actor system " + system.name());
    }
}
