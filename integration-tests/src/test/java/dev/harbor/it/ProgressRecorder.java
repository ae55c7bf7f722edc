package dev.harbor.it;

import static org.assertj.core.api.Assertions.assertThat;

import dev.harbor.proto.ExitEvent;
import dev.harbor.proto.Report;
import dev.harbor.proto.ShutdownProgress;
import dev.harbor.proto.StepFinished;
import dev.harbor.service.Handle;
import io.grpc.Status;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.Function;
import java.util.stream.Collectors;
import org.awaitility.Awaitility;

/** Follows one {@code Shutdown} progress stream and keeps every item, for assertions. */
final class ProgressRecorder extends StreamRecorder<ShutdownProgress> {
    /** When each item arrived (System.nanoTime), by position. */
    final List<Long> arrivedNanos = new CopyOnWriteArrayList<>();

    @Override
    public void onNext(ShutdownProgress item) {
        arrivedNanos.add(System.nanoTime());
        super.onNext(item);
    }

    /** Waits until the stream ends, either way. */
    ProgressRecorder awaitEnd(Duration within) {
        Awaitility.await().atMost(within).until(this::ended);
        return this;
    }

    /** Waits until the stream ends with its report and completes. */
    Report awaitReport(Duration within) {
        awaitEnd(within);
        assertThat(error).as("the progress stream failed; items so far: %s", items).isNull();
        assertThat(items).as("the stream ends with the report").isNotEmpty();
        ShutdownProgress last = items.get(items.size() - 1);
        assertThat(last.hasReport()).as("the last item is the report: %s", last).isTrue();
        return last.getReport();
    }

    Status status() {
        return Status.fromThrowable(error);
    }

    List<ExitEvent> exits() {
        return items.stream().filter(ShutdownProgress::hasExit).map(ShutdownProgress::getExit).toList();
    }

    List<StepFinished> finished() {
        return items.stream().filter(ShutdownProgress::hasFinished).map(ShutdownProgress::getFinished).toList();
    }

    List<String> started() {
        return items.stream().filter(ShutdownProgress::hasStarted).map(p -> p.getStarted().getStep()).toList();
    }

    /** How many exit events the stream carried for each handle. */
    Map<Handle, Long> exitCounts() {
        return countExits(exits());
    }

    static Map<Handle, Long> countExits(List<ExitEvent> exits) {
        return exits.stream().collect(Collectors.groupingBy(ProgressRecorder::handle, Collectors.counting()));
    }

    /** The position of {@code h}'s exit event among the stream's exit events; fails if there is none. */
    int exitIndex(Handle h) {
        List<ExitEvent> exits = exits();
        for (int i = 0; i < exits.size(); i++) {
            if (handle(exits.get(i)).equals(h)) {
                return i;
            }
        }
        throw new AssertionError("no exit event for " + h + " in " + exits);
    }

    static Handle handle(ExitEvent e) {
        return Handle.of(e.getHandle().getNode(), e.getHandle().getId());
    }

    /** When the finished item of the step whose id starts with {@code prefix} arrived (System.nanoTime). */
    long finishedAtNanos(String prefix) {
        for (int i = 0; i < items.size(); i++) {
            if (items.get(i).hasFinished() && items.get(i).getFinished().getStep().startsWith(prefix)) {
                return arrivedNanos.get(i);
            }
        }
        throw new AssertionError("no finished item for a step " + prefix + "* in " + items);
    }

    /** The one finished item of the step whose id starts with {@code prefix}. */
    static StepFinished step(List<StepFinished> steps, String prefix) {
        List<StepFinished> found = steps.stream().filter(s -> s.getStep().startsWith(prefix)).toList();
        assertThat(found).as("steps starting with %s in %s", prefix, steps).hasSize(1);
        return found.get(0);
    }

    static <T> Map<String, T> byStep(List<StepFinished> steps, Function<StepFinished, T> f) {
        return steps.stream().collect(Collectors.toMap(StepFinished::getStep, f));
    }
}
