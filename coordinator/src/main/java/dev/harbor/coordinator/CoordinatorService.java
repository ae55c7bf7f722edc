package dev.harbor.coordinator;

import dev.harbor.plan.Execution;
import dev.harbor.plan.Plan;
import dev.harbor.plan.PlanRefused;
import dev.harbor.plan.Registration;
import dev.harbor.plan.Step;
import dev.harbor.proto.CordonRequest;
import dev.harbor.proto.Drain;
import dev.harbor.proto.ExitEvent;
import dev.harbor.proto.ExitReason;
import dev.harbor.proto.KillManyRequest;
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
import dev.harbor.proto.StepStarted;
import dev.harbor.proto.StopRequest;
import dev.harbor.service.CallException;
import dev.harbor.service.Handle;
import dev.harbor.service.Message;
import dev.harbor.service.NodeView;
import dev.harbor.service.Service;
import dev.harbor.service.ServiceContext;
import dev.harbor.shutdown.OrderedExit;
import dev.harbor.wire.Wire;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.UUID;
import java.util.concurrent.CompletionException;
import java.util.concurrent.TimeUnit;
import java.util.function.IntFunction;
import java.util.function.Supplier;
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

    /** A timer of the run's execution is due. */
    private record Tick(String run, Execution.Timer timer) {
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

    /** A step's Drain could not be delivered (the link to its node is still forming). */
    private record DrainUndelivered(String run, String step) {
    }

    /** The run has ended and its report has had a moment to reach its followers: stop this node too. */
    private record StopOwnNode() {
    }

    /** How long after its report the run stops the coordinator's own node, so the report reaches its followers first. */
    private static final Duration OWN_NODE_STOP_DELAY = Duration.ofMillis(200);

    /** A lost node's answer to a Stop: {@code why} null if it took the stop. */
    private record LostNodeAnswered(String run, String step, String why, boolean processGone) {
    }

    private final Settings settings;
    private final IntFunction<AdminClient> admin;
    private final Supplier<Map<Integer, String>> linked;
    private final Supplier<Map<Integer, String>> missing;
    private final ClusterView view = new ClusterView();
    /** Shutdown streams that joined a recorded run before this restarted coordinator resumed it. */
    private final List<Run.ProgressListener> awaitingResume = new ArrayList<>();
    private final List<WaitingStart> waitingStarts = new ArrayList<>();
    private ServiceContext ctx;
    private Run run;
    private RunRecord.Saved toResume;

    /**
     * @param admin the admin API of a node, by id (the address comes from its exit stream)
     * @param linked the nodes this node's transport links now or linked and has not lost, with their
     *     addresses ({@code Harbor.peerAddresses}); read on this service's thread, at a plan and a run's report
     * @param missing the nodes this node's transport linked that are gone without leaving, with their
     *     addresses ({@code Harbor.missingPeerAddresses}); read on this service's thread, at a plan, a run's
     *     report and when a node is found unreachable
     */
    CoordinatorService(Settings settings, IntFunction<AdminClient> admin, Supplier<Map<Integer, String>> linked,
            Supplier<Map<Integer, String>> missing) {
        this.settings = settings;
        this.admin = admin;
        this.linked = linked;
        this.missing = missing;
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
                    onExit(lostEvent(gone, c.node(), "node " + c.node()
                            + " came back as a new life that does not list this service of its earlier life"));
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
            case Tick t -> {
                if (isCurrent(t.run())) {
                    apply(run.execution.wake(t.timer(), System.nanoTime()));
                }
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
            case DrainUndelivered d -> {
                if (isCurrent(d.run())) {
                    apply(run.execution.drainUndelivered(d.step()));
                }
                yield null;
            }
            case LostNodeAnswered a -> {
                if (isCurrent(a.run())) {
                    apply(run.execution.stopAnswered(a.step(), a.why(), a.processGone(), System.nanoTime()));
                }
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
            String refusal = "";
            try {
                p.checkBudget(budget, settings.escalationGrace());
            } catch (PlanRefused e) {
                refusal = e.getMessage();
            }
            return withUnstoppable(Run.describe(p, budget, settings.escalationGrace(), refusal), scope.isEmpty());
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
                return s.request().getDryRun() ? new Started(describeRun(), false, false)
                        : new Started(Run.describe(run.plan, run.budget, settings.escalationGrace(), differs), false, true);
            }
            if (!s.request().getDryRun()) {
                join(s.listener());
            }
            return new Started(describeRun(), true, false);
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
        PlanResponse described = withUnstoppable(Run.describe(plan, budget, settings.escalationGrace(), ""), scope.isEmpty());
        if (s.request().getDryRun()) {
            return new Started(described, false, false);
        }
        run = new Run(UUID.randomUUID().toString(), execution(plan, budget), budget, System.currentTimeMillis());
        run.scope = scope;
        settings.metrics().runStarted();
        if (settings.record() != null) {
            settings.record().begin(run.id, (int) budget.toMillis(), run.startEpochMs, described);
        }
        log.info("coordinator: shutdown run {} starts: {} steps over nodes {}, critical path {} ms, budget {} ms", run.id,
                plan.steps().size(), plan.nodes(), plan.criticalPath().toMillis(), budget.toMillis());
        join(s.listener());
        run.emit(ShutdownProgress.newBuilder().setPlan(described));
        apply(run.execution.start(System.nanoTime()));
        return new Started(described, false, false);
    }

    /** A run of {@code plan} over this coordinator's view of the cluster, hosted on this service's node. */
    private Execution execution(Plan plan, Duration budget) {
        return new Execution(plan, budget, settings.escalationGrace(),
                new Execution.Host(ctx.self().node(), ctx.self(), ownNodeDetail(ctx.self().node())), new Execution.Cluster() {
                    @Override
                    public boolean lost(int node) {
                        return view.node(node).lost;
                    }

                    @Override
                    public String unreachable(int node) {
                        ClusterView.NodeState n = view.node(node);
                        return n.streamUp ? null : n.unreachable;
                    }

                    @Override
                    public boolean caughtUp(int node) {
                        return view.node(node).caughtUp;
                    }

                    @Override
                    public boolean isAlive(Handle service) {
                        return view.isAlive(service);
                    }

                    @Override
                    public boolean exited(Handle service) {
                        return view.node(service.node()).exited.contains(service);
                    }

                    @Override
                    public Handle monitor(int node) {
                        return view.node(node).monitor;
                    }
                });
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

    /** Whether {@code runId} names the run in progress (a timer or an answer of an earlier run is dropped). */
    private boolean isCurrent(String runId) {
        return run != null && !run.ended && run.id.equals(runId);
    }

    /**
     * Carries out the commands of the run's execution, in order: each node's admin API for what is
     * done to a node, this service's own timers for its wake-ups; answers come back as messages.
     */
    private void apply(List<Execution.Command> commands) {
        String runId = run.id;
        Handle self = ctx.self();
        for (Execution.Command c : commands) {
            switch (c) {
                case Execution.Command.Cordon x -> admin.apply(x.node()).cordon(CordonRequest.getDefaultInstance(),
                        error -> log.warn("coordinator: node {} did not take the Cordon (its health may still say SERVING): {}",
                                x.node(), error));
                case Execution.Command.Drain x -> sendDrain(runId, x);
                case Execution.Command.Kill x -> kill(x.service());
                case Execution.Command.KillMany x -> {
                    KillManyRequest.Builder kill = KillManyRequest.newBuilder();
                    x.services().forEach(h -> kill.addHandles(Wire.handle(h)));
                    admin.apply(x.node()).killMany(kill.build(),
                            error -> log.warn("coordinator: node {} did not take the kills: {}", x.node(), error));
                }
                case Execution.Command.Stop x -> admin.apply(x.node()).stop(StopRequest.getDefaultInstance(),
                        error -> log.warn("coordinator: node {} did not take the stop: {}", x.node(), error));
                case Execution.Command.AskToStop x -> admin.apply(x.node()).stop(StopRequest.getDefaultInstance(),
                        () -> ctx.node().send(self, new LostNodeAnswered(runId, x.step(), null, false)),
                        (why, gone) -> ctx.node().send(self, new LostNodeAnswered(runId, x.step(), why, gone)));
                case Execution.Command.ListServices x -> admin.apply(x.node()).list(ListServicesRequest.getDefaultInstance(),
                        list -> ctx.node().send(self, new StatelessList(runId, x.step(), list)),
                        error -> log.warn("coordinator: cannot list the services of node {}: {}", x.node(), error));
                case Execution.Command.Wake x -> later(x.delay(), new Tick(runId, x.timer()));
                case Execution.Command.Started x -> run.emit(ShutdownProgress.newBuilder()
                        .setStarted(StepStarted.newBuilder().setStep(x.step().step().id())));
                case Execution.Command.Finished x -> finished(x.step());
                case Execution.Command.Escalated x -> {
                    settings.metrics().escalated();
                    log.warn("coordinator: step {} overran its {} ms; escalating", x.step().step().id(),
                            x.step().step().timeout().toMillis());
                }
                case Execution.Command.Extended x -> log.info("coordinator: step {} ends {} services (listed {} ms into the step):"
                        + " its timeout grows from {} to {} ms (the budget has {} ms to spare)", x.step().step().id(), x.services(),
                        TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - x.step().startedNanos()),
                        x.step().step().timeout().toMillis(), x.timeout().toMillis(), x.spare().toMillis());
                case Execution.Command.Ended x -> end();
            }
        }
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
    private void sendDrain(String runId, Execution.Command.Drain d) {
        Handle self = ctx.self();
        NodeView node = ctx.node();
        node.call(d.service(), Drain.newBuilder().setRunId(runId).setTimeoutMs(d.timeout().toMillis()).build(), d.timeout())
                .whenComplete((answer, error) -> {
                    Throwable e = error instanceof CompletionException c ? c.getCause() : error;
                    if (e instanceof CallException ce && ce.failure() == CallException.Failure.UNREACHABLE) {
                        node.send(self, new DrainUndelivered(runId, d.step())); // from the call's completion thread
                    }
                });
    }

    private void statelessListed(StatelessList l) {
        if (!isCurrent(l.run())) {
            return;
        }
        List<Execution.Listed> listed = new ArrayList<>();
        for (ServiceInfo info : l.list().getServicesList()) {
            listed.add(new Execution.Listed(Wire.handle(info.getHandle()), info.getTagsMap()));
        }
        int node = run.execution.plan().step(l.step()).node();
        view.listed(new Feed.Listed(node, l.list().getServicesList())); // the node's own word that these are alive
        apply(run.execution.listed(l.step(), listed, System.nanoTime()));
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
        if (!n.streamUp) {
            lostUnannounced(u.node(), n);
        }
    }

    /**
     * Ends NODE_LOST each service that the node's own stream listed alive and that has no exit yet, if this
     * coordinator's node's transport lost that node too ({@code missing}: its dial reached it, it is not
     * linked now and was not seen to leave; or, after this node began a new life, a former peer that has
     * not linked to it again). The node cannot be reached (the caller's check), so this is
     * the rule the transport's held verdicts follow; but the transport gives a verdict only for the
     * services a peer's own link announced, and a node lost before its own link to this node was up (a
     * cluster still forming) announced none: its steps would wait for their drain timeouts. Checked at
     * each failed reconnection of its stream (every 2 s at most) while it is down, so it applies within
     * that of the transport's verdict. An event the transport or the stream gives later counts once
     * ({@link ClusterView#exit}).
     */
    private void lostUnannounced(int id, ClusterView.NodeState n) {
        if (id == ctx.self().node() || n.alive.isEmpty() || !missing.get().containsKey(id)) {
            return;
        }
        List<ServiceInfo> left = new ArrayList<>();
        ServiceInfo monitor = null;
        for (Map.Entry<Handle, ServiceInfo> e : n.alive.entrySet()) {
            if (e.getKey().equals(n.monitor)) {
                monitor = e.getValue();
            } else {
                left.add(e.getValue());
            }
        }
        if (monitor != null) {
            left.add(monitor); // last, as the node's own log would have it: its exit is the node's
        }
        log.warn("coordinator: node {}: lost by this node's transport and cannot be reached ({}): its {} services"
                + " not reported exited end NODE_LOST", id, n.unreachable, left.size());
        String why = "node " + id + " was lost by node " + ctx.self().node() + "'s transport, and cannot be reached: "
                + n.unreachable;
        for (ServiceInfo s : left) {
            onExit(lostEvent(s, id, why));
        }
    }

    /** A NODE_LOST exit event for {@code service} of {@code node}, made by the coordinator where no node publishes one. */
    private static ExitEvent lostEvent(ServiceInfo service, int node, String detail) {
        return ExitEvent.newBuilder().setHandle(service.getHandle()).setNode(node).setReason(ExitReason.NODE_LOST)
                .addAllNames(service.getNamesList()).setTimeUnixNanos(TimeUnit.MILLISECONDS.toNanos(System.currentTimeMillis()))
                .setDetail(detail).build();
    }

    private void onExit(ExitEvent e) {
        boolean first = view.exit(e);
        if (run == null || run.ended || !first) {
            return;
        }
        run.emit(ShutdownProgress.newBuilder().setExit(e));
        apply(run.execution.exited(Wire.handle(e.getHandle()), e.getReason() == ExitReason.NODE_LOST, System.nanoTime()));
    }

    private void kill(Handle h) {
        admin.apply(h.node()).kill(KillRequest.newBuilder().setHandle(Wire.handle(h)).build(),
                error -> log.warn("coordinator: could not kill {}: {}", h, error));
    }

    /** A step finished: its progress item, its metric and its line in the run record. */
    private void finished(Execution.StepState s) {
        StepFinished.Outcome outcome = Run.outcome(s.outcome());
        run.emit(ShutdownProgress.newBuilder().setFinished(Run.finishedItem(s)));
        settings.metrics().stepFinished(s.step().kind(), outcome, s.durationNanos());
        if (settings.record() != null) {
            settings.record().finished(s.step().id(), outcome);
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
        for (String u : report.getUnconfirmedList()) {
            log.warn("coordinator: shutdown run {}: not confirmed stopped: {}", run.id, u);
        }
        if (run.plan.nodes().contains(ctx.self().node())) {
            // Give the report a moment to reach its followers, then stop this node too.
            later(OWN_NODE_STOP_DELAY, new StopOwnNode());
        }
    }

    /**
     * Names in the report each node the run could not confirm stopped and why (the run is then not
     * clean): each node of the plan whose step did not end DONE, or did and whose new life (restarted
     * by a supervisor, say) answered before the run ended; and, in a run over the whole cluster
     * (no scope, or a resumed run, whose scope was not recorded), each node outside the plan that serves
     * on as far as anyone here can tell: one that started after the plan was made (joined, or came
     * back) and was not seen to stop, and one this node's transport links, or linked and lost without
     * its leaving, that never answered on its exit stream. Then each followed address where no node
     * ever answered and none is linked (no node is known there, so these do not make a run unclean).
     */
    private dev.harbor.proto.Report unconfirmed(dev.harbor.proto.Report report) {
        dev.harbor.proto.Report.Builder b = report.toBuilder();
        int self = ctx.self().node();
        for (Execution.StepState s : run.execution.steps()) {
            if (s.step().kind() != Step.Kind.NODE) {
                continue;
            }
            ClusterView.NodeState n = view.node(s.step().node());
            String node = "node " + s.step().node() + (n.address == null ? "" : " at " + n.address) + ": ";
            if (s.outcome() != Execution.Outcome.DONE) {
                b.addUnconfirmed(node + s.outcome() + (s.detail().isEmpty() ? "" : ", " + s.detail())
                        + (n.unreachable == null || s.detail().contains(n.unreachable) ? "" : "; " + n.unreachable));
            } else if (s.step().node() != self && n.incarnation != 0 && !n.stopped) {
                // Its stop was confirmed, and a new life of it has answered since (a supervisor restarted
                // it). A node this coordinator never saw (a resumed run's step, done before its restart)
                // has no life here and is not named.
                b.addUnconfirmed(node + "stopped by this run, then it started again (a new life: something restarts it),"
                        + " and nothing confirms that this life stopped. Shut it down with another run, once whatever"
                        + " restarts it no longer does");
            }
        }
        Map<String, String> unanswered = new TreeMap<>(view.unidentified());
        if (run.overWholeCluster()) {
            for (int id : view.knownNodes()) {
                if (id != self && !run.plan.nodes().contains(id)) {
                    String address = view.node(id).address;
                    b.addUnconfirmed("node " + id + (address == null ? "" : " at " + address) + ": started after the plan"
                            + " was made, so this run did not stop it, and nothing confirms that it stopped. Shut it down with"
                            + " another run");
                }
            }
            unfollowed().forEach(u -> b.addUnconfirmed(u.describe(unanswered.remove(u.address))));
        }
        unanswered.forEach((address, why) -> b.addUnanswered(address + ": " + why));
        if (b.getUnconfirmedCount() > 0) {
            b.setClean(false);
        }
        return b.build();
    }

    /**
     * A node this node's transport linked whose exit stream never answered: the coordinator never
     * identified it, so no plan holds it and no run can stop it. {@code lost}: not linked now, and gone
     * without saying it leaves (it may serve on beyond a partition).
     */
    private record Unfollowed(int id, String address, boolean lost) {
        /** What a plan and a report say of it; {@code why} is its stream's last error, or null. */
        String describe(String why) {
            return "node " + id + " at " + address + (lost ? ": linked to this cluster, then lost without leaving, and"
                    + " its exit stream never answered" : ": linked to this cluster, but its exit stream never answered")
                    + (why == null ? "" : " (" + why + ")") + ", so it is in no plan: the coordinator can neither stop it nor"
                    + " confirm that it stopped" + (lost ? ", and it may serve on beyond a partition" : "")
                    + ". Serve the admin API on it (with the cluster's token), or stop it yourself";
        }
    }

    /** The {@link Unfollowed} nodes, linked ones first, each by id. */
    private List<Unfollowed> unfollowed() {
        List<Unfollowed> out = new ArrayList<>();
        Map<Integer, String> now = linked.get();
        now.forEach((id, address) -> out.add(new Unfollowed(id, address, false)));
        missing.get().forEach((id, address) -> {
            if (!now.containsKey(id)) {
                out.add(new Unfollowed(id, address, true));
            }
        });
        int self = ctx.self().node();
        out.removeIf(u -> {
            ClusterView.NodeState n = view.nodes().get(u.id);
            return u.id == self || n != null && n.incarnation != 0;
        });
        return out;
    }

    /** The plan of the run in progress, for a request that joins it or asks for a dry run meanwhile. */
    private PlanResponse describeRun() {
        return withUnstoppable(Run.describe(run.plan, run.budget, settings.escalationGrace(), ""), run.overWholeCluster());
    }

    /** {@code plan} with the nodes no run can stop, if it is a plan over the whole cluster. */
    private PlanResponse withUnstoppable(PlanResponse plan, boolean wholeCluster) {
        if (!wholeCluster) {
            return plan;
        }
        Map<String, String> unanswered = view.unidentified();
        PlanResponse.Builder b = plan.toBuilder();
        unfollowed().forEach(u -> b.addUnstoppable(u.describe(unanswered.get(u.address))));
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
        Duration budget = Duration.ofMillis(Integer.toUnsignedLong(saved.budgetMs()));
        run = new Run(saved.id(), execution(Plan.restore(steps), budget), budget, saved.startEpochMs());
        settings.metrics().runStarted();
        run.emit(ShutdownProgress.newBuilder().setPlan(saved.plan()));
        run.listeners.addAll(awaitingResume); // they were given the plan when they joined
        awaitingResume.clear();
        Map<String, Execution.Outcome> before = new LinkedHashMap<>();
        saved.finished().forEach((id, outcome) -> before.put(id, Execution.Outcome.valueOf(outcome.name())));
        for (Execution.Command c : run.execution.restore(before, "finished before the coordinator restarted", System.nanoTime())) {
            if (c instanceof Execution.Command.Finished f) {
                run.emit(ShutdownProgress.newBuilder().setFinished(Run.finishedItem(f.step()))); // recorded and counted already
            }
        }
        log.warn("coordinator: resuming run {}: {} of {} steps were finished before the restart", saved.id(),
                saved.finished().size(), steps.size());
        apply(run.execution.start(System.nanoTime()));
    }

    // ------------------------------------------------------------------ helpers

    /** Sends {@code message} to this service after {@code delay}; dropped if it has ended by then. */
    private void later(Duration delay, Object message) {
        ctx.after(delay, message);
    }
}
