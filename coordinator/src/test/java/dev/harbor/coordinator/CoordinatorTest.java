package dev.harbor.coordinator;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import dev.harbor.plan.Plan;
import dev.harbor.proto.ExitEvent;
import dev.harbor.proto.PlanRequest;
import dev.harbor.proto.PlanResponse;
import dev.harbor.proto.PlannedStep;
import dev.harbor.proto.Report;
import dev.harbor.proto.ShutdownProgress;
import dev.harbor.proto.ShutdownRequest;
import dev.harbor.proto.StepFinished;
import dev.harbor.service.Handle;
import dev.harbor.service.Node;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.Consumer;
import java.util.function.Function;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** The coordinator on node 1 of three in-JVM nodes linked over loopback gRPC. */
@Timeout(90)
class CoordinatorTest {
    private static final Duration WAIT = Duration.ofSeconds(20);
    @TempDir
    Path state;
    private TestNodes nodes;
    private final List<String> drained = new CopyOnWriteArrayList<>();

    @AfterEach
    void close() {
        if (nodes != null) {
            nodes.close();
        }
    }

    private Handle launch(int node, String name, String role, Duration timeout, boolean stubborn, String... dependsOn) {
        return nodes.get(node).node.launch(() -> new Drainable(name, role, timeout, stubborn, drained, dependsOn));
    }

    private Handle stateless(int node) {
        return nodes.get(node).node.launch(() -> (ctx, m) -> m.payload());
    }

    private void awaitPlanWith(int drainSteps) {
        await().atMost(WAIT).until(() -> {
            PlanResponse p = nodes.coordinator(TestNodes.TOKEN).plan(PlanRequest.newBuilder().setBudgetMs(600_000).build());
            return p.getRefusal().isEmpty() && p.getNodesCount() == nodes.members.size()
                    && p.getStepsList().stream().filter(s -> s.getKind() == PlannedStep.Kind.DRAIN).count() == drainSteps;
        });
    }

    private static List<ShutdownProgress> follow(Iterator<ShutdownProgress> stream) {
        return follow(stream, p -> { });
    }

    /** Every item of the run's stream, each shown to {@code onEach} as it comes. */
    private static List<ShutdownProgress> follow(Iterator<ShutdownProgress> stream, Consumer<ShutdownProgress> onEach) {
        List<ShutdownProgress> all = new ArrayList<>();
        stream.forEachRemaining(p -> {
            all.add(p);
            onEach.accept(p);
        });
        return all;
    }

    private static Report report(List<ShutdownProgress> progress) {
        assertThat(progress.get(progress.size() - 1).hasReport()).as("the stream ends with the report").isTrue();
        return progress.get(progress.size() - 1).getReport();
    }

    private static List<ExitEvent> exits(List<ShutdownProgress> progress) {
        return progress.stream().filter(ShutdownProgress::hasExit).map(ShutdownProgress::getExit).toList();
    }

    private static int indexOfExit(List<ExitEvent> exits, Handle h) {
        for (int i = 0; i < exits.size(); i++) {
            if (exits.get(i).getHandle().getNode() == h.node() && exits.get(i).getHandle().getId() == h.id()) {
                return i;
            }
        }
        throw new AssertionError("no exit event for " + h + " in " + exits);
    }

    @Test
    void aShutdownStopsEveryRoleInOrderConfirmedByExitEventsAndEveryNodeStops() {
        nodes = new TestNodes(state, 1, 2, 3);
        Handle gw2 = launch(2, "gw-2", "gateway", Duration.ofSeconds(3), false);
        Handle gw3 = launch(3, "gw-3", "gateway", Duration.ofSeconds(3), false);
        Handle lobby = launch(2, "lobby-2", "lobby", Duration.ofSeconds(2), false);
        Handle writer = launch(3, "writer-3", "writer", Duration.ofSeconds(3), false);
        List<Handle> statelessOnes = List.of(stateless(1), stateless(2), stateless(2), stateless(3));
        awaitPlanWith(4);

        List<ShutdownProgress> progress = follow(nodes.coordinator(TestNodes.TOKEN)
                .shutdown(ShutdownRequest.newBuilder().setBudgetMs(30_000).build()));

        Report report = report(progress);
        assertThat(report.getClean()).as("report %s", report).isTrue();
        assertThat(report.getTotalMs()).isLessThanOrEqualTo(30_000);
        assertThat(report.getStepsList()).allSatisfy(s -> assertThat(s.getOutcome()).isEqualTo(StepFinished.Outcome.DONE));
        assertThat(progress.get(0).hasPlan()).isTrue();
        // The order: both gateways, then the lobby, then the writer; then the stateless services.
        assertThat(drained.subList(0, 2)).containsExactlyInAnyOrder("gw-2", "gw-3");
        assertThat(drained.subList(2, 4)).containsExactly("lobby-2", "writer-3");
        List<ExitEvent> exits = exits(progress);
        assertThat(indexOfExit(exits, lobby)).isGreaterThan(indexOfExit(exits, gw2)).isGreaterThan(-1);
        assertThat(indexOfExit(exits, lobby)).isGreaterThan(indexOfExit(exits, gw3));
        assertThat(indexOfExit(exits, writer)).isGreaterThan(indexOfExit(exits, lobby));
        for (Handle s : statelessOnes) {
            assertThat(indexOfExit(exits, s)).isGreaterThan(indexOfExit(exits, writer));
        }
        // Every service exited exactly once.
        Map<String, Long> perHandle = exits.stream().collect(Collectors.groupingBy(e -> e.getHandle().toString(), Collectors.counting()));
        assertThat(perHandle.values()).allMatch(n -> n == 1);
        // Every node stops: 2 and 3 within the run, 1 (the coordinator's) right after its report.
        for (int id : List.of(1, 2, 3)) {
            TestNodes.Member m = nodes.get(id);
            await().atMost(WAIT).until(m.stopped::isDone);
            assertThat(m.node.isStopped()).isTrue();
        }
    }

    @Test
    void aNodeRestartedAfterItsStepEndedDoneAndUpBeforeTheRunEndsMakesTheRunNotCleanAndIsNamed() {
        nodes = new TestNodes(state, 1, 2, 3);
        launch(2, "gw-2", "gateway", Duration.ofSeconds(3), false);
        awaitPlanWith(1);
        // Node 3 is restarted once its step has ended done and it has stopped (a supervisor's restart
        // policy); node 2 takes its time to exit, so the run is still on when node 3's new life answers
        // on its exit stream. Restarted any sooner, the new life would be there while node 3's step still
        // waits, and that step would stop it too: another case (the step's "came back in a new life").
        CompletableFuture<Void> node3StepDone = new CompletableFuture<>();
        CompletableFuture<TestNodes.Member> restarted = node3StepDone.thenCombineAsync(nodes.get(3).stopped,
                (done, stopped) -> nodes.restart(3));
        nodes.get(2).beforeStop = () -> {
            restarted.join();
            sleep(Duration.ofSeconds(3)); // the coordinator's subscriber retries within about a second
        };

        Report report = report(follow(nodes.coordinator(TestNodes.TOKEN)
                .shutdown(ShutdownRequest.newBuilder().setBudgetMs(30_000).build()), p -> {
                    if (p.hasFinished() && p.getFinished().getStep().equals("node@3")) {
                        node3StepDone.complete(null);
                    }
                }));

        assertThat(report.getStepsList()).allSatisfy(s -> assertThat(s.getOutcome()).as("%s", s).isEqualTo(StepFinished.Outcome.DONE));
        assertThat(report.getClean()).as("node 3 serves on in a new life: report %s", report).isFalse();
        assertThat(report.getUnconfirmedList()).singleElement().asString().startsWith("node 3 at ")
                .contains("stopped by this run, then it started again");
        assertThat(restarted.join().stopped).as("the new life runs").isNotDone();
    }

    private static void sleep(Duration d) {
        try {
            Thread.sleep(d);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError(e);
        }
    }

    @Test
    void aServiceThatIgnoresItsDrainIsKilledAtItsTimeoutAndTheRunGoesOn() {
        nodes = new TestNodes(state, 1, 2);
        Handle stubborn = launch(2, "gw-stubborn", "gateway", Duration.ofMillis(500), true);
        Handle writer = launch(2, "writer-2", "writer", Duration.ofSeconds(2), false);
        awaitPlanWith(2);
        io.micrometer.core.instrument.simple.SimpleMeterRegistry meters = new io.micrometer.core.instrument.simple.SimpleMeterRegistry();
        nodes.get(1).host.bindMetrics(meters);
        assertThat(meters.get("harbor.coordinator.run").tag("state", "idle").gauge().value()).isEqualTo(1);

        List<ShutdownProgress> progress = follow(nodes.coordinator(TestNodes.TOKEN)
                .shutdown(ShutdownRequest.newBuilder().setBudgetMs(30_000).build()));

        Report report = report(progress);
        assertThat(report.getClean()).isFalse();
        StepFinished gw = report.getStepsList().stream().filter(s -> s.getStep().startsWith("gateway:")).findFirst().orElseThrow();
        assertThat(gw.getOutcome()).isEqualTo(StepFinished.Outcome.ESCALATED);
        assertThat(gw.getDurationMs()).isGreaterThanOrEqualTo(500);
        ExitEvent killed = exits(progress).get(indexOfExit(exits(progress), stubborn));
        assertThat(killed.getReason()).isEqualTo(dev.harbor.proto.ExitReason.KILLED);
        assertThat(drained).containsExactly("writer-2");
        assertThat(indexOfExit(exits(progress), writer)).isGreaterThan(indexOfExit(exits(progress), stubborn));
        StepFinished w = report.getStepsList().stream().filter(s -> s.getStep().startsWith("writer:")).findFirst().orElseThrow();
        assertThat(w.getOutcome()).isEqualTo(StepFinished.Outcome.DONE);

        // The coordinator's meters saw the same run: one escalation, the escalated step's duration, a run not clean.
        assertThat(meters.get("harbor.coordinator.escalations").counter().count()).isEqualTo(1);
        io.micrometer.core.instrument.Timer escalated = meters.get("harbor.coordinator.step.duration").tag("kind", "drain")
                .tag("outcome", "escalated").timer();
        assertThat(escalated.count()).isEqualTo(1);
        assertThat(escalated.totalTime(java.util.concurrent.TimeUnit.MILLISECONDS)).isGreaterThanOrEqualTo(500);
        assertThat(meters.get("harbor.coordinator.step.duration").tag("kind", "drain").tag("outcome", "done").timer().count())
                .isEqualTo(1);
        assertThat(meters.get("harbor.coordinator.runs").tag("result", "not_clean").counter().count()).isEqualTo(1);
        assertThat(meters.get("harbor.coordinator.runs").tag("result", "clean").counter().count()).isZero();
        assertThat(meters.get("harbor.coordinator.run").tag("state", "running").gauge().value()).isZero();
    }

    @Test
    void shutdownsWithoutTheTokenOrThatCannotRunAreRefusedAndTouchNothing() {
        nodes = new TestNodes(state, 1, 2);
        launch(2, "gw-2", "gateway", Duration.ofSeconds(20), false);
        launch(2, "writer-2", "writer", Duration.ofSeconds(20), false);
        awaitPlanWith(2);
        Node two = nodes.get(2).node;
        int before = two.services().size();

        Function<Iterator<ShutdownProgress>, StatusRuntimeException> refusal = it -> {
            try {
                follow(it);
                throw new AssertionError("the shutdown should have been refused");
            } catch (StatusRuntimeException e) {
                return e;
            }
        };
        ShutdownRequest ok = ShutdownRequest.newBuilder().setBudgetMs(60_000).build();
        StatusRuntimeException noToken = refusal.apply(nodes.coordinator(null).shutdown(ok));
        assertThat(noToken.getStatus().getCode()).isEqualTo(Status.Code.UNAUTHENTICATED);
        assertThat(noToken.getStatus().getDescription()).contains("authorization: Bearer");
        StatusRuntimeException wrong = refusal.apply(nodes.coordinator("not-the-token").shutdown(ok));
        assertThat(wrong.getStatus().getCode()).isEqualTo(Status.Code.UNAUTHENTICATED);
        assertThatThrownBy(() -> nodes.coordinator("nope").plan(PlanRequest.getDefaultInstance()))
                .isInstanceOf(StatusRuntimeException.class).hasMessageContaining("UNAUTHENTICATED");

        StatusRuntimeException tooSmall = refusal.apply(nodes.coordinator(TestNodes.TOKEN)
                .shutdown(ShutdownRequest.newBuilder().setBudgetMs(10_000).build()));
        assertThat(tooSmall.getStatus().getCode()).isEqualTo(Status.Code.FAILED_PRECONDITION);
        assertThat(tooSmall.getStatus().getDescription()).contains("more than the budget of 10000 ms");

        StatusRuntimeException unknown = refusal.apply(nodes.coordinator(TestNodes.TOKEN)
                .shutdown(ShutdownRequest.newBuilder().setBudgetMs(60_000).addNodes(9).build()));
        assertThat(unknown.getStatus().getDescription()).contains("unknown node id(s) [9]");

        launch(2, "lobby-a", "lobby", Duration.ofSeconds(1), false, "matchmaker");
        launch(2, "match-b", "matchmaker", Duration.ofSeconds(1), false, "lobby");
        awaitPlanRefusal("cycle");
        StatusRuntimeException cycle = refusal.apply(nodes.coordinator(TestNodes.TOKEN).shutdown(ok));
        assertThat(cycle.getStatus().getDescription()).contains("cycle between roles: lobby -> matchmaker -> lobby");

        assertThat(drained).isEmpty();
        assertThat(two.services()).hasSize(before + 2);
        assertThat(nodes.get(2).stopped).isNotDone();
    }

    private void awaitPlanRefusal(String containing) {
        await().atMost(WAIT).until(() -> nodes.coordinator(TestNodes.TOKEN)
                .plan(PlanRequest.newBuilder().setBudgetMs(60_000).build()).getRefusal().contains(containing));
    }

    @Test
    void aServiceThatRegistersTwiceOrBadlyGetsAClearAnswer() {
        nodes = new TestNodes(state, 1, 2);
        awaitPlanWith(0);
        await().atMost(WAIT).until(() -> nodes.get(2).node.whereis(dev.harbor.shutdown.OrderedExit.COORDINATOR).isPresent());
        List<String> answers = new CopyOnWriteArrayList<>();
        nodes.get(2).node.launch(() -> new dev.harbor.service.Service() {
            @Override
            public void init(dev.harbor.service.ServiceContext ctx) {
                dev.harbor.shutdown.OrderedExit.register(ctx, "gateway", Duration.ofSeconds(1));
                try {
                    dev.harbor.shutdown.OrderedExit.register(ctx, "writer", Duration.ofSeconds(1));
                } catch (IllegalStateException e) {
                    answers.add(e.getMessage());
                }
                try {
                    dev.harbor.shutdown.OrderedExit.register(ctx, "Not A Role", Duration.ofSeconds(1));
                } catch (IllegalArgumentException e) {
                    answers.add(e.getMessage());
                }
                // Past the helper, straight to the coordinator with another role: refused too.
                try {
                    ctx.call(dev.harbor.shutdown.OrderedExit.COORDINATOR, dev.harbor.proto.RegisterService.newBuilder()
                            .setRole("writer").setDrainTimeoutMs(1000).build(), WAIT);
                } catch (dev.harbor.service.CallException e) {
                    answers.add(e.getMessage());
                }
            }

            @Override
            public Object receive(dev.harbor.service.ServiceContext ctx, dev.harbor.service.Message m) {
                return null;
            }
        });
        assertThat(answers).hasSize(3);
        assertThat(answers.get(0)).endsWith("is already registered as role gateway");
        assertThat(answers.get(1)).contains("'Not A Role' is not a role");
        assertThat(answers.get(2)).contains("is already registered as role gateway");
        awaitPlanWith(1);
    }

    @Test
    void aDryRunAndThePlanCallShowThePlanAndTouchNothing() {
        nodes = new TestNodes(state, 1, 2);
        launch(2, "gw-2", "gateway", Duration.ofSeconds(1), false);
        awaitPlanWith(1);
        List<ShutdownProgress> dry = follow(nodes.coordinator(TestNodes.TOKEN)
                .shutdown(ShutdownRequest.newBuilder().setDryRun(true).build()));
        assertThat(dry).hasSize(1);
        PlanResponse plan = dry.get(0).getPlan();
        assertThat(plan.getRefusal()).isEmpty();
        assertThat(plan.getStepsList()).extracting(PlannedStep::getId)
                .contains("stateless@1", "stateless@2", "node@1", "node@2")
                .anySatisfy(id -> assertThat(id).startsWith("gateway:"));
        assertThat(plan.getCriticalPathMs()).isEqualTo(1_000 + 2_000 + 5_000);
        assertThat(plan.getBudgetMs()).isEqualTo(30_000);
        assertThat(drained).isEmpty();
        assertThat(nodes.get(2).stopped).isNotDone();
    }

    /**
     * Node 2 with 5,000 stateless services and a 300 ms stateless step, then a shutdown within
     * {@code budgetMs}; returns the report's stateless@2 step. Ending 5,000 services and hearing their
     * exits took about 1 s here; the node lists them well within the 300 ms, so the coordinator knows
     * how many there are before the timeout.
     */
    private StepFinished statelessStepOfThousands(int budgetMs) {
        nodes = new TestNodes(state, new Plan.Timeouts(Duration.ofMillis(300), Duration.ofSeconds(5)), 1, 2);
        for (int i = 0; i < 5_000; i++) {
            stateless(2);
        }
        awaitPlanWith(0);
        List<ShutdownProgress> progress = follow(nodes.coordinator(TestNodes.TOKEN)
                .shutdown(ShutdownRequest.newBuilder().setBudgetMs(budgetMs).build()));
        assertThat(report(progress).getTotalMs()).isLessThanOrEqualTo(budgetMs);
        return report(progress).getStepsList().stream().filter(s -> s.getStep().equals("stateless@2")).findFirst().orElseThrow();
    }

    @Test
    void aStatelessStepWithThousandsOfServicesGetsTimeForThemAsFarAsTheBudgetAllows() {
        // With 30 s of budget there is time to spare: the step gets up to 1 ms per service and ends DONE.
        StepFinished step = statelessStepOfThousands(30_000);
        assertThat(step.getDurationMs()).as("the step outlasted its planned 300 ms").isGreaterThan(300);
        assertThat(step.getOutcome()).as("step %s", step).isEqualTo(StepFinished.Outcome.DONE);
    }

    @Test
    void aStatelessStepWithThousandsOfServicesAndNoBudgetToSpareEscalatesAsPlanned() {
        // The budget is the plan's worst case exactly: stateless@2 300 ms, node@2 5 s, each plus the grace to confirm a kill.
        StepFinished step = statelessStepOfThousands((int) (300 + 5_000 + 2 * CoordinatorHost.ESCALATION_GRACE.toMillis()));
        assertThat(step.getOutcome()).as("step %s", step).isEqualTo(StepFinished.Outcome.ESCALATED);
    }

    @Test
    void aSecondShutdownJoinsTheRunInProgress() throws Exception {
        nodes = new TestNodes(state, 1, 2);
        launch(2, "gw-slow", "gateway", Duration.ofMillis(800), true); // escalates: the run lasts a while
        awaitPlanWith(1);
        Iterator<ShutdownProgress> first = nodes.coordinator(TestNodes.TOKEN).shutdown(ShutdownRequest.getDefaultInstance());
        ShutdownProgress firstItem = first.next();
        List<ShutdownProgress> second = follow(nodes.coordinator(TestNodes.TOKEN).shutdown(ShutdownRequest.getDefaultInstance()));
        List<ShutdownProgress> rest = new ArrayList<>(List.of(firstItem));
        rest.addAll(follow(first));
        assertThat(report(second).getRunId()).isEqualTo(report(rest).getRunId());
        assertThat(second.get(0).getPlan()).isEqualTo(firstItem.getPlan());
        assertThat(drained).isEmpty();
    }

    @Test
    void aShutdownAskingForAnotherScopeOrBudgetThanTheRunningRunIsRefusedNamingIt() {
        nodes = new TestNodes(state, 1, 2);
        launch(2, "gw-slow", "gateway", Duration.ofMillis(1500), true); // escalates: the run lasts a while
        awaitPlanWith(1);
        Iterator<ShutdownProgress> first = nodes.coordinator(TestNodes.TOKEN).shutdown(ShutdownRequest.getDefaultInstance());
        PlanResponse running = first.next().getPlan();
        Function<ShutdownRequest, StatusRuntimeException> refused = r -> {
            try {
                follow(nodes.coordinator(TestNodes.TOKEN).shutdown(r));
                throw new AssertionError("a shutdown of another scope or budget should have been refused");
            } catch (StatusRuntimeException e) {
                return e;
            }
        };
        StatusRuntimeException otherScope = refused.apply(ShutdownRequest.newBuilder().addNodes(2).build());
        StatusRuntimeException otherBudget = refused.apply(ShutdownRequest.newBuilder().setBudgetMs(45_000).build());
        // A dry run with another scope still answers, with the running run's plan.
        List<ShutdownProgress> dry = follow(nodes.coordinator(TestNodes.TOKEN)
                .shutdown(ShutdownRequest.newBuilder().setDryRun(true).addNodes(2).build()));
        List<ShutdownProgress> rest = follow(first);
        String runId = report(rest).getRunId();

        for (StatusRuntimeException e : List.of(otherScope, otherBudget)) {
            assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.FAILED_PRECONDITION);
            assertThat(e.getStatus().getDescription()).contains("shutdown run " + runId + " is in progress");
        }
        assertThat(otherScope.getStatus().getDescription()).contains("asks for nodes [2]");
        assertThat(otherBudget.getStatus().getDescription()).contains("budget of 45000 ms");
        assertThat(dry).hasSize(1);
        assertThat(dry.get(0).getPlan().getStepsList()).isEqualTo(running.getStepsList());
        assertThat(rest.stream().filter(ShutdownProgress::hasReport)).hasSize(1);
    }

    @Test
    void theCoordinatorsOwnNodeEndsItsOtherServicesBeforeTheNodesItDependsOnStopAndSaysWhenItEnds() {
        nodes = new TestNodes(state, 1, 2);
        // What node.depends-on=2 does on node 1 (CoordinationExtension): a service lists the dependency.
        nodes.get(1).node.launch(() -> new dev.harbor.service.Service() {
            @Override
            public void init(dev.harbor.service.ServiceContext ctx) {
                ctx.tag(ClusterView.NODE_DEPENDS_ON_TAG, "2");
            }

            @Override
            public Object receive(dev.harbor.service.ServiceContext ctx, dev.harbor.service.Message m) {
                return null;
            }
        });
        Handle lobby = launch(1, "lobby-1", "lobby", Duration.ofSeconds(2), false);
        Handle stateless1 = stateless(1);
        awaitPlanWith(1);
        PlanResponse plan = nodes.coordinator(TestNodes.TOKEN).plan(PlanRequest.newBuilder().setBudgetMs(60_000).build());
        assertThat(plan.getStepsList().stream().filter(p -> p.getId().equals("node@2")).findFirst().orElseThrow().getAfterList())
                .as("node 1 depends on node 2, known from node 1's list of services alone").contains("node@1");

        List<ShutdownProgress> progress = follow(nodes.coordinator(TestNodes.TOKEN)
                .shutdown(ShutdownRequest.newBuilder().setBudgetMs(60_000).build()));

        Report report = report(progress);
        assertThat(report.getClean()).as("report %s", report).isTrue();
        StepFinished own = report.getStepsList().stream().filter(f -> f.getStep().equals("node@1")).findFirst().orElseThrow();
        assertThat(own.getDetail()).isEqualTo(CoordinatorService.ownNodeDetail(1));
        int node2Starts = -1;
        for (int i = 0; i < progress.size(); i++) {
            if (progress.get(i).hasStarted() && progress.get(i).getStarted().getStep().equals("node@2")) {
                node2Starts = i;
            }
        }
        assertThat(node2Starts).isPositive();
        // Every service of node 1 but the coordinator and its monitor had ended before node 2 began to stop.
        List<ExitEvent> beforeNode2 = exits(progress.subList(0, node2Starts));
        assertThat(indexOfExit(beforeNode2, stateless1)).isNotNegative();
        assertThat(indexOfExit(beforeNode2, lobby)).isNotNegative();
        assertThat(drained).containsExactly("lobby-1");
        await().atMost(WAIT).until(nodes.get(2).stopped::isDone);
        await().atMost(WAIT).until(nodes.get(1).stopped::isDone);
    }

    @Test
    void aNodeThatTheCoordinatorsNodeLostButWhoseOwnStreamAndAdminApiAnswerIsStoppedNotWrittenOff() {
        nodes = new TestNodes(state, 1, 2);
        Handle gw2 = launch(2, "gw-2", "gateway", Duration.ofMillis(500), false);
        awaitPlanWith(1);
        // Node 2's links end (as in a partition between nodes 1 and 2 only); its server, with its admin API
        // and exit stream, goes on.
        nodes.get(2).harbor.close();
        await().atMost(WAIT).until(() -> nodes.get(1).node.exits().find(gw2).isPresent());
        assertThat(nodes.get(1).node.exits().find(gw2).orElseThrow().reason()).as("node 1's transport declares node 2's services lost")
                .isEqualTo(dev.harbor.service.ExitReason.NODE_LOST);

        List<ShutdownProgress> progress = follow(nodes.coordinator(TestNodes.TOKEN)
                .shutdown(ShutdownRequest.newBuilder().setBudgetMs(30_000).build()));

        Report report = report(progress);
        assertThat(report.getStepsList()).as("report %s", report)
                .noneSatisfy(s -> assertThat(s.getOutcome()).isEqualTo(StepFinished.Outcome.LOST));
        StepFinished node2 = report.getStepsList().stream().filter(s -> s.getStep().equals("node@2")).findFirst().orElseThrow();
        assertThat(node2.getOutcome()).as("node 2 stopped through its admin API, confirmed by its own stream")
                .isEqualTo(StepFinished.Outcome.DONE);
        assertThat(report.getUnconfirmedList()).isEmpty();
        // The gateway could not get its Drain over the cut link: it was killed through the admin API at its timeout.
        ExitEvent gwExit = exits(progress).get(indexOfExit(exits(progress), gw2));
        assertThat(gwExit.getReason()).isEqualTo(dev.harbor.proto.ExitReason.KILLED);
        await().atMost(WAIT).until(nodes.get(2).stopped::isDone);
        assertThat(nodes.get(2).node.isStopped()).isTrue();
    }

    @Test
    void aNodeLostBeforeItsOwnLinkToTheCoordinatorsNodeWasUpEndsItsStepLostAtTheLossNotAtItsTimeout() throws Exception {
        // Node 2 holds no token: node 1's link to it comes up, its own link to node 1 is refused, so node 1's
        // transport never hears which services node 2 runs (as in a cluster still forming, where node 2 dies
        // before its own link is up). Its exit stream tells the coordinator.
        nodes = new TestNodes(state, new Plan.Timeouts(Duration.ofSeconds(2), Duration.ofSeconds(5)), Set.of(2), 1, 2);
        Handle cache = launch(2, "cache-2", "cache", Duration.ofSeconds(40), true); // ignores its Drain
        awaitPlanWith(1);
        await().atMost(WAIT).until(() -> nodes.get(1).harbor.connected().contains(2));
        assertThat(nodes.get(2).harbor.connected()).as("node 2's own link to node 1 is refused").doesNotContain(1);

        List<ShutdownProgress> progress = new CopyOnWriteArrayList<>();
        CompletableFuture<Void> run = CompletableFuture.runAsync(() -> nodes.coordinator(TestNodes.TOKEN)
                .shutdown(ShutdownRequest.newBuilder().setBudgetMs(120_000).build()).forEachRemaining(progress::add));
        await().atMost(WAIT).until(() -> progress.stream()
                .anyMatch(p -> p.hasStarted() && p.getStarted().getStep().startsWith("cache:")));
        nodes.get(2).server.shutdownNow(); // node 2 crashes: its links, admin API and exit stream end at once
        run.get(WAIT.toSeconds() * 2, java.util.concurrent.TimeUnit.SECONDS);

        Report report = report(progress);
        StepFinished step = report.getStepsList().stream().filter(s -> s.getStep().startsWith("cache:")).findFirst()
                .orElseThrow();
        assertThat(step.getOutcome()).as("report %s", report).isEqualTo(StepFinished.Outcome.LOST);
        // Node 1's transport loses node 2 after 3 s; the coordinator then ends what node 2's stream listed.
        assertThat(step.getDurationMs()).as("the cache step ends at node 2's loss, not at its 40 s drain timeout")
                .isLessThan(15_000);
        List<ExitEvent> cacheExits = exits(progress).stream().filter(e -> e.getHandle().getNode() == cache.node()
                && e.getHandle().getId() == cache.id()).toList();
        assertThat(cacheExits).singleElement().satisfies(e -> {
            assertThat(e.getReason()).isEqualTo(dev.harbor.proto.ExitReason.NODE_LOST);
            assertThat(e.getDetail()).contains("node 2 was lost by node 1's transport");
        });
        assertThat(report.getClean()).isFalse();
        assertThat(report.getStepsList().stream().filter(s -> s.getStep().equals("node@2")).findFirst().orElseThrow()
                .getOutcome()).isEqualTo(StepFinished.Outcome.LOST);
    }
}
