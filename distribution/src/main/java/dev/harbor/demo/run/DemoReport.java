package dev.harbor.demo.run;

import dev.harbor.proto.PlanResponse;
import dev.harbor.proto.PlannedStep;
import dev.harbor.proto.Report;
import dev.harbor.proto.ShutdownProgress;
import dev.harbor.service.ExitEvent;
import java.io.PrintWriter;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;

/**
 * What a {@link DemoRun} saw, and the zero-loss checks made on it. Immutable once built.
 */
public final class DemoReport {
    /** One check: its name, whether it holds, and the figures behind it. */
    public record Check(String name, boolean passed, String detail) {
    }

    private final DemoRun.Options options;
    private final Map<String, String> roles = new HashMap<>();
    private final Report report;
    private final long shutdownMs;
    private final Instant shutdownStart;
    private final Map<Integer, Integer> exitCodes;
    private final Map<Integer, List<ExitEvent>> exits;
    private final List<Check> checks = new ArrayList<>();

    /** Acknowledged lines, stored lines, and the ones in one but not the other. */
    public final long acked;
    public final long stored;
    public final long refused;
    public final long lost;
    public final long storedNotAcked;
    public final long unanswered;
    public final long answeredTwice;
    public final int sessions;

    DemoReport(DemoRun.Options options, PlanResponse plan, List<ShutdownProgress> items, Report report, long shutdownMs,
            Instant shutdownStart, Map<Integer, Integer> exitCodes, List<DemoClient> clients, Map<String, Set<Long>> rows,
            Map<Integer, List<ExitEvent>> exits, Map<Integer, List<String>> alive) {
        this.options = options;
        this.report = report;
        this.shutdownMs = shutdownMs;
        this.shutdownStart = shutdownStart;
        this.exitCodes = exitCodes;
        this.exits = exits;
        for (PlannedStep s : plan.getStepsList()) {
            if (s.hasService()) {
                roles.put(String.format(":%04x%016x", s.getService().getNode(), s.getService().getId()), s.getRole());
            }
        }

        // 1. What the clients saw against what the database holds.
        ClientCheck clientCheck = new ClientCheck(clients, rows);
        this.acked = clientCheck.acked;
        this.stored = clientCheck.stored;
        this.refused = clientCheck.refused;
        this.lost = clientCheck.lost;
        this.storedNotAcked = clientCheck.storedNotAcked;
        this.unanswered = clientCheck.unanswered;
        this.answeredTwice = clientCheck.answeredTwice;
        this.sessions = clientCheck.sessions;
        checks.addAll(clientCheck.checks());

        // 2. Every service exited exactly once: per node, seqs 1..n without a gap or a repeat, each
        // handle once, and every service alive at the start among them.
        List<String> exitProblems = new ArrayList<>();
        int services = 0;
        for (var e : exits.entrySet()) {
            Set<String> seen = new HashSet<>();
            long expect = 1;
            for (ExitEvent ev : e.getValue()) {
                if (ev.seq() != expect) {
                    exitProblems.add("node " + e.getKey() + ": exit event #" + ev.seq() + " where #" + expect + " was due");
                }
                expect = ev.seq() + 1;
                if (!seen.add(ev.handle().toString())) {
                    exitProblems.add("node " + e.getKey() + ": " + ev.handle() + " exited twice");
                }
            }
            services += seen.size();
            for (String h : alive.getOrDefault(e.getKey(), List.of())) {
                if (!seen.contains(h)) {
                    exitProblems.add("node " + e.getKey() + ": " + h + " never exited");
                }
            }
        }
        checks.add(new Check("every service exited exactly once", exitProblems.isEmpty(),
                services + " exit events on " + exits.size() + " nodes" + (exitProblems.isEmpty() ? "" : ": " + exitProblems.subList(0, Math.min(5, exitProblems.size())))));

        // 3. Every node exited 0; 4. within the budget; and the coordinator's own verdict.
        checks.add(new Check("every node process exited 0", exitCodes.values().stream().allMatch(c -> c != null && c == 0),
                exitCodes.toString().replace("null", "still running")));
        checks.add(new Check("the shutdown fit its budget", shutdownMs <= options.budget().toMillis(),
                shutdownMs + " ms from the Shutdown call to the last node's exit, budget " + options.budget().toMillis() + " ms"));
        checks.add(new Check("the coordinator reports a clean run", report != null && report.getClean(),
                report == null ? "no report" : "run " + report.getRunId() + " " + report.getTotalMs() + " ms, "
                        + report.getStepsCount() + " steps, critical path of timeouts " + report.getCriticalPathMs() + " ms"));
        this.items = List.copyOf(items);
    }

    private final List<ShutdownProgress> items;

    /** The checks, in the order printed. */
    public List<Check> checks() {
        return List.copyOf(checks);
    }

    /** Whether every check holds. */
    public boolean passed() {
        return checks.stream().allMatch(Check::passed);
    }

    /** The coordinator's report (null if the stream ended without one). */
    public Report coordinatorReport() {
        return report;
    }

    /** The coordinator's progress stream, as received. */
    public List<ShutdownProgress> progress() {
        return items;
    }

    /** Each node's exit code (null: still running when the demo gave up waiting). */
    public Map<Integer, Integer> exitCodes() {
        return exitCodes;
    }

    /** Every exit event of each node, in order. */
    public Map<Integer, List<ExitEvent>> exits() {
        return exits;
    }

    /**
     * Prints the exit timeline of the shutdown (services with a role or a name one by one, client
     * sessions grouped per node) and the checks.
     */
    public void print(PrintWriter out) {
        out.println();
        out.println("Exit timeline (ms after the Shutdown call):");
        Map<Integer, long[]> sessionSpan = new TreeMap<>();
        Map<Integer, Map<String, Integer>> sessionReasons = new TreeMap<>();
        List<ExitEvent> all = new ArrayList<>();
        exits.values().forEach(all::addAll);
        all.sort((a, b) -> a.time().compareTo(b.time()));
        for (ExitEvent e : all) {
            long at = java.time.Duration.between(shutdownStart, e.time()).toMillis();
            if (at < 0) {
                continue; // ended before the shutdown (a client that quit)
            }
            String h = e.handle().toString();
            String role = roles.get(h);
            if (role == null && e.names().isEmpty()) {
                long[] span = sessionSpan.computeIfAbsent(e.node(), k -> new long[] {at, at, 0});
                span[1] = at;
                span[2]++;
                sessionReasons.computeIfAbsent(e.node(), k -> new LinkedHashMap<>()).merge(e.reason().toString(), 1, Integer::sum);
                continue;
            }
            out.printf("  %6d  node %d  %-22s %-8s %s%s%n", at, e.node(), h, role != null ? role : String.join(",", e.names()),
                    e.reason(), e.detail().isEmpty() ? "" : " (" + e.detail() + ")");
        }
        sessionSpan.forEach((node, span) -> out.printf("  %6d-%d  node %d  %d client sessions and other unnamed services: %s%n",
                span[0], span[1], node, span[2], sessionReasons.get(node)));
        out.println();
        out.println("Zero-loss check:");
        for (Check c : checks) {
            out.printf("  [%s] %s: %s%n", c.passed() ? "ok" : "FAILED", c.name(), c.detail());
        }
        out.println(passed() ? "All checks passed." : "Some checks FAILED.");
        out.flush();
    }
}
