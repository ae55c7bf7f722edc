package dev.harbor.ops;

import dev.harbor.cli.NodeConfig;
import dev.harbor.cli.NodeProcess;
import io.grpc.Grpc;
import io.grpc.InsecureChannelCredentials;
import io.grpc.ManagedChannel;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/** Node processes in this JVM on loopback (free ports), and plaintext channels to them; closing stops them all. */
final class Nodes implements AutoCloseable {
    private final String cluster;
    private final List<NodeProcess> nodes = new ArrayList<>();
    private final List<ManagedChannel> channels = new ArrayList<>();

    Nodes(String cluster) {
        this.cluster = cluster;
    }

    /** Starts node {@code id} with extra settings given as HARBOR_* variables. */
    NodeProcess start(int id, Map<String, String> env) throws NodeProcess.StartException {
        Map<String, String> all = new HashMap<>(env);
        all.put("HARBOR_NODE_ID", Integer.toString(id));
        all.put("HARBOR_NODE_LISTEN", "127.0.0.1:0");
        all.put("HARBOR_CLUSTER_NAME", cluster);
        NodeProcess p = NodeProcess.start(NodeConfig.load(null, all));
        nodes.add(p);
        return p;
    }

    ManagedChannel channel(NodeProcess p) {
        ManagedChannel c = Grpc.newChannelBuilder(p.advertise(), InsecureChannelCredentials.create()).build();
        channels.add(c);
        return c;
    }

    @Override
    public void close() {
        channels.forEach(ManagedChannel::shutdownNow);
        nodes.forEach(NodeProcess::stop);
    }
}
