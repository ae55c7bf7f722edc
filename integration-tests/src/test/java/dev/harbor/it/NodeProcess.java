package dev.harbor.it;

import dev.harbor.cli.ChildNode;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;

/** One harbor node as a real process: {@code harbor node --config <file>} on the test class path. */
final class NodeProcess {
    final int id;
    final String address;
    final Path log;
    private final Process process;

    private NodeProcess(int id, String address, Path log, Process process) {
        this.id = id;
        this.address = address;
        this.log = log;
        this.process = process;
    }

    /** Starts a node with {@code config} and waits until it prints its ready line. */
    static NodeProcess start(int id, String address, Path config, Path log, Duration readyWithin) {
        return started(id, address, log, () -> ChildNode.start(List.of("-Xmx256m"), id, address, config, log, readyWithin));
    }

    /**
     * Starts {@link EmbeddedNode} (an application embedding node {@code id}, no admin API), linking to
     * {@code peers} of {@code cluster} with its {@code token} (none if null; a test's token, on the
     * command line), and waits until it prints its ready line.
     */
    static NodeProcess startEmbedded(int id, String address, String cluster, List<String> peers, String token, Path log,
            Duration readyWithin) {
        List<String> args = new java.util.ArrayList<>(List.of(Integer.toString(id), address, cluster, String.join(",", peers)));
        if (token != null) {
            args.add(token);
        }
        return started(id, address, log, () -> ChildNode.start(List.of("-Xmx256m"), EmbeddedNode.class.getName(), args, id,
                address, log, readyWithin));
    }

    /** Starts a child JVM, as {@link ChildNode} does: {@link #started} turns its failures into the test's. */
    private interface Start {
        Process run() throws IOException;
    }

    private static NodeProcess started(int id, String address, Path log, Start start) {
        try {
            return new NodeProcess(id, address, log, start.run());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (IllegalStateException e) {
            throw new AssertionError(e.getMessage() + ":\n" + tail(log), e);
        }
    }

    long pid() {
        return process.pid();
    }

    boolean isAlive() {
        return process.isAlive();
    }

    /** kill -9. */
    void kill9() {
        process.destroyForcibly();
        awaitExit(Duration.ofSeconds(10));
    }

    /** SIGSTOP: the process stays, its sockets stay open, it answers nothing. */
    void freeze() {
        signal("STOP");
    }

    /** SIGCONT. */
    void thaw() {
        signal("CONT");
    }

    /** SIGTERM. */
    void terminate() {
        signal("TERM");
    }

    private void signal(String name) {
        try {
            int rc = new ProcessBuilder("kill", "-" + name, Long.toString(process.pid())).inheritIO().start().waitFor();
            if (rc != 0) {
                throw new AssertionError("kill -" + name + " " + process.pid() + " exited " + rc);
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError(e);
        }
    }

    /** Waits for the process to end; returns its exit code. */
    int awaitExit(Duration within) {
        try {
            if (!process.waitFor(within.toMillis(), TimeUnit.MILLISECONDS)) {
                throw new AssertionError("node " + id + " did not exit within " + within + "; its log:\n" + tail(log));
            }
            return process.exitValue();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError(e);
        }
    }

    void destroy() {
        if (process.isAlive()) {
            thawQuietly();
            process.destroyForcibly();
            try {
                process.waitFor(10, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }

    private void thawQuietly() {
        try {
            new ProcessBuilder("kill", "-CONT", Long.toString(process.pid())).start().waitFor();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    static String tail(Path log) {
        try {
            List<String> lines = Files.readAllLines(log);
            return String.join("\n", lines.subList(Math.max(0, lines.size() - 40), lines.size()));
        } catch (IOException e) {
            return "(no log: " + e + ")";
        }
    }
}
