package dev.harbor.cli;

import dev.harbor.transport.Harbor;
import dev.harbor.service.Node;
import io.grpc.ServerServiceDefinition;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.ServiceLoader;

/**
 * A part of the node process that lives in another module (the shutdown coordinator), found on the
 * class path with {@link ServiceLoader}. It owns some config keys, may add gRPC services to the node's
 * server and commands to the command line, and takes part in the node's ordered stop.
 *
 * <p>Lifecycle, all on the node process's start and stop threads: {@link #prepare} (before the server
 * starts), {@link #started} (after the server, transport and configured services have started),
 * {@link #drain} (SIGTERM only, before the node stops), {@link #close} (after the node stopped).
 */
public interface NodeExtension {

    /** The config keys it reads; they may be set in the file or as HARBOR_* variables like any other. */
    List<String> keys();

    /** One line of help per key of {@link #keys} (what it sets, its default), for {@code harbor node --help}. */
    default Map<String, String> keyHelp() {
        return Map.of();
    }

    /**
     * Gets ready, reading its keys from {@code settings} (only those that are set; also the node's
     * {@code coordinator.token}, resolved from its file, if the cluster has a token).
     *
     * @return gRPC services to add to the node's server (none if the settings leave it off)
     * @throws IllegalArgumentException naming the key for a bad setting; the node does not start
     */
    List<ServerServiceDefinition> prepare(Node node, Harbor harbor, Map<String, String> settings);

    /**
     * Registers its meters (called right after {@link #prepare}); they are served with the node's on
     * {@code /metrics}. Meters must read state lazily (gauges, function counters), not slow the node.
     */
    default void bindMetrics(io.micrometer.core.instrument.MeterRegistry registry) {
    }

    /** The node is up. */
    default void started() {
    }

    /**
     * The cluster declared the node's life lost and it has started a new one in the same process
     * ({@code membership.on-lost=rejoin}): every service of the old life has ended and the configured
     * services have been launched again; launch again whatever this extension runs.
     */
    default void newLife() {
    }

    /** The node was told to stop (SIGTERM): drain what must be drained, within {@code budget}. */
    default void drain(Duration budget) {
    }

    /** The node has stopped. */
    default void close() {
    }

    /** picocli command objects to add to the command line. */
    default List<Object> commands() {
        return List.of();
    }

    /** The extensions on the class path. */
    static List<NodeExtension> installed() {
        return ServiceLoader.load(NodeExtension.class).stream().map(ServiceLoader.Provider::get).toList();
    }
}
