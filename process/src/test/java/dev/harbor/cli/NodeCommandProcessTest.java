package dev.harbor.cli;

import dev.harbor.service.NamedService;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.harbor.admin.ExitSubscriber;
import dev.harbor.service.ExitEvent;
import dev.harbor.service.ExitReason;
import dev.harbor.service.ServiceInfo;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** {@code harbor node} as its own JVM: the ready line, a graceful stop on SIGTERM and on admin Stop, exit code 0. */
@Timeout(120)
class NodeCommandProcessTest {
    static final Duration WAIT = Duration.ofSeconds(30);

    @TempDir
    Path dir;

    private Process process;
    private final LinkedBlockingQueue<String> stdout = new LinkedBlockingQueue<>();
    private final List<String> stderr = new CopyOnWriteArrayList<>();

    @AfterEach
    void kill() {
        if (process != null && process.isAlive()) {
            process.destroyForcibly();
        }
    }

    /** Starts a node process and returns the address from its ready line. */
    private String startNode(String config, String... moreArgs) throws Exception {
        launch(config, moreArgs);
        String ready = stdout.poll(WAIT.toMillis(), TimeUnit.MILLISECONDS);
        assertThat(ready).as("the ready line; stderr: %s", stderr).isNotNull().matches("harbor node 1 ready on 127\\.0\\.0\\.1:\\d+");
        return ready.substring(ready.lastIndexOf(' ') + 1);
    }

    /** Starts {@code harbor node --config <config> <moreArgs>} as a child JVM, its output pumped into the queues. */
    private void launch(String config, String... moreArgs) throws IOException {
        Path file = dir.resolve("node.properties");
        Files.writeString(file, config);
        String java = ProcessHandle.current().info().command().orElse("java");
        List<String> command = new java.util.ArrayList<>(List.of(java, "-cp", System.getProperty("java.class.path"),
                Main.class.getName(), "node", "--config", file.toString()));
        command.addAll(List.of(moreArgs));
        process = new ProcessBuilder(command).start();
        pump(process.getInputStream(), stdout::add);
        pump(process.getErrorStream(), stderr::add);
    }

    private static void pump(java.io.InputStream in, java.util.function.Consumer<String> sink) {
        Thread.ofPlatform().daemon(true).start(() -> {
            try (BufferedReader r = new BufferedReader(new InputStreamReader(in, StandardCharsets.UTF_8))) {
                String line;
                while ((line = r.readLine()) != null) {
                    sink.accept(line);
                }
            } catch (IOException e) {
                sink.accept("(reading the process output failed: " + e + ")");
            }
        });
    }

    /** Exit events a subscriber saw, and whether it caught up. */
    static final class Seen implements ExitSubscriber.Listener {
        final List<ExitEvent> exits = new CopyOnWriteArrayList<>();
        final List<ServiceInfo> alive = new CopyOnWriteArrayList<>();

        @Override
        public void onAlive(ServiceInfo service) {
            alive.add(service);
        }

        @Override
        public void onExit(ExitEvent event) {
            exits.add(event);
        }
    }

    @Test
    void sigtermStopsTheNodeGracefullyAndTheProcessExitsZero() throws Exception {
        String address = startNode("node.id=1\nnode.listen=127.0.0.1:0\nservices=" + NamedService.class.getName() + "(db)\n");
        Seen seen = new Seen();
        try (ExitSubscriber watcher = ExitSubscriber.builder(address, seen).start()) {
            assertThat(watcher.awaitCaughtUp(WAIT)).isTrue();
            assertThat(seen.alive).hasSize(2);

            process.toHandle().destroy(); // SIGTERM (Process.destroy() would also close our end of its output)
            assertThat(process.waitFor(WAIT.toMillis(), TimeUnit.MILLISECONDS)).as("exited; stderr: %s", stderr).isTrue();
            assertThat(process.exitValue()).as("exit code; stderr: %s", stderr).isZero();
            // Every service's exit reached the subscriber before the process went: the db, then the monitor.
            await().atMost(WAIT).until(() -> seen.exits.size() >= 2);
            assertThat(seen.exits).extracting(ExitEvent::reason).containsExactly(ExitReason.NODE_STOPPED, ExitReason.NODE_STOPPED);
            assertThat(seen.exits.getFirst().names()).containsExactly("db");
        }
        assertThat(stdout).as("nothing but the ready line on stdout").isEmpty();
        assertThat(stderr).as(String.join("\n", stderr)).anyMatch(l -> l.contains("node 1: stopped"));
    }

    /**
     * What a load balancer or a Kubernetes probe keeps open (a health Watch), and an idle client
     * channel, must not hold a stopping node: the Watch hears NOT_SERVING and ends, and the process
     * exits without waiting for the server's 5 s backstop.
     */
    @Test
    void aHealthWatchAndAnIdleChannelDoNotHoldAStoppingNode() throws Exception {
        String address = startNode("node.id=1\nnode.listen=127.0.0.1:0\n");
        io.grpc.ManagedChannel watchChannel = io.grpc.Grpc.newChannelBuilder(address, io.grpc.InsecureChannelCredentials.create()).build();
        io.grpc.ManagedChannel idle = io.grpc.Grpc.newChannelBuilder(address, io.grpc.InsecureChannelCredentials.create()).build();
        try {
            dev.harbor.proto.NodeGrpc.newBlockingStub(idle).withDeadlineAfter(10, TimeUnit.SECONDS)
                    .listServices(dev.harbor.proto.ListServicesRequest.getDefaultInstance()); // connected, then idle
            LinkedBlockingQueue<Object> watched = new LinkedBlockingQueue<>();
            io.grpc.health.v1.HealthGrpc.newStub(watchChannel).watch(io.grpc.health.v1.HealthCheckRequest.getDefaultInstance(),
                    new io.grpc.stub.StreamObserver<>() {
                        @Override
                        public void onNext(io.grpc.health.v1.HealthCheckResponse r) {
                            watched.add(r.getStatus());
                        }

                        @Override
                        public void onError(Throwable t) {
                            watched.add(io.grpc.Status.fromThrowable(t).getCode());
                        }

                        @Override
                        public void onCompleted() {
                            watched.add("completed");
                        }
                    });
            assertThat(watched.poll(WAIT.toMillis(), TimeUnit.MILLISECONDS))
                    .isEqualTo(io.grpc.health.v1.HealthCheckResponse.ServingStatus.SERVING);

            MainTest.Run r = MainTest.harbor("stop", "--node", address);
            assertThat(r.code()).as(r.err()).isZero();

            // Well inside the server's 5 s backstop: the node ends its streams itself.
            await().atMost(Duration.ofSeconds(3)).until(() -> !process.isAlive());
            assertThat(process.exitValue()).as("exit code; stderr: %s", stderr).isZero();
            assertThat(List.copyOf(watched)).as("the Watch hears NOT_SERVING, then ends")
                    .startsWith(io.grpc.health.v1.HealthCheckResponse.ServingStatus.NOT_SERVING).hasSize(2);
            assertThat(stderr).as(String.join("\n", stderr)).noneMatch(l -> l.contains("still open"))
                    .anyMatch(l -> l.contains("node 1: stopped"));
        } finally {
            watchChannel.shutdownNow();
            idle.shutdownNow();
        }
    }

    /** A stuck handler holds a stopping node for {@code Node.STUCK_HANDLER_WAIT} (1 s), then is left to the exit. */
    @Test
    void aStuckHandlerHoldsAStoppingNodeOneSecondOnly() throws Exception {
        String address = startNode("node.id=1\nnode.listen=127.0.0.1:0\nservices=" + StuckService.class.getName() + "\n");
        MainTest.Run r = MainTest.harbor("stop", "--node", address);
        assertThat(r.code()).as(r.err()).isZero();
        await().atMost(Duration.ofSeconds(3)).until(() -> !process.isAlive());
        assertThat(process.exitValue()).as("exit code; stderr: %s", stderr).isZero();
        assertThat(stderr).as(String.join("\n", stderr)).anyMatch(l -> l.contains("1 service thread(s) still running 1000 ms after stop"));
    }

    @Test
    void anAdminStopStopsTheNodeAndTheProcessExitsZero() throws Exception {
        String address = startNode("node.id=1\nnode.listen=127.0.0.1:0\n");
        MainTest.Run r = MainTest.harbor("stop", "--node", address);
        assertThat(r.code()).as(r.err()).isZero();
        assertThat(process.waitFor(WAIT.toMillis(), TimeUnit.MILLISECONDS)).as("exited; stderr: %s", stderr).isTrue();
        assertThat(process.exitValue()).as("exit code; stderr: %s", stderr).isZero();
    }

    @Test
    void aServiceCompiledOutsideTheProjectRunsFromTheFolderGivenWithClasspath() throws Exception {
        Path services = dir.resolve("services");
        Files.createDirectories(services);
        OutsideService.jar(services.resolve("greeter.jar"), dir.resolve("src"));
        String config = "node.id=1\nnode.listen=127.0.0.1:0\nservices=" + OutsideService.CLASS + "(hello)\n";

        // Without the folder the node refuses to start, and says how to add the jar.
        launch(config);
        assertThat(process.waitFor(WAIT.toMillis(), TimeUnit.MILLISECONDS)).as("exited; stderr: %s", stderr).isTrue();
        assertThat(process.exitValue()).isEqualTo(2);
        await().atMost(WAIT).until(() -> stderr.stream().anyMatch(l -> l.contains("--classpath")));
        assertThat(String.join("\n", stderr)).contains("no class " + OutsideService.CLASS).doesNotContain("lib/");

        stderr.clear();
        String address = startNode(config, "--classpath", services.toString());
        MainTest.Run listed = MainTest.harbor("services", "--node", address);
        assertThat(listed.code()).as(listed.err()).isZero();
        assertThat(listed.out()).contains(OutsideService.CLASS).contains("hello");
        MainTest.Run stopped = MainTest.harbor("stop", "--node", address);
        assertThat(stopped.code()).as(stopped.err()).isZero();
        assertThat(process.waitFor(WAIT.toMillis(), TimeUnit.MILLISECONDS)).isTrue();
    }

    @Test
    void anExitSubscriberFollowsANodeAcrossAProcessRestartAndTheStreamMarksTheNewLife() throws Exception {
        int port = FreePorts.loopback();
        String config = "node.id=1\nnode.listen=127.0.0.1:" + port + "\nservices=" + NamedService.class.getName() + "(db), "
                + NamedService.class.getName() + "(cache)\n";
        String address = startNode(config);
        Seen seen = new Seen();
        try (ExitSubscriber watcher = ExitSubscriber.builder(address, seen).start()) {
            assertThat(watcher.awaitCaughtUp(WAIT)).isTrue();
            long oldLife = watcher.identity().orElseThrow().incarnation();
            MainTest.Run killed = MainTest.harbor("kill", "--node", address, handleNamed(seen, "cache"));
            assertThat(killed.code()).as(killed.err()).isZero();
            // A stop streams its last events (db, then the monitor): the subscriber has seq 1-3 of this life.
            assertThat(MainTest.harbor("stop", "--node", address).code()).isZero();
            assertThat(process.waitFor(WAIT.toMillis(), TimeUnit.MILLISECONDS)).isTrue();
            await().atMost(WAIT).until(() -> watcher.lastSeq() == 3);

            // The same node, a new process: its exit log numbers from 1 again.
            stdout.clear();
            startNode(config);
            await().atMost(WAIT).until(() -> watcher.identity().orElseThrow().incarnation() != oldLife && watcher.isCaughtUp());
            assertThat(MainTest.harbor("kill", "--node", address, handleNamed(seen, "cache")).code()).isZero();
            await().atMost(WAIT).until(() -> watcher.lastSeq() == 1);
            List<ExitEvent> all = List.copyOf(seen.exits);
            assertThat(all).extracting(ExitEvent::seq).containsExactly(1L, 2L, 3L, 1L);
            assertThat(all.getLast().names()).containsExactly("cache");
            assertThat(all.getLast().reason()).isEqualTo(ExitReason.KILLED);

            // What the subscriber asks when it resumes: seq 3 of the old life. The stream says it is a new life.
            var channel = io.grpc.Grpc.newChannelBuilder(address, io.grpc.InsecureChannelCredentials.create()).build();
            try {
                var items = dev.harbor.proto.NodeGrpc.newBlockingStub(channel).withDeadlineAfter(10, TimeUnit.SECONDS)
                        .watchExits(dev.harbor.proto.WatchExitsRequest.newBuilder().setFromSeq(3).setIncarnation(oldLife).build());
                var head = items.next().getNode();
                assertThat(head.getNewLife()).isTrue();
                assertThat(head.getIncarnation()).isNotEqualTo(oldLife);
                dev.harbor.proto.ExitStreamItem item = items.next();
                while (item.hasAlive()) {
                    item = items.next();
                }
                assertThat(item.getExit().getSeq()).as("this life's first event").isEqualTo(1);
            } finally {
                channel.shutdownNow();
            }
        }
        assertThat(MainTest.harbor("stop", "--node", address).code()).isZero();
    }

    /** The handle, as text, of the live service named {@code name} the subscriber knows of. */
    private static String handleNamed(Seen seen, String name) {
        return await().atMost(WAIT).until(() -> seen.alive.stream().filter(s -> s.names().contains(name)).map(s -> s.handle().toString())
                .reduce((a, b) -> b).orElse(null), java.util.Objects::nonNull);
    }
}
