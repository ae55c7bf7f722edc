package dev.harbor.coordinator;

import dev.harbor.plan.Plan;
import dev.harbor.plan.Step;
import dev.harbor.proto.PlanResponse;
import dev.harbor.proto.PlannedStep;
import dev.harbor.proto.Report;
import dev.harbor.proto.ShutdownProgress;
import dev.harbor.proto.StepFinished;
import dev.harbor.proto.StepStarted;
import dev.harbor.service.Handle;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * One shutdown run: its plan, where each step stands, its progress so far and who follows it. Owned by
 * the coordinator service (only its handlers touch it).
 */
final class Run {
    /** Where a step stands. */
    static final class StepState {
        final Step step;
        boolean started;
        boolean finished;
        boolean escalated;
        long startedNanos;
        long finishedNanos;
        StepFinished.Outcome outcome;
        String detail = "";
        /** The services whose exit events the step waits for. */
        final Set<Handle> waitingFor = new HashSet<>();
        /** Whether any of them ended as NODE_LOST. */
        boolean lost;
        /** Time added to the step's timeout once it knew its work (a stateless step's many services). */
        Duration extension = Duration.ZERO;
        /** Whether the timeout has already been pushed back by {@link #extension}. */
        boolean extended;
        /** Whether the step's node was lost and is being asked to stop until it answers (a node step). */
        boolean askingLostNode;
        /** The detail of a DONE outcome (the coordinator's own node step says when its process ends). */
        String doneDetail = "";

        StepState(Step step) {
            this.step = step;
        }
    }

    final String id;
    final Plan plan;
    final Duration budget;
    final long startNanos = System.nanoTime();
    /** Wall-clock start, kept in the run record so a resumed run counts from the real start. */
    final long startEpochMs;
    /** Milliseconds of the run that passed before this coordinator took it over (after a restart). */
    private final long priorMs;
    final Map<String, StepState> steps = new LinkedHashMap<>();
    final List<ShutdownProgress> history = new ArrayList<>();
    final List<ProgressListener> listeners = new ArrayList<>();
    /** The nodes told to take no new work in this run ({@code Cordon}), each once. */
    final Set<Integer> cordoned = new HashSet<>();
    boolean ended;
    /** The nodes the request named (empty: all), or null for a run resumed from its record. */
    Set<Integer> scope;

    Run(String id, Plan plan, Duration budget) {
        this(id, plan, budget, System.currentTimeMillis());
    }

    /** A run that started at {@code startEpochMs}, possibly before this coordinator's restart. */
    Run(String id, Plan plan, Duration budget, long startEpochMs) {
        this.startEpochMs = startEpochMs;
        this.priorMs = Math.max(0, System.currentTimeMillis() - startEpochMs);
        this.id = id;
        this.plan = plan;
        this.budget = budget;
        for (Step s : plan.steps()) {
            steps.put(s.id(), new StepState(s));
        }
    }

    long elapsedMs() {
        return priorMs + (System.nanoTime() - startNanos) / 1_000_000;
    }

    /** Records a progress item and hands it to every follower. */
    void emit(ShutdownProgress.Builder item) {
        ShutdownProgress p = item.setAtMs(elapsedMs()).build();
        history.add(p);
        for (ProgressListener l : List.copyOf(listeners)) {
            l.onProgress(p);
        }
    }

    void started(StepState s) {
        s.started = true;
        s.startedNanos = System.nanoTime();
        emit(ShutdownProgress.newBuilder().setStarted(StepStarted.newBuilder().setStep(s.step.id())));
    }

    StepFinished finished(StepState s, StepFinished.Outcome outcome, String detail) {
        s.finished = true;
        s.finishedNanos = System.nanoTime();
        s.outcome = outcome;
        s.detail = detail;
        StepFinished f = finishedItem(s);
        emit(ShutdownProgress.newBuilder().setFinished(f));
        return f;
    }

    static StepFinished finishedItem(StepState s) {
        long ms = s.started ? (s.finishedNanos - s.startedNanos) / 1_000_000 : 0;
        return StepFinished.newBuilder().setStep(s.step.id()).setOutcome(s.outcome).setDurationMs(ms).setDetail(s.detail).build();
    }

    /** The steps whose predecessors have all finished and that have not started. */
    List<StepState> ready() {
        List<StepState> out = new ArrayList<>();
        for (StepState s : steps.values()) {
            if (!s.started && s.step.after().stream().allMatch(a -> steps.get(a).finished)) {
                out.add(s);
            }
        }
        return out;
    }

    boolean allFinished() {
        return steps.values().stream().allMatch(s -> s.finished);
    }

    Report report() {
        Report.Builder r = Report.newBuilder().setRunId(id).setTotalMs(elapsedMs())
                .setCriticalPathMs(plan.criticalPath().toMillis()).setBudgetMs((int) budget.toMillis());
        boolean clean = true;
        for (StepState s : steps.values()) {
            r.addSteps(finishedItem(s));
            clean &= s.outcome == StepFinished.Outcome.DONE;
        }
        return r.setClean(clean && elapsedMs() <= budget.toMillis()).build();
    }

    /**
     * The plan as the API shows it, with the figures of its budget check ({@link Plan#checkBudget}).
     * {@code budget} is at most 2^32-1 ms (the wire's uint32), as {@link #budgetOf} makes it.
     */
    static PlanResponse describe(Plan plan, Duration budget, Duration escalationGrace, String refusal) {
        PlanResponse.Builder b = PlanResponse.newBuilder().setCriticalPathMs(plan.criticalPath().toMillis())
                .addAllCriticalSteps(plan.criticalSteps()).setBudgetMs((int) budget.toMillis()).setRefusal(refusal)
                .setWorstCaseMs(plan.worstCase(escalationGrace).toMillis()).setEscalationGraceMs(escalationGrace.toMillis())
                .setEscalatableSteps(plan.escalatableSteps())
                .addAllNodes(plan.nodes());
        for (Step s : plan.steps()) {
            PlannedStep.Builder p = PlannedStep.newBuilder().setId(s.id())
                    .setKind(PlannedStep.Kind.valueOf(s.kind().name())).setNode(s.node())
                    .setTimeoutMs(s.timeout().toMillis()).addAllAfter(s.after());
            if (s.service() != null) {
                p.setService(dev.harbor.proto.Handle.newBuilder().setNode(s.service().node()).setId(s.service().id()));
                p.setRole(s.role());
            }
            b.addSteps(p);
        }
        return b.build();
    }

    /**
     * The budget a request's {@code budget_ms} (a uint32, so read unsigned: up to 4294967295 ms) asks
     * for, or {@code fallback} if it is 0 (unset).
     */
    static Duration budgetOf(int budgetMs, Duration fallback) {
        return budgetMs == 0 ? fallback : Duration.ofMillis(Integer.toUnsignedLong(budgetMs));
    }

    /** Follows a run's progress. Called on the coordinator service's thread, one item at a time. */
    interface ProgressListener {
        void onProgress(ShutdownProgress item);

        /** The run ended; no more items. */
        void onEnd();
    }
}
