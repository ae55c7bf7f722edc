package dev.harbor.it;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import dev.harbor.cli.NodeConfig;
import dev.harbor.cli.NodeProcess;
import dev.harbor.proto.ListServicesRequest;
import dev.harbor.proto.NodeGrpc;
import dev.harbor.security.Tls;
import io.grpc.ChannelCredentials;
import io.grpc.Grpc;
import io.grpc.InsecureChannelCredentials;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.reflection.v1.ServerReflectionGrpc;
import io.grpc.reflection.v1.ServerReflectionRequest;
import io.grpc.reflection.v1.ServerReflectionResponse;
import io.grpc.reflection.v1.ServiceResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AutoClose;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Mutual TLS between node processes, from PEM files a throwaway CA ({@link TestCa}) issues at test time:
 * the whole ordered shutdown runs over it; a node or client whose certificate comes from another CA is
 * refused, and so are plaintext connections and TLS clients without a certificate.
 */
@Timeout(180)
class MutualTlsTest {
    @AutoClose // after each test, if the test got as far as making one
    private CoordinatedCluster c;

    @Test
    void aClusterOnMutualTlsRunsTheOrderedShutdown() {
        c = new CoordinatedCluster("mtls", 1, 2, 3);
        TestCa ca = TestCa.create(c.cluster.dir(), "cluster");
        c.secure(ca, ca.issue("node"));
        CoordinatedShutdownTest.drainsEveryRoleInPlanOrderAndStopsEveryNode(c);
        for (int id = 1; id <= 3; id++) {
            assertThat(c.logSays(id, "linked to node")).as("node %d linked over TLS", id).isTrue();
        }
    }

    @Test
    void anotherCasCertificatesPlaintextAndMissingClientCertificatesAreRefused() throws Exception {
        c = new CoordinatedCluster("mtls-refusal", 1);
        Path dir = c.cluster.dir();
        TestCa ca = TestCa.create(dir, "cluster");
        TestCa rogue = TestCa.create(dir, "rogue");
        TestCa.Issued good = ca.issue("node");
        c.secure(ca, good);
        c.start(1, CoordinatedCluster.relay("relay-1"));
        String address = c.cluster.address(1);

        // A client presenting the cluster's certificate is served.
        assertThat(list(address, Tls.client(ca.certificate, good.cert(), good.key()))).isEqualTo(1);
        // ... and can list the node's services through reflection, as grpcurl -cacert -cert -key ... list would.
        ManagedChannel secure = c.cluster.channel(1);
        io.grpc.stub.BlockingClientCall<ServerReflectionRequest, ServerReflectionResponse> reflection =
                ServerReflectionGrpc.newBlockingV2Stub(secure).withDeadlineAfter(10, TimeUnit.SECONDS).serverReflectionInfo();
        reflection.write(ServerReflectionRequest.newBuilder().setListServices("").build());
        assertThat(reflection.read().getListServicesResponse().getServiceList()).extracting(ServiceResponse::getName)
                .contains("harbor.v1.Node", "harbor.v1.Coordinator", "harbor.v1.Harbor", "grpc.health.v1.Health");
        reflection.halfClose();
        // Plaintext, TLS without a client certificate, and a certificate of another CA are all refused.
        TestCa.Issued stranger = rogue.issue("stranger");
        for (ChannelCredentials refused : new ChannelCredentials[] {InsecureChannelCredentials.create(),
                Tls.client(ca.certificate, null, null), Tls.client(ca.certificate, stranger.cert(), stranger.key())}) {
            assertThatThrownBy(() -> list(address, refused)).isInstanceOfSatisfying(StatusRuntimeException.class,
                    e -> assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.UNAVAILABLE));
        }

        // A node whose certificate chains to the rogue CA (and which trusts it) cannot link to the cluster.
        try (NodeProcess intruder = NodeProcess.start(NodeConfig.load(null, Map.of(
                "HARBOR_NODE_ID", "9",
                "HARBOR_NODE_LISTEN", "127.0.0.1:0",
                "HARBOR_CLUSTER_NAME", "mtls-refusal",
                "HARBOR_CLUSTER_PEERS", address,
                "HARBOR_TLS_CERT", stranger.cert().toString(),
                "HARBOR_TLS_KEY", stranger.key().toString(),
                "HARBOR_TLS_CA", rogue.certificate.toString())))) {
            // It keeps dialling (once per heartbeat) and is refused each time: for three seconds, no link either way.
            await().during(Duration.ofSeconds(3)).atMost(Duration.ofSeconds(5))
                    .until(() -> intruder.harbor().connected().isEmpty());
            assertThat(c.services(1)).noneSatisfy(s -> assertThat(s.getHandle().getNode()).isEqualTo(9));
            assertThat(c.logSays(1, "linked to node 9")).isFalse();
        }
        // The cluster's node is still up and serving its own.
        assertThat(list(address, Tls.client(ca.certificate, good.cert(), good.key()))).isEqualTo(1);
    }

    private static int list(String address, ChannelCredentials credentials) {
        ManagedChannel channel = Grpc.newChannelBuilder(address, credentials).build();
        try {
            return NodeGrpc.newBlockingStub(channel).withDeadlineAfter(10, TimeUnit.SECONDS)
                    .listServices(ListServicesRequest.getDefaultInstance()).getNode();
        } finally {
            channel.shutdownNow();
        }
    }
}
