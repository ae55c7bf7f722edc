package dev.harbor.demo;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import dev.harbor.gateway.Gateway;
import dev.harbor.gateway.GatewayClient;
import dev.harbor.gateway.GatewayClient.Frame;
import dev.harbor.service.Node;
import dev.harbor.writer.Writer;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.nio.file.Path;
import java.time.Duration;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.slf4j.LoggerFactory;

/** The demo's session while the writer is not up yet (a cluster starting): refused at HELLO, nothing lost, nothing logged as an error. */
@Timeout(60)
class ChatSessionTest {
    private static final Duration WAIT = Duration.ofSeconds(10);

    @TempDir
    Path dir;

    private Node node;
    private final ListAppender<ILoggingEvent> logged = new ListAppender<>();
    private final Logger root = (Logger) LoggerFactory.getLogger(org.slf4j.Logger.ROOT_LOGGER_NAME);
    /** The test config logs dev.harbor at WARN; the refusal's INFO line is part of what is checked. */
    private final Logger harbor = (Logger) LoggerFactory.getLogger("dev.harbor");
    private Level harborLevel;

    @BeforeEach
    void capture() {
        logged.start();
        root.addAppender(logged);
        harborLevel = harbor.getLevel();
        harbor.setLevel(Level.INFO);
    }

    @AfterEach
    void stop() {
        root.detachAppender(logged);
        harbor.setLevel(harborLevel);
        if (node != null) {
            node.stop();
        }
    }

    private static int freePort() throws IOException {
        try (ServerSocket s = new ServerSocket(0)) {
            return s.getLocalPort();
        }
    }

    @Test
    void aSessionIsRefusedAtHelloWhileNoWriterIsUpAndServedOnceItIs() throws Exception {
        node = Node.builder().id(1).build();
        InetSocketAddress gateway = new InetSocketAddress("127.0.0.1", freePort());
        node.launch(Gateway.class, "127.0.0.1:" + gateway.getPort(), ChatSession.class.getName());

        // No writer: the client is told why instead of HELLO, and no session is made (so none loses its state).
        assertThatThrownBy(() -> GatewayClient.connect(gateway, WAIT)).isInstanceOf(IOException.class)
                .hasMessageContaining("* BYE the chat room is not ready: its writer ('writer') is not up yet; connect again shortly");

        node.launch(Writer.class, "jdbc:h2:file:" + dir.resolve("chat"));
        try (GatewayClient c = GatewayClient.connect(gateway, WAIT)) {
            c.send(1, "SAY", "hello");
            Frame stored = c.read();
            assertThat(stored.id()).isEqualTo(1);
            assertThat(stored.kind()).isEqualTo("OK");
            assertThat(stored.text()).startsWith("stored ");
            c.send(2, "QUIT", "");
            assertThat(c.read()).isEqualTo(new Frame(2, "OK", "bye"));
        }
        await().atMost(WAIT).until(() -> logged.list.stream().anyMatch(e -> e.getFormattedMessage().contains("a session for")
                && e.getFormattedMessage().contains("was refused")));
        assertThat(logged.list).as("nothing the operator must look at: %s", logged.list)
                .noneMatch(e -> e.getLevel().isGreaterOrEqual(Level.WARN));
    }
}
