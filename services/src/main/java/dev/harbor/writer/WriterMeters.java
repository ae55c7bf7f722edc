package dev.harbor.writer;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.Meter;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Tags;
import io.micrometer.core.instrument.Timer;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * One writer's meters, tagged {@code writer=<its global name>} (Prometheus names in brackets):
 * {@code harbor.writer.records} ({@code harbor_writer_records_total}, tag {@code outcome}): records
 * answered, {@code committed}, {@code refused} (malformed, sent instead of called, or the writer
 * draining) or {@code failed} (the database failed for the whole retry window: NOT stored);
 * {@code harbor.writer.commit} ({@code harbor_writer_commit_seconds}): how long each batch took, from
 * its first statement to its commit's return; {@code harbor.writer.pending} ({@code harbor_writer_pending_records}):
 * records taken and not answered yet; {@code harbor.writer.database.errors} ({@code harbor_writer_database_errors_total}):
 * failed commit attempts (each retried).
 *
 * <p>Threads: set by the writer's handlers, except {@link #databaseError}, which its commit thread calls;
 * Micrometer's meters are thread-safe, and are read by the scraping thread.
 */
final class WriterMeters {
    private final MeterRegistry registry;
    private final AtomicInteger pending = new AtomicInteger();
    private final Counter committed;
    private final Counter refused;
    private final Counter failed;
    private final Counter databaseErrors;
    private final Timer commit;
    private final List<Meter> all;

    WriterMeters(MeterRegistry registry, String name) {
        this.registry = registry;
        Tags tags = Tags.of("writer", name);
        committed = records(tags, "committed");
        refused = records(tags, "refused");
        failed = records(tags, "failed");
        databaseErrors = Counter.builder("harbor.writer.database.errors").tags(tags)
                .description("commit attempts that failed (each is retried on a fresh connection)").register(registry);
        commit = Timer.builder("harbor.writer.commit").tags(tags).description("one JDBC batch and its commit")
                .register(registry);
        Gauge waiting = Gauge.builder("harbor.writer.pending", pending, AtomicInteger::get).tags(tags).baseUnit("records")
                .description("records waiting for their commit").register(registry);
        all = List.of(committed, refused, failed, databaseErrors, commit, waiting);
    }

    private Counter records(Tags tags, String outcome) {
        return Counter.builder("harbor.writer.records").tags(tags).tag("outcome", outcome)
                .description("records answered, by outcome").register(registry);
    }

    void committed(int records, long nanos) {
        committed.increment(records);
        commit.record(nanos, TimeUnit.NANOSECONDS);
    }

    void refused() {
        refused.increment();
    }

    void failed(int records) {
        failed.increment(records);
    }

    void databaseError() {
        databaseErrors.increment();
    }

    void pending(int records) {
        pending.set(records);
    }

    /** Takes the meters off the registry (the writer has ended). */
    void remove() {
        all.forEach(registry::remove);
    }
}
