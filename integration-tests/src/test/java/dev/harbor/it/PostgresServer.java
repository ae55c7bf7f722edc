package dev.harbor.it;

import dev.harbor.cli.FreePorts;
import static org.junit.jupiter.api.Assertions.fail;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/**
 * A throwaway PostgreSQL server owned by one test: its own data directory in a folder the test gives,
 * a free loopback port, trust authentication for user {@code postgres} on 127.0.0.1 only. It runs the
 * binaries of the Debian package ({@code /usr/lib/postgresql/<version>/bin}); as root it runs them as
 * the {@code postgres} user through {@code runuser}, since PostgreSQL refuses to run as root.
 *
 * <p>Where the binaries are missing, {@link #create} skips the test with one line saying how to
 * install them, except under CI ({@code CI=true}), where it fails: CI installs them in {@code .ci/run}.
 *
 * <p>Used from the test's thread only.
 */
final class PostgresServer implements AutoCloseable {
    private static final Path DEBIAN = Path.of("/usr/lib/postgresql");
    private static final long COMMAND_SECONDS = 60;

    private final Path bin;
    private final Path dir;
    private final Path data;
    private final Path log;
    private final int port;
    private final boolean asPostgres;
    private boolean running;

    private PostgresServer(Path bin, Path dir) {
        this.bin = bin;
        this.dir = dir.toAbsolutePath();
        this.data = dir.resolve("data");
        this.log = dir.resolve("postgres.log");
        this.port = FreePorts.loopback();
        this.asPostgres = "root".equals(System.getProperty("user.name"));
    }

    /** Initialises a cluster in {@code dir} (which it hands to the postgres user when run as root) and starts it. */
    static PostgresServer create(Path dir) {
        Optional<Path> bin = binaries();
        if (bin.isEmpty()) {
            String why = "PostgreSQL server binaries not found under " + DEBIAN + "/<version>/bin: install them with"
                    + " 'apt-get install -y postgresql' to run the PostgreSQL tests";
            if ("true".equals(System.getenv("CI"))) {
                fail(why + " (CI=true: .ci/run must install them)");
            }
            assumeTrue(false, why);
        }
        PostgresServer server = new PostgresServer(bin.get(), dir);
        if (server.asPostgres) {
            server.run(List.of("chown", "postgres:postgres", dir.toString()), false);
        }
        server.run(List.of(bin.get().resolve("initdb").toString(), "-D", server.data.toString(), "-U", "postgres", "-A",
                "trust", "-E", "UTF8", "--locale=C", "--no-sync"), true);
        server.start();
        return server;
    }

    /** The highest installed version's bin folder with initdb and pg_ctl. */
    private static Optional<Path> binaries() {
        if (!Files.isDirectory(DEBIAN)) {
            return Optional.empty();
        }
        try (Stream<Path> versions = Files.list(DEBIAN)) {
            return versions.map(v -> v.resolve("bin"))
                    .filter(b -> Files.isExecutable(b.resolve("initdb")) && Files.isExecutable(b.resolve("pg_ctl")))
                    .max(Comparator.comparing(b -> version(b.getParent().getFileName().toString())));
        } catch (IOException e) {
            throw new UncheckedIOException("cannot list " + DEBIAN, e);
        }
    }

    private static int version(String name) {
        return name.matches("\\d+") ? Integer.parseInt(name) : -1;
    }

    /** The JDBC URL of the {@code postgres} database as user {@code postgres}. */
    String jdbcUrl() {
        return "jdbc:postgresql://127.0.0.1:" + port + "/postgres?user=postgres";
    }

    /** Starts the server (again, on the same port and data), and waits until it takes connections. */
    void start() {
        run(List.of(bin.resolve("pg_ctl").toString(), "-D", data.toString(), "-l", log.toString(), "-w", "-t", "30",
                "-o", "-p " + port + " -c listen_addresses=127.0.0.1 -c unix_socket_directories=" + dir
                        + " -c fsync=off -c max_connections=20", "start"), true);
        running = true;
    }

    /**
     * Stops the server at once ({@code -m immediate}: no checkpoint, as if it crashed; what it committed is
     * in its WAL and comes back at the next start).
     */
    void stop() {
        run(List.of(bin.resolve("pg_ctl").toString(), "-D", data.toString(), "-m", "immediate", "-w", "stop"), true);
        running = false;
    }

    @Override
    public void close() {
        if (running) {
            stop();
        }
    }

    /** Runs a command (as postgres when we are root and {@code asPostgres}), failing with its output if it fails. */
    private void run(List<String> command, boolean postgres) {
        List<String> full = new ArrayList<>();
        if (postgres && asPostgres) {
            full.addAll(List.of("runuser", "-u", "postgres", "--"));
        }
        full.addAll(command);
        try {
            Path out = Files.createTempFile("postgres-command", ".out");
            try {
                Process p = new ProcessBuilder(full).redirectErrorStream(true).redirectOutput(out.toFile()).start();
                if (!p.waitFor(COMMAND_SECONDS, TimeUnit.SECONDS)) {
                    p.destroyForcibly();
                    throw new IllegalStateException(String.join(" ", full) + " did not finish within " + COMMAND_SECONDS + " s");
                }
                if (p.exitValue() != 0) {
                    String serverLog = Files.exists(log) ? Files.readString(log) : "(none)";
                    throw new IllegalStateException(String.join(" ", full) + " exited " + p.exitValue() + ":\n"
                            + Files.readString(out) + "\nserver log:\n" + serverLog);
                }
            } finally {
                Files.delete(out);
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot run " + String.join(" ", full), e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while running " + String.join(" ", full), e);
        }
    }
}
