package dev.harbor.coordinator;

import dev.harbor.plan.Step;
import dev.harbor.proto.StepFinished;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import io.micrometer.core.instrument.composite.CompositeMeterRegistry;
import java.util.Locale;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The coordinator's meters (Prometheus names in brackets):
 * <ul>
 *   <li>{@code harbor.coordinator.run} {@code state=idle|running} ({@code harbor_coordinator_run}): 1 for the state it is in, 0 for the other;</li>
 *   <li>{@code harbor.coordinator.runs} {@code result=clean|not_clean} ({@code harbor_coordinator_runs_total}): runs ended;</li>
 *   <li>{@code harbor.coordinator.step.duration} {@code kind}, {@code outcome} ({@code harbor_coordinator_step_duration_seconds}):
 *       how long each finished step took, from its start to its exit event;</li>
 *   <li>{@code harbor.coordinator.escalations} ({@code harbor_coordinator_escalations_total}): steps that overran their timeout.</li>
 * </ul>
 * Meters live in a composite registry of their own, so the coordinator service records the same way
 * whether or not a node's registry is bound ({@link #bindTo}, which registers them; a node binds it right
 * after the coordinator is made, before it can run a shutdown). Recorded from the coordinator service's
 * handlers (one at a time); read by the scraping thread (an atomic and Micrometer's own meters).
 */
public final class CoordinatorMetrics {
    private final CompositeMeterRegistry registry = new CompositeMeterRegistry();
    private final AtomicInteger running = new AtomicInteger();

    CoordinatorMetrics() {
    }

    /**
     * Serves the meters through {@code node} (the node's Prometheus registry) too. The node's registry is
     * added before any meter is registered: Micrometer warns (at start-up, on every coordinator node)
     * when a registry joins a composite that already has meters.
     */
    void bindTo(MeterRegistry node) {
        registry.add(node);
        Gauge.builder("harbor.coordinator.run", running, AtomicInteger::get).tag("state", "running")
                .description("1 while a shutdown run is in progress").register(registry);
        Gauge.builder("harbor.coordinator.run", running, r -> 1 - r.get()).tag("state", "idle")
                .description("1 while no shutdown run is in progress").register(registry);
        Counter.builder("harbor.coordinator.escalations").description("steps that overran their timeout").register(registry);
        for (String result : new String[] {"clean", "not_clean"}) {
            Counter.builder("harbor.coordinator.runs").tag("result", result).description("shutdown runs ended").register(registry);
        }
    }

    void runStarted() {
        running.set(1);
    }

    void runEnded(boolean clean) {
        running.set(0);
        registry.counter("harbor.coordinator.runs", "result", clean ? "clean" : "not_clean").increment();
    }

    void stepFinished(Step.Kind kind, StepFinished.Outcome outcome, long nanos) {
        Timer.builder("harbor.coordinator.step.duration").tag("kind", kind.name().toLowerCase(Locale.ROOT))
                .tag("outcome", outcome.name().toLowerCase(Locale.ROOT)).description("duration of finished shutdown steps")
                .register(registry).record(nanos, TimeUnit.NANOSECONDS);
    }

    void escalated() {
        Counter.builder("harbor.coordinator.escalations").description("steps that overran their timeout").register(registry)
                .increment();
    }
}
