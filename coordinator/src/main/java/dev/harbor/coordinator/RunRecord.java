package dev.harbor.coordinator;

import dev.harbor.proto.PlanResponse;
import dev.harbor.proto.StepFinished;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The record of the run in progress, in one file, so a restarted coordinator can finish it: a first
 * line with the run's id, budget and plan, then one line per finished step, appended as each step
 * finishes. Each line is written before the coordinator goes on, so it survives the coordinator's
 * process being killed; it is not forced to the disk (that would cost a sync per step on the
 * coordinator's thread), so a crash of the whole machine may lose the last lines, and the restarted
 * coordinator then finds those steps done from the exit streams instead. Touched only by the
 * coordinator service's handlers.
 */
final class RunRecord {
    /** A run read back from disk. */
    record Saved(String id, int budgetMs, long startEpochMs, PlanResponse plan, Map<String, StepFinished.Outcome> finished) {
    }

    private final Path file;

    RunRecord(Path dir) {
        try {
            Files.createDirectories(dir);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot create the coordinator's state directory " + dir, e);
        }
        this.file = dir.resolve("run.current");
    }

    void begin(String id, int budgetMs, long startEpochMs, PlanResponse plan) {
        String line = "run " + id + " " + Integer.toUnsignedString(budgetMs) + " " + startEpochMs + " "
                + Base64.getEncoder().encodeToString(plan.toByteArray()) + "\n";
        try {
            Files.writeString(file, line, StandardCharsets.UTF_8, StandardOpenOption.CREATE, StandardOpenOption.TRUNCATE_EXISTING,
                    StandardOpenOption.WRITE);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write the run record " + file, e);
        }
    }

    void finished(String step, StepFinished.Outcome outcome) {
        try {
            Files.writeString(file, "done " + step + " " + outcome.name() + "\n", StandardCharsets.UTF_8,
                    StandardOpenOption.APPEND);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot append to the run record " + file, e);
        }
    }

    /** The run is over: keep its record beside, as {@code run-<id>.done}. */
    void end(String id) {
        try {
            Files.move(file, file.resolveSibling("run-" + id + ".done"), StandardCopyOption.REPLACE_EXISTING);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot close the run record " + file, e);
        }
    }

    /** The unfinished run on disk, if any. */
    Saved load() {
        if (!Files.exists(file)) {
            return null;
        }
        try {
            List<String> lines = Files.readAllLines(file, StandardCharsets.UTF_8);
            String[] head = lines.get(0).split(" ", 5);
            if (head.length != 5 || !head[0].equals("run")) {
                throw new IOException("the first line is not a run header");
            }
            PlanResponse plan = PlanResponse.parseFrom(Base64.getDecoder().decode(head[4]));
            Map<String, StepFinished.Outcome> done = new LinkedHashMap<>();
            for (String l : lines.subList(1, lines.size())) {
                String[] f = l.split(" ");
                if (f.length == 3 && f[0].equals("done")) {
                    done.put(f[1], StepFinished.Outcome.valueOf(f[2]));
                }
            }
            return new Saved(head[1], Integer.parseUnsignedInt(head[2]), Long.parseLong(head[3]), plan, done);
        } catch (IOException | RuntimeException e) {
            throw new IllegalStateException("the run record " + file + " is damaged (" + e.getMessage()
                    + "): move it away to start without it", e);
        }
    }
}
