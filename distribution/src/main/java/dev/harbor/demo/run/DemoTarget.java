package dev.harbor.demo.run;

import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.List;
import java.util.Map;

/**
 * A running demo cluster as {@link DemoRun} sees it, wherever it runs: node processes on this machine
 * ({@link DemoCluster}) or containers. Every address must be reachable from this program.
 */
public interface DemoTarget {
    /** The node ids. */
    List<Integer> nodes();

    /** host:port of node {@code id}'s gRPC server (its admin API, and the coordinator's API on its node). */
    String address(int id);

    /** The node that hosts the coordinator. */
    int coordinatorNode();

    /** The coordinator's bearer token. */
    String token();

    /** The gateways' client addresses. */
    List<InetSocketAddress> gateways();

    /** A JDBC URL of the writer's database, for reading it after the run. */
    String databaseUrl();

    /**
     * Waits for every node to end.
     *
     * @return each node's exit code, or null for one still running when {@code within} ran out
     */
    Map<Integer, Integer> awaitExit(Duration within) throws InterruptedException;
}
