package dev.harbor.benchmarks;

import dev.harbor.demo.ChatSession;
import dev.harbor.gateway.Gateway;
import dev.harbor.proto.Drain;
import dev.harbor.service.ExitEvent;
import dev.harbor.service.ExitReason;
import dev.harbor.service.Handle;
import dev.harbor.service.Node;
import dev.harbor.writer.Writer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/**
 * Gateway drain time: how long a gateway with {@code CLIENTS} connected clients takes from its
 * {@link Drain} to its exit event, each session told BYE, answering its client's QUIT, saving its
 * summary through the writer (an embedded H2 file database on the same node) and closing its
 * connection. The clients run in a child JVM ({@link GatewayClients}) and answer BYE at once, as the
 * demo's clients do.
 *
 * <p>Not a JMH benchmark (one drain per cluster): a plain main, run from the shaded jar:
 * <pre>
 * java -cp benchmarks/target/benchmarks.jar dev.harbor.benchmarks.GatewayDrain [clients [runs]]
 * </pre>
 * {@code clients} defaults to 10,000 and {@code runs} to 3; each run uses a fresh node, database and
 * client JVM. Prints each run's drain time and the median.
 */
public final class GatewayDrain {
    private GatewayDrain() {
    }

    public static void main(String[] args) throws Exception {
        int clients = args.length > 0 ? Integer.parseInt(args[0]) : 10_000;
        int runs = args.length > 1 ? Integer.parseInt(args[1]) : 3;
        List<Long> times = new ArrayList<>();
        for (int run = 1; run <= runs; run++) {
            long ms = once(clients);
            times.add(ms);
            System.out.printf("run %d: %,d clients drained in %,d ms%n", run, clients, ms);
        }
        times.sort(null);
        System.out.printf("median of %d runs: %,d ms for %,d clients%n", runs, times.get(runs / 2), clients);
        System.exit(0);
    }

    private static long once(int clients) throws Exception {
        Path dir = Files.createTempDirectory("harbor-gateway-drain-");
        Node node = Node.builder().id(1).build();
        try {
            node.launch(() -> new Writer("jdbc:h2:file:" + dir.resolve("db").toAbsolutePath()));
            Handle gateway = node.launch(() -> new Gateway("127.0.0.1:0", ChatSession::new, Duration.ofMinutes(5)));
            String listen = node.services().stream().filter(s -> s.handle().equals(gateway)).findFirst().orElseThrow()
                    .tags().get(Gateway.LISTEN_TAG);
            String port = listen.substring(listen.lastIndexOf(':') + 1);
            try (ChildJvm clientJvm = ChildJvm.start("gateway clients", GatewayClients.class, port,
                    Integer.toString(clients))) {
                if (!clientJvm.ready().equals("0")) {
                    throw new IllegalStateException(clientJvm.ready() + " clients could not connect and store a line");
                }
                CompletableFuture<ExitEvent> exit = node.watch(gateway);
                long start = System.nanoTime();
                node.send(gateway, Drain.getDefaultInstance());
                ExitEvent e = exit.get(5, TimeUnit.MINUTES);
                long ms = (System.nanoTime() - start) / 1_000_000;
                if (e.reason() != ExitReason.EXIT) {
                    throw new IllegalStateException("the gateway did not drain itself: " + e);
                }
                return ms;
            }
        } finally {
            node.stop();
        }
    }
}
