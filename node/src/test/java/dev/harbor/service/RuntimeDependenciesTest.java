package dev.harbor.service;

import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * What an embedder of harbor-node does not take with it: the runtime's classpath (this module's test
 * classpath, less the test libraries) holds no metrics library, no command-line parser and no JDBC
 * driver. Those belong to the node process and the reference services, one module up each. (The
 * logging binding cannot be checked from here: the tests themselves log through logback.)
 */
class RuntimeDependenciesTest {

    @ParameterizedTest
    @ValueSource(strings = {"io.micrometer.core.instrument.MeterRegistry", "picocli.CommandLine", "org.h2.Driver",
            "org.postgresql.Driver", "io.netty.channel.nio.NioIoHandler", "io.grpc.protobuf.services.ProtoReflectionService"})
    void isNotOnTheRuntimesClasspath(String className) {
        assertThatThrownBy(() -> Class.forName(className, false, getClass().getClassLoader()))
                .isInstanceOf(ClassNotFoundException.class);
    }
}
