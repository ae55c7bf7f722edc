package dev.harbor.ops;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import dev.harbor.wire.Wire;
import dev.harbor.cli.NodeProcess;
import dev.harbor.service.ExitReason;
import dev.harbor.proto.AbortRequest;
import dev.harbor.gateway.GatewayClient;
import dev.harbor.proto.CordonRequest;
import dev.harbor.proto.KillRequest;
import dev.harbor.proto.ListServicesRequest;
import dev.harbor.proto.NodeGrpc;
import dev.harbor.proto.Record;
import dev.harbor.proto.StopRequest;
import dev.harbor.security.BearerAuth;
import dev.harbor.service.CallException;
import dev.harbor.service.Handle;
import dev.harbor.service.Message;
import dev.harbor.service.Service;
import dev.harbor.service.ServiceContext;
import dev.harbor.shutdown.OrderedExit;
import dev.harbor.writer.Writer;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.health.v1.HealthCheckRequest;
import io.grpc.health.v1.HealthCheckResponse;
import io.grpc.health.v1.HealthCheckResponse.ServingStatus;
import io.grpc.health.v1.HealthGrpc;
import io.grpc.reflection.v1.ServerReflectionGrpc;
import io.grpc.reflection.v1.ServerReflectionRequest;
import io.grpc.reflection.v1.ServerReflectionResponse;
import io.grpc.reflection.v1.ServiceResponse;
import io.grpc.stub.StreamObserver;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * What an operator runs next to a node: Prometheus scraping {@code /metrics}, health checks, grpcurl
 * through reflection, and the token on the admin API's destructive calls. Two real node processes in
 * this JVM (real gRPC on loopback, real HTTP).
 */
class OperationsTest {
    static final String TOKEN = "ops-test-token-3f9a";
    private final Nodes nodes = new Nodes("ops");

    @AfterEach
    void stop() {
        nodes.close();
    }

    NodeProcess start(int id, Map<String, String> env) throws Exception {
        return nodes.start(id, env);
    }

    ManagedChannel channel(NodeProcess p) {
        return nodes.channel(p);
    }

    /** Registers as a gateway and answers calls with their payload. */
    static final class Gateway implements Service {
        @Override
        public void init(ServiceContext ctx) {
            OrderedExit.register(ctx, OrderedExit.GATEWAY, Duration.ofSeconds(1));
        }

        @Override
        public Object receive(ServiceContext ctx, Message m) {
            return m.payload();
        }
    }

    @Test
    void aNodeOnPortZeroListensAndAdvertisesAPortOutsideTheEphemeralRange() throws Exception {
        NodeProcess a = start(1, Map.of()); // node.listen=127.0.0.1:0
        // Ephemeral ports (Linux from 32768, others from 49152) are also given to outgoing connections,
        // which could take the port between its choice and the server's bind.
        assertThat(a.port()).isBetween(20_000, 31_999);
        assertThat(a.advertise()).isEqualTo("127.0.0.1:" + a.port());
        HealthCheckResponse health = HealthGrpc.newBlockingStub(channel(a)).withDeadlineAfter(5, TimeUnit.SECONDS)
                .check(HealthCheckRequest.getDefaultInstance());
        assertThat(health.getStatus()).isEqualTo(ServingStatus.SERVING);
    }

    @Test
    void prometheusScrapesTheNodesMetricsWithPlausibleValuesAfterTraffic() throws Exception {
        NodeProcess b = start(2, Map.of("HARBOR_METRICS_LISTEN", "127.0.0.1:0"));
        NodeProcess a = start(1, Map.of("HARBOR_METRICS_LISTEN", "127.0.0.1:0", "HARBOR_CLUSTER_PEERS", b.advertise()));
        await().atMost(Duration.ofSeconds(10)).until(() -> a.harbor().connected().contains(2) && b.harbor().connected().contains(1));
        Handle remoteEcho = b.node().launch(() -> (ctx, m) -> m.payload());
        Handle localEcho = a.node().launch(() -> (ctx, m) -> m.payload());
        a.node().launch(Gateway::new);
        await().atMost(Duration.ofSeconds(5)).until(() -> a.harbor().isAlive(remoteEcho));
        // 200 local calls, 100 remote calls, 300 local sends, 50 remote sends, all from a service.
        Handle driver = a.node().launch(() -> (ctx, m) -> {
            for (int i = 0; i < 200; i++) {
                ctx.call(localEcho, "l" + i, Duration.ofSeconds(5));
            }
            for (int i = 0; i < 100; i++) {
                ctx.call(remoteEcho, "r" + i, Duration.ofSeconds(5));
            }
            for (int i = 0; i < 300; i++) {
                ctx.send(localEcho, "s" + i);
            }
            for (int i = 0; i < 50; i++) {
                ctx.send(remoteEcho, "s" + i);
            }
            return "done";
        });
        assertThat(a.node().call(driver, "go", Duration.ofSeconds(30)).get(30, TimeUnit.SECONDS)).isEqualTo("done");
        Handle doomed = a.node().launch(() -> (ctx, m) -> null);
        a.node().kill(doomed);
        a.node().send(doomed, "to the dead"); // a dead letter: failed, local
        assertThatThrownBy(() -> a.node().callAndWait(doomed, "?", Duration.ofSeconds(1))).isInstanceOf(CallException.class);

        String text = scrape(a.metricsPort());
        Map<String, Double> m = parse(text);
        // Sent: at least the driver's own traffic (the exit-stream and link traffic of the runtime may add some).
        assertThat(m.get("harbor_messages_sent_total{node=\"1\",scope=\"local\"}")).isGreaterThanOrEqualTo(500);
        assertThat(m.get("harbor_messages_sent_total{node=\"1\",scope=\"remote\"}")).isGreaterThanOrEqualTo(150);
        // Received locally: the local echo handled 500, the driver 1.
        assertThat(m.get("harbor_messages_received_total{node=\"1\",scope=\"local\"}")).isGreaterThanOrEqualTo(501);
        // Received from node 2: what node 2 sent, none of it (replies to calls are not counted here).
        assertThat(m.get("harbor_messages_received_total{node=\"1\",scope=\"remote\"}")).isZero();
        // Node 2 gets the 100 calls and the 50 sends (those may still be on their way).
        await().atMost(Duration.ofSeconds(10)).untilAsserted(() -> assertThat(parse(scrape(b.metricsPort()))
                .get("harbor_messages_received_total{node=\"2\",scope=\"remote\"}")).isEqualTo(150));
        assertThat(m.get("harbor_messages_failed_total{node=\"1\",scope=\"local\"}")).isGreaterThanOrEqualTo(2);
        assertThat(m.get("harbor_messages_failed_total{node=\"1\",scope=\"remote\"}")).isZero();
        assertThat(m.get("harbor_exits_total{node=\"1\",reason=\"KILLED\"}")).isEqualTo(1);
        assertThat(m.get("harbor_exits_total{node=\"1\",reason=\"EXIT\"}")).isZero();
        assertThat(m.get("harbor_services{node=\"1\",role=\"gateway\"}")).isEqualTo(1);
        // The monitor, the local echo, the driver.
        assertThat(m.get("harbor_services{node=\"1\",role=\"none\"}")).isEqualTo(3);
        assertThat(m.get("harbor_peers_connected{node=\"1\"}")).isEqualTo(1);
        assertThat(m.get("harbor_membership_majority{node=\"1\"}")).isEqualTo(1);
        assertThat(m.get("harbor_membership_new_lives_total{node=\"1\"}")).isZero();
        assertThat(m).containsKey("harbor_membership_pauses_total{node=\"1\"}");
        assertThat(m.get("harbor_mailbox_depth_messages{node=\"1\"}")).isBetween(0.0, 350.0);
        // One call in 16 is timed: 12 of the 200 local calls, 6 of the 100 remote ones.
        assertThat(m.get("harbor_call_latency_seconds_count{node=\"1\",scope=\"local\"}")).isGreaterThanOrEqualTo(12);
        assertThat(m.get("harbor_call_latency_seconds_count{node=\"1\",scope=\"remote\"}")).isGreaterThanOrEqualTo(6);
        double remoteSum = m.get("harbor_call_latency_seconds_sum{node=\"1\",scope=\"remote\"}");
        assertThat(remoteSum / m.get("harbor_call_latency_seconds_count{node=\"1\",scope=\"remote\"}")).isBetween(1e-6, 5.0);
        assertThat(text).contains("# TYPE harbor_messages_sent_total counter", "# TYPE harbor_services gauge",
                "# TYPE harbor_call_latency_seconds histogram");

        // Counters only go up between scrapes; the gauge follows the services.
        a.node().launch(Gateway::new);
        Map<String, Double> later = parse(scrape(a.metricsPort()));
        assertThat(later.get("harbor_services{node=\"1\",role=\"gateway\"}")).isEqualTo(2);
        assertThat(later.get("harbor_messages_sent_total{node=\"1\",scope=\"local\"}"))
                .isGreaterThanOrEqualTo(m.get("harbor_messages_sent_total{node=\"1\",scope=\"local\"}"));
    }

    @Test
    void theGatewayAndTheWriterPublishTheirMetersOnTheNodesMetricsUntilTheyEnd(@TempDir java.nio.file.Path dir) throws Exception {
        NodeProcess a = start(1, Map.of("HARBOR_METRICS_LISTEN", "127.0.0.1:0"));
        Handle writer = a.node().launch(() -> new Writer("jdbc:h2:file:" + dir.resolve("db").toAbsolutePath()));
        Handle gateway = a.node().launch(() -> new dev.harbor.gateway.Gateway("127.0.0.1:0", session -> (ctx, id, verb, text) -> {
            if (verb.equals("BAD")) {
                throw new IllegalArgumentException("not this one");
            }
            return "fine";
        }, Duration.ofSeconds(5)));
        String listen = a.node().services().stream().filter(s -> s.handle().equals(gateway)).findFirst().orElseThrow()
                .tags().get(dev.harbor.gateway.Gateway.LISTEN_TAG);
        for (int i = 1; i <= 10; i++) {
            a.node().callAndWait(writer, Record.newBuilder().setStream("ops").setSeq(i).setBody("line " + i).build(),
                    Duration.ofSeconds(10));
        }
        Record malformed = Record.newBuilder().setStream("").setSeq(1).build();
        assertThatThrownBy(() -> a.node().callAndWait(writer, malformed, Duration.ofSeconds(10))).isInstanceOf(CallException.class);

        String w = "{node=\"1\",writer=\"writer\"}";
        String g = "{gateway=\"" + listen + "\",node=\"1\"}";
        try (GatewayClient client = GatewayClient.connect(new java.net.InetSocketAddress("127.0.0.1",
                Integer.parseInt(listen.substring(listen.lastIndexOf(':') + 1))), Duration.ofSeconds(10))) {
            client.send(1, "SAY", "hello");
            assertThat(client.read().kind()).isEqualTo("OK");
            client.send(2, "BAD", "");
            assertThat(client.read().kind()).isEqualTo("ERR");
            await().atMost(Duration.ofSeconds(10)).untilAsserted(() -> assertThat(parse(scrape(a.metricsPort()))
                    .get("harbor_gateway_sessions" + g)).isEqualTo(1));
            Map<String, Double> m = parse(scrape(a.metricsPort()));
            assertThat(m.get("harbor_gateway_requests_total{answer=\"ok\",gateway=\"" + listen + "\",node=\"1\"}")).isEqualTo(1);
            assertThat(m.get("harbor_gateway_requests_total{answer=\"err\",gateway=\"" + listen + "\",node=\"1\"}")).isEqualTo(1);
            assertThat(m.get("harbor_gateway_connections_refused_total" + g)).isZero();
            assertThat(m.get("harbor_writer_records_total{node=\"1\",outcome=\"committed\",writer=\"writer\"}")).isEqualTo(10);
            assertThat(m.get("harbor_writer_records_total{node=\"1\",outcome=\"refused\",writer=\"writer\"}")).isEqualTo(1);
            assertThat(m.get("harbor_writer_records_total{node=\"1\",outcome=\"failed\",writer=\"writer\"}")).isZero();
            // One caller waiting for each record: one commit each.
            assertThat(m.get("harbor_writer_commit_seconds_count" + w)).isEqualTo(10);
            assertThat(m.get("harbor_writer_commit_seconds_sum" + w)).isPositive();
            assertThat(m.get("harbor_writer_pending_records" + w)).isZero();
            assertThat(m.get("harbor_writer_database_errors_total" + w)).isZero();
        }
        await().atMost(Duration.ofSeconds(10)).untilAsserted(() -> assertThat(parse(scrape(a.metricsPort()))
                .get("harbor_gateway_sessions" + g)).isZero());

        // Gone with their services: a writer of the same name started later publishes fresh meters.
        a.node().kill(writer);
        a.node().kill(gateway);
        await().atMost(Duration.ofSeconds(10)).untilAsserted(() -> assertThat(scrape(a.metricsPort()))
                .doesNotContain("harbor_writer_records_total", "harbor_gateway_requests_total"));
        Handle again = a.node().launch(() -> new Writer("jdbc:h2:file:" + dir.resolve("db").toAbsolutePath()));
        a.node().callAndWait(again, Record.newBuilder().setStream("ops").setSeq(11).setBody("again").build(), Duration.ofSeconds(10));
        assertThat(parse(scrape(a.metricsPort())).get("harbor_writer_records_total{node=\"1\",outcome=\"committed\",writer=\"writer\"}"))
                .isEqualTo(1);
    }

    static String scrape(int port) throws Exception {
        HttpResponse<String> r = HttpClient.newHttpClient().send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port
                + "/metrics")).GET().build(), HttpResponse.BodyHandlers.ofString());
        assertThat(r.statusCode()).isEqualTo(200);
        assertThat(r.headers().firstValue("Content-Type")).get().asString().startsWith("text/plain");
        return r.body();
    }

    /** Prometheus text: series (name and labels, as printed) to value. */
    static Map<String, Double> parse(String text) {
        Map<String, Double> out = new HashMap<>();
        for (String line : text.split("\n")) {
            if (line.isBlank() || line.startsWith("#")) {
                continue;
            }
            int space = line.lastIndexOf(' ');
            out.put(line.substring(0, space), Double.parseDouble(line.substring(space + 1)));
        }
        return out;
    }

    /** The HTTP health endpoints a shell probe reads (the image's harbor-health): alive while running, ready while SERVING. */
    @Test
    void httpHealthSaysAliveWhileTheNodeRunsAndReadyUntilItIsCordoned() throws Exception {
        NodeProcess a = start(1, Map.of("HARBOR_METRICS_LISTEN", "127.0.0.1:0"));
        assertThat(get(a.metricsPort(), "/health")).isEqualTo("200 alive, ready\n");
        assertThat(get(a.metricsPort(), "/ready")).isEqualTo("200 ready\n");
        NodeGrpc.newBlockingStub(channel(a)).withDeadlineAfter(5, TimeUnit.SECONDS).cordon(CordonRequest.getDefaultInstance());
        assertThat(get(a.metricsPort(), "/health")).as("a cordoned, draining node is alive: not to be restarted")
                .isEqualTo("200 alive, not ready\n");
        assertThat(get(a.metricsPort(), "/ready")).isEqualTo("503 not ready\n");
    }

    private static String get(int port, String path) throws Exception {
        HttpResponse<String> r = HttpClient.newHttpClient().send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port
                + path)).GET().build(), HttpResponse.BodyHandlers.ofString());
        return r.statusCode() + " " + r.body();
    }

    @Test
    void healthSaysServingOnceStartedAndNotServingFromTheMomentTheNodeIsCordoned() throws Exception {
        NodeProcess a = start(1, Map.of());
        HealthGrpc.HealthBlockingStub health = HealthGrpc.newBlockingStub(channel(a)).withDeadlineAfter(5, TimeUnit.SECONDS);
        assertThat(health.check(HealthCheckRequest.getDefaultInstance()).getStatus()).isEqualTo(ServingStatus.SERVING);
        assertThat(health.check(HealthCheckRequest.newBuilder().setService("harbor.v1.Node").build()).getStatus())
                .isEqualTo(ServingStatus.SERVING);
        // A watch, as a load balancer holds one: each status as it changes.
        java.util.Iterator<HealthCheckResponse> watch = HealthGrpc.newBlockingStub(channel(a)).withDeadlineAfter(10, TimeUnit.SECONDS)
                .watch(HealthCheckRequest.getDefaultInstance());
        assertThat(watch.next().getStatus()).isEqualTo(ServingStatus.SERVING);
        // What the coordinator does when a run's first step on this node starts.
        NodeGrpc.newBlockingStub(channel(a)).withDeadlineAfter(5, TimeUnit.SECONDS).cordon(CordonRequest.getDefaultInstance());
        assertThat(watch.next().getStatus()).isEqualTo(ServingStatus.NOT_SERVING);
        // Still up and answering: only new work is turned away by whoever reads the health.
        assertThat(NodeGrpc.newBlockingStub(channel(a)).listServices(ListServicesRequest.getDefaultInstance()).getNode()).isEqualTo(1);
        assertThat(health.check(HealthCheckRequest.newBuilder().setService("harbor.v1.Node").build()).getStatus())
                .isEqualTo(ServingStatus.NOT_SERVING);
    }

    @Test
    void reflectionListsTheNodesServicesAndDescribesThemAsGrpcurlWouldAsk() throws Exception {
        NodeProcess a = start(1, Map.of());
        // The two requests grpcurl makes for "list" and "describe harbor.v1.Node", on one reflection stream.
        io.grpc.stub.BlockingClientCall<ServerReflectionRequest, ServerReflectionResponse> reflection =
                ServerReflectionGrpc.newBlockingV2Stub(channel(a)).withDeadlineAfter(10, TimeUnit.SECONDS).serverReflectionInfo();
        reflection.write(ServerReflectionRequest.newBuilder().setListServices("").build());
        reflection.write(ServerReflectionRequest.newBuilder().setFileContainingSymbol("harbor.v1.Node").build());
        List<ServerReflectionResponse> r = List.of(reflection.read(), reflection.read());
        reflection.halfClose();
        assertThat(r.get(0).getListServicesResponse().getServiceList()).extracting(ServiceResponse::getName)
                .contains("harbor.v1.Node", "harbor.v1.Harbor", "grpc.health.v1.Health", "grpc.reflection.v1.ServerReflection");
        List<com.google.protobuf.ByteString> files = r.get(1).getFileDescriptorResponse().getFileDescriptorProtoList();
        assertThat(files).isNotEmpty();
        com.google.protobuf.DescriptorProtos.FileDescriptorProto node = null;
        for (com.google.protobuf.ByteString f : files) {
            var proto = com.google.protobuf.DescriptorProtos.FileDescriptorProto.parseFrom(f);
            if (proto.getServiceList().stream().anyMatch(s -> s.getName().equals("Node"))) {
                node = proto;
            }
        }
        assertThat(node).as("the file that defines harbor.v1.Node").isNotNull();
        assertThat(node.getServiceList().stream().filter(s -> s.getName().equals("Node")).findFirst().orElseThrow().getMethodList())
                .extracting(com.google.protobuf.DescriptorProtos.MethodDescriptorProto::getName)
                .contains("WatchExits", "ListServices", "Kill", "KillMany", "Stop", "Abort", "Cordon");
    }

    @Test
    void olderToolsListTheNodesServicesThroughReflectionV1alpha() throws Exception {
        NodeProcess a = start(1, Map.of());
        // What older grpcurl and many tools still ask: the v1alpha ServerReflection service.
        io.grpc.stub.BlockingClientCall<io.grpc.reflection.v1alpha.ServerReflectionRequest, io.grpc.reflection.v1alpha.ServerReflectionResponse> reflection =
                io.grpc.reflection.v1alpha.ServerReflectionGrpc.newBlockingV2Stub(channel(a)).withDeadlineAfter(10, TimeUnit.SECONDS)
                        .serverReflectionInfo();
        reflection.write(io.grpc.reflection.v1alpha.ServerReflectionRequest.newBuilder().setListServices("").build());
        io.grpc.reflection.v1alpha.ServerReflectionResponse r = reflection.read();
        reflection.halfClose();
        assertThat(r.getListServicesResponse().getServiceList()).extracting(io.grpc.reflection.v1alpha.ServiceResponse::getName)
                .contains("harbor.v1.Node", "harbor.v1.Harbor", "grpc.health.v1.Health", "grpc.reflection.v1.ServerReflection",
                        "grpc.reflection.v1alpha.ServerReflection");
    }

    @Test
    void killStopAndAbortNeedTheTokenWhileListingDoesNot() throws Exception {
        NodeProcess a = start(1, Map.of("HARBOR_COORDINATOR_TOKEN", TOKEN));
        Handle victim = a.node().launch(() -> (ctx, m) -> m.payload());
        NodeGrpc.NodeBlockingStub anonymous = NodeGrpc.newBlockingStub(channel(a)).withDeadlineAfter(5, TimeUnit.SECONDS);
        NodeGrpc.NodeBlockingStub wrong = anonymous.withCallCredentials(BearerAuth.credentials("not-" + TOKEN));
        KillRequest kill = KillRequest.newBuilder().setHandle(Wire.handle(victim)).build();
        for (NodeGrpc.NodeBlockingStub stub : List.of(anonymous, wrong)) {
            assertThatThrownBy(() -> stub.kill(kill)).isInstanceOfSatisfying(StatusRuntimeException.class, e -> {
                assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.UNAUTHENTICATED);
                assertThat(e.getStatus().getDescription()).contains("token").doesNotContain(TOKEN);
            });
            assertThatThrownBy(() -> stub.abort(AbortRequest.getDefaultInstance()))
                    .extracting(e -> ((StatusRuntimeException) e).getStatus().getCode()).isEqualTo(Status.Code.UNAUTHENTICATED);
            assertThatThrownBy(() -> stub.stop(StopRequest.getDefaultInstance()))
                    .extracting(e -> ((StatusRuntimeException) e).getStatus().getCode()).isEqualTo(Status.Code.UNAUTHENTICATED);
            assertThatThrownBy(() -> stub.cordon(CordonRequest.getDefaultInstance()))
                    .extracting(e -> ((StatusRuntimeException) e).getStatus().getCode()).isEqualTo(Status.Code.UNAUTHENTICATED);
        }
        assertThat(HealthGrpc.newBlockingStub(channel(a)).check(HealthCheckRequest.getDefaultInstance()).getStatus())
                .as("health after refused Cordons").isEqualTo(ServingStatus.SERVING);
        assertThat(a.node().isAlive(victim)).isTrue();
        assertThat(a.node().exits().lastSeq()).isZero();
        assertThat(a.isStopped()).isFalse();
        assertThat(anonymous.listServices(ListServicesRequest.getDefaultInstance()).getServicesList()).hasSize(2);

        NodeGrpc.NodeBlockingStub right = anonymous.withCallCredentials(BearerAuth.credentials(TOKEN));
        assertThat(right.kill(kill).getKilled()).isTrue();
        assertThat(a.node().exits().find(victim)).get().extracting(e -> e.reason()).isEqualTo(ExitReason.KILLED);
    }

    @Test
    void nodesWithTheClustersTokenLinkWhileNodesWithoutItOrWithAnotherAreNotLinkedToThem() throws Exception {
        NodeProcess a = start(1, Map.of("HARBOR_COORDINATOR_TOKEN", TOKEN));
        Handle echo = a.node().launch(() -> (ctx, m) -> m.payload());
        NodeProcess b = start(2, Map.of("HARBOR_COORDINATOR_TOKEN", TOKEN, "HARBOR_CLUSTER_PEERS", a.advertise()));
        NodeProcess none = start(3, Map.of("HARBOR_CLUSTER_PEERS", a.advertise()));
        NodeProcess other = start(4, Map.of("HARBOR_COORDINATOR_TOKEN", "not-" + TOKEN, "HARBOR_CLUSTER_PEERS", a.advertise()));

        // Node 2 dials node 1 with the token, node 1 learns of it and dials back with it: linked both ways.
        await().atMost(Duration.ofSeconds(10)).until(() -> a.harbor().connected().contains(2) && b.harbor().connected().contains(1));
        assertThat(b.node().callAndWait(echo, "with the token", Duration.ofSeconds(5))).isEqualTo("with the token");
        // Nodes 3 and 4 dial node 1 too (every heartbeat at first, then every 5 s), refused before their Hello
        // is read: node 1 never learns of them, and they are linked to nothing.
        await().during(Duration.ofSeconds(2)).atMost(Duration.ofSeconds(5)).until(() -> !a.harbor().peerAddresses().containsKey(3)
                && !a.harbor().peerAddresses().containsKey(4) && none.harbor().connected().isEmpty() && other.harbor().connected().isEmpty());
        assertThat(a.harbor().connected()).containsExactly(2);
    }

    @Test
    void aRequestOverTheMessageLimitIsRefusedWithResourceExhausted() throws Exception {
        NodeProcess a = start(1, Map.of("HARBOR_LIMITS_MAX_MESSAGE_BYTES", "65536"));
        StringBuilder huge = new StringBuilder();
        while (huge.length() < 100_000) {
            huge.append("0123456789");
        }
        NodeGrpc.NodeBlockingStub stub = NodeGrpc.newBlockingStub(channel(a)).withDeadlineAfter(5, TimeUnit.SECONDS);
        dev.harbor.proto.KillManyRequest.Builder many = dev.harbor.proto.KillManyRequest.newBuilder();
        for (int i = 1; i <= 10_000; i++) {
            many.addHandles(dev.harbor.proto.Handle.newBuilder().setNode(1).setId(i));
        }
        assertThatThrownBy(() -> stub.killMany(many.build())).isInstanceOfSatisfying(StatusRuntimeException.class, e -> {
            assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.RESOURCE_EXHAUSTED);
            assertThat(e.getStatus().getDescription()).contains("exceeds maximum size 65536");
        });
        assertThat(stub.listServices(ListServicesRequest.getDefaultInstance()).getNode()).isEqualTo(1);
    }

    @Test
    void exitStreamsOverTheLimitAreRefusedWithResourceExhausted() throws Exception {
        NodeProcess a = start(1, Map.of("HARBOR_LIMITS_MAX_EXIT_STREAMS", "2"));
        List<io.grpc.stub.ClientCallStreamObserver<?>> open = new ArrayList<>();
        LinkedBlockingQueue<Status> ended = new LinkedBlockingQueue<>();
        LinkedBlockingQueue<Boolean> caughtUp = new LinkedBlockingQueue<>();
        for (int i = 0; i < 3; i++) {
            NodeGrpc.newStub(channel(a)).watchExits(dev.harbor.proto.WatchExitsRequest.getDefaultInstance(),
                    new io.grpc.stub.ClientResponseObserver<dev.harbor.proto.WatchExitsRequest, dev.harbor.proto.ExitStreamItem>() {
                        @Override
                        public void beforeStart(io.grpc.stub.ClientCallStreamObserver<dev.harbor.proto.WatchExitsRequest> call) {
                            open.add(call);
                        }

                        @Override
                        public void onNext(dev.harbor.proto.ExitStreamItem item) {
                            if (item.hasCaughtUp()) {
                                caughtUp.add(true);
                            }
                        }

                        @Override
                        public void onError(Throwable t) {
                            ended.add(Status.fromThrowable(t));
                        }

                        @Override
                        public void onCompleted() {
                            ended.add(Status.OK);
                        }
                    });
            if (i < 2) {
                assertThat(caughtUp.poll(5, TimeUnit.SECONDS)).as("stream %d is served", i).isTrue();
            }
        }
        Status third = ended.poll(5, TimeUnit.SECONDS);
        assertThat(third).isNotNull();
        assertThat(third.getCode()).isEqualTo(Status.Code.RESOURCE_EXHAUSTED);
        assertThat(third.getDescription()).contains("already serves 2 exit streams", "limits.max-exit-streams");
        // Once one is closed, a new one is served again.
        open.get(0).cancel("done with it", null);
        await().atMost(Duration.ofSeconds(5)).until(() -> {
            java.util.Iterator<dev.harbor.proto.ExitStreamItem> it = NodeGrpc.newBlockingStub(channel(a))
                    .withDeadlineAfter(2, TimeUnit.SECONDS).watchExits(dev.harbor.proto.WatchExitsRequest.getDefaultInstance());
            try {
                return it.next().hasNode();
            } catch (StatusRuntimeException e) {
                return false;
            }
        });
    }
}
