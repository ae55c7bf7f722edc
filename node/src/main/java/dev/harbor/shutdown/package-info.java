/**
 * How a service takes part in an ordered shutdown: {@code OrderedExit.register} tags it with a role,
 * drain timeout and dependencies (so a coordinator that starts later learns it from the node's service
 * list) and registers it with the coordinator ({@code harbor.coordinator}) if one is up; on
 * {@code harbor.v1.Drain} the service finishes and calls {@code ctx.exit()}, and its exit event, not a
 * reply, is the proof. May depend on {@code service} and {@code proto} only.
 */
package dev.harbor.shutdown;
