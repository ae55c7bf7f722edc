package dev.harbor.cli;

import java.time.Duration;
import java.util.Locale;
import picocli.CommandLine.ITypeConverter;
import picocli.CommandLine.TypeConversionException;

/** Reads a command-line duration: {@code 30s}, {@code 1500ms}, {@code 2m}, or a bare number of milliseconds. */
public final class DurationConverter implements ITypeConverter<Duration> {
    @Override
    public Duration convert(String text) {
        String b = text.strip().toLowerCase(Locale.ROOT);
        try {
            Duration d = b.endsWith("ms") ? Duration.ofMillis(Long.parseLong(b.substring(0, b.length() - 2)))
                    : b.endsWith("s") ? Duration.ofSeconds(Long.parseLong(b.substring(0, b.length() - 1)))
                    : b.endsWith("m") ? Duration.ofMinutes(Long.parseLong(b.substring(0, b.length() - 1)))
                    : Duration.ofMillis(Long.parseLong(b));
            if (!d.isNegative()) {
                return d;
            }
        } catch (NumberFormatException | ArithmeticException e) {
            // answered below
        }
        throw new TypeConversionException("expected a duration like 30s, 1500ms or 2m, got '" + text + "'");
    }
}
