package dev.harbor.it;

import dev.harbor.cli.FreePorts;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.github.dockerjava.api.command.InspectContainerResponse;
import io.grpc.Grpc;
import io.grpc.InsecureChannelCredentials;
import io.grpc.ManagedChannel;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.testcontainers.DockerClientFactory;

/**
 * The root {@code docker-compose.yml} as the README runs it: {@code docker-compose up -d} (the demo:
 * PostgreSQL, three nodes, the clients container writing through both gateways), then
 * {@code bin/harbor shutdown} against the coordinator's published port while the clients write; the
 * shutdown is clean within its budget, every node container and the clients' exit 0, and the clients'
 * check (every acknowledged line in PostgreSQL, every request answered once) holds. Uses {@code docker-compose} (or
 * {@code docker compose}) from the PATH; without either, skipped with a line saying so (failed under
 * {@code CI=true}).
 */
@ExtendWith(DockerRequired.class)
@Timeout(300)
class ComposeFileTest {
    private static final Logger log = LoggerFactory.getLogger(ComposeFileTest.class);
    static final String TOKEN = "it-compose-secret-9e02";
    private final Path root = HarborImage.checkout();
    private final String project = "harbor-it-" + Long.toHexString(System.nanoTime());
    private List<String> compose;
    private Map<String, String> env;

    @AfterEach
    void down() {
        if (compose != null) {
            run(Duration.ofSeconds(120), "down", "--volumes", "--remove-orphans");
        }
    }

    @Test
    void composeUpThenHarborShutdownOnThePublishedPortStopsEveryContainerWithExitCodeZero() {
        List<String> cmd = composeCommand();
        int port = FreePorts.loopback();
        env = Map.of("HARBOR_IMAGE", HarborImage.name(), "HARBOR_POSTGRES_IMAGE", HarborImage.postgres(), "HARBOR_COORDINATOR_TOKEN",
                TOKEN, "HARBOR_COORDINATOR_PORT", Integer.toString(port));
        compose = cmd;
        run(Duration.ofSeconds(120), "up", "-d", "--no-build");
        List<String> ids = List.of(run(Duration.ofSeconds(30), "ps", "-q").strip().split("\\s+"));
        assertThat(ids).as("PostgreSQL, the coordinator's node, two nodes and the clients").hasSize(5);
        String postgres = run(Duration.ofSeconds(30), "ps", "-q", "postgres").strip();
        String clients = run(Duration.ofSeconds(30), "ps", "-q", "clients").strip();

        ManagedChannel channel = Grpc.newChannelBuilder("127.0.0.1:" + port, InsecureChannelCredentials.create()).build();
        try {
            new CoordinatorClient(channel, TOKEN).awaitPlan(p -> p.getRefusal().isEmpty() && p.getNodesCount() == 3);
        } finally {
            channel.shutdownNow();
        }
        // The clients write once a line was stored through each gateway: the shutdown comes under load.
        await().atMost(Duration.ofSeconds(120)).pollInterval(Duration.ofSeconds(2))
                .until(() -> run(Duration.ofSeconds(30), "logs", "clients").contains("they write until the server says BYE"));

        long calledAt = System.nanoTime();
        int[] exit = new int[1];
        String out = runCommand(List.of(root.resolve("bin/harbor").toString(), "shutdown", "--coordinator", "127.0.0.1:" + port,
                "--budget", "30s"), Duration.ofSeconds(60), exit);
        assertThat(exit[0]).as("bin/harbor shutdown's exit code (0: clean, within the budget); it said:%n%s", out).isZero();
        await().atMost(Duration.ofSeconds(30)).until(() -> !Boolean.TRUE.equals(state(clients).getRunning()));
        String check = run(Duration.ofSeconds(30), "logs", "clients");
        assertThat(state(clients).getExitCodeLong()).as("the clients' exit code; they said:%n%s", check).isZero();
        for (String id : ids) {
            if (id.equals(postgres)) {
                continue; // not part of the cluster: it runs until docker-compose down
            }
            await().atMost(Duration.ofSeconds(30)).until(() -> !Boolean.TRUE.equals(state(id).getRunning()));
            assertThat(state(id).getExitCodeLong()).as("exit code of container %s", id).isZero();
        }
        assertThat(TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - calledAt)).as("shutdown to the last exit").isLessThan(30_000);
        assertThat(check).as("the clients' check (container %s)", clients).contains("[ok] acknowledged writes = rows in the database")
                .contains("[ok] every client request answered exactly once").contains("All checks passed.");
        assertThat(state(postgres).getRunning()).as("PostgreSQL, until docker-compose down").isTrue();
    }

    private static InspectContainerResponse.ContainerState state(String id) {
        return DockerClientFactory.instance().client().inspectContainerCmd(id).exec().getState();
    }

    /** docker-compose (v1, Debian's) or the docker compose plugin, whichever answers. */
    private List<String> composeCommand() {
        for (List<String> c : List.of(List.of("docker-compose"), List.of("docker", "compose"))) {
            List<String> version = new ArrayList<>(c);
            version.add("version");
            try {
                Process p = new ProcessBuilder(version).redirectErrorStream(true).start();
                p.getInputStream().readAllBytes();
                if (p.waitFor(30, TimeUnit.SECONDS) && p.exitValue() == 0) {
                    return c;
                }
            } catch (IOException e) {
                log.debug("{} is not available: {}", c, e.toString());
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException(e);
            }
        }
        String why = "neither docker-compose nor docker compose is on the PATH (install docker-compose to run this test)";
        if ("true".equalsIgnoreCase(System.getenv("CI"))) {
            throw new IllegalStateException("CI=true but " + why);
        }
        Assumptions.abort("compose file test skipped: " + why);
        return List.of();
    }

    /** Runs {@code compose -p project -f docker-compose.yml args}; fails unless it exits 0 in time; returns its output. */
    private String run(Duration within, String... args) {
        List<String> command = new ArrayList<>(compose);
        command.addAll(List.of("-p", project, "-f", root.resolve("docker-compose.yml").toString()));
        command.addAll(List.of(args));
        int[] exit = new int[1];
        String out = runCommand(command, within, exit);
        assertThat(exit[0]).as("%s exited with %d:%n%s", String.join(" ", command), exit[0], out).isZero();
        return out;
    }

    /** Runs {@code command} in the checkout with the compose variables; its output goes to a file, read when it ends. */
    private String runCommand(List<String> command, Duration within, int[] exit) {
        try {
            Path file = Files.createTempFile("harbor-compose-", ".log");
            ProcessBuilder b = new ProcessBuilder(command).directory(root.toFile()).redirectErrorStream(true).redirectOutput(file.toFile());
            b.environment().putAll(env);
            Process p = b.start();
            String out = output(p, within, file);
            exit[0] = p.exitValue();
            return out;
        } catch (IOException e) {
            throw new UncheckedIOException("cannot run " + command, e);
        }
    }

    /** Waits for {@code p} to end (killing it if it runs past {@code within}) and returns its output. */
    private static String output(Process p, Duration within, Path file) {
        try {
            if (!p.waitFor(within.toMillis(), TimeUnit.MILLISECONDS)) {
                p.destroyForcibly();
                throw new AssertionError("still running after " + within + ": " + p.info().commandLine().orElse("?"));
            }
            String out = Files.readString(file, StandardCharsets.UTF_8);
            log.info("{}", out);
            return out;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        } finally {
            try {
                Files.deleteIfExists(file);
            } catch (IOException e) {
                log.debug("cannot delete {}: {}", file, e.toString());
            }
        }
    }
}
