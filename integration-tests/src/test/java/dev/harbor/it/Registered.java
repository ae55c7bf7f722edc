package dev.harbor.it;

import dev.harbor.proto.Drain;
import dev.harbor.service.Handle;
import dev.harbor.service.Message;
import dev.harbor.service.NodeView;
import dev.harbor.service.Service;
import dev.harbor.service.ServiceContext;
import dev.harbor.shutdown.OrderedExit;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/**
 * A service registered for an ordered exit, for coordinator tests across processes, under a global
 * name. Config form: {@code Registered(name;role;drainTimeoutMs;dependsOn;mode;journal)}, the last three
 * optional: {@code dependsOn} is roles joined by '+' (or empty); {@code mode} is what it does with a
 * {@link Drain}: {@code exit} (exit at once, the default), {@code ignore} (never exit: the coordinator
 * must kill it) or {@code slow:N} (exit N ms later; a second Drain meanwhile changes nothing);
 * {@code journal} is a file where it notes {@code registered}, each {@code drain} and its {@code exit}
 * (see {@link Journal}), since a test cannot share memory with a node process. A call of "" answers its
 * name.
 */
public final class Registered implements Service {
    /** Sent to itself (locally, never serialised) when a slow drain is over. */
    private record Drained() {
    }

    private final String name;
    private final String role;
    private final Duration drainTimeout;
    private final String[] dependsOn;
    private final String mode;
    private final Journal journal;
    private boolean draining;

    public Registered(String name, String role, String drainTimeoutMs) {
        this(name, role, drainTimeoutMs, "", "exit", "");
    }

    public Registered(String name, String role, String drainTimeoutMs, String dependsOn) {
        this(name, role, drainTimeoutMs, dependsOn, "exit", "");
    }

    public Registered(String name, String role, String drainTimeoutMs, String dependsOn, String mode) {
        this(name, role, drainTimeoutMs, dependsOn, mode, "");
    }

    public Registered(String name, String role, String drainTimeoutMs, String dependsOn, String mode, String journal) {
        this.name = name;
        this.role = role;
        this.drainTimeout = Duration.ofMillis(Long.parseLong(drainTimeoutMs));
        this.dependsOn = dependsOn.isEmpty() ? new String[0] : dependsOn.split("\\+");
        this.mode = mode.isEmpty() ? "exit" : mode;
        if (!this.mode.equals("exit") && !this.mode.equals("ignore") && !this.mode.matches("slow:\\d+")) {
            throw new IllegalArgumentException("mode must be exit, ignore or slow:N, not " + mode);
        }
        this.journal = journal.isEmpty() ? null : new Journal(Path.of(journal));
    }

    @Override
    public void init(ServiceContext ctx) {
        ctx.register(name);
        OrderedExit.register(ctx, role, drainTimeout, dependsOn);
        note("registered", ctx.self().toString());
    }

    @Override
    public Object receive(ServiceContext ctx, Message m) {
        Object p = m.payload();
        if (p instanceof Drain d) {
            note("drain", d.getRunId());
            if (mode.equals("exit")) {
                exit(ctx);
            } else if (mode.startsWith("slow:") && !draining) {
                draining = true;
                long ms = Long.parseLong(mode.substring("slow:".length()));
                NodeView node = ctx.node();
                Handle self = ctx.self();
                CompletableFuture.delayedExecutor(ms, TimeUnit.MILLISECONDS).execute(() -> node.send(self, new Drained()));
            }
            return null;
        }
        if (p instanceof Drained) {
            exit(ctx);
            return null;
        }
        return name;
    }

    private void exit(ServiceContext ctx) {
        note("exit", "");
        ctx.exit();
    }

    private void note(String what, String detail) {
        if (journal != null) {
            journal.note(name, what, detail);
        }
    }
}
