package dev.harbor.plan;

/** A plan that cannot be made or cannot run as asked: a cycle, a budget too small, an unknown node. Nothing was touched. */
public class PlanRefused extends Exception {
    public PlanRefused(String message) {
        super(message);
    }
}
