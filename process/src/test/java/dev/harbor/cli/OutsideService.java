package dev.harbor.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.jar.JarEntry;
import java.util.jar.JarOutputStream;
import java.util.stream.Stream;
import javax.tools.JavaCompiler;
import javax.tools.ToolProvider;

/**
 * A service as a user writes it, outside this project: its source is compiled here with
 * {@code javax.tools} against the node's classes and packed into a jar that no class path of the
 * build knows.
 */
final class OutsideService {
    static final String CLASS = "com.example.outside.Greeter";

    private static final String SOURCE = """
            package com.example.outside;

            import dev.harbor.service.Message;
            import dev.harbor.service.Service;
            import dev.harbor.service.ServiceContext;

            public final class Greeter implements Service {
                private final String name;

                public Greeter(String name) {
                    this.name = name;
                }

                @Override
                public void init(ServiceContext context) {
                    context.register(name);
                }

                @Override
                public Object receive(ServiceContext context, Message message) {
                    return "hello " + message.payload();
                }
            }
            """;

    private OutsideService() {
    }

    /** Compiles the service under {@code work} and writes its jar to {@code jar}. */
    static void jar(Path jar, Path work) throws IOException {
        Path src = work.resolve("com/example/outside/Greeter.java");
        Path classes = work.resolve("classes");
        Files.createDirectories(src.getParent());
        Files.createDirectories(classes);
        Files.writeString(src, SOURCE);
        JavaCompiler javac = ToolProvider.getSystemJavaCompiler();
        assertThat(javac).as("a JDK's compiler (the tests run on a JDK)").isNotNull();
        int code = javac.run(null, null, null, "--release", "21", "-cp", System.getProperty("java.class.path"),
                "-d", classes.toString(), src.toString());
        assertThat(code).as("javac's exit code").isZero();
        try (OutputStream out = Files.newOutputStream(jar); JarOutputStream j = new JarOutputStream(out);
                Stream<Path> files = Files.walk(classes)) {
            for (Path f : files.filter(Files::isRegularFile).toList()) {
                j.putNextEntry(new JarEntry(classes.relativize(f).toString().replace('\\', '/')));
                Files.copy(f, j);
                j.closeEntry();
            }
        }
    }
}
