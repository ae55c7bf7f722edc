/**
 * The shutdown plan as a pure model: {@code Plan.of} turns registrations and node dependencies into a
 * graph of {@code Step}s ({@code DRAIN}, {@code STATELESS}, {@code NODE}, {@code BARRIER}), refuses
 * cycles, and checks the worst case against a budget ({@code PlanRefused}). Immutable, no I/O, no threads.
 * {@code Execution} runs one plan as a pure state machine: events in (exit events, timers, listings,
 * answers, each with the caller's clock reading), commands out; no I/O, no threads, no clock.
 * Depends only on {@code service} (handles, the monitor's tag) and {@code shutdown.OrderedExit}'s names.
 */
package dev.harbor.plan;
