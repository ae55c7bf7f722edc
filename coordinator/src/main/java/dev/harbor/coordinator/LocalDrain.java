package dev.harbor.coordinator;

import dev.harbor.plan.Plan;
import dev.harbor.plan.PlanRefused;
import dev.harbor.plan.Registration;
import dev.harbor.plan.Step;
import dev.harbor.proto.Drain;
import dev.harbor.proto.ShutdownRequest;
import dev.harbor.service.ExitEvent;

import dev.harbor.service.Node;
import dev.harbor.service.ServiceInfo;
import dev.harbor.shutdown.OrderedExit;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Drains one node in order when it is told to stop (SIGTERM: {@code docker stop}, a deleted pod).
 *
 * <p>If the cluster has a coordinator, the node asks it for a shutdown of this node alone, and the
 * coordinator runs it as any run (the node's own stop is its last step). If there is none, or it does
 * not answer, the node drains itself by the same plan: its registered services in plan order, each
 * confirmed by its exit event and killed at its drain timeout. Either way the node is stopped after.
 * Runs on the thread that handles the signal; it waits, bounded by the budget.
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
        drainAlone(node, deadline);
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

    private static void drainAlone(Node node, long deadline) {
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
        // One step at a time, in plan order: a node drains alone rarely, and simply.
        for (Step step : plan.steps()) {
            if (step.kind() != Step.Kind.DRAIN) {
                continue;
            }
            CompletableFuture<ExitEvent> exited = node.watch(step.service());
            node.send(step.service(), Drain.newBuilder().setRunId("local-" + node.id()).setTimeoutMs(step.timeout().toMillis()).build());
            long wait = Math.min(step.timeout().toNanos(), Math.max(0, deadline - System.nanoTime()));
            try {
                exited.get(wait, TimeUnit.NANOSECONDS);
                log.info("node {}: {} drained", node.id(), step.id());
            } catch (TimeoutException e) {
                log.warn("node {}: {} did not exit within {} ms; killing it", node.id(), step.id(), step.timeout().toMillis());
                node.kill(step.service());
            } catch (Exception e) {
                log.debug("node {}: {}: {}", node.id(), step.id(), e.toString());
            }
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
