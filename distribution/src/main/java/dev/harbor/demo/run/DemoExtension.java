package dev.harbor.demo.run;

import dev.harbor.cli.NodeExtension;
import dev.harbor.transport.Harbor;
import dev.harbor.service.Node;
import io.grpc.ServerServiceDefinition;
import java.util.List;
import java.util.Map;

/** Adds {@code harbor demo} and {@code harbor demo-clients} to the command line; it takes no part in a node's life. */
public final class DemoExtension implements NodeExtension {
    @Override
    public List<String> keys() {
        return List.of();
    }

    @Override
    public List<ServerServiceDefinition> prepare(Node node, Harbor harbor, Map<String, String> settings) {
        return List.of();
    }

    @Override
    public List<Object> commands() {
        return List.of(new DemoCommand(), new DemoClientsCommand());
    }
}
