package dev.harbor.it;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.List;

/**
 * A file that services of several node processes append one line each to ({@code name what detail}),
 * so a test can see what happened in which order across processes. Each line is one small append
 * (O_APPEND), so lines from different processes never interleave, and a kill -9 loses none that was
 * written (it stays in the page cache).
 */
final class Journal {
    /** One line. */
    record Entry(String name, String what, String detail) {
    }

    private final Path file;

    Journal(Path file) {
        this.file = file;
    }

    Path file() {
        return file;
    }

    void note(String name, String what, String detail) {
        try {
            Files.writeString(file, name + " " + what + " " + detail + "\n", StandardCharsets.UTF_8, StandardOpenOption.CREATE,
                    StandardOpenOption.APPEND, StandardOpenOption.WRITE);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot append to the journal " + file, e);
        }
    }

    List<Entry> entries() {
        if (!Files.exists(file)) {
            return List.of();
        }
        try {
            return Files.readAllLines(file, StandardCharsets.UTF_8).stream().filter(l -> !l.isBlank()).map(l -> {
                String[] f = l.split(" ", 3);
                return new Entry(f[0], f[1], f.length > 2 ? f[2].strip() : "");
            }).toList();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** The names that did {@code what}, in the order they did it. */
    List<String> names(String what) {
        return entries().stream().filter(e -> e.what().equals(what)).map(Entry::name).toList();
    }

    /** How many times {@code name} did {@code what}. */
    long count(String name, String what) {
        return entries().stream().filter(e -> e.name().equals(name) && e.what().equals(what)).count();
    }
}
