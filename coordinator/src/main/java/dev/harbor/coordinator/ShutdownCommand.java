package dev.harbor.coordinator;

import dev.harbor.proto.ExitEvent;
import dev.harbor.proto.Report;
import dev.harbor.proto.ShutdownProgress;
import dev.harbor.proto.ShutdownRequest;
import dev.harbor.proto.StepFinished;
import io.grpc.StatusRuntimeException;
import java.io.PrintWriter;
import java.util.Iterator;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code harbor shutdown}: runs (or joins) the shutdown and prints its progress; exits 1 unless it ended clean,
 * and a run with a node it could not confirm stopped is never clean (each such node is printed with why).
 */
@Command(name = "shutdown", mixinStandardHelpOptions = true,
        description = "Shut the cluster down in order through the coordinator and follow the progress.")
final class ShutdownCommand extends CoordinatorClientCommand {
    @Option(names = "--dry-run", description = "Print the plan and the budget check; touch nothing.")
    boolean dryRun;

    @Override
    public Integer call() {
        int budgetMs = budgetMs();
        return withCoordinator(stub -> {
            PrintWriter out = out();
            Report report = null;
            try {
                Iterator<ShutdownProgress> it = stub.shutdown(ShutdownRequest.newBuilder().setDryRun(dryRun)
                        .setBudgetMs(budgetMs).addAllNodes(nodes).build());
                while (it.hasNext()) {
                    ShutdownProgress p = it.next();
                    switch (p.getItemCase()) {
                        case PLAN -> {
                            PlanCommand.print(out, p.getPlan());
                            if (dryRun) {
                                return p.getPlan().getRefusal().isEmpty() ? 0 : 1;
                            }
                        }
                        case STARTED -> out.printf("%7s ms  started   %s%n", Long.toUnsignedString(p.getAtMs()), p.getStarted().getStep());
                        case FINISHED -> {
                            StepFinished f = p.getFinished();
                            out.printf("%7s ms  %-9s %s (%s ms)%s%n", Long.toUnsignedString(p.getAtMs()), f.getOutcome(), f.getStep(),
                                    Long.toUnsignedString(f.getDurationMs()),
                                    f.getDetail().isEmpty() ? "" : ": " + f.getDetail());
                        }
                        case EXIT -> {
                            ExitEvent e = p.getExit();
                            out.printf("%7s ms  exit      :%04x%016x node %s %s%s%s%n", Long.toUnsignedString(p.getAtMs()),
                                    e.getHandle().getNode(), e.getHandle().getId(), Integer.toUnsignedString(e.getNode()), e.getReason(),
                                    e.getNamesCount() == 0 ? "" : " " + e.getNamesList(), e.getDetail().isEmpty() ? "" : " (" + e.getDetail() + ")");
                        }
                        case REPORT -> report = p.getReport();
                        case ITEM_NOT_SET -> { }
                    }
                    out.flush();
                }
            } catch (StatusRuntimeException e) {
                return failed(e.getStatus());
            }
            if (report == null) {
                err().println("harbor shutdown: the progress stream ended without a report");
                err().flush();
                return 1;
            }
            out.printf("run %s %s in %s ms (budget %s ms, critical path %s ms)%n", report.getRunId(),
                    report.getClean() ? "ended clean" : "did NOT end clean", Long.toUnsignedString(report.getTotalMs()),
                    Integer.toUnsignedString(report.getBudgetMs()), Long.toUnsignedString(report.getCriticalPathMs()));
            for (String node : report.getUnconfirmedList()) {
                out.printf("  not confirmed stopped: %s%n", node);
            }
            for (String address : report.getUnansweredList()) {
                out.printf("  no node ever answered at %s%n", address);
            }
            out.flush();
            return report.getClean() ? 0 : 1;
        });
    }
}
