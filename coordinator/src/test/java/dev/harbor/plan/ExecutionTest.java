package dev.harbor.plan;

import static org.assertj.core.api.Assertions.assertThat;

import dev.harbor.plan.Execution.Command;
import dev.harbor.plan.Execution.Outcome;
import dev.harbor.plan.Execution.Timer;
import dev.harbor.service.Handle;
import dev.harbor.service.Monitor;
import dev.harbor.shutdown.OrderedExit;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;

/**
 * The run of a plan as a state machine, driven by hand: each event's commands, in order, with no node,
 * thread or clock behind it (the coordinator and a node draining alone carry these commands out).
 */
class ExecutionTest {
    private static final Plan.Timeouts T = new Plan.Timeouts(Duration.ofSeconds(2), Duration.ofSeconds(5));
    private static final Duration GRACE = Duration.ofSeconds(1);
    private static final Handle RUNNER = Handle.of(1, 1);
    private static final Handle GATEWAY = Handle.of(2, 10);
    private static final Handle WRITER = Handle.of(2, 11);
    private static final Handle MONITOR_2 = Handle.of(2, 2);

    /** A cluster whose facts the test sets. */
    private static final class Facts implements Execution.Cluster {
        final Set<Integer> lost = new HashSet<>();
        final Map<Integer, String> unreachable = new HashMap<>();
        final Set<Handle> alive = new HashSet<>();
        final Set<Handle> exited = new HashSet<>();
        final Map<Integer, Handle> monitors = new HashMap<>();

        @Override
        public boolean lost(int node) {
            return lost.contains(node);
        }

        @Override
        public String unreachable(int node) {
            return unreachable.get(node);
        }

        @Override
        public boolean caughtUp(int node) {
            return true;
        }

        @Override
        public boolean isAlive(Handle service) {
            return alive.contains(service);
        }

        @Override
        public boolean exited(Handle service) {
            return exited.contains(service);
        }

        @Override
        public Handle monitor(int node) {
            return monitors.get(node);
        }
    }

    private final Facts facts = new Facts();

    ExecutionTest() {
        facts.alive.addAll(List.of(RUNNER, GATEWAY, WRITER, MONITOR_2));
        facts.monitors.put(2, MONITOR_2);
    }

    /** Node 1 runs the coordinator; node 2 has a gateway and a writer. */
    private Execution execution(Duration budget) throws PlanRefused {
        Plan plan = Plan.of(List.of(new Registration(GATEWAY, "gateway", Set.of(), Duration.ofSeconds(3)),
                new Registration(WRITER, "writer", Set.of(), Duration.ofSeconds(4))), Map.of(), Set.of(1, 2), Set.of(2), T);
        return new Execution(plan, budget, GRACE, new Execution.Host(1, RUNNER, "runner's node"), facts);
    }

    private static <C extends Command> List<C> of(List<Command> commands, Class<C> type) {
        List<C> out = new ArrayList<>();
        for (Command c : commands) {
            if (type.isInstance(c)) {
                out.add(type.cast(c));
            }
        }
        return out;
    }

    private static Execution.StepState step(Execution e, String id) {
        return e.steps().stream().filter(s -> s.step().id().equals(id)).findFirst().orElseThrow();
    }

    private static List<String> finished(List<Command> commands) {
        return of(commands, Command.Finished.class).stream()
                .map(f -> f.step().step().id() + "=" + f.step().outcome()).toList();
    }

    @Test
    void stepsFinishOnExitEventsInPlanOrderAndTheRunEndsLast() throws PlanRefused {
        Execution e = execution(Duration.ofSeconds(60));
        List<Command> first = e.start(0);
        // Node 2 is cordoned once, then its gateway drained with the step's timeout asked for.
        assertThat(first.get(0)).isInstanceOf(Command.Started.class);
        assertThat(of(first, Command.Cordon.class)).containsExactly(new Command.Cordon(2));
        assertThat(of(first, Command.Drain.class)).containsExactly(new Command.Drain("gateway:" + GATEWAY, GATEWAY, Duration.ofSeconds(3)));
        assertThat(of(first, Command.Wake.class)).containsExactly(
                new Command.Wake(Duration.ofSeconds(3), new Timer("gateway:" + GATEWAY, Timer.Kind.TIMEOUT)));

        // A reply is not a proof: only the exit event finishes the step, and the writer is next.
        List<Command> afterGateway = e.exited(GATEWAY, false, 5_000_000);
        assertThat(finished(afterGateway)).contains("gateway:" + GATEWAY + "=DONE");
        assertThat(of(afterGateway, Command.Drain.class)).containsExactly(new Command.Drain("writer:" + WRITER, WRITER, Duration.ofSeconds(4)));
        assertThat(of(afterGateway, Command.Cordon.class)).as("a node is cordoned once").isEmpty();

        List<Command> afterWriter = e.exited(WRITER, false, 9_000_000);
        assertThat(finished(afterWriter)).contains("writer:" + WRITER + "=DONE");
        assertThat(of(afterWriter, Command.ListServices.class)).containsExactly(new Command.ListServices("stateless@2", 2));

        // The stateless step ends what is unregistered: not the monitor, nor a registered service.
        List<Command> listed = e.listed("stateless@2", List.of(new Execution.Listed(Handle.of(2, 20), Map.of()),
                new Execution.Listed(MONITOR_2, Map.of(Monitor.TAG, "true")),
                new Execution.Listed(Handle.of(2, 21), Map.of(OrderedExit.ROLE_TAG, "cache"))), 10_000_000);
        assertThat(of(listed, Command.KillMany.class)).containsExactly(new Command.KillMany("stateless@2", 2, List.of(Handle.of(2, 20))));
        assertThat(e.exited(Handle.of(2, 99), false, 11_000_000)).as("an exit no step waits for changes nothing").isEmpty();

        List<Command> afterStateless = e.exited(Handle.of(2, 20), false, 12_000_000);
        assertThat(of(afterStateless, Command.Stop.class)).containsExactly(new Command.Stop(2));
        assertThat(e.ended()).isFalse();

        List<Command> last = e.exited(MONITOR_2, false, 20_000_000);
        assertThat(finished(last)).containsExactly("node@2=DONE");
        assertThat(last.get(last.size() - 1)).isInstanceOf(Command.Ended.class);
        assertThat(e.ended()).isTrue();
        assertThat(e.steps()).allMatch(s -> s.outcome() == Outcome.DONE);
        assertThat(step(e, "writer:" + WRITER).durationNanos()).as("from the gateway's exit to the writer's").isEqualTo(4_000_000);
        // Once ended, nothing more comes out: a late timer or exit is dropped.
        assertThat(e.wake(new Timer("node@2", Timer.Kind.TIMEOUT), 30_000_000)).isEmpty();
        assertThat(e.exited(GATEWAY, false, 30_000_000)).isEmpty();
    }

    @Test
    void aStepThatOverrunsIsEscalatedThenLostIfNoExitEventComesWithinTheGrace() throws PlanRefused {
        Execution e = execution(Duration.ofSeconds(60));
        e.start(0);
        String gateway = "gateway:" + GATEWAY;
        List<Command> overran = e.wake(new Timer(gateway, Timer.Kind.TIMEOUT), 3_000_000_000L);
        assertThat(overran).containsExactly(new Command.Escalated(step(e, gateway)), new Command.Kill(GATEWAY),
                new Command.Wake(GRACE, new Timer(gateway, Timer.Kind.GRACE)));
        List<Command> graceOver = e.wake(new Timer(gateway, Timer.Kind.GRACE), 4_000_000_000L);
        assertThat(finished(graceOver)).startsWith(gateway + "=LOST");
        assertThat(of(graceOver, Command.Finished.class).get(0).step().detail())
                .isEqualTo("no exit event came for [" + GATEWAY + "] even after escalation");
        assertThat(of(graceOver, Command.Drain.class)).as("the run goes on").hasSize(1);
    }

    @Test
    void anEscalatedStepWhoseKillIsConfirmedEndsEscalated() throws PlanRefused {
        Execution e = execution(Duration.ofSeconds(60));
        e.start(0);
        String gateway = "gateway:" + GATEWAY;
        e.wake(new Timer(gateway, Timer.Kind.TIMEOUT), 3_000_000_000L);
        assertThat(finished(e.exited(GATEWAY, false, 3_100_000_000L))).startsWith(gateway + "=ESCALATED");
        assertThat(e.wake(new Timer(gateway, Timer.Kind.GRACE), 4_000_000_000L)).as("the grace of a finished step").isEmpty();
    }

    @Test
    void aDrainThatCouldNotBeDeliveredIsSentAgainWhileTheStepWaits() throws PlanRefused {
        Execution e = execution(Duration.ofSeconds(60));
        e.start(0);
        String gateway = "gateway:" + GATEWAY;
        assertThat(e.drainUndelivered(gateway)).containsExactly(
                new Command.Wake(Execution.DRAIN_RETRY, new Timer(gateway, Timer.Kind.DRAIN_AGAIN)));
        assertThat(e.wake(new Timer(gateway, Timer.Kind.DRAIN_AGAIN), 1)).containsExactly(
                new Command.Drain(gateway, GATEWAY, Duration.ofSeconds(3)));
        e.exited(GATEWAY, false, 2);
        assertThat(e.wake(new Timer(gateway, Timer.Kind.DRAIN_AGAIN), 3)).as("not once the step is done").isEmpty();
        assertThat(e.drainUndelivered(gateway)).isEmpty();
    }

    @Test
    void aServiceLostWithItsNodeEndsItsStepLostAndTheLostNodeIsAskedToStopUntilItsProcessIsGone() throws PlanRefused {
        Execution e = execution(Duration.ofSeconds(60));
        e.start(0);
        facts.lost.add(2);
        facts.alive.remove(MONITOR_2); // its monitor ended NODE_LOST with it
        List<Command> lost = e.exited(GATEWAY, true, 1);
        assertThat(finished(lost)).contains("gateway:" + GATEWAY + "=LOST");
        // Later steps of a lost node end lost at once, but its node step asks the node to stop.
        assertThat(finished(lost)).contains("writer:" + WRITER + "=LOST", "stateless@2=LOST");
        assertThat(of(lost, Command.AskToStop.class)).containsExactly(new Command.AskToStop("node@2", 2));
        assertThat(of(lost, Command.Stop.class)).isEmpty();

        assertThat(e.stopAnswered("node@2", "DEADLINE_EXCEEDED", false, 2)).as("a paused process is asked again")
                .containsExactly(new Command.Wake(Execution.ASK_LOST_NODE_EVERY, new Timer("node@2", Timer.Kind.ASK_AGAIN)));
        assertThat(e.wake(new Timer("node@2", Timer.Kind.ASK_AGAIN), 3)).containsExactly(new Command.AskToStop("node@2", 2));
        List<Command> gone = e.stopAnswered("node@2", "connection refused", true, 4);
        assertThat(finished(gone)).containsExactly("node@2=LOST");
        assertThat(of(gone, Command.Finished.class).get(0).step().detail())
                .isEqualTo("node 2 was lost and nothing listens at its address any more: connection refused");
        assertThat(gone.get(gone.size() - 1)).isInstanceOf(Command.Ended.class);
    }

    @Test
    void aLostNodeThatCameBackInANewLifeIsStoppedAndConfirmedByItsNewMonitor() throws PlanRefused {
        Execution e = execution(Duration.ofSeconds(60));
        e.start(0);
        facts.lost.add(2);
        facts.alive.remove(MONITOR_2);
        List<Command> lost = e.exited(GATEWAY, true, 1);
        assertThat(of(lost, Command.AskToStop.class)).hasSize(1);
        Handle newMonitor = Handle.of(2, 1_000);
        facts.monitors.put(2, newMonitor);
        facts.alive.add(newMonitor);
        assertThat(e.stopAnswered("node@2", null, false, 2)).as("it took the stop: its new monitor's exit will confirm it")
                .isEmpty();
        List<Command> stopped = e.exited(newMonitor, false, 3);
        assertThat(finished(stopped)).containsExactly("node@2=DONE");
        assertThat(of(stopped, Command.Finished.class).get(0).step().detail())
                .isEqualTo("node 2 was lost, came back in a new life and stopped");
    }

    @Test
    void aNodeThatCannotBeReachedEndsItsStepsLostSayingWhy() throws PlanRefused {
        facts.unreachable.put(2, "its exit stream is down and its admin API did not answer");
        Execution e = execution(Duration.ofSeconds(60));
        List<Command> first = e.start(0);
        assertThat(finished(first)).contains("gateway:" + GATEWAY + "=LOST");
        assertThat(of(first, Command.Finished.class).get(0).step().detail())
                .isEqualTo("node 2 cannot be reached: its exit stream is down and its admin API did not answer");
        assertThat(of(first, Command.Cordon.class)).as("nothing is sent to a node that cannot be reached").isEmpty();
        // Its monitor was not seen to exit: the node is told to stop and its monitor's exit awaited.
        assertThat(of(first, Command.Stop.class)).containsExactly(new Command.Stop(2));
        assertThat(step(e, "node@2").finished()).isFalse();
        assertThat(step(e, "node@2").waitingFor()).containsExactly(MONITOR_2);
    }

    @Test
    void aStatelessStepWithManyServicesGetsMoreTimeAsFarAsTheBudgetAllows() throws PlanRefused {
        Execution e = execution(Duration.ofSeconds(60));
        e.start(0);
        e.exited(GATEWAY, false, 1);
        e.exited(WRITER, false, 2);
        List<Execution.Listed> many = new ArrayList<>();
        for (int i = 0; i < 5_000; i++) {
            many.add(new Execution.Listed(Handle.of(2, 100 + i), Map.of()));
        }
        List<Command> listed = e.listed("stateless@2", many, 3);
        // 1 ms each: 5 s wanted, the step's own 2 s plus 3 s more.
        assertThat(of(listed, Command.Extended.class)).singleElement()
                .satisfies(x -> assertThat(x.timeout()).isEqualTo(Duration.ofSeconds(5)));
        assertThat(of(listed, Command.KillMany.class).get(0).services()).hasSize(5_000);
        Timer timeout = new Timer("stateless@2", Timer.Kind.TIMEOUT);
        assertThat(e.wake(timeout, 2_000_000_000L)).as("the first timeout waits out the extension")
                .containsExactly(new Command.Wake(Duration.ofSeconds(3), timeout));
        assertThat(of(e.wake(timeout, 5_000_000_000L), Command.Escalated.class)).as("the second escalates").hasSize(1);
    }

    @Test
    void noExtensionBeyondTheBudgetsSpareTime() throws PlanRefused {
        Execution e = execution(Duration.ofSeconds(60));
        Duration worst = e.plan().worstCase(GRACE);
        Execution tight = execution(worst);
        tight.start(0);
        tight.exited(GATEWAY, false, 1);
        tight.exited(WRITER, false, 2);
        List<Execution.Listed> many = new ArrayList<>();
        for (int i = 0; i < 5_000; i++) {
            many.add(new Execution.Listed(Handle.of(2, 100 + i), Map.of()));
        }
        assertThat(of(tight.listed("stateless@2", many, 3), Command.Extended.class)).isEmpty();
    }

    @Test
    void theRunnersNodeStepEndsItsServicesButTheRunnerAndTheMonitorAndNeverStopsTheNode() throws PlanRefused {
        Plan plan = Plan.of(List.of(), Map.of(), Set.of(1), Set.of(), T);
        Handle monitor = Handle.of(1, 2);
        Handle worker = Handle.of(1, 30);
        Handle registered = Handle.of(1, 31);
        Execution e = new Execution(plan, Duration.ofSeconds(60), GRACE, new Execution.Host(1, RUNNER, "runner's node"), facts);
        e.start(0);
        List<Execution.Listed> services = List.of(new Execution.Listed(RUNNER, Map.of()),
                new Execution.Listed(monitor, Map.of(Monitor.TAG, "true")), new Execution.Listed(worker, Map.of()),
                new Execution.Listed(registered, Map.of(OrderedExit.ROLE_TAG, "cache")));
        List<Command> stateless = e.listed("stateless@1", services, 1);
        assertThat(of(stateless, Command.KillMany.class).get(0).services()).containsExactly(worker);
        List<Command> nodeStep = e.exited(worker, false, 2);
        assertThat(of(nodeStep, Command.ListServices.class)).containsExactly(new Command.ListServices("node@1", 1));
        facts.exited.add(worker);
        List<Command> listed = e.listed("node@1", services, 3);
        assertThat(of(listed, Command.KillMany.class).get(0).services()).as("registered or not, but not the runner or monitor")
                .containsExactly(registered);
        List<Command> last = e.exited(registered, false, 4);
        assertThat(finished(last)).containsExactly("node@1=DONE");
        assertThat(of(last, Command.Finished.class).get(0).step().detail()).isEqualTo("runner's node");
        assertThat(of(last, Command.Stop.class)).isEmpty();
        assertThat(e.ended()).isTrue();
    }

    @Test
    void aResumedRunStartsAfterTheStepsFinishedBeforeItsRestart() throws PlanRefused {
        Execution e = execution(Duration.ofSeconds(60));
        String gateway = "gateway:" + GATEWAY;
        List<Command> restored = e.restore(Map.of(gateway, Outcome.ESCALATED, "no-such-step", Outcome.DONE), "before", 0);
        assertThat(finished(restored)).containsExactly(gateway + "=ESCALATED");
        List<Command> first = e.start(1);
        assertThat(of(first, Command.Drain.class)).as("the gateway is not drained again").extracting(Command.Drain::service)
                .containsExactly(WRITER);
    }

    @Test
    void theSameEventsGiveTheSameCommands() throws PlanRefused {
        List<List<String>> runs = new ArrayList<>();
        for (int i = 0; i < 2; i++) {
            Execution e = execution(Duration.ofSeconds(60));
            List<Command> all = new ArrayList<>(e.start(0));
            all.addAll(e.exited(GATEWAY, false, 1));
            all.addAll(e.wake(new Timer("writer:" + WRITER, Timer.Kind.TIMEOUT), 2));
            all.addAll(e.exited(WRITER, false, 3));
            runs.add(all.stream().map(c -> c.getClass().getSimpleName()).toList());
        }
        assertThat(runs.get(0)).isEqualTo(runs.get(1)).isNotEmpty();
    }
}
