package dev.harbor.benchmarks;

import dev.harbor.gateway.GatewayClient;
import dev.harbor.gateway.GatewayClient.Frame;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The clients of {@link GatewayDrain}, run in their own JVM by {@link ChildJvm} (one JVM cannot hold
 * both ends of 10,000 connections under this machine's open-file limit).
 *
 * <pre>
 * GatewayClients PORT CLIENTS
 * </pre>
 *
 * <p>Connects {@code CLIENTS} chat clients to the gateway on 127.0.0.1:{@code PORT}, each on a virtual
 * thread; each says one line and reads its answer, then waits. Prints {@code READY} once all are
 * connected with a line stored. Then each client waits for {@code * BYE}, quits as the protocol asks,
 * and reads until the server closes; when every connection is closed it prints
 * {@code CLOSED <clients> <protocol errors>}. Runs until its standard input ends.
 */
public final class GatewayClients {
    private GatewayClients() {
    }

    public static void main(String[] args) throws Exception {
        int port = Integer.parseInt(args[0]);
        int clients = Integer.parseInt(args[1]);
        Thread watchdog = ChildJvm.exitWhenParentGoes();
        InetSocketAddress gateway = new InetSocketAddress("127.0.0.1", port);
        CountDownLatch ready = new CountDownLatch(clients);
        CountDownLatch closed = new CountDownLatch(clients);
        AtomicInteger errors = new AtomicInteger();
        List<Thread> threads = new ArrayList<>();
        for (int i = 0; i < clients; i++) {
            threads.add(Thread.ofVirtual().start(() -> {
                try (GatewayClient c = GatewayClient.connect(gateway, Duration.ofSeconds(120))) {
                    c.send(1, "SAY", "hello");
                    Frame f = c.read();
                    if (f == null || f.id() != 1 || !f.kind().equals("OK")) {
                        errors.incrementAndGet();
                    }
                    ready.countDown();
                    f = c.read();
                    if (f == null || !f.isBye()) {
                        errors.incrementAndGet();
                    }
                    c.send(2, "QUIT", "");
                    boolean bye = false;
                    for (f = c.read(); f != null; f = c.read()) {
                        bye |= f.id() == 2 && f.kind().equals("OK");
                    }
                    if (!bye) {
                        errors.incrementAndGet();
                    }
                } catch (Exception e) {
                    errors.incrementAndGet();
                    ready.countDown();
                } finally {
                    closed.countDown();
                }
            }));
        }
        ready.await();
        System.out.println(ChildJvm.READY + " " + errors.get());
        System.out.flush();
        closed.await();
        System.out.println("CLOSED " + clients + " " + errors.get());
        System.out.flush();
        watchdog.join();
    }
}
