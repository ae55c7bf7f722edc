/**
 * The shutdown plan as a pure model: {@code Plan.of} turns registrations and node dependencies into a
 * graph of {@code Step}s ({@code DRAIN}, {@code STATELESS}, {@code NODE}, {@code BARRIER}), refuses
 * cycles, and checks the worst case against a budget ({@code PlanRefused}). Immutable, no I/O, no threads.
 * Depends only on {@code service.Handle} and {@code shutdown.OrderedExit}'s role names.
 */
package dev.harbor.plan;
