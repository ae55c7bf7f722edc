package dev.harbor.it;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.harbor.proto.CordonRequest;
import dev.harbor.security.BearerAuth;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AutoClose;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;
import org.testcontainers.containers.Container.ExecResult;

/**
 * The image's health check ({@code harbor-health}: Docker's HEALTHCHECK and the Kubernetes liveness
 * probe) in a real node container: it needs no JVM (it runs with no Java on the PATH), Docker marks
 * the node healthy with it, a cordoned (draining) node stays alive but is not ready, and a node that
 * does not answer is unhealthy.
 */
@ExtendWith(DockerRequired.class)
@Timeout(300)
class ContainerHealthCheckTest {
    /** The PATH of the image without the JRE's directory: a probe that started a JVM would fail. */
    private static final String NO_JAVA = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

    @AutoClose
    private ContainerCluster c;

    @Test
    void theHealthCheckNeedsNoJvmKeepsADrainingNodeAliveAndFailsWhenNothingAnswers() throws Exception {
        c = new ContainerCluster("health");
        c.node(1, "");
        c.start();
        var node = c.container(1);

        assertThat(exec(node, "env", NO_JAVA, "harbor-health")).as("alive, asked without a JVM").isEqualTo(0);
        assertThat(exec(node, "env", NO_JAVA, "harbor-health", "--ready")).as("ready").isEqualTo(0);
        // Docker's own HEALTHCHECK runs the same command (first after its 10 s interval).
        await().atMost(Duration.ofSeconds(60)).until(() -> "healthy".equals(
                node.getCurrentContainerInfo().getState().getHealth().getStatus()));

        // What the coordinator does when a run's first step on this node starts: not ready, still alive.
        c.admin(1).withCallCredentials(BearerAuth.credentials(ContainerCluster.TOKEN)).withDeadlineAfter(10, TimeUnit.SECONDS)
                .cordon(CordonRequest.getDefaultInstance());
        assertThat(exec(node, "env", NO_JAVA, "harbor-health", "--ready")).as("ready once cordoned").isEqualTo(1);
        assertThat(exec(node, "env", NO_JAVA, "harbor-health")).as("alive once cordoned: not to be restarted mid-drain").isEqualTo(0);

        // Nothing answering where it asks: unhealthy.
        assertThat(exec(node, "env", NO_JAVA, "HARBOR_METRICS_LISTEN=127.0.0.1:1", "harbor-health")).isNotZero();
    }

    private static int exec(ContainerCluster.ClusterContainer container, String... command) throws Exception {
        ExecResult r = container.execInContainer(command);
        return r.getExitCode();
    }
}
