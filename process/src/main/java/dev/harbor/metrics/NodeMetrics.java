package dev.harbor.metrics;

import dev.harbor.service.ExitEvent;
import dev.harbor.service.ExitReason;
import dev.harbor.service.InternalNode;
import dev.harbor.transport.Harbor;
import dev.harbor.service.Node;
import dev.harbor.service.ServiceInfo;
import dev.harbor.shutdown.OrderedExit;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import java.time.Duration;
import java.util.EnumMap;
import java.util.HashMap;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Consumer;
import java.util.function.ToLongFunction;

/**
 * A node's metrics, in Micrometer's names (Prometheus: dots become underscores, counters get
 * {@code _total}, timers {@code _seconds}):
 *
 * <table>
 *   <caption>Meters</caption>
 *   <tr><th>name</th><th>tags</th><th>what</th></tr>
 *   <tr><td>{@code harbor.services}</td><td>{@code role}</td><td>live services by their ordered-exit role
 *       ({@code gateway}, {@code writer}, a custom role, or {@code none})</td></tr>
 *   <tr><td>{@code harbor.messages.sent}</td><td>{@code scope=local|remote}</td><td>sends and calls made on this node,
 *       to its own services or to other nodes'</td></tr>
 *   <tr><td>{@code harbor.messages.received}</td><td>{@code scope=local|remote}</td><td>local: messages handled by this
 *       node's services, less those that came from other nodes; remote: sends and calls that arrived from other nodes</td></tr>
 *   <tr><td>{@code harbor.messages.failed}</td><td>{@code scope=local|remote}</td><td>local: sends dropped and calls
 *       refused because their service was gone; remote: the same towards other nodes, and calls lost with a link or node</td></tr>
 *   <tr><td>{@code harbor.mailbox.depth}</td><td></td><td>messages waiting in all mailboxes</td></tr>
 *   <tr><td>{@code harbor.call.latency}</td><td>{@code scope=local|remote}</td><td>round trip of calls made by services,
 *       one call in 16 sampled</td></tr>
 *   <tr><td>{@code harbor.exits}</td><td>{@code reason}</td><td>exit events this node published</td></tr>
 *   <tr><td>{@code harbor.peers.connected}</td><td></td><td>nodes this node has a link to now</td></tr>
 *   <tr><td>{@code harbor.frames.rejected}</td><td></td><td>link frames and envelopes refused or dropped as malformed</td></tr>
 * </table>
 *
 * <p>Services publish meters of their own through the same registry, which this object
 * {@linkplain Node#provide provides} to its node's services as {@code MeterRegistry} until {@link #close}:
 * the reference gateway's and writer's are listed in their classes.
 *
 * <p><b>Cost.</b> Nothing here is on the message path: counters are kept by the runtime in plain fields
 * and adders it has anyway, and read here lazily. {@link #sample()} takes one pass over the live
 * services, so call it once per scrape (the {@link MetricsEndpoint} does), not per meter.
 *
 * <p><b>Threads.</b> {@link #sample()} runs on the scraping thread and is synchronized; meters read the
 * last sample (volatile). The exit counter runs under the exit log's lock and only increments.
 */
public final class NodeMetrics implements AutoCloseable {
    private static final String NO_ROLE = "none";

    private final MeterRegistry registry;
    private final Node node;
    private final Harbor harbor;
    private final Map<String, AtomicLong> byRole = new ConcurrentHashMap<>();
    private final Consumer<ExitEvent> exitCounter;
    /** The last sample; counters in it never go down (see {@link InternalNode#traffic}). */
    private volatile Sample last = new Sample(0, 0, 0, 0, 0, 0, 0);

    private record Sample(long sentLocal, long sentRemote, long receivedLocal, long receivedRemote, long failedLocal,
            long failedRemote, long mailboxDepth) {
    }

    /** Registers a node's meters in {@code registry}; {@code harbor} may be null for a node alone. */
    public NodeMetrics(MeterRegistry registry, Node node, Harbor harbor) {
        this.registry = registry;
        this.node = node;
        this.harbor = harbor;
        node.provide(MeterRegistry.class, registry);
        counter("harbor.messages.sent", "local", Sample::sentLocal, "sends and calls to services of this node");
        counter("harbor.messages.sent", "remote", Sample::sentRemote, "sends and calls to services of other nodes");
        counter("harbor.messages.received", "local", Sample::receivedLocal, "messages from this node handled by its services");
        counter("harbor.messages.received", "remote", Sample::receivedRemote, "sends and calls that arrived from other nodes");
        counter("harbor.messages.failed", "local", Sample::failedLocal, "sends dropped, calls refused: their service was gone");
        counter("harbor.messages.failed", "remote", Sample::failedRemote, "messages to other nodes that failed");
        Gauge.builder("harbor.mailbox.depth", this, m -> m.last.mailboxDepth()).description("messages waiting in all mailboxes")
                .baseUnit("messages").register(registry);
        if (harbor != null) {
            Gauge.builder("harbor.peers.connected", harbor, h -> h.connected().size()).description("nodes linked to this one now")
                    .register(registry);
            FunctionCounter.builder("harbor.frames.rejected", harbor, Harbor::rejected)
                    .description("link frames and envelopes refused or dropped as malformed").register(registry);
            Gauge.builder("harbor.membership.majority", harbor, h -> h.inMajority() ? 1 : 0)
                    .description("1 while this node hears from a majority of its cluster, 0 while it is cut off").register(registry);
            FunctionCounter.builder("harbor.membership.pauses", harbor, Harbor::pauses)
                    .description("times this node found its own link timer late (paused or starved): no verdicts then")
                    .register(registry);
            FunctionCounter.builder("harbor.membership.new.lives", harbor, Harbor::newLives)
                    .description("new lives this node started after its cluster declared it lost").register(registry);
        }
        Map<ExitReason, Counter> exits = new EnumMap<>(ExitReason.class);
        for (ExitReason r : ExitReason.values()) {
            exits.put(r, Counter.builder("harbor.exits").tag("reason", r.name()).description("exit events by reason")
                    .register(registry));
        }
        exitCounter = e -> exits.get(e.reason()).increment();
        node.exits().subscribe(node.exits().lastSeq(), exitCounter).forEach(exitCounter);
        Map<Boolean, Timer> latency = new HashMap<>();
        for (boolean remote : new boolean[] {false, true}) {
            latency.put(remote, Timer.builder("harbor.call.latency").tag("scope", remote ? "remote" : "local")
                    .description("round trip of calls made by services (1 in 16 sampled)").publishPercentileHistogram()
                    .minimumExpectedValue(Duration.ofNanos(500)).maximumExpectedValue(Duration.ofSeconds(30)).register(registry));
        }
        Timer local = latency.get(false);
        Timer remote = latency.get(true);
        InternalNode.timeCalls(node, (isRemote, nanos) -> (isRemote ? remote : local).record(nanos, TimeUnit.NANOSECONDS));
        sample();
    }

    private void counter(String name, String scope, ToLongFunction<Sample> value, String description) {
        FunctionCounter.builder(name, this, m -> value.applyAsLong(m.last)).tag("scope", scope).description(description)
                .register(registry);
    }

    /** Takes a new sample of the node's counters and services: one pass over the live services. */
    public synchronized void sample() {
        InternalNode.Traffic t = InternalNode.traffic(node);
        long sentRemote = harbor == null ? 0 : harbor.sent();
        long receivedRemote = harbor == null ? 0 : harbor.received();
        long failedRemote = harbor == null ? 0 : harbor.failed();
        Sample prev = last;
        last = new Sample(
                Math.max(prev.sentLocal(), t.sent() - sentRemote),
                Math.max(prev.sentRemote(), sentRemote),
                Math.max(prev.receivedLocal(), t.handled() - Math.min(t.handled(), receivedRemote)),
                Math.max(prev.receivedRemote(), receivedRemote),
                Math.max(prev.failedLocal(), t.deadLetters() + t.failedCalls()),
                Math.max(prev.failedRemote(), failedRemote),
                t.mailboxDepth());
        Map<String, Long> roles = new HashMap<>();
        for (ServiceInfo s : node.services()) {
            String role = s.tags().getOrDefault(OrderedExit.ROLE_TAG, NO_ROLE).toLowerCase(Locale.ROOT);
            roles.merge(role, 1L, Long::sum);
        }
        roles.putIfAbsent(NO_ROLE, 0L);
        byRole.forEach((role, n) -> n.set(roles.getOrDefault(role, 0L)));
        roles.forEach((role, n) -> byRole.computeIfAbsent(role, r -> {
            AtomicLong value = new AtomicLong();
            Gauge.builder("harbor.services", value, AtomicLong::get).tag("role", r).description("live services by role")
                    .register(registry);
            return value;
        }).set(n));
    }

    /** Stops counting exits and timing calls. */
    @Override
    public void close() {
        node.provide(MeterRegistry.class, null);
        node.exits().unsubscribe(exitCounter);
        InternalNode.timeCalls(node, (remote, nanos) -> { });
    }
}
