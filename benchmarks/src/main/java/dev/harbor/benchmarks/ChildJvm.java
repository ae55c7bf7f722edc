package dev.harbor.benchmarks;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;

/**
 * The far side of a cross-node benchmark: a second JVM running a main of this module (such as
 * {@link RemoteNode}), started from the same class path as this one, so both ends run the same code on
 * the same JDK.
 *
 * <p><b>Start.</b> {@link #start} launches {@code java <heap> <extra> -cp <java.class.path> <main>
 * <args>} and waits (at most {@link BenchSupport#TIMEOUT}) for the child's {@code READY ...} line on
 * its standard output; every other line the child prints is copied
 * to this JVM's standard output with a {@code [remote]} prefix, and its standard error goes straight to
 * ours. A child that exits before it is ready fails the start with its exit code.
 *
 * <p><b>End.</b> {@link #close} closes the child's standard input, gives it a moment to exit, then kills
 * it ({@code destroyForcibly}) and waits for it to be gone; a shutdown hook kills it if this JVM exits
 * without closing it. The child also exits by itself when its standard input reaches end of file, which
 * happens when this JVM dies in any way, even {@code kill -9}: no child outlives its benchmark.
 *
 * <p>Extra JVM options for the child (for example to profile it) can be given with
 * {@code -Dharbor.bench.child.jvmArgs="-XX:+FlightRecorder ..."} on the JMH fork (JMH's {@code -jvmArgsAppend}).
 */
final class ChildJvm implements AutoCloseable {

    /** The first word of the line a child prints when it is set up; the rest of the line is for its parent. */
    static final String READY = "READY";
    /** The heap of the child, fixed like the fork's so a resize never lands in a measurement. */
    static final List<String> HEAP = List.of("-Xms1g", "-Xmx1g");
    /** Extra options for the child's JVM, split at spaces. */
    static final String EXTRA_ARGS_PROPERTY = "harbor.bench.child.jvmArgs";
    /** How long the child may take to exit by itself once its standard input is closed. */
    static final long GRACE_SECONDS = 5;

    private final Process process;
    private final Thread killer;
    private final String ready;

    private ChildJvm(Process process, Thread killer, String ready) {
        this.process = process;
        this.killer = killer;
        this.ready = ready;
    }

    /**
     * Starts {@code main} with {@code args} in a new JVM and waits until it says it is ready.
     *
     * @param what names the child in failures
     * @param main a class of this module with a {@code main} method that prints a {@link #READY} line
     * @throws IllegalStateException if it does not become ready within the timeout (it is killed then)
     */
    static ChildJvm start(String what, Class<?> main, String... args) {
        List<String> command = new ArrayList<>();
        command.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        command.addAll(HEAP);
        String extra = System.getProperty(EXTRA_ARGS_PROPERTY, "").trim();
        if (!extra.isEmpty()) {
            command.addAll(List.of(extra.split("\\s+")));
        }
        command.add("-cp");
        command.add(System.getProperty("java.class.path"));
        command.add(main.getName());
        command.addAll(List.of(args));

        Process process;
        try {
            process = new ProcessBuilder(command).redirectError(ProcessBuilder.Redirect.INHERIT).start();
        } catch (IOException e) {
            throw new UncheckedIOException("could not start the " + what + " child JVM: " + command, e);
        }
        Thread killer = new Thread(() -> kill(process), "kill-" + what);
        Runtime.getRuntime().addShutdownHook(killer);

        CompletableFuture<String> readyLine = new CompletableFuture<>();
        Thread reader = new Thread(() -> pump(process, readyLine), "stdout-of-" + what);
        reader.setDaemon(true);
        reader.start();
        try {
            String line = BenchSupport.get(readyLine, "starting the " + what + " child JVM");
            return new ChildJvm(process, killer, line);
        } catch (RuntimeException e) {
            kill(process);
            removeHook(killer);
            throw e;
        }
    }

    /**
     * For the child's {@code main}: starts a daemon thread that reads standard input (the parent sends
     * nothing) until it ends, because the parent closed it or died, and then exits the JVM, running its
     * shutdown hooks (a flight recording is written then), or halts if they take longer than 3 s.
     * {@code main} joins the returned thread after printing its {@link #READY} line.
     */
    static Thread exitWhenParentGoes() {
        Thread watchdog = new Thread(() -> {
            try {
                while (System.in.read() >= 0) {
                    // ignore
                }
            } catch (IOException e) {
                // the parent is gone
            }
            Thread halt = new Thread(() -> {
                LockSupport.parkNanos(TimeUnit.SECONDS.toNanos(3));
                Runtime.getRuntime().halt(0);
            }, "halt");
            halt.setDaemon(true);
            halt.start();
            System.exit(0);
        }, "parent-watchdog");
        watchdog.setDaemon(true);
        watchdog.start();
        return watchdog;
    }

    /** Reads the child's standard output: the ready line completes {@code ready}, the rest is echoed. */
    private static void pump(Process process, CompletableFuture<String> ready) {
        try (BufferedReader out = new BufferedReader(new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8))) {
            String line;
            while ((line = out.readLine()) != null) {
                if (!ready.isDone() && line.startsWith(READY)) {
                    ready.complete(line.substring(READY.length()).trim());
                } else {
                    System.out.println("[remote] " + line);
                }
            }
        } catch (IOException e) {
            // the child is gone; the exit check below says so
        }
        if (!ready.isDone()) {
            try {
                boolean exited = process.waitFor(5, TimeUnit.SECONDS);
                ready.completeExceptionally(new IllegalStateException("the child JVM "
                        + (exited ? "exited with code " + process.exitValue() : "closed its output") + " before it was ready"));
            } catch (InterruptedException e) {
                ready.completeExceptionally(e);
            }
        }
    }

    /** The child's process, for what the operating system says of it (its CPU time, for one). */
    ProcessHandle handle() {
        return process.toHandle();
    }

    /** What the child said after {@code READY}: the addresses of its services. */
    String ready() {
        return ready;
    }

    /**
     * Waits up to {@code millis} for the child to exit by itself (for a child that is told to stop
     * through its own API), without closing or killing it.
     *
     * @return its exit code, or null if it is still running
     */
    Integer awaitExit(long millis) {
        try {
            return process.waitFor(millis, TimeUnit.MILLISECONDS) ? process.exitValue() : null;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return process.isAlive() ? null : process.exitValue();
        }
    }

    /**
     * Ends the child: closes its standard input (it exits by itself then, running its shutdown hooks, so
     * that a flight recording given in {@link #EXTRA_ARGS_PROPERTY} is written), waits up to
     * {@link #GRACE_SECONDS} for that, then kills it regardless and waits until it is gone.
     */
    @Override
    public void close() {
        try {
            try {
                process.getOutputStream().close();
                process.waitFor(GRACE_SECONDS, TimeUnit.SECONDS);
            } catch (IOException e) {
                // it is gone already, or going: killed below either way
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            kill(process);
        } finally {
            removeHook(killer);
        }
    }

    private static void kill(Process process) {
        process.destroyForcibly();
        try {
            if (!process.waitFor(BenchSupport.TIMEOUT.toSeconds(), TimeUnit.SECONDS)) {
                throw new IllegalStateException("the child JVM (pid " + process.pid() + ") did not die within "
                        + BenchSupport.TIMEOUT.toSeconds() + " s of being killed");
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while waiting for the child JVM (pid " + process.pid() + ") to die", e);
        }
    }

    private static void removeHook(Thread hook) {
        try {
            Runtime.getRuntime().removeShutdownHook(hook);
        } catch (IllegalStateException e) {
            // this JVM is shutting down already; the hook runs anyway
        }
    }
}
