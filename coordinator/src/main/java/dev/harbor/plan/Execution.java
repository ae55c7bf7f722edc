package dev.harbor.plan;

import dev.harbor.service.Handle;
import dev.harbor.service.Monitor;
import dev.harbor.shutdown.OrderedExit;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * One run of a {@link Plan}, as a state machine: events in, commands out. The shutdown coordinator and
 * a node that drains itself alone (SIGTERM with no coordinator) both run their plan with it, and
 * differ only in how they carry the commands out (gRPC calls to each node's admin API, or calls on the
 * node at hand) and where the events come from.
 *
 * <p>The rules it keeps: a step starts when every step it comes after has finished; a step is done
 * when the exit events it waits for are in, never on a reply; a step that overruns its timeout is
 * escalated (its services are killed, or its node stopped) and, if its exit events still do not come
 * within the escalation grace, ends as lost; a step whose node is lost ends as lost and the run goes
 * on; the node step of a node that was lost keeps asking that node to stop until it answers, its
 * process is gone or the step runs out of time.
 *
 * <p>Pure: no I/O, no clock, no thread. Every event carries the time it happened ({@code now}, a
 * {@link System#nanoTime}-style reading of the caller's clock), and what it knows of the nodes it
 * reads from its {@link Cluster} during the event. Each event returns the commands it produced, in
 * the order they are to be carried out; a {@link Command.Wake} asks to be woken with {@link #wake}
 * after a delay.
 *
 * <p>Threading: not thread-safe. Its owner calls it from one thread at a time (the coordinator
 * service's handlers; the draining node's signal thread).
 */
public final class Execution {
    /** How soon a Drain that could not be delivered (the link to its node is still forming) is sent again. */
    public static final Duration DRAIN_RETRY = Duration.ofMillis(200);
    /** How often a lost node whose address still holds its connections (paused, cut off) is asked to stop again. */
    public static final Duration ASK_LOST_NODE_EVERY = Duration.ofMillis(500);
    /**
     * What one stateless service may add to its node's stateless step: ending it and confirming its
     * exit event took 0.6 to 0.75 ms each with 3,333 per node on a busy 2-core machine
     * ({@code ShutdownOverhead}, BENCHMARKS.md), where the default 2 s step escalated now and then.
     */
    public static final Duration PER_STATELESS_SERVICE = Duration.ofMillis(1);

    /** How a step ended. */
    public enum Outcome {
        /** Its exit events came. */
        DONE,
        /** It overran its timeout and was escalated; the exit events came after. */
        ESCALATED,
        /** Its node was lost, could not be reached, or no exit event came even after escalation. */
        LOST
    }

    /**
     * What the execution knows of the nodes, read during each event on the caller's thread. The
     * coordinator answers from the exit streams it follows; a node draining alone from itself.
     */
    public interface Cluster {
        /** Whether {@code node} was declared lost. */
        boolean lost(int node);

        /** Why {@code node} cannot be reached now (its exit stream is down and its admin API silent), or null. */
        String unreachable(int node);

        /** Whether {@code node} has said all it had: a service of it not alive then is gone. */
        boolean caughtUp(int node);

        /** Whether {@code service} is known to be alive. */
        boolean isAlive(Handle service);

        /** Whether {@code service}'s exit event is known. */
        boolean exited(Handle service);

        /** The handle of {@code node}'s monitor, whose exit is the node's last; null if not known. */
        Handle monitor(int node);
    }

    /**
     * The node the execution runs on, whose node step ends its services but does not stop the node
     * (the runner must live to see the run end).
     *
     * @param node its id
     * @param runner the service running the execution (the coordinator), which its node step leaves
     *     alive; null if no service runs it
     * @param nodeStepDetail what a done node step of this node says about the node's stop
     */
    public record Host(int node, Handle runner, String nodeStepDetail) {
    }

    /** A service of a listed node: its handle and tags. */
    public record Listed(Handle handle, Map<String, String> tags) {
    }

    /** What an execution asks to be woken for. */
    public record Timer(String step, Kind kind) {
        /** Why. */
        public enum Kind {
            /** The step's timeout (or, once, the end of its extension). */
            TIMEOUT,
            /** The end of the escalation grace. */
            GRACE,
            /** Ask the step's lost node to stop again. */
            ASK_AGAIN,
            /** Send the step's undelivered Drain again. */
            DRAIN_AGAIN
        }
    }

    /** What the owner is to do. */
    public sealed interface Command {
        /** Tell {@code node} to take no new work (its health turns NOT_SERVING); not waited for. */
        record Cordon(int node) implements Command {
        }

        /** Send {@code service} its Drain; if it cannot be delivered, report {@link #drainUndelivered}. */
        record Drain(String step, Handle service, Duration timeout) implements Command {
        }

        /** Kill {@code service}; its exit event is awaited. */
        record Kill(Handle service) implements Command {
        }

        /** Kill {@code services}, all on {@code node}, in one request; their exit events are awaited. */
        record KillMany(String step, int node, List<Handle> services) implements Command {
        }

        /** Stop {@code node}; its monitor's exit event is awaited. */
        record Stop(int node) implements Command {
        }

        /** Ask lost {@code node} to stop; report the answer with {@link #stopAnswered}. */
        record AskToStop(String step, int node) implements Command {
        }

        /** List {@code node}'s services; report them with {@link #listed} (or not at all, if it does not answer). */
        record ListServices(String step, int node) implements Command {
        }

        /** Call {@link #wake} with {@code timer} after {@code delay}. */
        record Wake(Duration delay, Timer timer) implements Command {
        }

        /** A step started. */
        record Started(StepState step) implements Command {
        }

        /** A step finished (see its outcome and detail). */
        record Finished(StepState step) implements Command {
        }

        /** A step overran its timeout and is escalated now. */
        record Escalated(StepState step) implements Command {
        }

        /**
         * A stateless step learned it ends {@code services} services and its timeout grew to
         * {@code timeout}, as far as the budget's {@code spare} time allows.
         */
        record Extended(StepState step, int services, Duration timeout, Duration spare) implements Command {
        }

        /** Every step has finished: the run is over. Always the last command. */
        record Ended() implements Command {
        }
    }

    /** Where a step stands. Changed only by its execution; read by its owner between events. */
    public static final class StepState {
        private final Step step;
        private boolean started;
        private boolean finished;
        private boolean escalated;
        private long startedNanos;
        private long finishedNanos;
        private Outcome outcome;
        private String detail = "";
        /** The services whose exit events the step waits for. */
        private final Set<Handle> waitingFor = new HashSet<>();
        /** Whether any of them ended as lost. */
        private boolean lost;
        /** Time added to the step's timeout once it knew its work (a stateless step's many services). */
        private Duration extension = Duration.ZERO;
        /** Whether the timeout has already been pushed back by {@link #extension}. */
        private boolean extended;
        /** Whether the step's node was lost and is asked to stop until it answers (a node step). */
        private boolean askingLostNode;
        /** The detail of a DONE outcome. */
        private String doneDetail = "";

        private StepState(Step step) {
            this.step = step;
        }

        public Step step() {
            return step;
        }

        public boolean started() {
            return started;
        }

        public boolean finished() {
            return finished;
        }

        /** How it ended; null until it has. */
        public Outcome outcome() {
            return outcome;
        }

        /** Why it ended as it did (empty if nothing to say). */
        public String detail() {
            return detail;
        }

        /** How long it ran, in nanoseconds (0 if it never started in this execution). */
        public long durationNanos() {
            return started && finished ? finishedNanos - startedNanos : 0;
        }

        /** The caller's clock reading when it started. */
        public long startedNanos() {
            return startedNanos;
        }

        /** The services whose exit events it still waits for. */
        public Set<Handle> waitingFor() {
            return Collections.unmodifiableSet(waitingFor);
        }
    }

    private final Plan plan;
    private final Duration budget;
    private final Duration escalationGrace;
    private final Host host;
    private final Cluster cluster;
    private final Map<String, StepState> steps = new LinkedHashMap<>();
    /** The nodes told to take no new work, each once. */
    private final Set<Integer> cordoned = new HashSet<>();
    private boolean ended;
    /** The commands of the event being handled. */
    private List<Command> out = new ArrayList<>();

    /**
     * @param budget the run's budget (a stateless step may use what the plan's worst case leaves of it)
     * @param escalationGrace how long an escalated step waits for its exit events before it ends as lost
     */
    public Execution(Plan plan, Duration budget, Duration escalationGrace, Host host, Cluster cluster) {
        this.plan = plan;
        this.budget = budget;
        this.escalationGrace = escalationGrace;
        this.host = host;
        this.cluster = cluster;
        for (Step s : plan.steps()) {
            steps.put(s.id(), new StepState(s));
        }
    }

    public Plan plan() {
        return plan;
    }

    /** Every step, in plan order. */
    public List<StepState> steps() {
        return List.copyOf(steps.values());
    }

    /** Whether every step has finished. */
    public boolean ended() {
        return ended;
    }

    // ------------------------------------------------------------------ events

    /**
     * Marks {@code stepIds} finished with their {@code outcomes} before the run starts (a run resumed
     * after a restart of its coordinator). Unknown ids are ignored. Returns a {@link Command.Finished}
     * for each.
     */
    public List<Command> restore(Map<String, Outcome> outcomes, String detail, long now) {
        outcomes.forEach((id, outcome) -> {
            StepState s = steps.get(id);
            if (s != null && !s.finished) {
                s.started = true;
                s.startedNanos = now;
                finish(s, outcome, detail, now);
            }
        });
        return take();
    }

    /** Starts every step that is ready. */
    public List<Command> start(long now) {
        advance(now);
        return take();
    }

    /**
     * {@code service} exited ({@code nodeLost}: its node was lost, so it did not end on its own). Call
     * once per service, with the first word of its end.
     */
    public List<Command> exited(Handle service, boolean nodeLost, long now) {
        if (ended) {
            return take();
        }
        boolean changed = false;
        for (StepState s : steps.values()) {
            if (s.started && !s.finished && s.waitingFor.remove(service)) {
                if (nodeLost && stopsAnotherNode(s.step)) {
                    askLostNode(s); // its monitor: lost, not stopped
                    continue;
                }
                s.lost |= nodeLost;
                if (s.waitingFor.isEmpty()) {
                    Outcome o = s.lost ? Outcome.LOST : s.escalated ? Outcome.ESCALATED : Outcome.DONE;
                    finish(s, o, s.lost ? "node " + service.node() + " was lost" : s.escalated ? "killed at its timeout"
                            : s.doneDetail, now);
                    changed = true;
                }
            }
        }
        if (changed) {
            advance(now);
        }
        return take();
    }

    /** A timer asked for with {@link Command.Wake} is due. */
    public List<Command> wake(Timer timer, long now) {
        switch (timer.kind()) {
            case TIMEOUT -> timeout(timer, now);
            case GRACE -> graceOver(timer.step(), now);
            case ASK_AGAIN -> {
                StepState s = open(timer.step());
                if (s != null) {
                    askLostNode(s);
                }
            }
            case DRAIN_AGAIN -> {
                StepState s = open(timer.step());
                if (s != null && s.step.kind() == Step.Kind.DRAIN && s.waitingFor.contains(s.step.service())) {
                    out.add(new Command.Drain(s.step.id(), s.step.service(), s.step.timeout()));
                }
            }
        }
        return take();
    }

    /** The Drain of {@code step} could not be delivered (the link to its node is still forming): sent again shortly. */
    public List<Command> drainUndelivered(String step) {
        if (open(step) != null) {
            out.add(new Command.Wake(DRAIN_RETRY, new Timer(step, Timer.Kind.DRAIN_AGAIN)));
        }
        return take();
    }

    /**
     * The services of {@code step}'s node, as a {@link Command.ListServices} asked. A stateless step
     * ends the unregistered ones; the node step of the execution's own node ends all of them but the
     * runner and the node's monitor.
     */
    public List<Command> listed(String step, List<Listed> services, long now) {
        StepState s = steps.get(step);
        if (ended || s == null || !s.started || s.finished) {
            return take();
        }
        boolean everything = s.step.kind() == Step.Kind.NODE;
        List<Handle> kill = new ArrayList<>();
        for (Listed l : services) {
            Handle h = l.handle();
            if (h.equals(host.runner()) || l.tags().containsKey(Monitor.TAG)
                    || (!everything && l.tags().containsKey(OrderedExit.ROLE_TAG)) || cluster.exited(h)) {
                continue;
            }
            s.waitingFor.add(h);
            kill.add(h);
        }
        if (!kill.isEmpty()) {
            extendForMany(s, kill.size());
            // One request for the lot: a node with thousands of stateless services gets one call, not thousands.
            out.add(new Command.KillMany(s.step.id(), s.step.node(), List.copyOf(kill)));
        }
        if (s.waitingFor.isEmpty()) {
            finish(s, Outcome.DONE, everything ? s.doneDetail : "no stateless service was left", now);
            advance(now);
        }
        return take();
    }

    /**
     * The answer of a lost node asked to stop: {@code why} null if it took the stop, else why not, and
     * {@code processGone} if nothing listens at its address any more.
     */
    public List<Command> stopAnswered(String step, String why, boolean processGone, long now) {
        StepState s = open(step);
        if (s == null || !s.waitingFor.isEmpty()) {
            return take();
        }
        int id = s.step.node();
        if (why == null) {
            if (!waitForNewLife(s)) {
                finish(s, Outcome.LOST, "node " + id + " " + lostOrUnreachable(id) + ", then answered again and took"
                        + " the stop; no exit event of its own confirms that it stopped", now);
                advance(now);
            }
        } else if (processGone) {
            finish(s, Outcome.LOST, "node " + id + " " + lostOrUnreachable(id) + " and nothing listens at its"
                    + " address any more: " + why, now);
            advance(now);
        } else {
            out.add(new Command.Wake(ASK_LOST_NODE_EVERY, new Timer(step, Timer.Kind.ASK_AGAIN)));
        }
        return take();
    }

    // ------------------------------------------------------------------ the rules

    private void advance(long now) {
        boolean progressed = true;
        while (progressed && !ended) {
            progressed = false;
            for (StepState s : steps.values()) {
                if (!s.started && s.step.after().stream().allMatch(a -> steps.get(a).finished)) {
                    startStep(s, now);
                    progressed = true;
                }
            }
        }
        if (!ended && steps.values().stream().allMatch(s -> s.finished)) {
            ended = true;
            out.add(new Command.Ended());
        }
    }

    private void startStep(StepState s, long now) {
        s.started = true;
        s.startedNanos = now;
        out.add(new Command.Started(s));
        Step step = s.step;
        if (step.kind() == Step.Kind.BARRIER) {
            finish(s, Outcome.DONE, "", now);
            return;
        }
        String unreachable = cluster.unreachable(step.node());
        boolean lost = cluster.lost(step.node());
        if (stopsAnotherNode(step) && (lost || unreachable != null)) {
            timeoutIn(step.timeout(), s);
            askLostNode(s);
            return;
        }
        if (lost) {
            finish(s, Outcome.LOST, "node " + step.node() + " was lost", now);
            return;
        }
        if (unreachable != null) {
            finish(s, Outcome.LOST, "node " + step.node() + " cannot be reached: " + unreachable, now);
            return;
        }
        if (cordoned.add(step.node())) {
            // The node begins to drain now: its health turns NOT_SERVING so balancers send it no new work.
            out.add(new Command.Cordon(step.node()));
        }
        switch (step.kind()) {
            case BARRIER -> throw new AssertionError("barriers finish above");
            case DRAIN -> {
                // Gone only if seen gone: a node that has not said all it had (after a restart) proves nothing.
                if (!cluster.isAlive(step.service()) && (cluster.caughtUp(step.node()) || cluster.exited(step.service()))) {
                    finish(s, Outcome.DONE, "it had exited already", now);
                    return;
                }
                s.waitingFor.add(step.service());
                out.add(new Command.Drain(step.id(), step.service(), step.timeout()));
                timeoutIn(step.timeout(), s);
            }
            case STATELESS -> listToEnd(s);
            case NODE -> {
                if (step.node() == host.node()) {
                    // The runner's node: the runner must live to see the run end, so the step ends every
                    // other service of the node (confirmed by their exit events); the node stops after.
                    s.doneDetail = host.nodeStepDetail();
                    listToEnd(s);
                    return;
                }
                Handle monitor = cluster.monitor(step.node());
                if (monitor == null) {
                    finish(s, Outcome.LOST, "the coordinator has not seen node " + step.node()
                            + "'s exit stream, so it cannot confirm the node's stop", now);
                    return;
                }
                if (!cluster.isAlive(monitor)) {
                    finish(s, Outcome.DONE, "the node had stopped already", now);
                    return;
                }
                s.waitingFor.add(monitor);
                out.add(new Command.Stop(step.node()));
                timeoutIn(step.timeout(), s);
            }
        }
    }

    /** Lists the step's node's services to end them (see {@link #listed}); the step times out as planned. */
    private void listToEnd(StepState s) {
        out.add(new Command.ListServices(s.step.id(), s.step.node()));
        timeoutIn(s.step.timeout(), s);
    }

    /**
     * The node step of a node declared lost, or that could not be reached. Lost is not stopped: a
     * paused or cut-off process comes back (in a new life, which relaunches its services) and would run
     * on with nobody to stop it. So until the step's timeout and escalation grace run out, the node is
     * asked to stop: every {@link #ASK_LOST_NODE_EVERY} while its address holds calls unanswered, and
     * no more once nothing listens there (its process is gone). A new life the cluster knows alive is
     * waited for like any node: its monitor's exit confirms the stop.
     */
    private void askLostNode(StepState s) {
        if (waitForNewLife(s)) {
            out.add(new Command.Stop(s.step.node()));
            return;
        }
        s.askingLostNode = true;
        out.add(new Command.AskToStop(s.step.id(), s.step.node()));
    }

    /** A lost node whose new life is known alive: the step waits for that life's monitor to exit. */
    private boolean waitForNewLife(StepState s) {
        Handle monitor = cluster.monitor(s.step.node());
        if (monitor == null || !cluster.isAlive(monitor)) {
            return false;
        }
        s.waitingFor.add(monitor);
        s.doneDetail = "node " + s.step.node() + " was lost, came back in a new life and stopped";
        return true;
    }

    private String lostOrUnreachable(int id) {
        String unreachable = cluster.unreachable(id);
        return cluster.lost(id) || unreachable == null ? "was lost" : "could not be reached (" + unreachable + ")";
    }

    private void timeout(Timer t, long now) {
        StepState s = open(t.step());
        if (s == null) {
            return;
        }
        if (!s.extended && s.extension.isPositive()) {
            s.extended = true;
            out.add(new Command.Wake(s.extension, t));
            return;
        }
        s.escalated = true;
        out.add(new Command.Escalated(s));
        switch (s.step.kind()) {
            case NODE -> {
                if (s.step.node() == host.node()) {
                    s.waitingFor.forEach(h -> out.add(new Command.Kill(h))); // the runner's node: its services, not the node
                } else if (!s.askingLostNode) { // a lost node is asked again and again already
                    out.add(new Command.Stop(s.step.node()));
                }
            }
            case DRAIN -> s.waitingFor.forEach(h -> out.add(new Command.Kill(h)));
            // The stateless services were killed when the step started; their exit events are on the way.
            case STATELESS, BARRIER -> { }
        }
        out.add(new Command.Wake(escalationGrace, new Timer(s.step.id(), Timer.Kind.GRACE)));
    }

    private void graceOver(String step, long now) {
        StepState s = open(step);
        if (s == null) {
            return;
        }
        finish(s, Outcome.LOST, s.waitingFor.isEmpty() && s.step.kind() == Step.Kind.STATELESS
                ? "node " + s.step.node() + "'s services could not be listed to end them (its admin API did not answer)"
                : s.waitingFor.isEmpty() && s.askingLostNode
                ? "node " + s.step.node() + " " + lostOrUnreachable(s.step.node()) + " and did not answer a stop before its step's"
                        + " timeout and escalation grace"
                : "no exit event came for " + s.waitingFor + " even after escalation", now);
        advance(now);
    }

    /**
     * Gives a stateless step with thousands of services {@link #PER_STATELESS_SERVICE} for each, where
     * its timeout gives less, so a big node is not escalated for being big; as far as the budget's spare
     * time allows (the budget minus the plan's worst case), so the run still fits the budget it was
     * checked against. A path through the plan holds at most one stateless step, so each may use all of
     * the spare time. Known once the node has listed its services: a listing slower than the step's own
     * timeout leaves the step escalated as before.
     */
    private void extendForMany(StepState s, int services) {
        Duration wanted = PER_STATELESS_SERVICE.multipliedBy(services).minus(s.step.timeout());
        Duration spare = budget.minus(plan.worstCase(escalationGrace));
        Duration extension = wanted.compareTo(spare) < 0 ? wanted : spare;
        if (extension.isNegative() || extension.isZero()) {
            return;
        }
        s.extension = extension;
        out.add(new Command.Extended(s, services, s.step.timeout().plus(extension), spare));
    }

    private void finish(StepState s, Outcome outcome, String detail, long now) {
        s.finished = true;
        s.finishedNanos = now;
        s.outcome = outcome;
        s.detail = detail;
        out.add(new Command.Finished(s));
    }

    private void timeoutIn(Duration delay, StepState s) {
        out.add(new Command.Wake(delay, new Timer(s.step.id(), Timer.Kind.TIMEOUT)));
    }

    /** A node step for a node other than the one the execution runs on (which stops only after the run). */
    private boolean stopsAnotherNode(Step step) {
        return step.kind() == Step.Kind.NODE && step.node() != host.node();
    }

    /** The step, if it is started and not finished yet. */
    private StepState open(String id) {
        StepState s = steps.get(id);
        return ended || s == null || !s.started || s.finished ? null : s;
    }

    private List<Command> take() {
        List<Command> done = out;
        out = new ArrayList<>();
        return done;
    }
}
