package dev.harbor.coordinator;

import dev.harbor.proto.PlanRequest;
import dev.harbor.proto.PlanResponse;
import dev.harbor.proto.PlannedStep;
import io.grpc.StatusRuntimeException;
import java.io.PrintWriter;
import java.util.concurrent.TimeUnit;
import picocli.CommandLine.Command;

/** {@code harbor plan}: prints the shutdown plan and its budget check, touching nothing. */
@Command(name = "plan", mixinStandardHelpOptions = true, description = "Print the shutdown plan and check it against the budget.")
final class PlanCommand extends CoordinatorClientCommand {
    @Override
    public Integer call() {
        int budgetMs = budgetMs();
        return withCoordinator(stub -> {
            try {
                PlanResponse plan = stub.withDeadlineAfter(10, TimeUnit.SECONDS)
                        .plan(PlanRequest.newBuilder().setBudgetMs(budgetMs).addAllNodes(nodes).build());
                print(out(), plan);
                return plan.getRefusal().isEmpty() ? 0 : 1;
            } catch (StatusRuntimeException e) {
                return failed(e.getStatus());
            }
        });
    }

    static void print(PrintWriter out, PlanResponse plan) {
        out.printf("%-40s %-9s %5s %9s  %s%n", "STEP", "KIND", "NODE", "TIMEOUT", "AFTER");
        for (PlannedStep s : plan.getStepsList()) {
            String after = s.getAfterCount() == 0 ? "-" : s.getAfterCount() <= 3 ? String.join(", ", s.getAfterList())
                    : s.getAfterCount() + " steps";
            out.printf("%-40s %-9s %5s %7s ms  %s%n", s.getId(), s.getKind(), Integer.toUnsignedString(s.getNode()),
                    Long.toUnsignedString(s.getTimeoutMs()), after);
        }
        // The same names as the API's fields (worst_case_ms, critical_path_ms, escalation_grace_ms, budget_ms).
        out.printf("worst case %s ms = critical path %s ms (%s) + %d steps x %s ms escalation grace; budget %s ms%n",
                Long.toUnsignedString(plan.getWorstCaseMs()), Long.toUnsignedString(plan.getCriticalPathMs()),
                String.join(" -> ", plan.getCriticalStepsList()), Integer.toUnsignedLong(plan.getEscalatableSteps()),
                Long.toUnsignedString(plan.getEscalationGraceMs()), Integer.toUnsignedString(plan.getBudgetMs()));
        out.println(plan.getRefusal().isEmpty() ? "the plan fits the budget (worst case <= budget)" : "REFUSED: " + plan.getRefusal());
        for (String node : plan.getUnstoppableList()) {
            out.printf("  outside the plan, no run can stop it (the run will not end clean while it serves): %s%n", node);
        }
        out.flush();
    }
}
