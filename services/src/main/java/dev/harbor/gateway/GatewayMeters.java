package dev.harbor.gateway;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.Meter;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Tags;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * One gateway's meters, tagged {@code gateway=<host:port it listens on>} (Prometheus names in brackets):
 * {@code harbor.gateway.sessions} (gauge {@code harbor_gateway_sessions}): sessions open now;
 * {@code harbor.gateway.requests} ({@code harbor_gateway_requests_total}, tag {@code answer=ok|err}):
 * requests answered; {@code harbor.gateway.connections.refused} ({@code harbor_gateway_connections_refused_total}):
 * connections closed at once because the gateway was draining or their session could not start.
 *
 * <p>Threads: the counters are Micrometer's (any thread: the session agents count their answers);
 * the session count is set by the gateway's handlers and read by the scraping thread.
 */
final class GatewayMeters {
    private final MeterRegistry registry;
    private final AtomicInteger sessions = new AtomicInteger();
    private final Counter ok;
    private final Counter err;
    private final Counter refused;
    private final List<Meter> all;

    GatewayMeters(MeterRegistry registry, String listen) {
        this.registry = registry;
        Tags tags = Tags.of("gateway", listen);
        Gauge open = Gauge.builder("harbor.gateway.sessions", sessions, AtomicInteger::get).tags(tags)
                .description("client sessions open on this gateway").register(registry);
        ok = Counter.builder("harbor.gateway.requests").tags(tags).tag("answer", "ok")
                .description("client requests answered").register(registry);
        err = Counter.builder("harbor.gateway.requests").tags(tags).tag("answer", "err")
                .description("client requests answered").register(registry);
        refused = Counter.builder("harbor.gateway.connections.refused").tags(tags)
                .description("connections closed at once: the gateway was draining or the session could not start")
                .register(registry);
        all = List.of(open, ok, err, refused);
    }

    void sessions(int open) {
        sessions.set(open);
    }

    void answered(boolean success) {
        (success ? ok : err).increment();
    }

    void refused() {
        refused.increment();
    }

    /** Takes the meters off the registry (the gateway has ended). */
    void remove() {
        all.forEach(registry::remove);
    }
}
