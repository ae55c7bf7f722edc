/**
 * Benchmarks of Harbor, each side by side with Apache Pekko typed actors in the same run.
 *
 * <ul>
 *   <li>{@link dev.harbor.benchmarks.SendThroughput}: actor-to-actor send throughput (JMH).</li>
 *   <li>{@link dev.harbor.benchmarks.CallLatency}: request/response round trip, from outside and from
 *       inside the runtime (JMH).</li>
 *   <li>{@link dev.harbor.benchmarks.IdleServiceMemory}: heap per idle service (a plain main).</li>
 *   <li>{@link dev.harbor.benchmarks.CrossNodeThroughput}: messages per second between two node
 *       processes on loopback, Harbor against Pekko Artery remoting and a bare gRPC stream (JMH; the
 *       receiving node runs in a child JVM, {@link dev.harbor.benchmarks.RemoteNode}).</li>
 *   <li>{@link dev.harbor.benchmarks.ExitEventLatency}: from a service's exit on one node process to
 *       the arrival of its exit event at a {@code WatchExits} subscriber in another (a plain main; the
 *       watched node runs in a child JVM, {@link dev.harbor.benchmarks.AdminNode}).</li>
 *   <li>{@link dev.harbor.benchmarks.ShutdownOverhead}: a coordinated shutdown of three node processes
 *       with 10,000 services, 1,000 registered in a chain of five roles, against the critical path of
 *       its steps' actual durations (a plain main; every node, the coordinator's included, runs in a
 *       child JVM, {@link dev.harbor.benchmarks.ShutdownNode}).</li>
 *   <li>{@link dev.harbor.benchmarks.WriterThroughput}: rows committed per second by the reference
 *       writer fed by concurrent callers, against a bare JDBC batch-insert loop on the same kind of
 *       embedded H2 file database (JMH, 1 fork).</li>
 * </ul>
 *
 * <p>Build, then run (the JMH defaults in the annotations, 2 forks of 3 x 3 s warm-up and 5 x 3 s
 * measurement per case, take about 7 minutes on 2 cores; the memory run about one more):
 * <pre>
 * ./mvnw -q install -DskipTests
 * java -jar benchmarks/target/benchmarks.jar -rf json -rff benchmarks/target/jmh-result.json
 * java -Xms8g -Xmx8g -cp benchmarks/target/benchmarks.jar dev.harbor.benchmarks.IdleServiceMemory
 * </pre>
 * Pass a benchmark name to run only it ({@code SendThroughput}, {@code CallLatency},
 * {@code CrossNodeThroughput}), and a count to the memory run for a smaller one ({@code 100000}).
 * {@code CrossNodeThroughput} has its own settings (1 fork, 8 x 3 s warm-up, 5 x 3 s measurement:
 * about 5 minutes for its 6 cases); run it alone on a quiet machine:
 * <pre>
 * java -jar benchmarks/target/benchmarks.jar CrossNodeThroughput -rf json -rff benchmarks/target/cross-node.json
 * java -cp benchmarks/target/benchmarks.jar dev.harbor.benchmarks.ExitEventLatency
 * java -cp benchmarks/target/benchmarks.jar dev.harbor.benchmarks.ShutdownOverhead
 * </pre>
 */
package dev.harbor.benchmarks;
