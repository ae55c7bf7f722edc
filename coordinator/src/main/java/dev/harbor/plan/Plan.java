package dev.harbor.plan;

import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Collections;
import java.util.Deque;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;

/**
 * A shutdown plan: a dependency graph of {@link Step}s. Steps with no path between them may run in
 * parallel. Immutable.
 *
 * <p>The default order, from the design: gateways first; then custom roles, each before the roles it
 * depends on; then writers; then every node's stateless services; then the nodes, each before the
 * nodes it depends on. A dependency a registration declares wins over a default it contradicts (a
 * writer that depends on role {@code cache} stops before the cache services, though custom roles
 * default to stopping before writers). Dependencies are between roles: one registration that says
 * role {@code a} depends on role {@code b} orders every {@code a} before every {@code b}.
 */
public final class Plan {
    /** Timeouts for the steps that registrations do not time. */
    public record Timeouts(Duration stateless, Duration node) {
        public static final Timeouts DEFAULT = new Timeouts(Duration.ofSeconds(2), Duration.ofSeconds(5));
    }

    private final List<Step> steps;
    private final Map<String, Step> byId;
    private final Set<Integer> nodes;
    private final Duration criticalPath;
    private final List<String> criticalSteps;

    private Plan(List<Step> steps, Set<Integer> nodes) {
        this.steps = List.copyOf(steps);
        Map<String, Step> ids = new LinkedHashMap<>();
        for (Step s : steps) {
            ids.put(s.id(), s);
        }
        this.byId = Collections.unmodifiableMap(ids);
        this.nodes = Collections.unmodifiableSet(new TreeSet<>(nodes));
        // Longest path by timeouts, over the steps in topological order.
        Map<String, Duration> finish = new HashMap<>();
        Map<String, String> via = new HashMap<>();
        String last = null;
        Duration longest = Duration.ZERO;
        for (Step s : this.steps) {
            Duration start = Duration.ZERO;
            String from = null;
            for (String a : s.after()) {
                if (finish.get(a).compareTo(start) > 0) {
                    start = finish.get(a);
                    from = a;
                }
            }
            Duration end = start.plus(s.timeout());
            finish.put(s.id(), end);
            via.put(s.id(), from);
            if (end.compareTo(longest) > 0) {
                longest = end;
                last = s.id();
            }
        }
        List<String> path = new ArrayList<>();
        for (String at = last; at != null; at = via.get(at)) {
            path.add(0, at);
        }
        this.criticalPath = longest;
        this.criticalSteps = List.copyOf(path);
    }

    /**
     * A plan made before, from its steps (in an order where each comes after the steps it waits for),
     * as a restarted coordinator reads it back.
     */
    public static Plan restore(List<Step> steps) {
        Set<Integer> nodes = new TreeSet<>();
        for (Step s : steps) {
            if (s.kind() != Step.Kind.BARRIER) {
                nodes.add(s.node());
            }
        }
        return new Plan(steps, nodes);
    }

    /** The steps, each after every step it waits for. */
    public List<Step> steps() {
        return steps;
    }

    public Step step(String id) {
        return byId.get(id);
    }

    /** The nodes the plan stops. */
    public Set<Integer> nodes() {
        return nodes;
    }

    /** The longest chain of step timeouts: the most the plan can take. */
    public Duration criticalPath() {
        return criticalPath;
    }

    /** The steps on the critical path, first to last. */
    public List<String> criticalSteps() {
        return criticalSteps;
    }

    /**
     * Refuses a plan whose critical path does not fit {@code budget}.
     *
     * @throws PlanRefused saying by how much and along which steps
     */
    public void checkBudget(Duration budget) throws PlanRefused {
        checkBudget(budget, Duration.ZERO);
    }

    /**
     * Refuses a plan that cannot fit {@code budget} even if every step on its critical path is
     * escalated: its {@linkplain #worstCase worst case}, each step's timeout plus {@code escalationGrace},
     * the time allowed for the kill's exit event to arrive.
     *
     * @throws PlanRefused saying the worst case and its parts, the smallest budget that would pass, and
     *     the steps whose timeouts dominate it
     */
    public void checkBudget(Duration budget, Duration escalationGrace) throws PlanRefused {
        Duration worst = worstCase(escalationGrace);
        if (worst.compareTo(budget) > 0) {
            List<Step> longest = criticalSteps.stream().map(byId::get).filter(st -> st.kind() != Step.Kind.BARRIER)
                    .sorted((a, b) -> b.timeout().compareTo(a.timeout())).limit(3).toList();
            StringBuilder dominant = new StringBuilder();
            for (Step st : longest) {
                dominant.append(dominant.isEmpty() ? "" : ", ").append(st.id()).append(' ').append(st.timeout().toMillis()).append(" ms");
            }
            throw new PlanRefused("the plan takes up to " + worst.toMillis() + " ms in the worst case, more than the budget of "
                    + budget.toMillis() + " ms: its critical path (" + String.join(" -> ", criticalSteps) + ") is "
                    + criticalPath.toMillis() + " ms of step timeouts"
                    + (escalationGrace.isZero() ? "" : " plus " + escalationGrace.toMillis() + " ms for each of its "
                    + escalatableSteps() + " steps to confirm a kill") + ". A budget of " + worst.toMillis()
                    + " ms or more would pass (--budget " + worst.toMillis() + "ms), or lower the timeouts that dominate it: "
                    + dominant);
        }
    }

    /**
     * The figure the budget check uses: the longest the plan can take if every step on its critical
     * path is escalated, {@link #criticalPath()} plus {@code escalationGrace} per
     * {@linkplain #escalatableSteps() escalatable step}.
     */
    public Duration worstCase(Duration escalationGrace) {
        return criticalPath.plus(escalationGrace.multipliedBy(escalatableSteps()));
    }

    /** How many steps of the critical path can be escalated (all but role barriers). */
    public int escalatableSteps() {
        return (int) criticalSteps.stream().filter(id -> byId.get(id).kind() != Step.Kind.BARRIER).count();
    }

    /**
     * Makes the plan.
     *
     * @param registrations the registered services that are alive now
     * @param nodeDependencies for each node, the nodes it depends on (it stops before them)
     * @param liveNodes the nodes alive now
     * @param scope the nodes to stop (a rolling restart), or empty for all; nodes that depend on them
     *     stop with them
     * @throws PlanRefused for a cycle (named) or an unknown node in the scope
     */
    public static Plan of(Collection<Registration> registrations, Map<Integer, Set<Integer>> nodeDependencies,
            Set<Integer> liveNodes, Set<Integer> scope, Timeouts timeouts) throws PlanRefused {
        Set<Integer> nodes = nodesInScope(nodeDependencies, liveNodes, scope);
        List<Registration> regs = registrations.stream().filter(r -> nodes.contains(r.node()))
                .sorted((a, b) -> a.handle().compareTo(b.handle())).toList();

        Map<String, Set<String>> roleEdges = roleOrder(regs);
        Map<String, List<String>> stepsOfRole = new TreeMap<>();
        Map<String, Step> draft = new LinkedHashMap<>();
        for (Registration r : regs) {
            String id = r.role() + ":" + r.handle();
            stepsOfRole.computeIfAbsent(r.role(), x -> new ArrayList<>()).add(id);
            draft.put(id, new Step(id, Step.Kind.DRAIN, r.node(), r.handle(), r.role(), r.drainTimeout(), Set.of()));
        }
        // One barrier per role, done when all its services are: a role that must wait for another
        // waits for that barrier, so the graph has a few edges per step, not one per pair of services.
        Map<String, Set<String>> after = new HashMap<>();
        for (var role : stepsOfRole.entrySet()) {
            String barrier = barrier(role.getKey());
            draft.put(barrier, new Step(barrier, Step.Kind.BARRIER, 0, null, role.getKey(), Duration.ZERO, Set.of()));
            after.put(barrier, new LinkedHashSet<>(role.getValue()));
        }
        roleEdges.forEach((before, laters) -> {
            for (String later : laters) {
                for (String l : stepsOfRole.getOrDefault(later, List.of())) {
                    after.computeIfAbsent(l, x -> new LinkedHashSet<>()).add(barrier(before));
                }
            }
        });
        Set<String> allRoles = new LinkedHashSet<>();
        stepsOfRole.keySet().forEach(r -> allRoles.add(barrier(r)));
        for (int n : nodes) {
            String stateless = "stateless@" + n;
            draft.put(stateless, new Step(stateless, Step.Kind.STATELESS, n, null, null, timeouts.stateless(), Set.of()));
            after.put(stateless, new LinkedHashSet<>(allRoles));
        }
        for (int n : nodes) {
            String node = "node@" + n;
            draft.put(node, new Step(node, Step.Kind.NODE, n, null, null, timeouts.node(), Set.of()));
            Set<String> a = after.computeIfAbsent(node, x -> new LinkedHashSet<>());
            a.add("stateless@" + n);
            // Nodes that depend on n stop before it.
            nodeDependencies.forEach((dependent, on) -> {
                if (on.contains(n) && nodes.contains(dependent) && dependent != n) {
                    a.add("node@" + dependent);
                }
            });
        }
        List<Step> ordered = topological(draft, after);
        return new Plan(ordered, nodes);
    }

    /** The id of the step that is done when every service of {@code role} is. */
    public static String barrier(String role) {
        return "done:" + role;
    }

    private static Set<Integer> nodesInScope(Map<Integer, Set<Integer>> deps, Set<Integer> live, Set<Integer> scope)
            throws PlanRefused {
        Set<Integer> known = new TreeSet<>(live);
        if (scope.isEmpty()) {
            return known;
        }
        Set<Integer> unknown = new TreeSet<>(scope);
        unknown.removeAll(known);
        if (!unknown.isEmpty()) {
            throw new PlanRefused("unknown node id(s) " + unknown + " in the scope: the known nodes are " + known);
        }
        // A node that depends on a stopping node must stop first, so it joins the scope; and so on.
        Set<Integer> in = new TreeSet<>(scope);
        boolean grew = true;
        while (grew) {
            grew = false;
            for (var e : deps.entrySet()) {
                if (known.contains(e.getKey()) && !in.contains(e.getKey()) && e.getValue().stream().anyMatch(in::contains)) {
                    in.add(e.getKey());
                    grew = true;
                }
            }
        }
        return in;
    }

    /** Which roles stop before which: declared dependencies, then the defaults they do not contradict. */
    private static Map<String, Set<String>> roleOrder(List<Registration> regs) throws PlanRefused {
        Set<String> roles = new TreeSet<>();
        Map<String, Set<String>> edges = new TreeMap<>();
        for (Registration r : regs) {
            roles.add(r.role());
        }
        for (Registration r : regs) {
            for (String d : r.dependsOn()) {
                if (d.equals(r.role())) {
                    throw new PlanRefused("the plan has a cycle: role " + d + " depends on itself (" + r.handle() + ")");
                }
                if (roles.contains(d)) {
                    edges.computeIfAbsent(r.role(), x -> new TreeSet<>()).add(d);
                }
            }
        }
        for (String a : roles) {
            for (String b : roles) {
                if (rank(a) < rank(b) && !edges.getOrDefault(b, Set.of()).contains(a)) {
                    edges.computeIfAbsent(a, x -> new TreeSet<>()).add(b);
                }
            }
        }
        List<String> cycle = findCycle(roles, edges);
        if (cycle != null) {
            throw new PlanRefused("the plan has a cycle between roles: " + String.join(" -> ", cycle)
                    + " (each stops before the next); break one of these dependencies");
        }
        return edges;
    }

    private static int rank(String role) {
        return switch (role) {
            case Role.GATEWAY -> 0;
            case Role.WRITER -> 2;
            default -> 1;
        };
    }

    private static List<String> findCycle(Set<String> vertices, Map<String, Set<String>> edges) {
        Map<String, Integer> state = new HashMap<>(); // 1 = on the path, 2 = done
        Deque<String> path = new ArrayDeque<>();
        for (String v : vertices) {
            List<String> c = dfs(v, edges, state, path);
            if (c != null) {
                return c;
            }
        }
        return null;
    }

    private static List<String> dfs(String v, Map<String, Set<String>> edges, Map<String, Integer> state, Deque<String> path) {
        Integer s = state.get(v);
        if (s != null && s == 2) {
            return null;
        }
        if (s != null) {
            List<String> cycle = new ArrayList<>();
            boolean in = false;
            for (String p : path) {
                in |= p.equals(v);
                if (in) {
                    cycle.add(p);
                }
            }
            cycle.add(v);
            return cycle;
        }
        state.put(v, 1);
        path.addLast(v);
        for (String w : edges.getOrDefault(v, Set.of())) {
            List<String> c = dfs(w, edges, state, path);
            if (c != null) {
                return c;
            }
        }
        path.removeLast();
        state.put(v, 2);
        return null;
    }

    private static List<Step> topological(Map<String, Step> draft, Map<String, Set<String>> after) throws PlanRefused {
        Map<String, Set<String>> waitsFor = new HashMap<>();
        for (String id : draft.keySet()) {
            waitsFor.put(id, after.getOrDefault(id, Set.of()));
        }
        Map<String, Set<String>> edges = new HashMap<>(); // before -> laters, for cycle reports
        waitsFor.forEach((later, befores) -> befores.forEach(b -> edges.computeIfAbsent(b, x -> new TreeSet<>()).add(later)));
        List<String> cycle = findCycle(new TreeSet<>(draft.keySet()), edges);
        if (cycle != null) {
            throw new PlanRefused("the plan has a cycle: " + String.join(" -> ", cycle)
                    + " (each stops before the next); break one of the node dependencies");
        }
        List<Step> out = new ArrayList<>();
        Set<String> placed = new LinkedHashSet<>();
        while (placed.size() < draft.size()) {
            for (Step s : draft.values()) {
                if (!placed.contains(s.id()) && placed.containsAll(waitsFor.get(s.id()))) {
                    out.add(new Step(s.id(), s.kind(), s.node(), s.service(), s.role(), s.timeout(), waitsFor.get(s.id())));
                    placed.add(s.id());
                }
            }
        }
        return out;
    }
}
