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
 * distribution Maven has just packaged ({@code distribution/target}: {@code harbor.jar} and {@code lib/}), so container
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

    /** The tag of the demo's PostgreSQL image the tests build. */
    static final String POSTGRES_TAG = "harbor-postgres:it";

    private static String built;
    private static String postgres;
    private static Path servicesJar;

    private HarborImage() {
    }

    /** The image's name, after building it if this JVM has not yet. */
    static synchronized String name() {
        if (built == null) {
            Path root = checkout();
            built = build(TAG, root, root.resolve("Dockerfile"), "BASE_IMAGE", System.getenv().getOrDefault("HARBOR_BASE_IMAGE", ""));
        }
        return built;
    }

    /**
     * The demo's PostgreSQL image ({@code deploy/docker/postgres}: Debian's package), built once per
     * test JVM on {@code HARBOR_DEBIAN_IMAGE} (CI's {@code harbor-ci-debian:bookworm}, imported by
     * {@code .ci/base-image}) or the Dockerfile's default. Its first build runs apt-get (about a
     * minute); later ones reuse Docker's layer cache.
     */
    static synchronized String postgres() {
        if (postgres == null) {
            Path dir = checkout().resolve("deploy/docker/postgres");
            postgres = build(POSTGRES_TAG, dir, dir.resolve("Dockerfile"), "BASE", System.getenv().getOrDefault("HARBOR_DEBIAN_IMAGE", ""));
        }
        return postgres;
    }

    /** Builds {@code tag} from {@code dockerfile} in {@code context}, never pulling; {@code baseArg} set to {@code base} unless empty. */
    private static String build(String tag, Path context, Path dockerfile, String baseArg, String base) {
        long started = System.nanoTime();
        var build = DockerClientFactory.instance().client().buildImageCmd()
                .withBaseDirectory(context.toFile())
                .withDockerfile(dockerfile.toFile())
                .withTags(Set.of(tag))
                .withPull(false);
        if (!base.isEmpty()) {
            build.withBuildArg(baseArg, base);
        }
        build.exec(new BuildImageResultCallback()).awaitImageId();
        log.info("built {} from {} ({} {}) in {} ms", tag, dockerfile, baseArg, base.isEmpty() ? "the Dockerfile's default" : base,
                (System.nanoTime() - started) / 1_000_000);
        return tag;
    }

    /** The repository's root: the nearest directory up from here holding the Dockerfile. */
    static Path checkout() {
        for (Path p = Paths.get("").toAbsolutePath(); p != null; p = p.getParent()) {
            if (Files.isRegularFile(p.resolve("Dockerfile")) && Files.isDirectory(p.resolve("distribution"))) {
                if (!Files.isDirectory(p.resolve("distribution/target/lib"))) {
                    throw new IllegalStateException("the image takes the packaged distribution, and " + p
                            + "/distribution/target/lib is missing: run ./mvnw -DskipTests package first");
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
