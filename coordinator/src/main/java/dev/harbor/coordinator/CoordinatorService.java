package dev.harbor.coordinator;

import dev.harbor.plan.Plan;
import dev.harbor.plan.PlanRefused;
import dev.harbor.plan.Registration;
import dev.harbor.plan.Step;
import dev.harbor.proto.CordonRequest;
import dev.harbor.proto.Drain;
import dev.harbor.proto.ExitEvent;
import dev.harbor.proto.ExitReason;
import dev.harbor.proto.KillRequest;
import dev.harbor.proto.ListServicesRequest;
import dev.harbor.proto.ListServicesResponse;
import dev.harbor.proto.PlanRequest;
import dev.harbor.proto.PlanResponse;
import dev.harbor.proto.PlannedStep;
import dev.harbor.proto.RegisterNode;
import dev.harbor.proto.RegisterService;
import dev.harbor.proto.Registered;
import dev.harbor.proto.ServiceInfo;
import dev.harbor.proto.ShutdownProgress;
import dev.harbor.proto.ShutdownRequest;
import dev.harbor.proto.StepFinished;
import dev.harbor.proto.StopRequest;
import dev.harbor.service.CallException;
import dev.harbor.service.Handle;
import dev.harbor.service.Message;
import dev.harbor.service.Monitor;
import dev.harbor.service.Service;
import dev.harbor.service.ServiceContext;
import dev.harbor.shutdown.OrderedExit;
import dev.harbor.wire.Wire;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.CompletionException;
import java.util.concurrent.TimeUnit;
import java.util.function.IntFunction;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The shutdown coordinator: an ordinary service, under the global name {@link OrderedExit#COORDINATOR}.
 *
 * <p>It learns which services need an ordered exit from their registrations (and from their tags in
 * each node's alive list, so a restarted coordinator knows them again), follows every node's exit
 * stream, and on a shutdown runs the {@link Plan}: each step is done when the exit event it waits for
 * arrives, never on a reply; a step that overruns its timeout is escalated (its services killed); a
 * step whose node is lost ends as lost and the run goes on.
 *
 * <p>Threading: everything here runs in the service's handlers, one at a time: feed items, API
 * requests, timer ticks and admin answers all arrive as messages. Timer ticks are messages to itself
 * ({@link ServiceContext#after}, on the node's scheduler); gRPC callbacks only send messages to this
 * service (or schedule one, for the Drain's retry).
 */
public final class CoordinatorService implements Service {
    private static final Logger log = LoggerFactory.getLogger(CoordinatorService.class);
    /**
     * What one stateless service may add to its node's stateless step: ending it and confirming its
     * exit event took 0.6 to 0.75 ms each with 3,333 per node on a busy 2-core machine
     * ({@code ShutdownOverhead}, BENCHMARKS.md), where the default 2 s step escalated now and then.
     */
    static final Duration PER_STATELESS_SERVICE = Duration.ofMillis(1);

    /** Settings of a coordinator. */
    public record Settings(Duration defaultBudget, Plan.Timeouts timeouts, Duration escalationGrace, RunRecord record,
            CoordinatorMetrics metrics) {
    }

    /** Starts or joins a run; the answer is a {@link Started}. */
    record Start(ShutdownRequest request, Run.ProgressListener listener) {
    }

    /** The plan of the run started or joined (or refused, or the dry run's), and whether it was joined. */
    record Started(PlanResponse plan, boolean joined, boolean refused) {
    }

    /** Stops following a run. */
    record Detach(Run.ProgressListener listener) {
    }

    private record StepTimeout(String run, String step, int phase) {
    }

    private record StatelessList(String run, String step, ListServicesResponse list) {
    }

    private record ResumeNow() {
    }

    /** A Shutdown waiting for the streams of known nodes to be in, until {@code deadlineNanos}. */
    private record WaitingStart(Start start, dev.harbor.service.DeferredReply reply, long deadlineNanos) {
    }

    private record StartsDue() {
    }

    /** How long a Shutdown waits for a known node's exit stream that is reconnecting: its subscriber retries within 2 s. */
    static final Duration STREAM_WAIT = Duration.ofSeconds(3);

    private record SendDrain(String run, String step) {
    }

    /** Asks a lost or unreachable node to stop (again): see {@link #askLostNode}. */
    private record AskLostNode(String run, String step) {
    }

    /** The run has ended and its report has had a moment to reach its followers: stop this node too. */
    private record StopOwnNode() {
    }

    /** How long after its report the run stops the coordinator's own node, so the report reaches its followers first. */
    private static final Duration OWN_NODE_STOP_DELAY = Duration.ofMillis(200);

    /** How soon a Drain that could not be delivered (the link to its node is still forming) is sent again. */
    private static final Duration DRAIN_RETRY = Duration.ofMillis(200);

    /** A lost node's answer to a Stop: {@code why} null if it took the stop. */
    private record LostNodeAnswered(String run, String step, String why, boolean processGone) {
    }

    /** How often a lost node whose address still holds its connections (paused, cut off) is asked to stop again. */
    private static final Duration ASK_LOST_NODE_EVERY = Duration.ofMillis(500);

    private final Settings settings;
    private final IntFunction<AdminClient> admin;
    private final ClusterView view = new ClusterView();
    /** Shutdown streams that joined a recorded run before this restarted coordinator resumed it. */
    private final List<Run.ProgressListener> awaitingResume = new ArrayList<>();
    private final List<WaitingStart> waitingStarts = new ArrayList<>();
    private ServiceContext ctx;
    private Run run;
    private RunRecord.Saved toResume;

    /**
     * @param admin the admin API of a node, by id (the address comes from its exit stream)
     */
    CoordinatorService(Settings settings, IntFunction<AdminClient> admin) {
        this.settings = settings;
        this.admin = admin;
    }

    @Override
    public void init(ServiceContext context) {
        this.ctx = context;
        context.register(OrderedExit.COORDINATOR);
        if (settings.record() != null) {
            toResume = settings.record().load();
            if (toResume != null) {
                log.warn("coordinator: found unfinished run {}; it resumes once the nodes' exit streams are in", toResume.id());
                later(Duration.ofSeconds(10), new ResumeNow());
            }
        }
    }

    @Override
    public Object receive(ServiceContext context, Message m) throws Exception {
        Object p = m.payload();
        return switch (p) {
            case Feed.Identity id -> {
                view.identity(id);
                yield null;
            }
            case Feed.Alive a -> {
                view.alive(a);
                yield null;
            }
            case Feed.CaughtUp c -> {
                for (ServiceInfo gone : view.caughtUp(c.node())) {
                    // Of an earlier life, and not listed by the current one: the node's own word that it is gone.
                    onExit(ExitEvent.newBuilder().setHandle(gone.getHandle()).setNode(c.node()).setReason(ExitReason.NODE_LOST)
                            .addAllNames(gone.getNamesList()).setDetail("node " + c.node()
                                    + " came back as a new life that does not list this service of its earlier life").build());
                }
                maybeResume(false);
                startWaiting();
                yield null;
            }
            case Feed.Known k -> {
                view.known(k.address());
                yield null;
            }
            case Feed.Disconnected d -> {
                disconnected(d);
                yield null;
            }
            case Feed.Unreachable u -> {
                unreachable(u);
                yield null;
            }
            case Feed.Listed l -> {
                view.listed(l);
                yield null;
            }
            case Feed.Exit e -> {
                exitFed(e);
                yield null;
            }
            case RegisterService r -> register(m.from(), r);
            case RegisterNode r -> {
                Set<Integer> on = new HashSet<>();
                for (int d : r.getDependsOnList()) {
                    on.add(nodeId(d, "depends_on"));
                }
                view.nodeDependencies().put(nodeId(r.getNode(), "node"), on);
                yield Registered.newBuilder().setCoordinator(context.self().toString()).build();
            }
            case PlanRequest r -> plan(budgetOf(r.getBudgetMs()), r.getNodesList());
            case ShutdownRequest r -> {
                // A node asks for its own ordered stop (it got SIGTERM): run or join, answer with the plan. A
                // run in progress that stops that node anyway is joined, whatever its scope and budget.
                if (run != null && !run.ended && run.plan.nodes().containsAll(r.getNodesList())) {
                    yield Run.describe(run.plan, run.budget, settings.escalationGrace(), "");
                }
                Started started = start(new Start(r, null));
                if (started.refused()) {
                    throw new IllegalStateException("shutdown refused: " + started.plan().getRefusal());
                }
                yield started.plan();
            }
            case Start s -> {
                if (toResume == null && (run == null || run.ended) && !s.request().getDryRun() && !streamsIn()) {
                    // A known node's stream is reconnecting (a node restarted, a link came back): wait for it a
                    // little, so the plan is made over its current life rather than a stale view of it.
                    waitingStarts.add(new WaitingStart(s, m.defer(), System.nanoTime() + STREAM_WAIT.toNanos()));
                    later(STREAM_WAIT, new StartsDue());
                    yield null;
                }
                yield start(s);
            }
            case StartsDue d -> {
                startWaiting();
                yield null;
            }
            case Detach d -> {
                if (run != null) {
                    run.listeners.remove(d.listener());
                }
                yield null;
            }
            case StepTimeout t -> {
                timeout(t);
                yield null;
            }
            case StatelessList l -> {
                statelessListed(l);
                yield null;
            }
            case ResumeNow r -> {
                maybeResume(true);
                yield null;
            }
            case SendDrain d -> {
                sendDrain(d);
                yield null;
            }
            case AskLostNode a -> {
                askLostNode(a);
                yield null;
            }
            case LostNodeAnswered a -> {
                lostNodeAnswered(a);
                yield null;
            }
            case StopOwnNode s -> {
                int own = ctx.self().node();
                admin.apply(own).stop(StopRequest.getDefaultInstance(),
                        error -> log.warn("coordinator: this node did not take its stop: {}", error));
                yield null;
            }
            default -> throw new IllegalArgumentException("the coordinator does not understand a " + p.getClass().getName());
        };
    }

    // ------------------------------------------------------------------ registration

    private Registered register(Handle from, RegisterService r) {
        if (from == null) {
            throw new IllegalArgumentException("a registration must come from the service itself, not from outside");
        }
        ClusterView.NodeState node = view.nodes().get(from.node());
        // A registration comes from the service itself, so it is alive: refuse it only if its own exit
        // was reported. Its node may have been reported lost a moment ago: a new life of the node (in
        // its process, or a restarted one) registers its services before their stream says so.
        if (node != null && node.exited.contains(from)) {
            throw new IllegalStateException("service " + from + " registers after its exit was reported (its node "
                    + from.node() + " was lost, or it ended): a service of a new life registers under its new handle");
        }
        ServiceInfo known = node == null ? null : node.alive.get(from);
        String role = known == null ? null : known.getTagsMap().get(OrderedExit.ROLE_TAG);
        // The service tags itself before it sends this, so the node's list may carry the same role already.
        if (role != null && !role.equals(r.getRole())) {
            throw new IllegalStateException("service " + from + " is already registered as role " + role);
        }
        ServiceInfo.Builder info = known == null
                ? ServiceInfo.newBuilder().setHandle(Wire.handle(from)) : known.toBuilder();
        info.putTags(OrderedExit.ROLE_TAG, r.getRole()).putTags(OrderedExit.DRAIN_TIMEOUT_TAG, Integer.toUnsignedString(r.getDrainTimeoutMs()));
        if (r.getDependsOnCount() > 0) {
            info.putTags(OrderedExit.DEPENDS_ON_TAG, String.join(",", r.getDependsOnList()));
        }
        view.alive(new Feed.Alive(from.node(), info.build()));
        log.info("coordinator: {} registered as {} (drain {} ms, depends on {})", from, r.getRole(), Integer.toUnsignedLong(r.getDrainTimeoutMs()),
                r.getDependsOnList());
        return Registered.newBuilder().setCoordinator(ctx.self().toString()).build();
    }

    // ------------------------------------------------------------------ planning

    /** A node id from the wire (a uint32), checked to be 1-65535; the error shows it unsigned. */
    private static int nodeId(int wire, String field) {
        if (wire < 1 || wire > dev.harbor.service.Handle.MAX_NODE) {
            throw new IllegalArgumentException(field + ": node id " + Integer.toUnsignedString(wire) + " is out of range 1-"
                    + dev.harbor.service.Handle.MAX_NODE);
        }
        return wire;
    }

    private Duration budgetOf(int ms) {
        return Run.budgetOf(ms, settings.defaultBudget());
    }

    private PlanResponse plan(Duration budget, List<Integer> scope) {
        try {
            Plan p = makePlan(scope);
            try {
                p.checkBudget(budget, settings.escalationGrace());
                return Run.describe(p, budget, settings.escalationGrace(), "");
            } catch (PlanRefused e) {
                return Run.describe(p, budget, settings.escalationGrace(), e.getMessage());
            }
        } catch (PlanRefused e) {
            return PlanResponse.newBuilder().setBudgetMs((int) budget.toMillis()).setRefusal(e.getMessage()).build();
        }
    }

    private Plan makePlan(List<Integer> scope) throws PlanRefused {
        List<Registration> regs = new ArrayList<>();
        view.registered().forEach((h, s) -> {
            Map<String, String> tags = s.getTagsMap();
            try {
                regs.add(new Registration(h, tags.get(OrderedExit.ROLE_TAG), Set.copyOf(OrderedExit.dependsOn(tags)),
                        Duration.ofMillis(Long.parseLong(tags.getOrDefault(OrderedExit.DRAIN_TIMEOUT_TAG, "0")))));
            } catch (IllegalArgumentException e) {
                log.warn("coordinator: ignoring the malformed registration of {}: {}", h, e.getMessage());
            }
        });
        if (!view.anyCaughtUp()) {
            throw new PlanRefused("no node's exit stream is in yet: the coordinator cannot see the cluster; try again shortly");
        }
        return Plan.of(regs, view.nodeDependencies(), view.knownNodes(), new LinkedHashSet<>(scope), settings.timeouts());
    }

    // ------------------------------------------------------------------ running

    private Started start(Start s) {
        Duration budget = budgetOf(s.request().getBudgetMs());
        Set<Integer> scope = new java.util.TreeSet<>(s.request().getNodesList());
        if (toResume != null) {
            // A restarted coordinator finishes the recorded run before any other; it resumes once every
            // node's stream is in (their backlogs tell which steps finished while it was down).
            PlanResponse saved = toResume.plan();
            String differs = differs(toResume.id(), Set.copyOf(saved.getNodesList()), null,
                    Duration.ofMillis(toResume.budgetMs()), scope, budget);
            if (differs != null) {
                return s.request().getDryRun() ? new Started(saved, false, false)
                        : new Started(saved.toBuilder().setRefusal(differs).build(), false, true);
            }
            if (s.request().getDryRun()) {
                return new Started(saved, true, false);
            }
            if (s.listener() != null) {
                s.listener().onProgress(ShutdownProgress.newBuilder().setPlan(saved)
                        .setAtMs(Math.max(0, System.currentTimeMillis() - toResume.startEpochMs())).build());
                awaitingResume.add(s.listener());
            }
            return new Started(saved, true, false);
        }
        if (run != null && !run.ended) {
            String differs = differs(run.id, run.plan.nodes(), run.scope, run.budget, scope, budget);
            if (differs != null) {
                // A dry run still answers (with the running run's plan); a real one is refused, touching nothing.
                return s.request().getDryRun() ? new Started(Run.describe(run.plan, run.budget, settings.escalationGrace(), ""), false, false)
                        : new Started(Run.describe(run.plan, run.budget, settings.escalationGrace(), differs), false, true);
            }
            if (!s.request().getDryRun()) {
                join(s.listener());
            }
            return new Started(Run.describe(run.plan, run.budget, settings.escalationGrace(), ""), true, false);
        }
        Plan plan;
        try {
            plan = makePlan(s.request().getNodesList());
            plan.checkBudget(budget, settings.escalationGrace());
        } catch (PlanRefused e) {
            PlanResponse refused = plan(budget, s.request().getNodesList());
            if (refused.getRefusal().isEmpty()) {
                refused = refused.toBuilder().setRefusal(e.getMessage()).build();
            }
            return new Started(refused, false, true);
        }
        PlanResponse described = Run.describe(plan, budget, settings.escalationGrace(), "");
        if (s.request().getDryRun()) {
            return new Started(described, false, false);
        }
        run = new Run(UUID.randomUUID().toString(), plan, budget);
        run.scope = scope;
        settings.metrics().runStarted();
        if (settings.record() != null) {
            settings.record().begin(run.id, (int) budget.toMillis(), run.startEpochMs, described);
        }
        log.info("coordinator: shutdown run {} starts: {} steps over nodes {}, critical path {} ms, budget {} ms", run.id,
                plan.steps().size(), plan.nodes(), plan.criticalPath().toMillis(), budget.toMillis());
        join(s.listener());
        run.emit(ShutdownProgress.newBuilder().setPlan(described));
        advance();
        return new Started(described, false, false);
    }

    /** Whether every known node's exit stream is connected and caught up. */
    private boolean streamsIn() {
        return view.knownNodes().stream().map(view::node).allMatch(n -> n.streamUp && n.caughtUp);
    }

    /** Starts (or joins) the waiting Shutdowns once the streams are in or their wait is over, in arrival order. */
    private void startWaiting() {
        if (waitingStarts.isEmpty()) {
            return;
        }
        boolean in = streamsIn();
        long now = System.nanoTime();
        while (!waitingStarts.isEmpty() && (in || now - waitingStarts.get(0).deadlineNanos() >= 0
                || (run != null && !run.ended))) {
            WaitingStart w = waitingStarts.remove(0);
            w.reply().reply(start(w.start()));
        }
    }

    /**
     * Why a Shutdown for {@code scope} within {@code budget} cannot join the run {@code id} in progress, or
     * null if it asks for the same. A recorded run (resumed after a restart) kept no scope: a request
     * for all nodes or for exactly the run's nodes joins it.
     */
    private static String differs(String id, Set<Integer> runNodes, Set<Integer> runScope, Duration runBudget,
            Set<Integer> scope, Duration budget) {
        boolean sameScope = runScope != null ? runScope.equals(scope) : scope.isEmpty() || scope.equals(new java.util.TreeSet<>(runNodes));
        if (sameScope && runBudget.equals(budget)) {
            return null;
        }
        return "shutdown run " + id + " is in progress over nodes " + new java.util.TreeSet<>(runNodes)
                + (runScope == null || runScope.isEmpty() ? " (all nodes)" : " (scope " + runScope + ")") + " with a budget of "
                + runBudget.toMillis() + " ms; this request asks for " + (scope.isEmpty() ? "all nodes" : "nodes " + scope)
                + " with a budget of " + budget.toMillis() + " ms. Follow that run with the same scope and budget,"
                + " or wait for its report and ask again";
    }

    private void join(Run.ProgressListener l) {
        if (l == null) {
            return;
        }
        for (ShutdownProgress p : run.history) {
            l.onProgress(p);
        }
        if (run.ended) {
            l.onEnd();
        } else {
            run.listeners.add(l);
        }
    }

    private void advance() {
        boolean progressed = true;
        while (progressed && !run.ended) {
            progressed = false;
            for (Run.StepState s : run.ready()) {
                startStep(s);
                progressed = true;
            }
        }
        if (!run.ended && run.allFinished()) {
            end();
        }
    }

    private void startStep(Run.StepState s) {
        run.started(s);
        Step step = s.step;
        if (step.kind() == Step.Kind.BARRIER) {
            finish(s, StepFinished.Outcome.DONE, "");
            return;
        }
        ClusterView.NodeState node = view.node(step.node());
        if (stopsAnotherNode(step) && (node.lost || (!node.streamUp && node.unreachable != null))) {
            later(step.timeout(), new StepTimeout(run.id, step.id(), 0));
            askLostNode(new AskLostNode(run.id, step.id()));
            return;
        }
        if (node.lost) {
            finish(s, StepFinished.Outcome.LOST, "node " + step.node() + " was lost");
            return;
        }
        if (!node.streamUp && node.unreachable != null) {
            finish(s, StepFinished.Outcome.LOST, "node " + step.node() + " cannot be reached: " + node.unreachable);
            return;
        }
        if (run.cordoned.add(step.node())) {
            // The node begins to drain now: its health turns NOT_SERVING so balancers send it no new work.
            // Not waited for: the step's proof is still its exit events.
            int cordoned = step.node();
            admin.apply(cordoned).cordon(CordonRequest.getDefaultInstance(),
                    error -> log.warn("coordinator: node {} did not take the Cordon (its health may still say SERVING): {}",
                            cordoned, error));
        }
        switch (step.kind()) {
            case BARRIER -> throw new AssertionError("barriers finish above");
            case DRAIN -> {
                // Gone only if seen gone: a node whose stream is not in (after a restart) proves nothing.
                if (!view.isAlive(step.service()) && (node.caughtUp || node.exited.contains(step.service()))) {
                    finish(s, StepFinished.Outcome.DONE, "it had exited already");
                    return;
                }
                s.waitingFor.add(step.service());
                sendDrain(new SendDrain(run.id, step.id()));
                later(step.timeout(), new StepTimeout(run.id, step.id(), 0));
            }
            case STATELESS -> listToEnd(s);
            case NODE -> {
                if (step.node() == ctx.self().node()) {
                    // This node hosts the coordinator, which must live to send the report: the step ends every
                    // other service of the node (confirmed by their exit events) before the nodes it depends on
                    // are stopped; the node itself stops right after the report (see end()).
                    s.doneDetail = ownNodeDetail(step.node());
                    listToEnd(s);
                    return;
                }
                Handle monitor = node.monitor;
                if (monitor == null) {
                    finish(s, StepFinished.Outcome.LOST, "the coordinator has not seen node " + step.node()
                            + "'s exit stream, so it cannot confirm the node's stop");
                    return;
                }
                if (!view.isAlive(monitor)) {
                    finish(s, StepFinished.Outcome.DONE, "the node had stopped already");
                    return;
                }
                s.waitingFor.add(monitor);
                admin.apply(step.node()).stop(StopRequest.getDefaultInstance(),
                        error -> log.warn("coordinator: node {} did not take the stop: {}", step.node(), error));
                later(step.timeout(), new StepTimeout(run.id, step.id(), 0));
            }
        }
    }

    /**
     * The node step of a node its peers declared lost, or that could not be reached. Lost is not
     * stopped: a paused or cut-off process comes back (in a new life, which relaunches its services) and
     * would run on with nobody to stop it. So until the step's timeout and escalation grace run out, the node is asked to stop: every
     * {@link #ASK_LOST_NODE_EVERY} while its address holds calls unanswered, and no more once nothing
     * listens there (its process is gone). A new life listed by its own stream is waited for like any
     * node: its monitor's exit confirms the stop.
     */
    private void askLostNode(AskLostNode a) {
        Run.StepState s = openStep(a.run(), a.step());
        if (s == null) {
            return;
        }
        int id = s.step.node();
        if (waitForNewLife(s)) {
            admin.apply(id).stop(StopRequest.getDefaultInstance(),
                    error -> log.warn("coordinator: node {} did not take the stop: {}", id, error));
            return;
        }
        s.askingLostNode = true;
        Handle self = ctx.self();
        admin.apply(id).stop(StopRequest.getDefaultInstance(),
                () -> ctx.node().send(self, new LostNodeAnswered(a.run(), a.step(), null, false)),
                (why, gone) -> ctx.node().send(self, new LostNodeAnswered(a.run(), a.step(), why, gone)));
    }

    private void lostNodeAnswered(LostNodeAnswered a) {
        Run.StepState s = openStep(a.run(), a.step());
        if (s == null || !s.waitingFor.isEmpty()) {
            return;
        }
        int id = s.step.node();
        if (a.why() == null) {
            if (waitForNewLife(s)) {
                return;
            }
            log.warn("coordinator: node {} {}, then answered again and took the stop", id, lostOrUnreachable(id));
            finish(s, StepFinished.Outcome.LOST, "node " + id + " " + lostOrUnreachable(id) + ", then answered again and took"
                    + " the stop; no exit event of its own confirms that it stopped");
            advance();
        } else if (a.processGone()) {
            finish(s, StepFinished.Outcome.LOST, "node " + id + " " + lostOrUnreachable(id) + " and nothing listens at its"
                    + " address any more: " + a.why());
            advance();
        } else {
            later(ASK_LOST_NODE_EVERY, new AskLostNode(a.run(), a.step()));
        }
    }

    private String lostOrUnreachable(int id) {
        ClusterView.NodeState n = view.node(id);
        return n.lost || n.unreachable == null ? "was lost" : "could not be reached (" + n.unreachable + ")";
    }

    /** A lost node whose new life its own stream lists: the step waits for that life's monitor to exit. */
    private boolean waitForNewLife(Run.StepState s) {
        ClusterView.NodeState n = view.node(s.step.node());
        if (n.monitor == null || !view.isAlive(n.monitor)) {
            return false;
        }
        s.waitingFor.add(n.monitor);
        s.doneDetail = "node " + s.step.node() + " was lost, came back in a new life and stopped";
        return true;
    }

    /** A node step for a node other than the coordinator's own (which stops only after the report). */
    private boolean stopsAnotherNode(Step step) {
        return step.kind() == Step.Kind.NODE && step.node() != ctx.self().node();
    }

    /** The step of the current run, if it is started and not finished yet. */
    private Run.StepState openStep(String runId, String stepId) {
        if (run == null || !run.id.equals(runId)) {
            return null;
        }
        Run.StepState s = run.steps.get(stepId);
        return s == null || !s.started || s.finished ? null : s;
    }

    /** Lists the step's node's services to end them (see {@link #statelessListed}); the step times out as planned. */
    private void listToEnd(Run.StepState s) {
        String runId = run.id;
        Step step = s.step;
        Handle self = ctx.self();
        admin.apply(step.node()).list(ListServicesRequest.getDefaultInstance(),
                list -> ctx.node().send(self, new StatelessList(runId, step.id(), list)),
                error -> log.warn("coordinator: cannot list the services of node {}: {}", step.node(), error));
        later(step.timeout(), new StepTimeout(run.id, step.id(), 0));
    }

    static String ownNodeDetail(int node) {
        return "every service of node " + node + " but the coordinator (and the node's monitor, which records the last"
                + " exits) has ended; node " + node + " itself stops 200 ms after this report is sent, and its process"
                + " exits once the node has stopped";
    }

    /**
     * Sends a step's service its Drain, as a call so that a Drain that cannot be delivered yet (the
     * link to its node is still forming) is known and sent again shortly. Whether the call is answered
     * does not matter: the step ends at the exit event.
     */
    private void sendDrain(SendDrain d) {
        if (run == null || !run.id.equals(d.run())) {
            return;
        }
        Run.StepState s = run.steps.get(d.step());
        if (s == null || s.finished) {
            return;
        }
        Handle service = s.step.service();
        ServiceContext context = ctx;
        ctx.node().call(service, Drain.newBuilder().setRunId(run.id).setTimeoutMs(s.step.timeout().toMillis()).build(),
                s.step.timeout()).whenComplete((answer, error) -> {
                    Throwable e = error instanceof CompletionException c ? c.getCause() : error;
                    if (e instanceof CallException ce && ce.failure() == CallException.Failure.UNREACHABLE) {
                        context.after(DRAIN_RETRY, d); // from the call's completion thread: after may be called from any
                    }
                });
    }

    private void statelessListed(StatelessList l) {
        if (run == null || !run.id.equals(l.run())) {
            return;
        }
        Run.StepState s = run.steps.get(l.step());
        if (s == null || s.finished) {
            return;
        }
        // The stateless step leaves registered services to their own steps; the coordinator's own node step
        // ends whatever is left on its node but the coordinator and the monitor.
        boolean everything = s.step.kind() == Step.Kind.NODE;
        dev.harbor.proto.KillManyRequest.Builder kill = dev.harbor.proto.KillManyRequest.newBuilder();
        for (ServiceInfo info : l.list().getServicesList()) {
            Handle h = Wire.handle(info.getHandle());
            Map<String, String> tags = info.getTagsMap();
            if (h.equals(ctx.self()) || tags.containsKey(Monitor.TAG) || (!everything && tags.containsKey(OrderedExit.ROLE_TAG))
                    || view.node(h.node()).exited.contains(h)) {
                continue;
            }
            view.alive(new Feed.Alive(h.node(), info));
            s.waitingFor.add(h);
            kill.addHandles(info.getHandle());
        }
        if (kill.getHandlesCount() > 0) {
            extendForMany(s, kill.getHandlesCount());
            // One request for the lot: a node with thousands of stateless services gets one call, not thousands.
            admin.apply(s.step.node()).killMany(kill.build(),
                    error -> log.warn("coordinator: node {} did not take the kills: {}", s.step.node(), error));
        }
        if (s.waitingFor.isEmpty()) {
            finish(s, StepFinished.Outcome.DONE, everything ? s.doneDetail : "no stateless service was left");
            advance();
        }
    }

    /**
     * Gives a stateless step with thousands of services {@link #PER_STATELESS_SERVICE} for each, where its
     * timeout gives less, so a big node is not escalated for being big; as far as the budget's spare
     * time allows (the budget minus the plan's worst case), so the run still fits the budget it was
     * checked against. A path through the plan holds at most one stateless step, so each may use all
     * of the spare time. Known once the node has listed its services: a listing slower than the step's
     * own timeout (2 s by default) leaves the step escalated as before.
     */
    private void extendForMany(Run.StepState s, int services) {
        Duration wanted = PER_STATELESS_SERVICE.multipliedBy(services).minus(s.step.timeout());
        Duration spare = run.budget.minus(run.plan.worstCase(settings.escalationGrace()));
        Duration extension = wanted.compareTo(spare) < 0 ? wanted : spare;
        if (extension.isNegative() || extension.isZero()) {
            return;
        }
        s.extension = extension;
        log.info("coordinator: step {} ends {} services (listed {} ms into the step): its timeout grows from {} to {} ms"
                + " (the budget has {} ms to spare)", s.step.id(), services,
                TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - s.startedNanos), s.step.timeout().toMillis(),
                s.step.timeout().plus(extension).toMillis(), spare.toMillis());
    }

    /**
     * Takes in an exit event from a node's stream. A node's own events (and the NODE_LOST its subscriber
     * synthesises for an earlier life) are believed. A NODE_LOST verdict of this coordinator's own
     * node's transport about another node is held back while that node's own exit stream or admin API
     * answers (its admin API is asked at once): a node its peers lost sight of (a pause, a partition
     * from the coordinator's node only) is judged by its own word, and stopped through its admin API.
     * Verdicts of other nodes' transports are not used.
     */
    private void exitFed(Feed.Exit e) {
        ExitEvent event = e.event();
        int about = event.getHandle().getNode();
        if (event.getReason() != ExitReason.NODE_LOST || e.node() == about) {
            onExit(event);
            return;
        }
        if (e.node() != ctx.self().node() || about == ctx.self().node()) {
            return;
        }
        ClusterView.NodeState n = view.node(about);
        if (!n.streamUp && n.unreachable != null) {
            onExit(event);
            return;
        }
        n.heldLosses.put(Wire.handle(event.getHandle()), event);
        // Asked even while its stream looks up: a stream cut off without a word (a link blackholed) stays
        // "up" until its keepalive notices, and the verdict would wait that long.
        verify(about, n.address);
    }

    /** A node's stream went down: if its admin API does not answer either, it is unreachable. */
    private void disconnected(Feed.Disconnected d) {
        view.disconnected(d.address(), d.node() == 0 ? null : d.node(), d.why());
        if (d.node() != 0) {
            verify(d.node(), d.address());
        }
    }

    private void verify(int id, String address) {
        Handle self = ctx.self();
        admin.apply(id).probe(error -> ctx.node().send(self, new Feed.Unreachable(id, address, error)));
    }

    /**
     * A node did not answer its admin API: the transport's verdicts held back about it apply now; if its
     * stream is down too, it is unreachable.
     */
    private void unreachable(Feed.Unreachable u) {
        ClusterView.NodeState n = view.node(u.node());
        if (n.streamUp && n.heldLosses.isEmpty()) {
            return; // it came back meanwhile, or nothing waits on the answer
        }
        if (!n.streamUp) {
            boolean news = n.unreachable == null;
            n.unreachable = "its exit stream at " + u.address() + " is down and its admin API did not answer: " + u.why();
            if (news) {
                log.warn("coordinator: node {}: {}", u.node(), n.unreachable);
            }
        } else {
            log.warn("coordinator: node {}: its admin API did not answer ({}) after its peers lost it: their verdict stands",
                    u.node(), u.why());
        }
        for (ExitEvent held : List.copyOf(n.heldLosses.values())) {
            onExit(held);
        }
        n.heldLosses.clear();
    }

    private void onExit(ExitEvent e) {
        boolean first = view.exit(e);
        if (run == null || run.ended || !first) {
            return;
        }
        run.emit(ShutdownProgress.newBuilder().setExit(e));
        Handle h = Wire.handle(e.getHandle());
        boolean changed = false;
        for (Run.StepState s : run.steps.values()) {
            if (s.started && !s.finished && s.waitingFor.remove(h)) {
                if (e.getReason() == ExitReason.NODE_LOST && stopsAnotherNode(s.step)) {
                    askLostNode(new AskLostNode(run.id, s.step.id())); // its monitor: lost, not stopped
                    continue;
                }
                s.lost |= e.getReason() == ExitReason.NODE_LOST;
                if (s.waitingFor.isEmpty()) {
                    StepFinished.Outcome o = s.lost ? StepFinished.Outcome.LOST
                            : s.escalated ? StepFinished.Outcome.ESCALATED : StepFinished.Outcome.DONE;
                    finish(s, o, s.lost ? "node " + h.node() + " was lost" : s.escalated ? "killed at its timeout" : s.doneDetail);
                    changed = true;
                }
            }
        }
        if (changed) {
            advance();
        }
    }

    private void timeout(StepTimeout t) {
        if (run == null || !run.id.equals(t.run())) {
            return;
        }
        Run.StepState s = run.steps.get(t.step());
        if (s == null || s.finished) {
            return;
        }
        if (t.phase() == 0 && !s.extended && s.extension.isPositive()) {
            s.extended = true;
            later(s.extension, t);
            return;
        }
        if (t.phase() == 0) {
            s.escalated = true;
            settings.metrics().escalated();
            log.warn("coordinator: step {} overran its {} ms; escalating", s.step.id(), s.step.timeout().toMillis());
            switch (s.step.kind()) {
                case NODE -> {
                    if (s.step.node() == ctx.self().node()) {
                        s.waitingFor.forEach(this::kill); // the coordinator's node: its services, not the node
                    } else if (!s.askingLostNode) { // a lost node is asked again and again already
                        admin.apply(s.step.node()).stop(StopRequest.getDefaultInstance(),
                                error -> log.warn("coordinator: node {} did not take the stop: {}", s.step.node(), error));
                    }
                }
                case DRAIN -> s.waitingFor.forEach(this::kill);
                // The stateless services were killed when the step started; their exit events are on the way.
                case STATELESS, BARRIER -> { }
            }
            later(settings.escalationGrace(), new StepTimeout(t.run(), t.step(), 1));
            return;
        }
        finish(s, StepFinished.Outcome.LOST, s.waitingFor.isEmpty() && s.step.kind() == Step.Kind.STATELESS
                ? "node " + s.step.node() + "'s services could not be listed to end them (its admin API did not answer)"
                : s.waitingFor.isEmpty() && s.askingLostNode
                ? "node " + s.step.node() + " " + lostOrUnreachable(s.step.node()) + " and did not answer a stop before its step's"
                        + " timeout and escalation grace"
                : "no exit event came for " + s.waitingFor + " even after escalation");
        advance();
    }

    private void kill(Handle h) {
        admin.apply(h.node()).kill(KillRequest.newBuilder().setHandle(Wire.handle(h)).build(),
                error -> log.warn("coordinator: could not kill {}: {}", h, error));
    }

    private void finish(Run.StepState s, StepFinished.Outcome outcome, String detail) {
        run.finished(s, outcome, detail);
        settings.metrics().stepFinished(s.step.kind(), outcome, s.started ? s.finishedNanos - s.startedNanos : 0);
        if (settings.record() != null) {
            settings.record().finished(s.step.id(), outcome);
        }
    }

    private void end() {
        run.ended = true;
        var report = unconfirmed(run.report());
        settings.metrics().runEnded(report.getClean());
        run.emit(ShutdownProgress.newBuilder().setReport(report));
        for (Run.ProgressListener l : List.copyOf(run.listeners)) {
            l.onEnd();
        }
        run.listeners.clear();
        if (settings.record() != null) {
            settings.record().end(run.id);
        }
        log.info("coordinator: shutdown run {} ended in {} ms ({})", run.id, report.getTotalMs(),
                report.getClean() ? "clean" : "not clean");
        if (run.plan.nodes().contains(ctx.self().node())) {
            // Give the report a moment to reach its followers, then stop this node too.
            later(OWN_NODE_STOP_DELAY, new StopOwnNode());
        }
    }

    /**
     * Names in the report each node of the plan the run could not confirm stopped and why (the run is
     * then not clean), and each followed address where no node ever answered (no node is known there,
     * so these do not make a run unclean).
     */
    private dev.harbor.proto.Report unconfirmed(dev.harbor.proto.Report report) {
        dev.harbor.proto.Report.Builder b = report.toBuilder();
        for (Run.StepState s : run.steps.values()) {
            if (s.step.kind() == Step.Kind.NODE && s.outcome != StepFinished.Outcome.DONE) {
                ClusterView.NodeState n = view.node(s.step.node());
                b.addUnconfirmed("node " + s.step.node() + (n.address == null ? "" : " at " + n.address) + ": " + s.outcome
                        + (s.detail.isEmpty() ? "" : ", " + s.detail)
                        + (n.unreachable == null || s.detail.contains(n.unreachable) ? "" : "; " + n.unreachable));
            }
        }
        view.unidentified().forEach((address, why) -> b.addUnanswered(address + ": " + why));
        if (b.getUnconfirmedCount() > 0) {
            b.setClean(false);
        }
        return b.build();
    }

    // ------------------------------------------------------------------ resuming after a restart

    private void maybeResume(boolean deadlinePassed) {
        if (toResume == null) {
            return;
        }
        Set<Integer> needed = new HashSet<>(toResume.plan().getNodesList());
        boolean allIn = needed.stream().allMatch(n -> view.node(n).caughtUp || view.node(n).lost);
        if (!allIn && !deadlinePassed) {
            return;
        }
        RunRecord.Saved saved = toResume;
        toResume = null;
        List<Step> steps = new ArrayList<>();
        for (PlannedStep p : saved.plan().getStepsList()) {
            steps.add(new Step(p.getId(), Step.Kind.valueOf(p.getKind().name()), p.getNode(),
                    p.hasService() ? Wire.handle(p.getService()) : null, p.getRole().isEmpty() ? null : p.getRole(),
                    Duration.ofMillis(p.getTimeoutMs()), new LinkedHashSet<>(p.getAfterList())));
        }
        run = new Run(saved.id(), Plan.restore(steps), Duration.ofMillis(Integer.toUnsignedLong(saved.budgetMs())), saved.startEpochMs());
        settings.metrics().runStarted();
        run.emit(ShutdownProgress.newBuilder().setPlan(saved.plan()));
        run.listeners.addAll(awaitingResume); // they were given the plan when they joined
        awaitingResume.clear();
        saved.finished().forEach((id, outcome) -> {
            Run.StepState s = run.steps.get(id);
            if (s != null) {
                s.started = true;
                s.startedNanos = System.nanoTime();
                run.finished(s, outcome, "finished before the coordinator restarted");
            }
        });
        log.warn("coordinator: resuming run {}: {} of {} steps were finished before the restart", saved.id(),
                saved.finished().size(), steps.size());
        advance();
    }

    // ------------------------------------------------------------------ helpers

    /** Sends {@code message} to this service after {@code delay}; dropped if it has ended by then. */
    private void later(Duration delay, Object message) {
        ctx.after(delay, message);
    }
}
