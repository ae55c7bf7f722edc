package dev.harbor.benchmarks;

import dev.harbor.cli.ChildNode;
import dev.harbor.transport.Harbor;
import dev.harbor.service.Handle;
import dev.harbor.service.Message;
import dev.harbor.service.Node;
import dev.harbor.service.Service;
import dev.harbor.service.ServiceContext;
import io.grpc.Grpc;
import io.grpc.InsecureServerCredentials;
import io.grpc.Server;
import java.io.IOException;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;

/**
 * The membership figures of BENCHMARKS.md, with real node processes on loopback and default settings
 * (500 ms heartbeats, 2 s loss timeout):
 * <ol>
 *   <li><b>Relink after a pause</b>: three node processes and a node in this JVM; node 2 is stopped
 *       with SIGSTOP for 3 s and for 8 s, several times each; the figure is the time from SIGCONT until
 *       the cluster is whole again: this JVM's node is linked to every node and finds node 2's named
 *       service alive (a new one if node 2's life was declared lost and renewed).</li>
 *   <li><b>False loss declarations under a CPU hog</b>: the same cluster, quiet for a while, then with
 *       a busy loop on each core (two {@code sh} loops at normal priority) for as long; the figure is
 *       the number of "lost node" verdicts every node logged, and how often a node saw its own timer
 *       run late (a pause it then did not hold against its peers).</li>
 * </ol>
 * Run: {@code java -cp benchmarks/target/benchmarks.jar dev.harbor.benchmarks.MembershipFigures [repeats] [hogSeconds]}
 * (defaults 3 and 60).
 */
public final class MembershipFigures {
    private static final int DRIVER = 99;

    /** A service that holds the global name it is given: how the driver tells a node's life is back. */
    public static final class Named implements Service {
        private final String name;

        public Named(String name) {
            this.name = name;
        }

        @Override
        public void init(ServiceContext ctx) {
            ctx.register(name);
        }

        @Override
        public Object receive(ServiceContext ctx, Message msg) {
            return name;
        }
    }

    private MembershipFigures() {
    }

    public static void main(String[] args) throws Exception {
        int repeats = args.length > 0 ? Integer.parseInt(args[0]) : 3;
        int hogSeconds = args.length > 1 ? Integer.parseInt(args[1]) : 60;
        Path dir = Files.createTempDirectory("harbor-membership-");
        Map<Integer, String> addresses = new TreeMap<>();
        for (int id : List.of(1, 2, 3, DRIVER)) {
            addresses.put(id, "127.0.0.1:" + freePort());
        }
        String peers = String.join(",", addresses.values());
        Map<Integer, Process> nodes = new TreeMap<>();
        List<Path> logs = new ArrayList<>();
        Node driver = Node.builder().id(DRIVER).build();
        Harbor harbor = Harbor.builder(driver).cluster("figures").advertise(addresses.get(DRIVER)).peers(List.copyOf(addresses.values())).build();
        Server server = Grpc.newServerBuilderForPort(port(addresses.get(DRIVER)), InsecureServerCredentials.create())
                .directExecutor().addService(harbor.linkService()).build().start();
        harbor.start();
        try {
            for (int id : List.of(1, 2, 3)) {
                Path config = dir.resolve("node-" + id + ".properties");
                Files.writeString(config, "node.id=" + id + "\nnode.listen=" + addresses.get(id) + "\ncluster.name=figures\n"
                        + "cluster.peers=" + peers + "\nservices=" + Named.class.getName() + "(named-" + id + ")\n");
                Path log = dir.resolve("node-" + id + ".log");
                logs.add(log);
                nodes.put(id, ChildNode.start(List.of("-Xmx256m"), id, addresses.get(id), config, log, Duration.ofSeconds(60)));
            }
            awaitWhole(driver, harbor, Duration.ofSeconds(60));
            System.out.println("cluster of 3 node processes + this JVM's node linked; logs in " + dir);

            for (int pauseMs : List.of(3_000, 8_000)) {
                List<Long> relinks = new ArrayList<>();
                int renewed = 0;
                for (int i = 0; i < repeats; i++) {
                    Handle before = driver.whereis("named-2").orElseThrow();
                    signal(nodes.get(2), "STOP");
                    Thread.sleep(pauseMs); // the fault: how long node 2 stays stopped
                    long thawed = System.nanoTime();
                    signal(nodes.get(2), "CONT");
                    Handle after = awaitWhole(driver, harbor, Duration.ofSeconds(60));
                    relinks.add(TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - thawed));
                    if (!after.equals(before)) {
                        renewed++;
                    }
                    Thread.sleep(3_000); // let the cluster settle between pauses
                }
                relinks.sort(null);
                System.out.printf("SIGSTOP %d ms on node 2, %d times: whole again after SIGCONT in %s ms (median %d); node 2 started"
                        + " a new life %d of %d times%n", pauseMs, repeats, relinks, relinks.get(relinks.size() / 2), renewed, repeats);
            }

            long lostBefore = count(logs, "lost node");
            long pausesBefore = count(logs, "its link timer ran");
            Thread.sleep(TimeUnit.SECONDS.toMillis(hogSeconds));
            long quietLost = count(logs, "lost node") - lostBefore;
            long quietPauses = count(logs, "its link timer ran") - pausesBefore;
            lostBefore += quietLost;
            pausesBefore += quietPauses;
            long driverPausesBefore = harbor.pauses();
            List<Process> hogs = new ArrayList<>();
            for (int i = 0; i < 2; i++) {
                hogs.add(new ProcessBuilder("sh", "-c", "while :; do :; done").start());
            }
            try {
                Thread.sleep(TimeUnit.SECONDS.toMillis(hogSeconds));
            } finally {
                hogs.forEach(Process::destroyForcibly);
            }
            long hogLost = count(logs, "lost node") - lostBefore;
            long hogPauses = count(logs, "its link timer ran") - pausesBefore;
            System.out.printf("quiet %d s: %d loss verdicts, %d late timers; two busy loops on 2 cores for %d s: %d loss verdicts,"
                    + " %d late timers in the node processes (+%d in this JVM's node); cluster whole afterwards: %s%n", hogSeconds,
                    quietLost, quietPauses, hogSeconds, hogLost, hogPauses, harbor.pauses() - driverPausesBefore,
                    harbor.connected().containsAll(List.of(1, 2, 3)));
        } finally {
            nodes.values().forEach(Process::destroyForcibly);
            driver.stop();
            harbor.close();
            server.shutdownNow();
        }
    }

    /** Waits until this JVM's node is linked to nodes 1-3, sees every named service and gets an answer from named-2. */
    private static Handle awaitWhole(Node driver, Harbor harbor, Duration within) throws InterruptedException {
        long deadline = System.nanoTime() + within.toNanos();
        while (System.nanoTime() < deadline) {
            Handle h = driver.whereis("named-2").orElse(null);
            if (harbor.connected().containsAll(List.of(1, 2, 3)) && h != null && driver.whereis("named-1").isPresent()
                    && driver.whereis("named-3").isPresent()) {
                try {
                    if ("named-2".equals(driver.call(h, "", Duration.ofSeconds(2)).get(3, TimeUnit.SECONDS))) {
                        return h;
                    }
                } catch (java.util.concurrent.ExecutionException | java.util.concurrent.TimeoutException e) {
                    // not whole yet: the call went to a life that was ending; look again
                }
            }
            Thread.sleep(10);
        }
        throw new IllegalStateException("the cluster was not whole again within " + within);
    }

    private static long count(List<Path> logs, String text) throws IOException {
        long n = 0;
        for (Path log : logs) {
            try (var lines = Files.lines(log)) {
                n += lines.filter(l -> l.contains(text)).count();
            }
        }
        return n;
    }

    private static void signal(Process p, String name) throws IOException, InterruptedException {
        int rc = new ProcessBuilder("kill", "-" + name, Long.toString(p.pid())).inheritIO().start().waitFor();
        if (rc != 0) {
            throw new IllegalStateException("kill -" + name + " " + p.pid() + " exited " + rc);
        }
    }

    private static int port(String hostPort) {
        return Integer.parseInt(hostPort.substring(hostPort.lastIndexOf(':') + 1));
    }

    private static int freePort() throws IOException {
        try (ServerSocket s = new ServerSocket(0)) {
            return s.getLocalPort();
        }
    }
}
