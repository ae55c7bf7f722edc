package dev.harbor.it;

import dev.harbor.security.BearerAuth;
import dev.harbor.service.Node;
import dev.harbor.transport.Harbor;
import io.grpc.Grpc;
import io.grpc.InsecureChannelCredentials;
import io.grpc.InsecureServerCredentials;
import io.grpc.Server;
import java.util.Arrays;

/**
 * An application that embeds a harbor node, run as a process of its own by {@link ProcessCluster#startEmbedded}:
 * its node links to the cluster but its server carries the links only, no admin API, so a shutdown
 * coordinator can neither follow its exit stream nor stop it. Prints the ready line a node process
 * prints, then runs until it is killed.
 *
 * <p>Arguments: the node id, the address it listens on and advertises ({@code 127.0.0.1:port}), the
 * cluster's name, the peers' addresses (comma-separated), and the cluster's token if it has one (its
 * links carry it; its own server asks none).
 */
final class EmbeddedNode {
    private EmbeddedNode() {
    }

    public static void main(String[] args) throws Exception {
        int id = Integer.parseInt(args[0]);
        String address = args[1];
        Node node = Node.builder().id(id).build();
        Harbor harbor = Harbor.builder(node).cluster(args[2]).advertise(address).peers(Arrays.asList(args[3].split(",")))
                .credentials(BearerAuth.withToken(InsecureChannelCredentials.create(), args.length > 4 ? args[4] : null)).build();
        int port = Integer.parseInt(address.substring(address.lastIndexOf(':') + 1));
        Server server = Grpc.newServerBuilderForPort(port, InsecureServerCredentials.create()).addService(harbor.linkService())
                .build().start();
        harbor.start();
        System.out.println("harbor node " + id + " ready on " + address);
        server.awaitTermination();
    }
}
