package dev.harbor.demo.run;

import dev.harbor.gateway.GatewayClient;
import dev.harbor.gateway.GatewayClient.Frame;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.atomic.LongAdder;

/**
 * One simulated chat client: it says one line after another, each as soon as the last is answered,
 * until the server says BYE; then it quits as the protocol asks and reads every answer until the
 * server closes. It keeps what it needs for the zero-loss check: which requests were acknowledged,
 * which refused, and whether any went unanswered or was answered twice.
 *
 * <p>Runs on its own (virtual) thread; its results are read after that thread has ended.
 */
final class DemoClient implements Runnable {
    /** Totals across all clients, for the progress line (any thread). */
    static final class Tally {
        final LongAdder acked = new LongAdder();
        final LongAdder refused = new LongAdder();
        final LongAdder connected = new LongAdder();
    }

    private final int number;
    private final InetSocketAddress gateway;
    private final Tally tally;
    private final Duration maxRun;

    /** A probe stops after its first stored line (or 50 refused ones). */
    private boolean probe;
    String session;
    final List<Long> acked = new ArrayList<>();
    long sent;
    long refused;
    long unanswered;
    long answeredTwice;
    boolean toldBye;
    boolean quitAnswered;
    String failure;

    DemoClient(int number, InetSocketAddress gateway, Tally tally, Duration maxRun) {
        this.number = number;
        this.gateway = gateway;
        this.tally = tally;
        this.maxRun = maxRun;
    }

    /** Makes this client a probe: it quits after its first stored line, or after 50 refused ones. */
    DemoClient stopAfterFirstAck() {
        probe = true;
        return this;
    }

    /** Whether this client was a probe rather than one of the load. */
    boolean isProbe() {
        return probe;
    }

    private boolean more(long deadline) {
        return !toldBye && System.nanoTime() < deadline && (!probe || (acked.isEmpty() && sent < 50));
    }

    @Override
    public void run() {
        long deadline = System.nanoTime() + maxRun.toNanos();
        Set<Long> answered = new HashSet<>();
        try (GatewayClient c = GatewayClient.connect(gateway, Duration.ofSeconds(30))) {
            session = c.session();
            tally.connected.increment();
            long id = 0;
            while (more(deadline)) {
                id++;
                c.send(id, "SAY", "line " + id + " from client " + number);
                sent++;
                // Read until this request is answered; a BYE may come first.
                boolean mine = false;
                while (!mine) {
                    Frame f = c.read();
                    if (f == null) {
                        unanswered++;
                        failure = "the server closed the connection with request " + id + " unanswered";
                        return;
                    }
                    if (f.isBye()) {
                        toldBye = true;
                        continue;
                    }
                    mine = f.id() == id;
                    record(f, answered);
                }
            }
            long quit = id + 1;
            c.send(quit, "QUIT", "");
            sent++;
            for (Frame f = c.read(); f != null; f = c.read()) {
                if (f.id() == quit) {
                    if (!answered.add(quit)) {
                        answeredTwice++;
                    }
                    quitAnswered = f.kind().equals("OK");
                } else if (!f.isBye()) {
                    record(f, answered);
                }
            }
            if (!answered.contains(quit)) {
                unanswered++;
                failure = "the server closed the connection without answering QUIT " + quit;
            }
        } catch (IOException | RuntimeException e) {
            failure = e.toString();
        }
    }

    private void record(Frame f, Set<Long> answered) {
        if (f.id() == 0) {
            failure = "the server said '* " + f.kind() + " " + f.text() + "'";
            return;
        }
        if (!answered.add(f.id())) {
            answeredTwice++;
            return;
        }
        if (f.kind().equals("OK")) {
            acked.add(f.id());
            tally.acked.increment();
        } else {
            refused++;
            tally.refused.increment();
        }
    }
}
