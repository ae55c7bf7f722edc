/**
 * Metrics: {@code NodeMetrics} registers a node's meters (read lazily from counters the runtime keeps;
 * nothing is counted per message through Micrometer), {@code MetricsEndpoint} serves {@code /metrics},
 * {@code /health} and {@code /ready}; the registry is {@linkplain dev.harbor.service.Node#provide provided}
 * to the node's services, which publish their own meters on it.
 * Depends on {@code service}, {@code shutdown} and (for {@code NodeMetrics}) {@code transport}.
 */
package dev.harbor.metrics;
