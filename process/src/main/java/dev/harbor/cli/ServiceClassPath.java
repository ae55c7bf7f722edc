package dev.harbor.cli;

import java.io.File;
import java.io.IOException;
import java.net.MalformedURLException;
import java.net.URL;
import java.net.URLClassLoader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

/**
 * The class path {@code harbor node --classpath} adds for the user's services: jar files, and folders
 * whose jars (and classes) are added. Stateless.
 */
final class ServiceClassPath {
    private ServiceClassPath() {
    }

    /**
     * A class loader over {@code paths} ({@link File#pathSeparator}-separated) with {@code parent} first.
     *
     * @throws IllegalArgumentException naming an entry that does not exist or cannot be read
     */
    static ClassLoader loader(String paths, ClassLoader parent) {
        List<URL> urls = new ArrayList<>();
        for (String entry : paths.split(File.pathSeparator)) {
            if (entry.isBlank()) {
                continue;
            }
            Path p = Path.of(entry.strip());
            if (!Files.exists(p)) {
                throw new IllegalArgumentException(p + " does not exist: give jars or folders of jars");
            }
            try {
                urls.add(url(p));
                if (Files.isDirectory(p)) {
                    try (Stream<Path> jars = Files.list(p)) {
                        for (Path jar : jars.filter(j -> j.getFileName().toString().endsWith(".jar")).sorted().toList()) {
                            urls.add(url(jar));
                        }
                    }
                }
            } catch (IOException e) {
                throw new IllegalArgumentException("cannot read " + p + ": " + e.getMessage(), e);
            }
        }
        return new URLClassLoader("harbor-services", urls.toArray(URL[]::new), parent);
    }

    private static URL url(Path p) throws MalformedURLException {
        return p.toAbsolutePath().toUri().toURL();
    }
}
