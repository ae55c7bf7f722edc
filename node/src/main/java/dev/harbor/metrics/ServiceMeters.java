package dev.harbor.metrics;

import dev.harbor.service.Node;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.composite.CompositeMeterRegistry;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Where a service finds the meter registry of the node it runs on, to publish meters of its own beside
 * the node's (the reference gateway and writer do). A node's {@link NodeMetrics} attaches its registry
 * for as long as it runs; on a node without one (a node embedded in a test or an application), a
 * service gets a registry that records nothing.
 *
 * <p>A service's meters outlive nothing: it removes them when it ends, so a service of the same name
 * started later on the same node publishes fresh ones. Thread-safety: any thread (a concurrent map from
 * node to registry).
 */
public final class ServiceMeters {
    private static final Map<Node, MeterRegistry> REGISTRIES = new ConcurrentHashMap<>();
    /** No registries under it: its meters record nothing. */
    private static final MeterRegistry NONE = new CompositeMeterRegistry();

    private ServiceMeters() {
    }

    /** The registry that serves {@code node}'s metrics, or one that records nothing. */
    public static MeterRegistry of(Node node) {
        return REGISTRIES.getOrDefault(Objects.requireNonNull(node, "node"), NONE);
    }

    static void attach(Node node, MeterRegistry registry) {
        REGISTRIES.put(node, registry);
    }

    static void detach(Node node) {
        REGISTRIES.remove(node);
    }
}
