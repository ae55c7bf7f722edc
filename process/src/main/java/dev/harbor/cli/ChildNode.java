package dev.harbor.cli;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * {@code harbor node --config FILE} in a child JVM started from this JVM's class path and Java: how
 * the demo and the process tests run nodes. {@link #start} returns once the node has printed its
 * ready line ({@code harbor node <id> ready on <advertise>}, see {@link NodeCommand}); its standard
 * error goes to a log file.
 */
public final class ChildNode {
    private ChildNode() {
    }

    /**
     * Starts a node and waits for its ready line. The child's standard output is read to its end by a
     * virtual thread of its own.
     *
     * @param jvmOptions options for the child's JVM, such as {@code -Xmx256m}
     * @param id the node's id (its config's {@code node.id})
     * @param advertise the address it advertises (its config's {@code node.advertise} or listen address)
     * @throws IOException if the JVM cannot be started
     * @throws IllegalStateException if the node exits or stays silent for {@code within}; it is killed
     *     then, and the message names its log
     */
    public static Process start(List<String> jvmOptions, int id, String advertise, Path config, Path log, Duration within)
            throws IOException {
        return start(jvmOptions, Main.class.getName(), List.of("node", "--config", config.toString()), id, advertise, log,
                within);
    }

    /**
     * Starts {@code mainClass} with {@code args} in a child JVM as {@link #start(List, int, String, Path, Path, Duration)}
     * starts a node, and waits for the same ready line: for a program that runs a node of its own (an
     * application that embeds one) and prints that line when it has.
     *
     * @param mainClass a class with a {@code main} on this JVM's class path
     */
    public static Process start(List<String> jvmOptions, String mainClass, List<String> args, int id, String advertise, Path log,
            Duration within) throws IOException {
        List<String> command = new ArrayList<>();
        command.add(ProcessHandle.current().info().command().orElse("java"));
        command.addAll(jvmOptions);
        command.addAll(List.of("-cp", System.getProperty("java.class.path"), mainClass));
        command.addAll(args);
        Process p = new ProcessBuilder(command).redirectError(log.toFile()).start();
        String readyLine = "harbor node " + id + " ready on " + advertise;
        CompletableFuture<Boolean> seen = new CompletableFuture<>();
        Thread.ofVirtual().name("node-" + id + "-stdout").start(() -> {
            try (BufferedReader out = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))) {
                for (String line = out.readLine(); line != null; line = out.readLine()) {
                    if (line.equals(readyLine)) {
                        seen.complete(true);
                    }
                }
            } catch (IOException e) {
                seen.completeExceptionally(e);
            }
            seen.complete(false);
        });
        String why;
        try {
            if (seen.get(within.toMillis(), TimeUnit.MILLISECONDS)) {
                return p;
            }
            why = "exited without printing '" + readyLine + "'";
        } catch (TimeoutException e) {
            why = "did not print '" + readyLine + "' within " + within.toSeconds() + " s";
        } catch (ExecutionException e) {
            why = "could not be read: " + e.getCause();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            why = "was not waited for (interrupted)";
        }
        p.destroyForcibly();
        throw new IllegalStateException("node " + id + " " + why + "; see its log " + log);
    }
}
