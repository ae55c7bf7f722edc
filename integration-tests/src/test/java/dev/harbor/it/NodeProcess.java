package dev.harbor.it;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
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
        String java = ProcessHandle.current().info().command().orElse("java");
        ProcessBuilder pb = new ProcessBuilder(List.of(java, "-Xmx256m", "-cp", System.getProperty("java.class.path"),
                "dev.harbor.cli.Main", "node", "--config", config.toString()));
        pb.redirectError(log.toFile());
        Process p;
        try {
            p = pb.start();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        String readyLine = "harbor node " + id + " ready on " + address;
        CompletableFuture<Boolean> seen = new CompletableFuture<>();
        Thread.ofVirtual().start(() -> {
            try (BufferedReader out = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))) {
                String line;
                while ((line = out.readLine()) != null) {
                    if (line.equals(readyLine)) {
                        seen.complete(true);
                    }
                }
            } catch (IOException e) {
                seen.completeExceptionally(e);
            }
            seen.complete(false);
        });
        boolean ready;
        try {
            ready = seen.get(readyWithin.toMillis(), TimeUnit.MILLISECONDS);
        } catch (Exception e) {
            p.destroyForcibly();
            throw new AssertionError("node " + id + " did not print '" + readyLine + "' within " + readyWithin + "; its log "
                    + log + ":\n" + tail(log), e);
        }
        if (!ready) {
            p.destroyForcibly();
            throw new AssertionError("node " + id + " exited without its ready line; its log " + log + ":\n" + tail(log));
        }
        return new NodeProcess(id, address, log, p);
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
