package dev.harbor.it;

import org.junit.jupiter.api.extension.ConditionEvaluationResult;
import org.junit.jupiter.api.extension.ExecutionCondition;
import org.junit.jupiter.api.extension.ExtensionConfigurationException;
import org.junit.jupiter.api.extension.ExtensionContext;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.testcontainers.DockerClientFactory;

/**
 * Runs container tests only where a Docker engine answers. Without one, a developer's run skips them
 * with one line saying why; a CI run ({@code CI=true}) fails instead, since CI must run them for real.
 */
final class DockerRequired implements ExecutionCondition {
    private static final Logger log = LoggerFactory.getLogger(DockerRequired.class);
    private static final String SKIPPED = "container tests skipped: no Docker engine answers (start Docker or set DOCKER_HOST to run them)";

    /** Asked once per test JVM: the answer does not change while the tests run. */
    private static volatile Boolean available;

    @Override
    public ConditionEvaluationResult evaluateExecutionCondition(ExtensionContext context) {
        if (dockerAvailable()) {
            return ConditionEvaluationResult.enabled("a Docker engine answers");
        }
        if ("true".equalsIgnoreCase(System.getenv("CI"))) {
            throw new ExtensionConfigurationException("CI=true but no Docker engine answers, so the container tests cannot run:"
                    + " start dockerd (.ci/run does) or set DOCKER_HOST to a running engine");
        }
        return ConditionEvaluationResult.disabled(SKIPPED);
    }

    private static boolean dockerAvailable() {
        Boolean a = available;
        if (a == null) {
            a = DockerClientFactory.instance().isDockerAvailable();
            available = a;
            if (!a) {
                log.warn(SKIPPED);
            }
        }
        return a;
    }
}
