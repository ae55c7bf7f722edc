package dev.harbor.plan;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.harbor.service.Handle;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;

class PlanTest {
    private static final Plan.Timeouts T = new Plan.Timeouts(Duration.ofSeconds(2), Duration.ofSeconds(5));

    private static Registration reg(int node, long id, String role, Duration timeout, String... dependsOn) {
        return new Registration(Handle.of(node, id), role, Set.of(dependsOn), timeout);
    }

    private static Plan plan(List<Registration> regs, Map<Integer, Set<Integer>> nodeDeps, Set<Integer> live, Set<Integer> scope)
            throws PlanRefused {
        return Plan.of(regs, nodeDeps, live, scope, T);
    }

    /** Whether step {@code later} (transitively) waits for step {@code earlier}. */
    private static boolean waitsFor(Plan p, String later, String earlier) {
        for (String a : p.step(later).after()) {
            if (a.equals(earlier) || waitsFor(p, a, earlier)) {
                return true;
            }
        }
        return false;
    }

    private static String id(String role, int node, long id) {
        return role + ":" + Handle.of(node, id);
    }

    @Test
    void gatewaysThenCustomRolesThenWritersThenStatelessThenNodes() throws PlanRefused {
        Plan p = plan(List.of(
                reg(1, 1, "gateway", Duration.ofSeconds(3)),
                reg(2, 2, "gateway", Duration.ofSeconds(3)),
                reg(3, 3, "writer", Duration.ofSeconds(4)),
                reg(2, 4, "matchmaker", Duration.ofSeconds(1))), Map.of(), Set.of(1, 2, 3), Set.of());
        String g1 = id("gateway", 1, 1);
        String g2 = id("gateway", 2, 2);
        String w = id("writer", 3, 3);
        String m = id("matchmaker", 2, 4);
        assertThat(waitsFor(p, m, g1)).isTrue();
        assertThat(waitsFor(p, m, g2)).isTrue();
        assertThat(waitsFor(p, w, m)).isTrue();
        assertThat(waitsFor(p, "stateless@1", w)).isTrue();
        assertThat(waitsFor(p, "node@1", "stateless@1")).isTrue();
        // Independent steps run in parallel: neither gateway waits for the other, nor any node for another.
        assertThat(waitsFor(p, g1, g2) || waitsFor(p, g2, g1)).isFalse();
        assertThat(waitsFor(p, "node@1", "node@2") || waitsFor(p, "node@2", "node@1")).isFalse();
        assertThat(p.step(g1).after()).isEmpty();
        // Every step comes after the steps it waits for.
        List<String> order = p.steps().stream().map(Step::id).toList();
        for (Step s : p.steps()) {
            for (String a : s.after()) {
                assertThat(order.indexOf(a)).isLessThan(order.indexOf(s.id()));
            }
        }
        // Critical path: gateway 3 s, matchmaker 1 s, writer 4 s, stateless 2 s, node 5 s.
        assertThat(p.criticalPath()).isEqualTo(Duration.ofSeconds(15));
        assertThat(p.criticalSteps()).containsAnyOf(g1, g2).contains(m, w, "stateless@1", "node@1");
        assertThat(p.criticalSteps().get(0)).isIn(g1, g2);
        // Barriers keep the graph small: a matchmaker waits for one barrier, not for every gateway.
        assertThat(p.step(m).after()).containsExactly(Plan.barrier("gateway"));
        assertThat(p.step(Plan.barrier("gateway")).after()).containsExactlyInAnyOrder(g1, g2);
        assertThat(p.step(Plan.barrier("gateway")).timeout()).isZero();
        assertThat(p.nodes()).containsExactly(1, 2, 3);
    }

    @Test
    void declaredDependenciesOrderCustomRolesAndWinOverContradictedDefaults() throws PlanRefused {
        Plan p = plan(List.of(
                reg(1, 1, "lobby", Duration.ofSeconds(1), "matchmaker"),
                reg(1, 2, "matchmaker", Duration.ofSeconds(1)),
                reg(1, 3, "writer", Duration.ofSeconds(1), "cache"),
                reg(1, 4, "cache", Duration.ofSeconds(1))), Map.of(), Set.of(1), Set.of());
        assertThat(waitsFor(p, id("matchmaker", 1, 2), id("lobby", 1, 1))).isTrue();
        // The writer depends on the cache, so it stops first, though custom roles default to before writers.
        assertThat(waitsFor(p, id("cache", 1, 4), id("writer", 1, 3))).isTrue();
        assertThat(waitsFor(p, id("writer", 1, 3), id("cache", 1, 4))).isFalse();
    }

    @Test
    void nodesStopDependentsFirst() throws PlanRefused {
        // Node 3 depends on 2, which depends on 1: 3 stops first, 1 last.
        Plan p = plan(List.of(), Map.of(3, Set.of(2), 2, Set.of(1)), Set.of(1, 2, 3), Set.of());
        assertThat(waitsFor(p, "node@2", "node@3")).isTrue();
        assertThat(waitsFor(p, "node@1", "node@2")).isTrue();
        assertThat(waitsFor(p, "node@3", "node@1")).isFalse();
        assertThat(p.criticalPath()).isEqualTo(Duration.ofSeconds(2 + 5 * 3));
    }

    @Test
    void aCycleIsRefusedAndNamed() {
        assertThatThrownBy(() -> plan(List.of(
                reg(1, 1, "lobby", Duration.ofSeconds(1), "matchmaker"),
                reg(1, 2, "matchmaker", Duration.ofSeconds(1), "lobby")), Map.of(), Set.of(1), Set.of()))
                .isInstanceOf(PlanRefused.class)
                .hasMessageContaining("cycle between roles: lobby -> matchmaker -> lobby");
        org.assertj.core.api.Assertions.assertThatCode(() -> plan(List.of(reg(1, 1, "gateway", Duration.ofSeconds(1)),
                reg(1, 2, "edge", Duration.ofSeconds(1), "gateway")), Map.of(), Set.of(1), Set.of()))
                .as("a custom role that depends on gateways reverses the default; that alone is no cycle")
                .doesNotThrowAnyException();
        assertThatThrownBy(() -> plan(List.of(), Map.of(1, Set.of(2), 2, Set.of(1)), Set.of(1, 2), Set.of()))
                .isInstanceOf(PlanRefused.class)
                .hasMessageContaining("cycle: node@1 -> node@2 -> node@1");
        assertThatThrownBy(() -> plan(List.of(reg(1, 1, "relay", Duration.ofSeconds(1), "relay")), Map.of(), Set.of(1), Set.of()))
                .isInstanceOf(PlanRefused.class).hasMessageContaining("role relay depends on itself");
    }

    @Test
    void aPlanThatCannotFitTheBudgetIsRefusedWithItsCriticalPath() throws PlanRefused {
        Plan p = plan(List.of(reg(1, 1, "gateway", Duration.ofSeconds(20)), reg(1, 2, "writer", Duration.ofSeconds(10))),
                Map.of(), Set.of(1), Set.of());
        assertThat(p.criticalPath()).isEqualTo(Duration.ofSeconds(37));
        assertThatThrownBy(() -> p.checkBudget(Duration.ofSeconds(30)))
                .isInstanceOf(PlanRefused.class)
                .hasMessageContaining("takes up to 37000 ms")
                .hasMessageContaining("more than the budget of 30000 ms")
                .hasMessageContaining(id("gateway", 1, 1) + " -> done:gateway -> " + id("writer", 1, 2)
                        + " -> done:writer -> stateless@1 -> node@1");
        p.checkBudget(Duration.ofSeconds(37));
        // If each of the four real steps on the path is escalated and needs 1 s more to confirm its kill:
        assertThat(p.worstCase(Duration.ofSeconds(1))).isEqualTo(Duration.ofSeconds(41));
        assertThatThrownBy(() -> p.checkBudget(Duration.ofSeconds(40), Duration.ofSeconds(1)))
                .hasMessageContaining("plus 1000 ms for each of its 4 steps to confirm a kill");
    }

    @Test
    void theBudgetCheckComparesTheWorstCaseAndARefusalNamesTheBudgetThatWouldPassAndTheDominantSteps() throws PlanRefused {
        // The case: 8000 ms of timeouts on the critical path, three escalatable steps.
        Plan p = plan(List.of(reg(1, 1, "gateway", Duration.ofSeconds(1))), Map.of(), Set.of(1), Set.of());
        Duration grace = Duration.ofSeconds(1);
        assertThat(p.criticalPath()).isEqualTo(Duration.ofMillis(8000));
        assertThat(p.escalatableSteps()).isEqualTo(3);
        assertThat(p.worstCase(grace)).isEqualTo(Duration.ofMillis(11_000));
        p.checkBudget(Duration.ofMillis(11_000), grace); // exactly the worst case fits
        assertThatThrownBy(() -> p.checkBudget(Duration.ofMillis(10_999), grace))
                .isInstanceOf(PlanRefused.class)
                .hasMessageContaining("takes up to 11000 ms in the worst case, more than the budget of 10999 ms")
                .hasMessageContaining("is 8000 ms of step timeouts plus 1000 ms for each of its 3 steps to confirm a kill")
                .hasMessageContaining("A budget of 11000 ms or more would pass (--budget 11000ms)")
                .hasMessageContaining("dominate it: node@1 5000 ms, stateless@1 2000 ms, " + id("gateway", 1, 1) + " 1000 ms");
    }

    @Test
    void aScopeStopsOnlyItsNodesAndTheNodesThatDependOnThem() throws PlanRefused {
        List<Registration> regs = List.of(reg(1, 1, "gateway", Duration.ofSeconds(1)), reg(2, 2, "writer", Duration.ofSeconds(1)),
                reg(3, 3, "gateway", Duration.ofSeconds(1)));
        // Node 3 depends on node 2: stopping 2 takes 3 with it; node 1 stays.
        Plan p = plan(regs, Map.of(3, Set.of(2)), Set.of(1, 2, 3), Set.of(2));
        assertThat(p.nodes()).containsExactly(2, 3);
        assertThat(p.steps()).extracting(Step::id).doesNotContain(id("gateway", 1, 1), "node@1", "stateless@1")
                .contains(id("writer", 2, 2), id("gateway", 3, 3), "node@2", "node@3");
        assertThat(waitsFor(p, "node@2", "node@3")).isTrue();
        assertThatThrownBy(() -> plan(regs, Map.of(), Set.of(1, 2, 3), Set.of(2, 7)))
                .isInstanceOf(PlanRefused.class)
                .hasMessage("unknown node id(s) [7] in the scope: the known nodes are [1, 2, 3]");
    }

    @Test
    void badRegistrationsAreRefusedWithTheReason() {
        assertThatThrownBy(() -> reg(1, 1, "Gate Way", Duration.ofSeconds(1))).hasMessageContaining("is not a role");
        assertThatThrownBy(() -> reg(1, 1, "gateway", Duration.ZERO)).hasMessageContaining("must be positive");
    }
}
