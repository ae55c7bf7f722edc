package dev.harbor.benchmarks;

import dev.harbor.demo.ChatSession;
import dev.harbor.gateway.Gateway;
import dev.harbor.gateway.GatewayClient;
import dev.harbor.gateway.Session;
import dev.harbor.transport.Harbor;
import dev.harbor.service.Handle;
import dev.harbor.service.Node;
import dev.harbor.writer.Writer;
import io.grpc.Grpc;
import io.grpc.InsecureServerCredentials;
import io.grpc.Server;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;

/**
 * The demo's request path, hop by hop, once warm: one client in lockstep (send a request, wait for its
 * answer) against a gateway, measured three ways in one JVM:
 * <ol>
 *   <li>{@code echo}: the gateway's session answers at once (TCP, the gateway's event loop, the
 *       session agent and back);</li>
 *   <li>{@code SAY, writer local}: the demo's {@link ChatSession}, its record committed by a writer on
 *       the gateway's node (embedded H2 file, one commit per line since one client waits for each);</li>
 *   <li>{@code SAY, writer remote}: the same with the writer on a second node, over the harbor link
 *       (gRPC on loopback), as in the demo where the writer has a node of its own.</li>
 * </ol>
 * Each case runs {@code WARMUP} requests, then {@code ROUNDS} measured ones, and prints the
 * percentiles of the round trip as the client sees it.
 *
 * <p>A plain main, run from the shaded jar:
 * <pre>
 * java -cp benchmarks/target/benchmarks.jar dev.harbor.benchmarks.ChatRoundTrip [rounds [warmup]]
 * </pre>
 * {@code rounds} defaults to 5,000 and {@code warmup} to 5,000.
 */
public final class ChatRoundTrip {
    private ChatRoundTrip() {
    }

    public static void main(String[] args) throws Exception {
        int rounds = args.length > 0 ? Integer.parseInt(args[0]) : 5_000;
        int warmup = args.length > 1 ? Integer.parseInt(args[1]) : 5_000;
        Path dir = Files.createTempDirectory("harbor-chat-round-trip-");
        int port1 = CrossNodeThroughput.freePort();
        int port2 = CrossNodeThroughput.freePort();
        List<String> peers = List.of("127.0.0.1:" + port1, "127.0.0.1:" + port2);
        Node one = Node.builder().id(1).build();
        Node two = Node.builder().id(2).build();
        Harbor linkOne = Harbor.builder(one).cluster("round-trip").advertise(peers.get(0)).peers(peers).build();
        Harbor linkTwo = Harbor.builder(two).cluster("round-trip").advertise(peers.get(1)).peers(peers).build();
        Server serverOne = Grpc.newServerBuilderForPort(port1, InsecureServerCredentials.create()).directExecutor()
                .addService(linkOne.linkService()).build().start();
        Server serverTwo = Grpc.newServerBuilderForPort(port2, InsecureServerCredentials.create()).directExecutor()
                .addService(linkTwo.linkService()).build().start();
        linkOne.start();
        linkTwo.start();
        try {
            System.out.printf("one client in lockstep, %,d requests measured after %,d warm-up, per case%n", rounds, warmup);
            Session.Factory echo = session -> (ctx, id, verb, text) -> "echo " + text;
            measure(one, "echo (gateway only)", gateway(one, echo), rounds, warmup);

            // The writer answers to the global name "writer": one writer at a time, first on node 1, then on node 2.
            Handle local = one.launch(() -> new Writer("jdbc:h2:file:" + dir.resolve("local").toAbsolutePath()));
            measure(one, "SAY, writer on the gateway's node", gateway(one, ChatSession::new), rounds, warmup);
            one.kill(local);
            awaitTrue(() -> one.whereis(Writer.WRITER_NAME).isEmpty(), "the local writer's name to go");
            two.launch(() -> new Writer("jdbc:h2:file:" + dir.resolve("remote").toAbsolutePath()));
            awaitTrue(() -> one.whereis(Writer.WRITER_NAME).isPresent(), "node 1 to learn the remote writer's name");
            measure(one, "SAY, writer on another node", gateway(one, ChatSession::new), rounds, warmup);
        } finally {
            one.stop();
            two.stop();
            linkOne.close();
            linkTwo.close();
            serverOne.shutdownNow();
            serverTwo.shutdownNow();
        }
        System.exit(0);
    }

    /** Launches a gateway on {@code node} on a free loopback port; returns its address. */
    private static InetSocketAddress gateway(Node node, Session.Factory sessions) {
        Handle g = node.launch(() -> new Gateway("127.0.0.1:0", sessions, Duration.ofSeconds(5)));
        String listen = node.services().stream().filter(s -> s.handle().equals(g)).findFirst().orElseThrow()
                .tags().get(Gateway.LISTEN_TAG);
        return new InetSocketAddress("127.0.0.1", Integer.parseInt(listen.substring(listen.lastIndexOf(':') + 1)));
    }

    /** Measures one case; returns once the client's session has ended (its summary saved). */
    private static void measure(Node node, String what, InetSocketAddress gateway, int rounds, int warmup) throws Exception {
        long[] t = new long[rounds];
        int services = node.services().size();
        try (GatewayClient c = GatewayClient.connect(gateway, Duration.ofSeconds(10))) {
            for (int i = 1; i <= warmup + rounds; i++) {
                long start = System.nanoTime();
                c.send(i, "SAY", "line " + i);
                GatewayClient.Frame answer = c.read();
                long took = System.nanoTime() - start;
                if (!answer.kind().equals("OK")) {
                    throw new IllegalStateException(what + ": request " + i + " was answered " + answer);
                }
                if (i > warmup) {
                    t[i - warmup - 1] = took;
                }
            }
        }
        awaitTrue(() -> node.services().size() <= services, "the client's session to end");
        Arrays.sort(t);
        System.out.printf("%-36s p50 %7.1f µs   p90 %7.1f µs   p99 %7.1f µs   p99.9 %7.1f µs%n", what, us(t, 0.50),
                us(t, 0.90), us(t, 0.99), us(t, 0.999));
    }

    /** Polls {@code condition} every 10 ms for up to {@link BenchSupport#TIMEOUT}; fails saying what it waited for. */
    private static void awaitTrue(java.util.function.BooleanSupplier condition, String what) throws InterruptedException {
        long deadline = System.nanoTime() + BenchSupport.TIMEOUT.toNanos();
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() - deadline > 0) {
                throw new IllegalStateException("gave up waiting for " + what + " after " + BenchSupport.TIMEOUT.toSeconds() + " s");
            }
            Thread.sleep(10);
        }
    }

    private static double us(long[] sorted, double q) {
        return sorted[Math.min(sorted.length - 1, (int) (sorted.length * q))] / 1_000.0;
    }
}
