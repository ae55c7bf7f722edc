/**
 * The demo's local cluster and its tools: a three-node cluster of node processes ({@code DemoCluster}),
 * simulated clients ({@code DemoClient}), a shutdown under load and the zero-loss check ({@code DemoRun},
 * {@code DemoReport}), and the commands {@code harbor demo} and {@code harbor demo-clients}
 * ({@code DemoExtension}, an extension of the node process). A leaf: nothing but tests and benchmarks
 * may depend on it.
 */
package dev.harbor.demo.run;
