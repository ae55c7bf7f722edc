package dev.harbor.it;

import com.github.dockerjava.api.command.BuildImageResultCallback;
import java.io.File;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.Set;
import java.util.jar.JarEntry;
import java.util.jar.JarOutputStream;
import java.util.stream.Stream;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.testcontainers.DockerClientFactory;

/**
 * The project's node image, built once per test JVM from the checkout's {@code Dockerfile} with the
 * distribution Maven has just packaged (the coordinator module's jar and {@code lib/}), so container
 * tests always run the code under test. Its base image is {@code HARBOR_BASE_IMAGE} (CI's, built
 * locally by {@code .ci/base-image}) or the Dockerfile's public default. Nothing is pulled when the
 * base image is already there.
 *
 * <p>Also the test services' jar: this module's test classes ({@link Registered}, {@link Relay},
 * {@link Pinger}...), which node containers load from the image's {@code /opt/harbor/services}.
 */
final class HarborImage {
    private static final Logger log = LoggerFactory.getLogger(HarborImage.class);
    /** The tag the tests build; its own, so it never replaces an image a user built. */
    static final String TAG = "harbor-node:it";
    /** Where the image's class path takes extra service jars from. */
    static final String SERVICES_DIR = "/opt/harbor/services/";

    private static String built;
    private static Path servicesJar;

    private HarborImage() {
    }

    /** The image's name, after building it if this JVM has not yet. */
    static synchronized String name() {
        if (built == null) {
            Path root = checkout();
            String base = System.getenv().getOrDefault("HARBOR_BASE_IMAGE", "");
            long started = System.nanoTime();
            var build = DockerClientFactory.instance().client().buildImageCmd()
                    .withBaseDirectory(root.toFile())
                    .withDockerfile(root.resolve("Dockerfile").toFile())
                    .withTags(Set.of(TAG))
                    .withPull(false);
            if (!base.isEmpty()) {
                build.withBuildArg("BASE_IMAGE", base);
            }
            build.exec(new BuildImageResultCallback()).awaitImageId();
            log.info("built {} from {} (base image {}) in {} ms", TAG, root, base.isEmpty() ? "the Dockerfile's default" : base,
                    (System.nanoTime() - started) / 1_000_000);
            built = TAG;
        }
        return built;
    }

    /** The repository's root: the nearest directory up from here holding the Dockerfile. */
    static Path checkout() {
        for (Path p = Paths.get("").toAbsolutePath(); p != null; p = p.getParent()) {
            if (Files.isRegularFile(p.resolve("Dockerfile")) && Files.isDirectory(p.resolve("coordinator"))) {
                if (!Files.isDirectory(p.resolve("coordinator/target/lib"))) {
                    throw new IllegalStateException("the image takes the packaged distribution, and " + p
                            + "/coordinator/target/lib is missing: run ./mvnw -DskipTests package first");
                }
                return p;
            }
        }
        throw new IllegalStateException("no Dockerfile above " + Paths.get("").toAbsolutePath() + ": run the tests from the checkout");
    }

    /** A jar of this module's test classes, for {@link #SERVICES_DIR}; written once. */
    static synchronized Path servicesJar() {
        if (servicesJar == null) {
            try {
                Path classes = Path.of(Registered.class.getProtectionDomain().getCodeSource().getLocation().toURI());
                Path jar = Files.createTempFile("harbor-it-services-", ".jar");
                jar.toFile().deleteOnExit();
                try (JarOutputStream out = new JarOutputStream(Files.newOutputStream(jar));
                        Stream<Path> files = Files.walk(classes.resolve(Registered.class.getPackageName().replace('.', File.separatorChar)))) {
                    for (Path f : files.filter(Files::isRegularFile).toList()) {
                        out.putNextEntry(new JarEntry(classes.relativize(f).toString().replace(File.separatorChar, '/')));
                        Files.copy(f, out);
                        out.closeEntry();
                    }
                }
                servicesJar = jar;
            } catch (IOException e) {
                throw new UncheckedIOException("cannot write the test services' jar", e);
            } catch (java.net.URISyntaxException e) {
                throw new IllegalStateException(e);
            }
        }
        return servicesJar;
    }
}
