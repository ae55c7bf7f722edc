/**
 * Metrics: {@code NodeMetrics} registers a node's meters (read lazily from counters the runtime keeps;
 * nothing is counted per message through Micrometer), {@code MetricsEndpoint} serves {@code /metrics},
 * {@code /health} and {@code /ready}, and {@code ServiceMeters} gives a service its node's registry.
 * Depends on {@code service}, {@code exit}, {@code shutdown} and (for {@code NodeMetrics}) {@code harbor}.
 */
package dev.harbor.metrics;
