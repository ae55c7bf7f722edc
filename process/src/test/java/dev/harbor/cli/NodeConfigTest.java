package dev.harbor.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class NodeConfigTest {
    @TempDir
    Path dir;

    private Path file(String... lines) throws IOException {
        Path f = dir.resolve("node.properties");
        Files.write(f, List.of(lines));
        return f;
    }

    private NodeConfig load(String... lines) throws IOException {
        return NodeConfig.load(file(lines), Map.of());
    }

    @Test
    void onlyTheNodeIdIsRequiredAndEverythingElseHasItsDefault() throws IOException {
        NodeConfig c = load("node.id=3");
        assertThat(c.nodeId()).isEqualTo(3);
        assertThat(c.listen()).hasToString("0.0.0.0:7700");
        assertThat(c.advertise()).as("a wildcard listen host is advertised as loopback").hasToString("127.0.0.1:7700");
        assertThat(c.clusterName()).isEqualTo("harbor");
        assertThat(c.peers()).isEmpty();
        assertThat(c.dns()).isNull();
        assertThat(c.heartbeat()).isEqualTo(Duration.ofMillis(500));
        assertThat(c.lossTimeout()).isEqualTo(Duration.ofMillis(2000));
        assertThat(c.exitRetention()).isEqualTo(65_536);
        assertThat(c.services()).isEmpty();
    }

    @Test
    void readsEveryKey() throws IOException {
        NodeConfig c = load(
                "# a comment",
                "node.id = 12",
                "node.listen = 10.0.0.5:7801",
                "node.advertise = node12.example:7801",
                "cluster.name = games",
                "cluster.peers = a:7701, b:7702 ,,node12.example:7801",
                "cluster.dns = harbor.default.svc:7700",
                "harbor.heartbeat-ms = 200",
                "harbor.loss-timeout-ms = 1000",
                "exit.retention = 10",
                "services = com.example.Db, com.example.Gateway(0.0.0.0; 9000), com.example.Empty()");
        assertThat(c.nodeId()).isEqualTo(12);
        assertThat(c.listen()).isEqualTo(new NodeConfig.Address("10.0.0.5", 7801));
        assertThat(c.advertise()).isEqualTo(new NodeConfig.Address("node12.example", 7801));
        assertThat(c.clusterName()).isEqualTo("games");
        assertThat(c.peers()).containsExactly("a:7701", "b:7702", "node12.example:7801");
        assertThat(c.dns()).isEqualTo("harbor.default.svc:7700");
        assertThat(c.heartbeat()).isEqualTo(Duration.ofMillis(200));
        assertThat(c.lossTimeout()).isEqualTo(Duration.ofSeconds(1));
        assertThat(c.exitRetention()).isEqualTo(10);
        assertThat(c.services()).containsExactly(
                new NodeConfig.ServiceSpec("com.example.Db", List.of()),
                new NodeConfig.ServiceSpec("com.example.Gateway", List.of("0.0.0.0", "9000")),
                new NodeConfig.ServiceSpec("com.example.Empty", List.of()));
    }

    @Test
    void aSpecificListenHostIsAdvertisedAsItIsAndIpv6IsBracketed() throws IOException {
        assertThat(load("node.id=1", "node.listen=192.168.1.4:7000").advertise()).hasToString("192.168.1.4:7000");
        NodeConfig v6 = load("node.id=1", "node.listen=[::1]:7000");
        assertThat(v6.listen().host()).isEqualTo("::1");
        assertThat(v6.listen()).hasToString("[::1]:7000");
    }

    @Test
    void environmentVariablesOverrideTheFileAndCanStandAlone() throws IOException {
        Path f = file("node.id=1", "cluster.name=file", "harbor.heartbeat-ms=400");
        NodeConfig c = NodeConfig.load(f, Map.of(
                "HARBOR_NODE_ID", "9",
                "HARBOR_HARBOR_HEARTBEAT_MS", "100",
                "HARBOR_HARBOR_LOSS_TIMEOUT_MS", "300",
                "HARBOR_CLUSTER_PEERS", "x:1,y:2",
                "HARBOR_CI_JAVA_HOME", "/opt/jdk")); // not a key: ignored
        assertThat(c.nodeId()).isEqualTo(9);
        assertThat(c.clusterName()).isEqualTo("file");
        assertThat(c.heartbeat()).isEqualTo(Duration.ofMillis(100));
        assertThat(c.lossTimeout()).isEqualTo(Duration.ofMillis(300));
        assertThat(c.peers()).containsExactly("x:1", "y:2");

        NodeConfig envOnly = NodeConfig.load(null, Map.of("HARBOR_NODE_ID", "4", "HARBOR_SERVICES", "a.B(x)"));
        assertThat(envOnly.nodeId()).isEqualTo(4);
        assertThat(envOnly.services()).containsExactly(new NodeConfig.ServiceSpec("a.B", List.of("x")));
    }

    @Test
    void environmentNamesAreTheKeysInUpperCaseWithUnderscores() {
        assertThat(NodeConfig.envName("node.id")).isEqualTo("HARBOR_NODE_ID");
        assertThat(NodeConfig.envName("harbor.loss-timeout-ms")).isEqualTo("HARBOR_HARBOR_LOSS_TIMEOUT_MS");
        assertThat(NodeConfig.KEYS).allMatch(k -> NodeConfig.envName(k).matches("HARBOR_[A-Z_]+"));
    }

    @Test
    void badSettingsAreRefusedNamingTheKeyAndWhatIsExpected() {
        assertRefused(new String[] {"cluster.name=x"}, "node.id is required", "HARBOR_NODE_ID");
        assertRefused(new String[] {"node.id=0"}, "node.id: expected a whole number from 1 to 65535, got '0'");
        assertRefused(new String[] {"node.id=70000"}, "node.id: expected a whole number from 1 to 65535, got '70000'");
        assertRefused(new String[] {"node.id=one"}, "node.id: expected a whole number", "got 'one'", "node.id in ");
        assertRefused(new String[] {"node.id=1", "node.idd=2"}, "unknown setting 'node.idd'", "the settings are node.id, node.listen");
        assertRefused(new String[] {"node.id=1", "node.listen=localhost"}, "node.listen: expected host:port", "got 'localhost'");
        assertRefused(new String[] {"node.id=1", "node.listen=localhost:99999"}, "node.listen", "the port must be 0-65535");
        assertRefused(new String[] {"node.id=1", "node.advertise=localhost:0"}, "node.advertise", "the port must be 1-65535");
        assertRefused(new String[] {"node.id=1", "cluster.peers=a:1,b"}, "cluster.peers: expected host:port", "got 'b'");
        assertRefused(new String[] {"node.id=1", "cluster.dns=svc"}, "cluster.dns: expected host:port");
        assertRefused(new String[] {"node.id=1", "harbor.heartbeat-ms=0"}, "harbor.heartbeat-ms: expected a whole number 1 or more");
        assertRefused(new String[] {"node.id=1", "harbor.heartbeat-ms=500", "harbor.loss-timeout-ms=900"},
                "harbor.loss-timeout-ms (900) must be at least twice harbor.heartbeat-ms (500)");
        assertRefused(new String[] {"node.id=1", "exit.retention=-5"}, "exit.retention: expected a whole number 1 or more");
        assertRefused(new String[] {"node.id=1", "services=a.B(x"}, "services: a '(' is not closed");
        assertRefused(new String[] {"node.id=1", "services=a.B(x(y))"}, "services: unbalanced or nested parentheses");
        assertRefused(new String[] {"node.id=1", "services=9lives"}, "services: '9lives' is not a service");
    }

    @Test
    void aBadEnvironmentValueIsBlamedOnItsVariable() {
        assertThatThrownBy(() -> NodeConfig.load(null, Map.of("HARBOR_NODE_ID", "x")))
                .isInstanceOf(NodeConfig.InvalidConfigException.class).hasMessageContaining("(from HARBOR_NODE_ID)");
    }

    @Test
    void aMissingFileIsRefusedWithItsName() {
        Path missing = dir.resolve("nope.properties");
        assertThatThrownBy(() -> NodeConfig.load(missing, Map.of()))
                .isInstanceOf(NodeConfig.InvalidConfigException.class).hasMessageContaining("cannot read the config file " + missing);
    }

    private void assertRefused(String[] lines, String... fragments) {
        assertThatThrownBy(() -> load(lines)).isInstanceOf(NodeConfig.InvalidConfigException.class)
                .hasMessageContainingAll(fragments);
    }

    @Test
    void operationsSettingsDefaultToOffAndAreCheckedAtLoad() throws IOException {
        NodeConfig plain = load("node.id=3");
        assertThat(plain.metricsListen()).isNull();
        assertThat(plain.tls().enabled()).isFalse();
        assertThat(plain.token()).isNull();
        assertThat(plain.limits()).isEqualTo(new NodeConfig.Limits(4 * 1024 * 1024, 1000, 1024));

        Path cert = Files.writeString(dir.resolve("n.pem"), "pem");
        Path key = Files.writeString(dir.resolve("n.key"), "key");
        Path ca = Files.writeString(dir.resolve("ca.pem"), "ca");
        Path token = Files.writeString(dir.resolve("token"), "  t0ken-value\n");
        NodeConfig c = load("node.id=3", "metrics.listen=127.0.0.1:9700", "tls.cert=" + cert, "tls.key=" + key, "tls.ca=" + ca,
                "coordinator.token-file=" + token, "limits.max-message-bytes=1048576", "limits.max-streams=64");
        assertThat(c.metricsListen()).hasToString("127.0.0.1:9700");
        assertThat(c.tls().enabled()).isTrue();
        assertThat(c.tls().clientAuth()).as("a CA makes it mutual by default").isEqualTo(dev.harbor.security.Tls.ClientAuth.REQUIRE);
        assertThat(c.token()).isEqualTo("t0ken-value");
        assertThat(c.limits()).isEqualTo(new NodeConfig.Limits(1_048_576, 64, 1024));
        assertThat(c.toString()).contains("token set").doesNotContain("t0ken-value");
        assertThat(NodeConfig.load(null, Map.of("HARBOR_NODE_ID", "3", "HARBOR_COORDINATOR_TOKEN", "from-env")).token())
                .isEqualTo("from-env");

        assertThatThrownBy(() -> load("node.id=3", "tls.cert=" + cert)).isInstanceOf(NodeConfig.InvalidConfigException.class)
                .hasMessageContaining("both a certificate and its key");
        assertThatThrownBy(() -> load("node.id=3", "tls.cert=" + cert, "tls.key=" + key, "tls.client-auth=require"))
                .hasMessageContaining("needs tls.ca");
        assertThatThrownBy(() -> load("node.id=3", "tls.cert=" + cert, "tls.key=" + key, "tls.client-auth=maybe"))
                .hasMessageContaining("expected none, optional or require, got 'maybe'");
        assertThatThrownBy(() -> load("node.id=3", "tls.cert=" + dir.resolve("missing.pem"), "tls.key=" + key))
                .hasMessageContaining("tls.cert: cannot read").hasMessageContaining("missing.pem");
        assertThatThrownBy(() -> load("node.id=3", "coordinator.token-file=" + dir.resolve("nope")))
                .hasMessageContaining("coordinator.token-file: cannot read");
        Path empty = Files.writeString(dir.resolve("empty"), "\n");
        assertThatThrownBy(() -> load("node.id=3", "coordinator.token-file=" + empty)).hasMessageContaining("is empty");
        assertThatThrownBy(() -> load("node.id=3", "limits.max-message-bytes=10")).hasMessageContaining("limits.max-message-bytes");
    }
}
