package dev.harbor.coordinator;

import dev.harbor.plan.Execution;
import dev.harbor.plan.Plan;
import dev.harbor.plan.PlanRefused;
import dev.harbor.plan.Registration;
import dev.harbor.proto.Drain;
import dev.harbor.proto.ShutdownRequest;
import dev.harbor.service.ExitReason;
import dev.harbor.service.Handle;
import dev.harbor.service.Node;
import dev.harbor.service.ServiceInfo;
import dev.harbor.shutdown.OrderedExit;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.LongFunction;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Drains one node in order when it is told to stop (SIGTERM: {@code docker stop}, a deleted pod).
 *
 * <p>If the cluster has a coordinator, the node asks it for a shutdown of this node alone, and the
 * coordinator runs it as any run (the node's own stop is its last step). If there is none, or it does
 * not answer, the node drains itself by the same plan and the same rules, the coordinator's
 * {@link Execution} carried out on the node itself: its registered services in plan order, each
 * confirmed by its exit event and killed at its drain timeout, then the rest of its services. Either
 * way the node is stopped after. Runs on the thread that handles the signal; it waits, bounded by the
 * budget.
 */
public final class LocalDrain {
    private static final Logger log = LoggerFactory.getLogger(LocalDrain.class);

    private LocalDrain() {
    }

    /**
     * Drains {@code node} within {@code budget}. Returns when the node's registered services have
     * exited (or been killed); the caller then stops the node.
     */
    public static void drain(Node node, Duration budget) {
        long deadline = System.nanoTime() + budget.toNanos();
        if (node.whereis(OrderedExit.COORDINATOR).filter(h -> h.node() != node.id()).isPresent()) {
            try {
                node.call(OrderedExit.COORDINATOR, ShutdownRequest.newBuilder().addNodes(node.id())
                        .setBudgetMs((int) budget.toMillis()).build(), Duration.ofSeconds(5)).get(6, TimeUnit.SECONDS);
                log.info("node {}: the coordinator runs this node's drain", node.id());
                awaitRegisteredGone(node, deadline);
                return;
            } catch (Exception e) {
                log.warn("node {}: the coordinator did not take this node's drain ({}); draining alone", node.id(), e.toString());
            }
        }
        drainAlone(node, budget, deadline);
    }

    private static void awaitRegisteredGone(Node node, long deadline) {
        for (ServiceInfo s : registered(node)) {
            try {
                node.watch(s.handle()).get(Math.max(1, deadline - System.nanoTime()), TimeUnit.NANOSECONDS);
            } catch (TimeoutException e) {
                log.warn("node {}: {} had not exited when the budget ran out", node.id(), s.handle());
                return;
            } catch (Exception e) {
                log.debug("node {}: watching {}: {}", node.id(), s.handle(), e.toString());
            }
        }
    }

    private static void drainAlone(Node node, Duration budget, long deadline) {
        List<Registration> regs = new ArrayList<>();
        for (ServiceInfo s : registered(node)) {
            Map<String, String> tags = s.tags();
            try {
                regs.add(new Registration(s.handle(), tags.get(OrderedExit.ROLE_TAG), Set.copyOf(OrderedExit.dependsOn(tags)),
                        Duration.ofMillis(Long.parseLong(tags.getOrDefault(OrderedExit.DRAIN_TIMEOUT_TAG, "0")))));
            } catch (IllegalArgumentException e) {
                log.warn("node {}: ignoring the malformed registration of {}: {}", node.id(), s.handle(), e.getMessage());
            }
        }
        Plan plan;
        try {
            plan = Plan.of(regs, Map.of(), Set.of(node.id()), Set.of(), Plan.Timeouts.DEFAULT);
        } catch (PlanRefused e) {
            log.error("node {}: cannot order this node's drain ({}); stopping it directly", node.id(), e.getMessage());
            return;
        }
        new Alone(node, plan, budget).run(deadline);
    }

    /**
     * A drain of one node by itself: the coordinator's {@link Execution} of the node's plan, its commands
     * carried out on the node at hand. Threading: the execution is touched only by the thread that
     * runs {@link #run} (the signal's); exit watches and timers only queue events for it.
     */
    private static final class Alone {
        private final Node node;
        private final Execution execution;
        /** Events for the execution, from watches and timers: each yields its commands given the time. */
        private final BlockingQueue<LongFunction<List<Execution.Command>>> events = new LinkedBlockingQueue<>();
        /** The services whose exit is watched (the drain thread's). */
        private final Set<Handle> watched = new HashSet<>();

        Alone(Node node, Plan plan, Duration budget) {
            this.node = node;
            String detail = "every service of node " + node.id() + " but its monitor has ended; the node stops next";
            this.execution = new Execution(plan, budget, CoordinatorHost.ESCALATION_GRACE,
                    new Execution.Host(node.id(), null, detail), new ThisNode(node));
        }

        void run(long deadline) {
            apply(execution.start(System.nanoTime()));
            try {
                while (!execution.ended()) {
                    long left = deadline - System.nanoTime();
                    LongFunction<List<Execution.Command>> event = left > 0 ? events.poll(left, TimeUnit.NANOSECONDS) : null;
                    if (event == null) {
                        log.warn("node {}: the drain's budget ran out before its steps finished; stopping the node", node.id());
                        return;
                    }
                    apply(event.apply(System.nanoTime()));
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                log.warn("node {}: the drain was interrupted; stopping the node", node.id());
            }
        }

        private void apply(List<Execution.Command> commands) {
            for (Execution.Command c : commands) {
                switch (c) {
                    case Execution.Command.Drain d -> {
                        watch(d.service());
                        node.send(d.service(), Drain.newBuilder().setRunId("local-" + node.id()).setTimeoutMs(d.timeout().toMillis()).build());
                    }
                    case Execution.Command.Kill k -> node.kill(k.service());
                    case Execution.Command.KillMany k -> k.services().forEach(h -> {
                        watch(h);
                        node.kill(h);
                    });
                    case Execution.Command.ListServices l -> {
                        List<Execution.Listed> listed = new ArrayList<>();
                        node.services().forEach(s -> listed.add(new Execution.Listed(s.handle(), s.tags())));
                        events.add(now -> execution.listed(l.step(), listed, now));
                    }
                    case Execution.Command.Wake w ->
                            node.scheduler().schedule(() -> events.add(now -> execution.wake(w.timer(), now)), w.delay());
                    case Execution.Command.Finished f -> log.info("node {}: {} {}{}", node.id(), f.step().step().id(),
                            f.step().outcome(), f.step().detail().isEmpty() ? "" : " (" + f.step().detail() + ")");
                    case Execution.Command.Escalated e -> log.warn("node {}: {} did not finish within {} ms; escalating", node.id(),
                            e.step().step().id(), e.step().step().timeout().toMillis());
                    case Execution.Command.Extended e -> log.info("node {}: {} ends {} services: its timeout grows to {} ms",
                            node.id(), e.step().step().id(), e.services(), e.timeout().toMillis());
                    // The node process turned its health NOT_SERVING when the signal came.
                    case Execution.Command.Cordon x -> { }
                    case Execution.Command.Started x -> { }
                    case Execution.Command.Ended x -> { }
                    // The plan is over this node alone: no other node is stopped.
                    case Execution.Command.Stop x -> throw new AssertionError("a node draining alone stops no other node");
                    case Execution.Command.AskToStop x -> throw new AssertionError("a node draining alone stops no other node");
                }
            }
        }

        private void watch(Handle h) {
            if (watched.add(h)) {
                // A watch that fails (the event is no longer retained) still means the service is gone.
                node.watch(h).whenComplete((event, error) -> events.add(now -> execution.exited(h,
                        event != null && event.reason() == ExitReason.NODE_LOST, now)));
            }
        }
    }

    /** What a node knows of itself, for its own drain: it is reachable, and all it has is in its table and exit log. */
    private record ThisNode(Node node) implements Execution.Cluster {
        @Override
        public boolean lost(int id) {
            return false;
        }

        @Override
        public String unreachable(int id) {
            return null;
        }

        @Override
        public boolean caughtUp(int id) {
            return true;
        }

        @Override
        public boolean isAlive(Handle service) {
            return node.isAlive(service);
        }

        @Override
        public boolean exited(Handle service) {
            return node.exits().find(service).isPresent();
        }

        @Override
        public Handle monitor(int id) {
            return node.monitor();
        }
    }

    private static List<ServiceInfo> registered(Node node) {
        List<ServiceInfo> out = new ArrayList<>();
        for (ServiceInfo s : node.services()) {
            if (s.tags().containsKey(OrderedExit.ROLE_TAG)) {
                out.add(s);
            }
        }
        return out;
    }

}
