package dev.harbor.metrics;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Serves a Prometheus registry as text on {@code GET /metrics}, and the node's health on {@code GET /health}
 * and {@code GET /ready}, with the JDK's HTTP server. Before each
 * scrape it runs the {@code samplers} (such as {@link NodeMetrics#sample()}), so meters that need a
 * pass over the node's services are computed once per scrape.
 *
 * <p>Threads: one daemon thread serves requests one at a time (scrapes are rare and cheap to queue).
 */
public final class MetricsEndpoint implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(MetricsEndpoint.class);
    private static final String CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

    private final HttpServer server;
    private final ExecutorService executor;

    private MetricsEndpoint(HttpServer server, ExecutorService executor) {
        this.server = server;
        this.executor = executor;
    }

    /** What the health endpoints report; called on the endpoint's thread, so cheap and non-blocking. */
    public interface Probes {
        /** The node runs (it has not stopped): {@code GET /health}. A draining node is alive. */
        boolean alive();

        /** The node wants work (its {@code grpc.health.v1} says SERVING): {@code GET /ready}. */
        boolean ready();
    }

    /**
     * Starts serving {@code registry} on {@code bind}, and the health endpoints: {@code GET /health},
     * 200 while {@link Probes#alive} (a liveness probe), else 503; {@code GET /ready}, 200 while
     * {@link Probes#ready} (a readiness probe), else 503. Each answers with one line of text, so a probe
     * can read them with no more than a shell (the image's {@code harbor-health}).
     *
     * @throws IOException if the address cannot be bound
     */
    public static MetricsEndpoint start(InetSocketAddress bind, PrometheusMeterRegistry registry, List<Runnable> samplers,
            Probes probes) throws IOException {
        HttpServer server = HttpServer.create(bind, 16);
        ExecutorService executor = Executors.newSingleThreadExecutor(r -> {
            Thread t = new Thread(r, "harbor-metrics-http");
            t.setDaemon(true);
            return t;
        });
        server.setExecutor(executor);
        server.createContext("/metrics", exchange -> {
            try (exchange) {
                if (!exchange.getRequestMethod().equals("GET") && !exchange.getRequestMethod().equals("HEAD")) {
                    send(exchange, 405, "only GET /metrics is served here\n", "text/plain; charset=utf-8");
                    return;
                }
                samplers.forEach(Runnable::run);
                send(exchange, 200, registry.scrape(), CONTENT_TYPE);
            } catch (RuntimeException e) {
                log.warn("a metrics scrape failed: {}", e.toString(), e);
            }
        });
        server.createContext("/health", exchange -> {
            try (exchange) {
                boolean alive = probes.alive();
                send(exchange, alive ? 200 : 503, alive ? (probes.ready() ? "alive, ready\n" : "alive, not ready\n") : "stopped\n",
                        "text/plain; charset=utf-8");
            }
        });
        server.createContext("/ready", exchange -> {
            try (exchange) {
                boolean ready = probes.ready();
                send(exchange, ready ? 200 : 503, ready ? "ready\n" : "not ready\n", "text/plain; charset=utf-8");
            }
        });
        server.createContext("/", exchange -> {
            try (exchange) {
                send(exchange, 404, "not found: the metrics are at /metrics, health at /health and /ready\n",
                        "text/plain; charset=utf-8");
            }
        });
        server.start();
        return new MetricsEndpoint(server, executor);
    }

    private static void send(HttpExchange exchange, int status, String body, String type) throws IOException {
        byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
        exchange.getResponseHeaders().set("Content-Type", type);
        boolean head = exchange.getRequestMethod().equals("HEAD");
        exchange.sendResponseHeaders(status, head ? -1 : bytes.length);
        if (!head) {
            try (OutputStream out = exchange.getResponseBody()) {
                out.write(bytes);
            }
        }
    }

    /** The port it listens on (the real one if it was asked for port 0). */
    public int port() {
        return server.getAddress().getPort();
    }

    @Override
    public void close() {
        server.stop(0);
        executor.shutdownNow();
    }
}
