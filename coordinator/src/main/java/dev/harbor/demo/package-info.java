/**
 * The demo: a chat room ({@code ChatSession}, a gateway {@code Session} that stores every line through
 * the writer), a local three-node cluster ({@code DemoCluster}), simulated clients ({@code DemoClient}),
 * a shutdown under load and the zero-loss check ({@code DemoRun}, {@code DemoReport}), and the commands
 * {@code harbor demo} and {@code harbor demo-clients}. A leaf: nothing but tests and benchmarks may depend on it.
 */
package dev.harbor.demo;
