package dev.harbor.benchmarks;

import dev.harbor.admin.NodeAdminService;
import dev.harbor.service.InternalNode;
import dev.harbor.service.Node;
import dev.harbor.service.Service;
import io.grpc.Grpc;
import io.grpc.InsecureServerCredentials;

/**
 * The watched node of {@link ExitEventLatency}, run in its own JVM by {@link ChildJvm}.
 *
 * <pre>
 * AdminNode PORT SERVICES
 * </pre>
 *
 * <p>Starts node {@value RemoteNode#CHILD_NODE} with {@code SERVICES} idle services (one shared handler
 * that ignores every message) and serves its admin API ({@link NodeAdminService}, the
 * {@code harbor.v1.Node} service) on 127.0.0.1:{@code PORT}, on a gRPC server with a direct executor as
 * the {@code harbor node} process has. No transport: the subscriber reaches the node over its admin
 * API, not over a link. Prints {@code READY} followed by the monitor's handle (the one service that
 * must not be killed), then runs until its standard input ends.
 */
public final class AdminNode {

    /** The idle service: ignores every message. One shared instance. */
    private static final Service IDLE = (ctx, m) -> null;

    private AdminNode() {
    }

    public static void main(String[] args) throws Exception {
        if (args.length != 2) {
            System.err.println("usage: AdminNode PORT SERVICES");
            System.exit(2);
        }
        int port = Integer.parseInt(args[0]);
        int services = Integer.parseInt(args[1]);
        Thread watchdog = ChildJvm.exitWhenParentGoes();

        Node node = Node.builder().id(RemoteNode.CHILD_NODE).build();
        for (int i = 0; i < services; i++) {
            node.launch(() -> IDLE);
        }
        NodeAdminService admin = new NodeAdminService(node, InternalNode.firstIdOfThisLife(node), node::stop);
        Grpc.newServerBuilderForPort(port, InsecureServerCredentials.create()).directExecutor()
                .addService(admin).build().start();
        System.out.println(ChildJvm.READY + " " + node.monitor());
        System.out.flush();
        watchdog.join();
    }
}
