package dev.harbor.coordinator;

import dev.harbor.plan.Execution;
import dev.harbor.plan.Plan;
import dev.harbor.plan.Step;
import dev.harbor.proto.PlanResponse;
import dev.harbor.proto.PlannedStep;
import dev.harbor.proto.Report;
import dev.harbor.proto.ShutdownProgress;
import dev.harbor.proto.StepFinished;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;

/**
 * One shutdown run as the coordinator keeps it: its {@link Execution} (where each step stands), its
 * progress so far and who follows it. Owned by the coordinator service (only its handlers touch it).
 */
final class Run {
    final String id;
    final Plan plan;
    final Duration budget;
    final long startNanos = System.nanoTime();
    /** Wall-clock start, kept in the run record so a resumed run counts from the real start. */
    final long startEpochMs;
    /** Milliseconds of the run that passed before this coordinator took it over (after a restart). */
    private final long priorMs;
    /** The plan's steps and where each stands: the state machine the coordinator feeds. */
    final Execution execution;
    final List<ShutdownProgress> history = new ArrayList<>();
    final List<ProgressListener> listeners = new ArrayList<>();
    boolean ended;
    /** The nodes the request named (empty: all), or null for a run resumed from its record. */
    Set<Integer> scope;

    /** Whether the run is over the whole cluster: no nodes named, or resumed (its scope was not recorded). */
    boolean overWholeCluster() {
        return scope == null || scope.isEmpty();
    }

    /** A run that started at {@code startEpochMs}, possibly before this coordinator's restart. */
    Run(String id, Execution execution, Duration budget, long startEpochMs) {
        this.startEpochMs = startEpochMs;
        this.priorMs = Math.max(0, System.currentTimeMillis() - startEpochMs);
        this.id = id;
        this.execution = execution;
        this.plan = execution.plan();
        this.budget = budget;
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

    static StepFinished finishedItem(Execution.StepState s) {
        return StepFinished.newBuilder().setStep(s.step().id()).setOutcome(outcome(s.outcome()))
                .setDurationMs(s.durationNanos() / 1_000_000).setDetail(s.detail()).build();
    }

    /** A step's outcome on the wire (unspecified for a step not finished yet, which the report of an ended run never holds). */
    static StepFinished.Outcome outcome(Execution.Outcome o) {
        return o == null ? StepFinished.Outcome.OUTCOME_UNSPECIFIED : StepFinished.Outcome.valueOf(o.name());
    }

    Report report() {
        Report.Builder r = Report.newBuilder().setRunId(id).setTotalMs(elapsedMs())
                .setCriticalPathMs(plan.criticalPath().toMillis()).setBudgetMs((int) budget.toMillis());
        boolean clean = true;
        for (Execution.StepState s : execution.steps()) {
            r.addSteps(finishedItem(s));
            clean &= s.outcome() == Execution.Outcome.DONE;
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
